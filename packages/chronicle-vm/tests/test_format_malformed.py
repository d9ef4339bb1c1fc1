"""Decoding bad input: every way the bytes can be wrong ends in DecodeError with its code and offset."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.builders import (
    all_builders,
    header,
    i64,
    raw_module,
    section,
    small_valid_module,
    text,
    u8,
    u32,
)
from chronicle_testing.strategies import module_bytes
from chronicle_vm import DecodeError, Module
from chronicle_vm.binary.decode import decode_module
from chronicle_vm.core.isa import Op
from chronicle_vm.errors import declared_codes

DECODE_CODES = {code for code in declared_codes() if code.startswith("decode.")}
HEADER = 6
SECTION_HEADER = 5


def decode_error(data: object) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        decode_module(data)
    error = info.value
    assert error.code in DECODE_CODES
    assert error.code != "decode.malformed", error.message
    assert isinstance(error.details["offset"], int)
    return error


def assert_decodes_or_fails_cleanly(data: bytes) -> None:
    """The decoder's whole promise: a Module (which re-encodes to the same bytes) or a known DecodeError."""
    try:
        module = decode_module(data)
    except DecodeError as error:
        assert error.code in DECODE_CODES
        assert error.code != "decode.malformed", error.message
        assert 0 <= error.details["offset"] <= len(data)
    else:
        assert module.to_bytes() == data


def ins(op: int, a: int = 0, b: int = 0, c: int = 0) -> bytes:
    return u8(op) + u32(a) + u32(b) + u32(c)


def function(
    name: bytes | str = "f",
    flags: int = 0,
    registers: bytes = u32(1) + u8(0) + u8(1),
    result: bytes = u8(0),
    code: bytes = u32(1) + ins(Op.RETV),
) -> bytes:
    return text(name) + u8(flags) + u32(0) + registers + result + code


def one_function(fn: bytes) -> bytes:
    return raw_module(functions=u32(1) + fn, source_map=u32(0) + u32(1) + u32(0))


# Offset of the functions payload (its count) in a raw_module with empty sections 1 and 2.
FUNCTIONS_AT = HEADER + 2 * (SECTION_HEADER + 4) + SECTION_HEADER
FIRST_FUNCTION_AT = FUNCTIONS_AT + 4


def test_raw_helpers_decode() -> None:
    module = decode_module(one_function(function()))
    assert module.functions[0].name == "f"
    assert FIRST_FUNCTION_AT == 33


# --- not bytes -----------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "CHRM", 42, [67, 72], object(), 1.5])
def test_non_bytes_input_is_a_decode_error(value: object) -> None:
    error = decode_error(value)
    assert error.code == "decode.not-bytes"
    assert error.details["offset"] == 0
    assert type(value).__name__ in error.message


def test_released_memoryview_is_a_decode_error() -> None:
    view = memoryview(small_valid_module().to_bytes())
    view.release()
    assert decode_error(view).code == "decode.not-bytes"


# --- header ----------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\x00", b"CHRX\x00\x01", b"chrm\x00\x01", b"PK\x03\x04", b"\x7fELF" + b"\x00" * 40])
def test_bad_magic(data: bytes) -> None:
    error = decode_error(data)
    assert error.code == "decode.bad-magic"
    assert error.details["offset"] == 0


@pytest.mark.parametrize("data", [b"", b"C", b"CHR", b"CHRM", b"CHRM\x00"])
def test_short_header_is_truncated(data: bytes) -> None:
    error = decode_error(data)
    assert error.code == "decode.truncated"
    assert error.details["offset"] == (0 if len(data) < 4 else 4)


@pytest.mark.parametrize(("version", "age"), [(0, "older"), (3, "newer"), (4, "newer"), (0xFFFF, "newer")])
def test_old_and_new_versions_are_refused(version: int, age: str) -> None:
    error = decode_error(raw_module(version=version))
    assert error.code == "decode.unsupported-version"
    assert error.details["offset"] == 4
    assert f"format version {version} is {age}" in error.message
    assert "supported: 1" in error.message


# --- sections ------------------------------------------------------------------------


