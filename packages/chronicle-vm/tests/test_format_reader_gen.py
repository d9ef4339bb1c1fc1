"""The generated `.cmod` reader (`binary/_reader_gen.py`) is the schema's: never stale, reading what the schema reads.

A run decodes with the generated module so that start-up never imports
Construct.  These tests keep it honest: regenerating it from the Construct
schemas gives the checked-in file byte for byte, and on valid modules of
both versions and on mutated, truncated and extended bytes it gives the same
Module, or the same FormatFault (code, offset, message, details), as the
reader compiled from the schema at import (`schema.READ_MODULE`).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chronicle_testing.strategies import module_bytes, modules, v2_modules
from chronicle_vm.binary import _reader_gen, decode, readergen
from chronicle_vm.binary import schema as fmt
from chronicle_vm.binary.parts import FormatFault
from chronicle_vm.core.model import Module


def _outcome(reader: Any, data: bytes) -> tuple[str, Any]:
    try:
        module, stop = reader(data, 0, len(data), {})
    except FormatFault as fault:
        return "fault", (fault.code, fault.offset, fault.message, fault.details)
    return "module", (module, stop)


def _same(data: bytes) -> tuple[str, Any]:
    generated = _outcome(_reader_gen.read_module, data)
    compiled = _outcome(fmt.READ_MODULE, data)
    assert generated == compiled
    return generated


def test_the_generated_reader_is_not_stale() -> None:
    assert readergen.TARGET.read_text(encoding="utf-8") == readergen.generate(), (
        f"binary/_reader_gen.py differs from what the schema generates: run `{readergen.COMMAND}`"
    )
    assert readergen.main(["--check"]) == 0


def test_the_stale_check_fails_on_drift(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "_reader_gen.py"
    stale.write_text(readergen.TARGET.read_text(encoding="utf-8").replace("if pos + 4 > end:", "if pos > end:", 1))
    monkeypatch.setattr(readergen, "TARGET", stale)
    assert readergen.main(["--check"]) == 1
    assert readergen.main([]) == 0 and stale.read_text(encoding="utf-8") == readergen.generate()


def test_the_decoder_runs_the_generated_reader() -> None:
    assert vars(decode)["read_module"] is _reader_gen.read_module
    data = Module().to_bytes()
    assert _same(data) == ("module", (Module(), len(data)))


@st.composite
def _mutated(draw: st.DrawFn, source: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(0, 4))):
        how = draw(st.sampled_from(["flip", "set", "count", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if how == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "set" and data:
            data[at] = draw(st.sampled_from([0, 1, 2, 3, 4, 5, 7, 8, 0x7F, 0x80, 0xFF]))
        elif how == "count":  # a count or length: small, off by one, or huge
            value = draw(st.one_of(st.integers(0, 16), st.integers(2**16, 2**32 - 1), st.just(2**32 - 1)))
            data[at : at + 4] = value.to_bytes(4, "big")
        elif how == "cut":
            del data[at:]
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[at]
    return bytes(data)


_V2_BYTES = v2_modules().map(lambda module: module.to_bytes())


@given(modules())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_valid_version_1_modules_read_the_same(module: Module) -> None:
    data = module.to_bytes()
    assert _same(data) == ("module", (module, len(data)))


@given(v2_modules())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_valid_version_2_modules_read_the_same(module: Module) -> None:
    data = module.to_bytes()
    assert _same(data) == ("module", (module, len(data)))


@given(st.one_of(_mutated(module_bytes()), _mutated(_V2_BYTES)))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_bytes_read_the_same(data: bytes) -> None:
    _same(data)


@given(st.one_of(module_bytes(), _V2_BYTES), st.data())
@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
def test_every_truncation_reads_the_same(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data)))
    kind, _ = _same(data[:cut])
    assert kind == ("module" if cut == len(data) else "fault")


@pytest.mark.parametrize(
    "data",
    [b"", b"CH", b"XXXX", b"CHRM", b"CHRM\x00", b"CHRM\x00\x03", b"CHRM\x00\x01\x07", b"CHRM\x00\x02\x01\x00\x00\x00"],
)
def test_short_and_odd_heads_read_the_same(data: bytes) -> None:
    assert _same(data)[0] == "fault"
