"""Encoding: exact bytes of known modules, byte-identical round trips, and modules the format cannot hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.builders import (
    all_builders,
    i64,
    raw_module,
    section,
    small_valid_module,
    text,
    u8,
    u16,
    u32,
)
from chronicle_testing.strategies import modules, value_types
from chronicle_vm import (
    FORMAT_VERSION,
    INT,
    STR,
    Capability,
    DecodeError,
    Function,
    Instruction,
    Module,
    SourceMap,
    SourcePos,
    UsageError,
    ValueType,
)
from chronicle_vm.binary import schema as fmt
from chronicle_vm.binary.decode import decode_module
from chronicle_vm.binary.encode import encode_module
from chronicle_vm.core.isa import Op
from chronicle_vm.core.types import BaseType, array_type


def test_empty_module_bytes_are_exact() -> None:
    expected = (
        b"CHRM\x00\x01"
        + b"\x01\x00\x00\x00\x04\x00\x00\x00\x00"
        + b"\x02\x00\x00\x00\x04\x00\x00\x00\x00"
        + b"\x03\x00\x00\x00\x04\x00\x00\x00\x00"
        + b"\x04\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00\x00"
    )
    assert Module().to_bytes() == expected
    assert Module.from_bytes(expected) == Module()
    assert FORMAT_VERSION == 1


def test_small_module_matches_the_documented_layout() -> None:
    """The schema's bytes equal bytes written by hand from docs/module-format.md."""
    constants = u32(2) + u8(1) + i64(2) + u8(2) + text("hello")
    capabilities = (
        u32(2)
        + text("log.info")
        + u32(1)
        + u8(0)
        + u8(3)  # (str)
        + u8(0)  # no result
        + text("clock.now")
        + u32(0)
        + u8(1)
        + u8(0)
        + u8(1)  # -> int
    )

    def ins(op: Op, a: int = 0, b: int = 0, c: int = 0) -> bytes:
        return u8(op) + u32(a) + u32(b) + u32(c)

    add = (
        text("add")
        + u8(0)
        + u32(2)
        + u32(3)
        + (u8(0) + u8(1)) * 3
        + u8(1)
        + u8(0)
        + u8(1)
        + u32(2)
        + ins(Op.ADD, 2, 0, 1)
        + ins(Op.RET, 2)
    )
    main = (
        text("main")
        + u8(1)
        + u32(1)
        + u32(5)
        + (u8(0) + u8(1)) * 3
        + u8(0)
        + u8(3)
        + u8(0)
        + u8(1)
        + u8(1)
        + u8(0)
        + u8(1)
        + u32(7)
        + ins(Op.LOADK, 1, 0)
        + ins(Op.CALL, 0, 0, 2)
        + ins(Op.LOADK, 3, 1)
        + ins(Op.CAPCALL, 0, 3, 0)
        + ins(Op.CAPCALL, 1, 0, 4)
        + ins(Op.ADD, 2, 2, 4)
        + ins(Op.RET, 2)
    )
    source_map = (
        u32(1)
        + text("main.chr")
        + u32(2)
        + u32(0)
        + u32(7)
        + b"".join(u32(0) + u32(7) + u32(col) for col in range(1, 8))
    )
    expected = raw_module(constants, capabilities, u32(2) + add + main, source_map)
    assert small_valid_module().to_bytes() == expected
    assert Module.from_bytes(expected) == small_valid_module()


@pytest.mark.parametrize("name", sorted(all_builders()))
def test_builders_round_trip_byte_identically(name: str) -> None:
    module = all_builders()[name]
    data = module.to_bytes()
    decoded = Module.from_bytes(data)
    assert decoded == module
    assert decoded.to_bytes() == data
    assert decode_module(bytearray(data)) == module
    assert decode_module(memoryview(data)) == module


def test_decoded_values_have_model_types() -> None:
    decoded = Module.from_bytes(small_valid_module().to_bytes())
    assert [type(c) for c in decoded.constants] == [int, str]
    main = decoded.functions[1]
    assert type(main.code[0]) is Instruction
    assert main.code[0] == Instruction(Op.LOADK, 1, 0, 0)
    assert type(decoded.source_map.functions[1][0]) is SourcePos
    assert main.registers[3] == STR
    assert type(main.registers[3].base) is BaseType
    assert main.exported is True
    assert decoded.functions[0].exported is False


def test_digest_is_sha256_of_the_bytes() -> None:
    import hashlib

    module = small_valid_module()
    assert module.digest() == hashlib.sha256(module.to_bytes()).hexdigest()


@given(modules())
def test_round_trip_module_bytes_module(module: Module) -> None:
    data = encode_module(module)
    decoded = decode_module(data)
    assert decoded == module
    assert encode_module(decoded) == data
    # Construct's own parse and build over the same schema agree with the compiled reader.
    assert fmt.MODULE.parse_stream(fmt.Reader(data)) == module
    assert fmt.MODULE.build(module) == data


@given(value_types())
def test_every_value_type_round_trips(vtype: ValueType) -> None:
    module = Module(capabilities=(Capability("c", (vtype,), vtype),))
    assert Module.from_bytes(module.to_bytes()) == module