def _sections(tags: list[int]) -> bytes:
    empty = {1: u32(0), 2: u32(0), 3: u32(0), 4: u32(0) + u32(0)}
    return header() + b"".join(section(tag, empty.get(tag, b"")) for tag in tags)


@pytest.mark.parametrize(
    ("tags", "code", "offset"),
    [
        ([2, 1, 3, 4], "decode.section-order", HEADER),
        ([4], "decode.section-order", HEADER),
        ([1, 3, 2, 4], "decode.section-order", HEADER + 9),
        ([1, 1, 2, 3, 4], "decode.duplicate-section", HEADER + 9),
        ([1, 2, 3, 3, 4], "decode.duplicate-section", HEADER + 27),
        ([1, 2, 3, 4, 4], "decode.trailing-bytes", HEADER + 40),
        ([0, 1, 2, 3, 4], "decode.bad-section", HEADER),
        ([1, 2, 5, 3, 4], "decode.bad-section", HEADER + 18),
        ([1, 2, 3, 0xFF], "decode.bad-section", HEADER + 27),
    ],
)
def test_section_tags_and_order(tags: list[int], code: str, offset: int) -> None:
    error = decode_error(_sections(tags))
    assert (error.code, error.details["offset"]) == (code, offset)


def test_missing_last_section_is_truncated() -> None:
    error = decode_error(_sections([1, 2, 3]))
    assert (error.code, error.details["offset"]) == ("decode.truncated", HEADER + 27)


def test_section_longer_than_its_contents() -> None:
    data = header() + u8(1) + u32(5) + u32(0) + b"\x00" + _sections([2, 3, 4])[HEADER:]
    error = decode_error(data)
    assert (error.code, error.details["offset"]) == ("decode.section-length", HEADER + 9)
    assert "declares 5 bytes" in error.message


def test_section_shorter_than_its_contents() -> None:
    # Section 1 claims 3 bytes: its count (4 bytes) runs past the section's end.
    data = header() + u8(1) + u32(3) + u32(0) + _sections([2, 3, 4])[HEADER:]
    error = decode_error(data)
    assert (error.code, error.details["offset"]) == ("decode.section-length", HEADER + 5)
    assert error.details["section"] == 1


def test_section_length_beyond_the_file() -> None:
    data = header() + u8(1) + u32(1000) + u32(0)
    error = decode_error(data)
    assert (error.code, error.details["offset"]) == ("decode.count-too-large", HEADER + 1)
    assert "length 1000 needs 1000 bytes but 4 remain" in error.message


@pytest.mark.parametrize("extra", [b"\x00", b"CHRM", b"\x01\x00\x00\x00\x00"])
def test_trailing_bytes(extra: bytes) -> None:
    data = small_valid_module().to_bytes()
    error = decode_error(data + extra)
    assert (error.code, error.details["offset"]) == ("decode.trailing-bytes", len(data))


# --- counts ----------------------------------------------------------------------------


def test_twenty_byte_file_claiming_four_billion_constants_fails_fast() -> None:
    data = header() + u8(1) + u32(9) + u32(0xFFFF_FFFF) + b"\x01\x00\x00\x00\x00"
    assert len(data) == 20
    start = time.perf_counter()
    error = decode_error(data)
    assert time.perf_counter() - start < 0.5
    assert (error.code, error.details["offset"]) == ("decode.count-too-large", HEADER + 5)
    assert error.message == "constant count 4294967295 needs at least 21474836475 bytes but 5 remain"


def test_file_claiming_four_billion_functions_fails_fast() -> None:
    data = header() + section(1, u32(0)) + section(2, u32(0)) + u8(3) + u32(4) + u32(0xFFFF_FFFF)
    start = time.perf_counter()
    error = decode_error(data)
    assert time.perf_counter() - start < 0.5
    assert (error.code, error.details["offset"]) == ("decode.count-too-large", FUNCTIONS_AT)
    # A function takes at least 18 bytes: name length, flags, param_count, 2 counts, result flag.
    assert error.message == f"function count 4294967295 needs at least {18 * 0xFFFF_FFFF} bytes but 0 remain"


