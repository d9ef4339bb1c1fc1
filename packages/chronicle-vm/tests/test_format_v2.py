"""Format version 2: the type section (type nodes, struct table), type indexes, float constants.

Bytes here are written by hand from docs/module-format.md ("Version 2"), independent of the schema.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.builders import header, i64, section, text, u8, u32
from chronicle_testing.strategies import v2_modules, v2_value_types
from chronicle_vm import DecodeError, Module
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, SourceMap, fitting_version
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    MAX_STRUCT_FIELDS,
    MAX_STRUCTS,
    MAX_TYPE_NODES,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    map_type,
    struct_type,
)
from chronicle_vm.errors import UsageError
from chronicle_vm.verifier.rules import verify


def node(kind: int, a: int = 0, b: int = 0) -> bytes:
    return u8(kind) + u32(a) + u32(b)


def struct_def(name: str, fields: list[tuple[str, int]]) -> bytes:
    return text(name) + u32(len(fields)) + b"".join(text(label) + u32(ref) for label, ref in fields)


def types(nodes: list[bytes], structs: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    return u32(len(nodes)) + b"".join(nodes) + u32(len(structs)) + b"".join(structs)


def raw_v2(
    type_section: bytes = types([]),
    constants: bytes = u32(0),
    capabilities: bytes = u32(0),
    functions: bytes = u32(0),
    source_map: bytes = u32(0) + u32(0),
) -> bytes:
    return (
        header(2)
        + section(0, type_section)
        + section(1, constants)
        + section(2, capabilities)
        + section(3, functions)
        + section(4, source_map)
    )


def decode_error(data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        Module.from_bytes(data)
    return info.value


ITEM = StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("unit", FLOAT)))
NODE = StructDef("Node", (StructField("kids", struct_type(1).array_of()), StructField("tags", map_type(STR, BOOL))))


def _main(registers: tuple[ValueType, ...], result: ValueType | None = None) -> Function:
    return Function("main", True, 0, result, registers, (Instruction(Op.RET, 0),))


def sample_module() -> Module:
    return Module(
        constants=(1, "a", 1.5, -0.0, 2.5e-3),
        capabilities=(Capability("catalog.lookup", (STR,), struct_type(0)),),
        functions=(_main((INT, FLOAT, map_type(STR, FLOAT), struct_type(1)), INT),),
        source_map=SourceMap((), ((),)),
        structs=(ITEM, NODE),
    )


# --- the bytes ----------------------------------------------------------------


def test_sample_module_matches_the_documented_layout() -> None:
    type_section = types(
        [
            node(3),  # 0 str      (Item.sku)
            node(1),  # 1 int      (Item.qty)
            node(4),  # 2 float    (Item.unit)
            node(7, 1),  # 3 Node  (Node.kids element)
            node(5, 3),  # 4 [Node]
            node(2),  # 5 bool
            node(6, 0, 5),  # 6 {str: bool}
            node(7, 0),  # 7 Item  (catalog.lookup result)
            node(6, 0, 2),  # 8 {str: float}  (main's registers: int, float, {str: float}, Node)
        ],
        [struct_def("Item", [("sku", 0), ("qty", 1), ("unit", 2)]), struct_def("Node", [("kids", 4), ("tags", 6)])],
    )
    constants = (
        u32(5)
        + u8(1)
        + i64(1)
        + u8(2)
        + text("a")
        + u8(3)
        + struct.pack(">d", 1.5)
        + u8(3)
        + bytes.fromhex("8000000000000000")
        + u8(3)
        + struct.pack(">d", 2.5e-3)
    )
    capabilities = u32(1) + text("catalog.lookup") + u32(1) + u32(0) + u8(1) + u32(7)
    functions = (
        u32(1)
        + text("main")
        + u8(1)
        + u32(0)
        + u32(4)
        + u32(1)
        + u32(2)
        + u32(8)
        + u32(3)
        + u8(1)
        + u32(1)
        + u32(1)
        + u8(Op.RET)
        + u32(0) * 3
    )
    expected = raw_v2(type_section, constants, capabilities, functions, u32(0) + u32(1) + u32(0))
    module = sample_module()
    assert module.version == 2
    assert module.to_bytes() == expected
    decoded = Module.from_bytes(expected)
    assert decoded == module
    assert decoded.to_bytes() == expected
    assert str(decoded.constants[3]) == "-0.0"


def test_version_one_modules_keep_their_bytes() -> None:
    module = Module(functions=(_main((INT, STR.array_of())),), source_map=SourceMap((), ((),)))
    assert module.version == 1
    data = module.to_bytes()
    assert data[4:6] == b"\x00\x01"
    assert Module.from_bytes(data).to_bytes() == data


def test_fitting_version() -> None:
    assert fitting_version(Module()) == 1
    assert fitting_version(Module(constants=(1.0,))) == 2
    assert fitting_version(Module(structs=(ITEM,))) == 2
    assert fitting_version(Module(functions=(_main((FLOAT.array_of(),)),))) == 2
    assert fitting_version(Module(capabilities=(Capability("a.b", (), map_type(INT, INT)),))) == 2


def test_a_version_two_file_that_fits_version_one_round_trips() -> None:
    module = Module(constants=(7,), version=2)
    data = module.to_bytes()
    assert data[4:6] == b"\x00\x02"
    assert Module.from_bytes(data) == module
    assert Module.from_bytes(data).to_bytes() == data


def test_forcing_version_one_on_a_version_two_module_is_refused() -> None:
    for module in (
        Module(constants=(1.5,), version=1),
        Module(structs=(ITEM,), version=1),
        Module(functions=(_main((FLOAT,)),), source_map=SourceMap((), ((),)), version=1),
    ):
        with pytest.raises(UsageError) as info:
            module.to_bytes()
        assert info.value.code == "usage.unencodable-module"
        assert "version 2" in info.value.message


def test_float_constants_are_bit_exact() -> None:
    values = (0.0, -0.0, 5e-324, -1.7976931348623157e308, 0.1, 1 / 3)
    decoded = Module.from_bytes(Module(constants=values).to_bytes()).constants
    assert [struct.pack(">d", v) for v in decoded] == [struct.pack(">d", v) for v in values]  # type: ignore[arg-type]


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_finite_float_round_trips(value: float) -> None:
    decoded = Module.from_bytes(Module(constants=(value,)).to_bytes()).constants[0]
    assert struct.pack(">d", decoded) == struct.pack(">d", value)  # type: ignore[arg-type]


# --- malformed type sections: one test per code, with its offset ----------------------------------

TYPES_AT = 6 + 5  # header, then section 0's tag and length
NODES_AT = TYPES_AT + 4


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x7f\xf8\x00\x00\x00\x00\x00\x00", "nan"),
        (b"\x7f\xf0\x00\x00\x00\x00\x00\x00", "inf"),
        (b"\xff\xf0\x00\x00\x00\x00\x00\x00", "-inf"),
    ],
)
def test_non_finite_float_constants_are_refused(raw: bytes, code: str) -> None:
    data = raw_v2(constants=u32(1) + u8(3) + raw)
    error = decode_error(data)
    assert error.code == "decode.bad-float"
    assert error.details["offset"] == data.index(raw)


def test_float_constant_kind_is_refused_in_version_one() -> None:
    data = header(1) + section(1, u32(1) + u8(3) + struct.pack(">d", 1.0))
    data += section(2, u32(0)) + section(3, u32(0)) + section(4, u32(0) + u32(0))
    assert decode_error(data).code == "decode.bad-constant-kind"


def test_type_section_tag_is_unknown_in_version_one() -> None:
    data = header(1) + section(0, types([]))
    assert decode_error(data).code == "decode.bad-section"


def test_version_two_needs_the_type_section_first() -> None:
    data = header(2) + section(1, u32(0))
    assert decode_error(data).code == "decode.section-order"


def _caps_using(index: int) -> bytes:
    return u32(1) + text("a.b") + u32(1) + u32(index) + u8(0)


CASES: dict[str, tuple[bytes, str, int]] = {
    # name: (file, code, offset)
    "unknown node kind": (raw_v2(types([node(8)])), "decode.bad-type", NODES_AT),
    "scalar with an operand": (raw_v2(types([node(1, 1)])), "decode.bad-type", NODES_AT),
    "array with a second operand": (raw_v2(types([node(1), node(5, 0, 1)])), "decode.bad-type", NODES_AT + 9),
    "struct with a second operand": (raw_v2(types([node(7, 0, 3)])), "decode.bad-type", NODES_AT),
    "node refers to itself": (raw_v2(types([node(5, 0)])), "decode.bad-type-index", NODES_AT),
    "node refers forward": (raw_v2(types([node(5, 1), node(1)])), "decode.bad-type-index", NODES_AT),
    "map key float": (raw_v2(types([node(4), node(1), node(6, 0, 1)])), "decode.bad-map-key", NODES_AT + 18),
    "map key struct": (
        raw_v2(types([node(7, 0), node(1), node(6, 0, 1)], [struct_def("S", [])])),
        "decode.bad-map-key",
        NODES_AT + 18,
    ),
    "map key array": (raw_v2(types([node(1), node(5, 0), node(6, 1, 0)])), "decode.bad-map-key", NODES_AT + 18),
    "too deep": (
        raw_v2(types([node(1)] + [node(5, i) for i in range(9)])),
        "decode.type-too-deep",
        NODES_AT + 9 * 9,
    ),
    "struct ref out of range": (raw_v2(types([node(7, 1)], [struct_def("S", [])])), "decode.bad-struct-ref", NODES_AT),
    "field type out of range": (
        raw_v2(types([node(1)], [struct_def("S", [("x", 1)])])),
        "decode.bad-type-index",
        NODES_AT + 9 + 4 + 5 + 4 + 5,
    ),
    "register type out of range": (
        raw_v2(types([node(1)]), capabilities=_caps_using(1)),
        "decode.bad-type-index",
        -1,
    ),
    "duplicate node": (
        raw_v2(types([node(1), node(1)]), capabilities=_caps_using(0)),
        "decode.type-table-order",
        NODES_AT + 9,
    ),
    "unused node": (
        raw_v2(types([node(1), node(3)]), capabilities=_caps_using(0)),
        "decode.type-table-order",
        NODES_AT + 9,
    ),
    "out of order": (
        raw_v2(types([node(3), node(1)]), capabilities=_caps_using(1)),
        "decode.type-table-order",
        NODES_AT,
    ),
    "too many nodes": (raw_v2(u32(MAX_TYPE_NODES + 1)), "decode.too-many-type-nodes", TYPES_AT),
    "too many structs": (raw_v2(u32(0) + u32(MAX_STRUCTS + 1)), "decode.too-many-structs", TYPES_AT + 4),
    "too many fields": (
        raw_v2(u32(0) + u32(1) + text("S") + u32(MAX_STRUCT_FIELDS + 1)),
        "decode.too-many-fields",
        TYPES_AT + 8 + 5,
    ),
    "thousands of fields": (
        raw_v2(u32(1) + node(1) + u32(1) + text("S") + u32(5000) + (text("f") + u32(0)) * 5000),
        "decode.too-many-fields",
        TYPES_AT + 4 + 9 + 4 + 5,
    ),
    "node count beyond the section": (raw_v2(u32(100) + node(1)), "decode.count-too-large", TYPES_AT),
    "truncated node table": (raw_v2(u32(1) + node(1)[:5]), "decode.count-too-large", TYPES_AT),
    "missing struct count": (raw_v2(u32(1) + node(1)), "decode.section-length", NODES_AT + 9),
    "trailing bytes in the type section": (raw_v2(types([]) + b"\x00"), "decode.section-length", TYPES_AT + 8),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_type_sections(case: str) -> None:
    data, code, offset = CASES[case]
    error = decode_error(data)
    assert error.code == code, error.message
    if offset >= 0:
        assert error.details["offset"] == offset, error.message


def test_register_type_index_offset() -> None:
    data = raw_v2(types([node(1)]), capabilities=_caps_using(1))
    error = decode_error(data)
    assert data[error.details["offset"] : error.details["offset"] + 4] == u32(1)


@given(st.binary(max_size=200))
def test_any_bytes_after_a_v2_header_decode_or_fail_cleanly(tail: bytes) -> None:
    try:
        Module.from_bytes(header(2) + tail)
    except DecodeError as error:
        assert error.code != "decode.malformed", error.message


@given(st.integers(0, 400), st.binary(min_size=1, max_size=4))
def test_corrupting_a_v2_module_fails_cleanly(position: int, junk: bytes) -> None:
    data = bytearray(sample_module().to_bytes())
    position %= len(data)
    data[position : position + len(junk)] = junk
    try:
        decoded = Module.from_bytes(bytes(data))
    except DecodeError as error:
        assert error.code != "decode.malformed", error.message
    else:
        assert decoded.to_bytes() == bytes(data)


# --- the encoder --------------------------------------------------------------

BAD_MODULES = {
    "struct ref out of range": Module(functions=(_main((struct_type(1),)),), structs=(ITEM,)),
    "map key float": Module(capabilities=(Capability("a.b", (map_type(FLOAT, INT),), None),)),
    "too many structs": Module(structs=(StructDef("S", ()),) * (MAX_STRUCTS + 1)),
    "too many fields": Module(structs=(StructDef("S", (StructField("f", INT),) * (MAX_STRUCT_FIELDS + 1)),)),
    "field not a StructField": Module(structs=(StructDef("S", ("f",)),)),  # type: ignore[arg-type]
    "struct not a StructDef": Module(structs=("S",)),  # type: ignore[arg-type]
    "bad arity": Module(capabilities=(Capability("a.b", (ValueType(TypeKind.MAP, (INT,)),), None),)),
    "ref on a scalar": Module(capabilities=(Capability("a.b", (ValueType(TypeKind.INT, (), 3),), None),)),
}


@pytest.mark.parametrize("case", sorted(BAD_MODULES))
def test_unencodable_version_two_modules(case: str) -> None:
    module = BAD_MODULES[case]
    with pytest.raises(UsageError) as info:
        module.to_bytes()
    assert info.value.code == "usage.unencodable-module"


def test_deep_types_are_unencodable() -> None:
    vtype = INT
    for _ in range(9):
        vtype = map_type(STR, vtype)
    with pytest.raises(UsageError):
        Module(capabilities=(Capability("a.b", (vtype,), None),)).to_bytes()
    vtype = INT
    for _ in range(100_000):
        vtype = vtype.array_of()
    with pytest.raises(UsageError):
        Module(capabilities=(Capability("a.b", (vtype,), None),)).to_bytes()


def test_too_many_type_nodes_are_unencodable() -> None:
    structs = tuple(StructDef(f"S{i}", ()) for i in range(MAX_STRUCTS))
    registers = tuple(t for i in range(MAX_STRUCTS) for t in (struct_type(i), struct_type(i).array_of()))
    registers += tuple(map_type(INT, struct_type(i)) for i in range(MAX_STRUCTS))
    registers += tuple(map_type(STR, struct_type(i)) for i in range(MAX_STRUCTS))
    registers += (INT, STR)
    module = Module(functions=(_main(registers),), source_map=SourceMap((), ((),)), structs=structs)
    with pytest.raises(UsageError) as info:
        module.to_bytes()
    assert "types" in info.value.details["where"]


# --- version-1 goldens: modules compiled from examples/ by the compiler before version 2 ----------

GOLDEN_V1 = sorted((Path(__file__).parent / "golden" / "v1-cmod").glob("*.cmod"))


def test_version_one_goldens_exist() -> None:
    assert {path.stem for path in GOLDEN_V1} >= {"bot", "game_mod", "hello", "pricing", "runaway", "text_transform"}


@pytest.mark.parametrize("path", GOLDEN_V1, ids=lambda path: path.stem)
def test_version_one_goldens_decode_verify_and_re_encode_byte_for_byte(path: Path) -> None:
    data = path.read_bytes()
    module = Module.from_bytes(data)
    assert module.version == 1
    assert module.structs == ()
    assert module.to_bytes() == data
    verify(module)


# --- properties over random version-2 modules -------------------------------------------------------


@given(v2_modules())
def test_random_v2_modules_round_trip_byte_for_byte(module: Module) -> None:
    data = module.to_bytes()
    decoded = Module.from_bytes(data)
    assert decoded == module
    assert decoded.version == module.version
    assert [struct.pack(">d", k) if type(k) is float else k for k in decoded.constants] == [
        struct.pack(">d", k) if type(k) is float else k for k in module.constants
    ]
    assert decoded.to_bytes() == data


@given(v2_modules(), st.integers(0, 10_000), st.binary(min_size=1, max_size=3))
def test_corrupted_random_v2_modules_fail_cleanly_or_stay_canonical(module: Module, at: int, junk: bytes) -> None:
    data = bytearray(module.to_bytes())
    at %= len(data)
    data[at : at + len(junk)] = junk
    try:
        decoded = Module.from_bytes(bytes(data))
    except DecodeError as error:
        assert error.code != "decode.malformed", error.message
        assert 0 <= error.details["offset"] <= len(data)
    else:
        assert decoded.to_bytes() == bytes(data)


@given(v2_modules(), st.integers(0, 10_000))
def test_truncated_random_v2_modules_are_decode_errors(module: Module, cut: int) -> None:
    data = module.to_bytes()
    cut %= len(data)
    with pytest.raises(DecodeError) as caught:
        Module.from_bytes(data[:cut])
    assert caught.value.code != "decode.malformed"


# --- the text form of version-2 types -----------------------------------------------------------------

_NAMES = {"Item": 0, "Node": 1, "Order": 2}
_TABLE = (ITEM, NODE, StructDef("Order", ()))


@given(v2_value_types(3))
def test_type_text_reads_back_with_the_struct_table(vtype: ValueType) -> None:
    from chronicle_vm.core.types import parse_type, type_text

    assert parse_type(type_text(vtype, _TABLE), _NAMES) == vtype
    assert parse_type(str(vtype), {}) == vtype  # `struct#N` by index, given a (here empty) table


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("float", FLOAT),
        ("{str: [int]}", map_type(STR, INT.array_of())),
        ("{ bool : Item }", map_type(BOOL, struct_type(0))),
        ("[Node]", struct_type(1).array_of()),
        ("struct#2", struct_type(2)),
        ("{float: int}", None),
        ("{Item: int}", None),
        ("{[int]: int}", None),
        ("Unknown", None),
        ("{str: int", None),
        ("{str int}", None),
        ("[" * 9 + "int" + "]" * 9, None),
        ("{str: " * 9 + "int" + "}" * 9, None),
        ("{str: " * 8 + "int" + "}" * 8, "ok"),
    ],
)
def test_parse_type_of_the_new_forms(text: str, expected: object) -> None:
    from chronicle_vm.core.types import parse_type

    found = parse_type(text, _NAMES)
    if expected == "ok":
        assert found is not None
    else:
        assert found == expected
    assert parse_type("Item") is None  # no table: no struct names
    assert parse_type("struct#0") is None


def test_str_of_a_type_stays_table_free() -> None:
    assert str(map_type(STR, struct_type(3).array_of())) == "{str: [struct#3]}"


def test_min_size_of_the_whole_file_is_the_smallest_version() -> None:
    from chronicle_vm.binary import schema as fmt

    assert fmt.min_size(fmt.MODULE) == min(fmt.min_size(fmt.MODULE_V1), fmt.min_size(fmt.MODULE_V2))
    assert fmt.min_size(fmt.MODULE_V1) == len(Module().to_bytes())
    assert fmt.min_size(fmt.MODULE_V2) == len(Module(version=2).to_bytes())