def _fn(code: tuple[Instruction, ...] = (), **changes: object) -> Function:
    fields: dict[str, object] = {
        "name": "f",
        "exported": False,
        "param_count": 0,
        "result": None,
        "registers": (INT,),
        "code": code,
    }
    fields.update(changes)
    return Function(**fields)  # type: ignore[arg-type]


def _with_fn(function: Function) -> Module:
    return Module(functions=(function,), source_map=SourceMap(functions=((),)))


UNENCODABLE = {
    "int too big": (Module(constants=(2**63,)), "constants[0]"),
    "int too small": (Module(constants=(-(2**63) - 1,)), "constants[0]"),
    "bool constant": (Module(constants=(1, True)), "constants[1]"),
    "float constant in version 1": (Module(constants=(1.5,), version=1), "version"),
    "nan constant": (Module(constants=(float("nan"),)), "constants[0]"),
    "infinite constant": (Module(constants=(1.0, float("-inf"))), "constants[1]"),
    "surrogate constant": (Module(constants=("ok", "\ud800")), "constants[1]"),
    "surrogate capability name": (Module(capabilities=(Capability("a\udfff", (), None),)), "capabilities[0].name"),
    "depth too deep": (Module(capabilities=(Capability("c", (array_type(BaseType.INT, 9),), None),)), "params[0]"),
    "negative depth": (Module(capabilities=(Capability("c", (), ValueType(BaseType.INT, -1)),)), "result"),
    "unknown base": (Module(capabilities=(Capability("c", (ValueType(7, 0),), None),)), "params[0]"),  # type: ignore[arg-type]
    "unknown opcode": (_with_fn(_fn((Instruction(0xFF),))), "function 0 'f' code[0]"),
    "operand too big": (_with_fn(_fn((Instruction(Op.MOV, 0, 2**32),))), "code[0] (mov) operand b"),
    "negative operand": (_with_fn(_fn((Instruction(Op.NOP, 0, 0, -1),))), "code[0] (nop) operand c"),
    "param count": (_with_fn(_fn(param_count=2**32)), "param_count"),
    "exported not bool": (_with_fn(_fn(exported=1)), "exported"),
    "register not a type": (_with_fn(_fn(registers=(INT, "int"))), "registers[1]"),
    "list not tuple": (_with_fn(_fn(code=[Instruction(Op.NOP)])), "code"),  # type: ignore[arg-type]
    "surrogate file": (Module(source_map=SourceMap(files=("\udc80",))), "source_map.files[0]"),
    "source map count": (Module(functions=(_fn(),)), "source_map.functions"),
    "position too big": (
        Module(functions=(_fn((Instruction(0),)),), source_map=SourceMap(functions=((SourcePos(0, 2**32, 1),),))),
        "source_map.functions[0][0].line",
    ),
    "other version": (Module(version=3), "version"),
    "bool version": (Module(version=True), "version"),
}


@pytest.mark.parametrize("case", sorted(UNENCODABLE))
def test_unencodable_module_is_a_usage_error_naming_where(case: str) -> None:
    module, where = UNENCODABLE[case]
    with pytest.raises(UsageError) as info:
        module.to_bytes()
    assert info.value.code == "usage.unencodable-module"
    assert where in info.value.message
    assert where in info.value.details["where"]


def test_encoder_rejects_a_non_module() -> None:
    with pytest.raises(UsageError) as info:
        encode_module("not a module")  # type: ignore[arg-type]
    assert info.value.code == "usage.unencodable-module"


@given(st.integers(-(2**63), 2**63 - 1))
def test_int_constants_round_trip_at_any_value(value: int) -> None:
    assert Module.from_bytes(Module(constants=(value,)).to_bytes()).constants == (value,)


def test_extreme_values_round_trip() -> None:
    big = 2**32 - 1
    fn = _fn(
        (Instruction(Op.SETIDX, big, big, big),),
        param_count=big,
        registers=(array_type(BaseType.STR, 8),),
    )
    module = Module(
        constants=(-(2**63), 2**63 - 1, "", "\x00"),
        functions=(fn,),
        source_map=SourceMap(files=("",), functions=((SourcePos(big, big, big),),)),
    )
    assert Module.from_bytes(module.to_bytes()) == module


def test_section_payload_helper_matches_schema() -> None:
    # Guards the hand-written helpers the malformed tests rely on.
    assert raw_module() == Module().to_bytes()
    assert section(1, b"") == b"\x01\x00\x00\x00\x00"
    assert u16(1) == b"\x00\x01"
    with pytest.raises(DecodeError):
        Module.from_bytes(raw_module()[:-1])


def test_construct_parse_of_a_non_reader_stream_is_refused() -> None:
    import io

    with pytest.raises(TypeError):
        fmt.MODULE.parse_stream(io.BytesIO(Module().to_bytes()))


def test_construct_parse_reports_faults_like_the_decoder() -> None:
    data = raw_module(constants=u32(1) + u8(9) + i64(0))
    with pytest.raises(fmt.FormatFault) as info:
        fmt.MODULE.parse_stream(fmt.Reader(data))
    assert (info.value.code, info.value.offset) == ("bad-constant-kind", 6 + 5 + 4)


@pytest.mark.parametrize("name", sorted(all_builders()))
def test_builders_are_verifiable(name: str) -> None:
    # builders.py promises modules other tests can start from as valid ones.
    from chronicle_vm.verifier.rules import verify

    verify(all_builders()[name])