@pytest.mark.parametrize(
    ("fn", "offset", "what"),
    [
        (u32(0xFFFF_FFFF) + b"f" * 20, FIRST_FUNCTION_AT, "function name length 4294967295"),
        (function(registers=u32(0xFFFF_FFFF)), FIRST_FUNCTION_AT + 5 + 1 + 4, "register count 4294967295"),
        (function(code=u32(0x0FFF_FFFF)), FIRST_FUNCTION_AT + 5 + 1 + 4 + 6 + 1, "instruction count 268435455"),
    ],
)
def test_counts_larger_than_the_section(fn: bytes, offset: int, what: str) -> None:
    data = raw_module(functions=u32(1) + fn, source_map=u32(0) + u32(1) + u32(0))
    error = decode_error(data)
    assert (error.code, error.details["offset"]) == ("decode.count-too-large", offset)
    assert error.message.startswith(what)


def test_huge_counts_everywhere_else() -> None:
    cases = {
        "capability count": raw_module(capabilities=u32(0xFFFF_FFFF)),
        "parameter count": raw_module(capabilities=u32(1) + text("c") + u32(0xFFFF_FFFF) + u8(0)),
        "string constant length": raw_module(constants=u32(1) + u8(2) + u32(0xFFFF_FFFF)),
        "source file count": raw_module(source_map=u32(0xFFFF_FFFF) + u32(0)),
        "source file path length": raw_module(source_map=u32(1) + u32(0xFFFF_FFFF) + u32(0)),
        "source position count": one_function(function())[:-4] + u32(0xFFFF_FFFF),
    }
    for what, data in cases.items():
        error = decode_error(data)
        assert error.code == "decode.count-too-large", what
        assert error.message.startswith(what), (what, error.message)


# --- tags and values ----------------------------------------------------------------


@pytest.mark.parametrize("op", [0x04, 0x0F, 0x50, 0x8F, 0xFF])  # 0x50-0x56: kept free (fused-only numbers)
def test_bad_opcode(op: int) -> None:
    code = u32(3) + ins(Op.NOP) + ins(op) + ins(Op.RETV)
    error = decode_error(one_function(function(code=code)))
    code_at = FIRST_FUNCTION_AT + 5 + 1 + 4 + 6 + 1 + 4
    assert (error.code, error.details["offset"]) == ("decode.bad-opcode", code_at + 13)
    assert f"0x{op:02x}" in error.message


@pytest.mark.parametrize(
    ("registers", "result", "index"),
    [
        (u32(2) + u8(0) + u8(1) + u8(9) + u8(1), u8(0), 1),  # depth 9 > MAX_ARRAY_DEPTH
        (u32(2) + u8(0) + u8(0) + u8(0) + u8(1), u8(0), 0),  # base 0
        (u32(1) + u8(0) + u8(4), u8(0), 0),  # base 4
        (u32(1) + u8(0) + u8(1), u8(2), None),  # result presence flag 2
        (u32(1) + u8(0) + u8(1), u8(1) + u8(0) + u8(0xFF), None),  # result base 255
    ],
)
def test_bad_type(registers: bytes, result: bytes, index: int | None) -> None:
    error = decode_error(one_function(function(registers=registers, result=result)))
    assert error.code == "decode.bad-type"
    registers_at = FIRST_FUNCTION_AT + 5 + 1 + 4 + 4
    if index is None:
        result_at = registers_at + len(registers) - 4
        assert error.details["offset"] in (result_at, result_at + 1)
    else:
        assert error.details["offset"] == registers_at + 2 * index


def test_bad_capability_type() -> None:
    data = raw_module(capabilities=u32(1) + text("c") + u32(1) + u8(0) + u8(1) + u8(1) + u8(8) + u8(0))
    error = decode_error(data)
    assert error.code == "decode.bad-type"
    assert "base tag 0" in error.message


@pytest.mark.parametrize("kind", [0, 3, 0x80, 0xFF])
def test_bad_constant_kind(kind: int) -> None:
    data = raw_module(constants=u32(2) + u8(1) + i64(5) + u8(kind) + i64(5))
    error = decode_error(data)
    assert (error.code, error.details["offset"]) == ("decode.bad-constant-kind", HEADER + 5 + 4 + 9)
    assert f"kind {kind}" in error.message


@pytest.mark.parametrize("flags", [2, 3, 0x80, 0xFF])
def test_bad_flags(flags: int) -> None:
    error = decode_error(one_function(function(flags=flags)))
    assert (error.code, error.details["offset"]) == ("decode.bad-flags", FIRST_FUNCTION_AT + 5)


@pytest.mark.parametrize(
    ("raw", "bad_at"),
    [
        (b"\xff", 0),
        (b"ok\xc3", 2),  # cut in the middle of a character
        (b"\xed\xa0\x80", 0),  # an encoded surrogate
        (b"\xc0\xaf", 0),  # overlong
        (b"a\x80b", 1),
    ],
)
def test_bad_utf8(raw: bytes, bad_at: int) -> None:
    error = decode_error(raw_module(constants=u32(1) + u8(2) + text(raw)))
    string_at = HEADER + 5 + 4 + 1 + 4
    assert (error.code, error.details["offset"]) == ("decode.bad-utf8", string_at + bad_at)
    name_error = decode_error(one_function(function(name=raw)))
    assert (name_error.code, name_error.details["offset"]) == ("decode.bad-utf8", FIRST_FUNCTION_AT + 4 + bad_at)


@pytest.mark.parametrize("entries", [0, 2, 0xFFFF_FFFF])
def test_source_map_shape(entries: int) -> None:
    data = raw_module(functions=u32(1) + function(), source_map=u32(0) + u32(entries) + u32(0) * 2)
    error = decode_error(data)
    assert error.code == "decode.source-map-shape"
    assert f"count is {entries} but must equal the function count (1)" in error.message


# --- systematic damage ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(all_builders()))
def test_every_prefix_is_a_decode_error(name: str) -> None:
    data = all_builders()[name].to_bytes()
    for length in range(len(data)):
        error = decode_error(data[:length])
        assert error.code in {"decode.truncated", "decode.count-too-large"}, (length, error)
        assert error.details["offset"] <= length


@pytest.mark.parametrize("name", ["small", "strings", "arrays"])
def test_every_single_byte_mutation_decodes_or_fails_cleanly(name: str) -> None:
    data = all_builders()[name].to_bytes()
    for index in range(len(data)):
        original = data[index]
        for value in {0x00, 0xFF, original ^ 0x01, original ^ 0x80, (original + 1) & 0xFF}:
            if value != original:
                assert_decodes_or_fails_cleanly(data[:index] + bytes([value]) + data[index + 1 :])


def test_random_blobs_with_a_fixed_seed() -> None:
    rng = random.Random(20261130)
    valid = small_valid_module().to_bytes()
    for _ in range(300):
        length = rng.randrange(0, 200)
        blob = bytes(rng.randrange(256) for _ in range(length))
        assert_decodes_or_fails_cleanly(blob)
        assert_decodes_or_fails_cleanly(header() + blob)
        assert_decodes_or_fails_cleanly(valid[: rng.randrange(len(valid))] + blob)
        assert_decodes_or_fails_cleanly(header() + u8(1) + u32(len(blob)) + blob)


@given(st.binary(max_size=400))
def test_random_bytes_give_module_or_decode_error(data: bytes) -> None:
    assert_decodes_or_fails_cleanly(data)


@given(st.binary(max_size=200))
def test_random_bytes_after_a_valid_header(data: bytes) -> None:
    assert_decodes_or_fails_cleanly(header() + data)


@given(module_bytes(), st.data())
def test_mutated_cut_and_spliced_valid_binaries(data: bytes, draw: st.DataObject) -> None:
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 4))):
        index = draw.draw(st.integers(0, len(mutated) - 1))
        mutated[index] = draw.draw(st.integers(0, 255))
    assert_decodes_or_fails_cleanly(bytes(mutated))
    cut = draw.draw(st.integers(0, len(data)))
    insert = draw.draw(st.binary(max_size=12))
    assert_decodes_or_fails_cleanly(data[:cut] + insert + data[cut:])
    assert_decodes_or_fails_cleanly(data[:cut] + data[cut + len(insert) :])


def test_decoded_module_from_mutation_is_a_plain_module() -> None:
    # A mutation of an operand byte still decodes, to a different module.
    data = bytearray(small_valid_module().to_bytes())
    data[-30] ^= 0x01
    assert isinstance(Module.from_bytes(bytes(data)), Module)
