"""The value-type registry: one row per kind, and every stage's view of a type read from it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chronicle_vm.core.type_registry import (
    ROWS,
    ValueMismatch,
    annotation_type,
    decode_v1,
    encode_v1,
    is_sized,
    json_example,
    v1_types,
    value_text,
    well_formed,
    zero_value,
)
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    MAX_ARRAY_DEPTH,
    STR,
    BaseType,
    TypeKind,
    ValueType,
    array_type,
    map_type,
    parse_type,
    struct_type,
)
from chronicle_vm.core.values import import_value
from chronicle_vm.limits import Limits


def test_every_kind_has_exactly_one_row() -> None:
    assert set(ROWS) == set(TypeKind)
    assert all(found.kind is kind for kind, found in ROWS.items())


def test_types_are_trees_not_base_and_depth() -> None:
    nested = INT.array_of().array_of()
    assert nested == ValueType(TypeKind.ARRAY, (ValueType(TypeKind.ARRAY, (INT,)),))
    assert nested.element().element() is INT
    assert (nested.base, nested.depth) == (BaseType.INT, 2)
    assert str(nested) == "[[int]]"


def test_v1_records_round_trip_for_every_type_the_format_holds() -> None:
    types = list(v1_types())
    assert len(types) == len(BaseType) * (MAX_ARRAY_DEPTH + 1) == len(set(types))
    for vtype in types:
        assert decode_v1(*encode_v1(vtype)) == vtype
        assert parse_type(str(vtype)) == vtype
        assert well_formed(vtype)
    assert decode_v1(MAX_ARRAY_DEPTH + 1, 1) is None
    assert decode_v1(0, 4) is None


@pytest.mark.parametrize(
    "bogus",
    [
        ValueType(BaseType.INT, -1),  # type: ignore[arg-type]
        ValueType(TypeKind.INT, (INT,)),
        ValueType(TypeKind.ARRAY, ()),
        ValueType(TypeKind.ARRAY, [INT]),  # type: ignore[arg-type]
        ValueType(TypeKind.ARRAY, ("int",)),  # type: ignore[arg-type]
        "int",
    ],
)
def test_well_formed_refuses_anything_but_exact_registry_trees(bogus: object) -> None:
    assert not well_formed(bogus)


def test_too_deep_is_not_well_formed() -> None:
    vtype = INT
    for _ in range(MAX_ARRAY_DEPTH):
        vtype = vtype.array_of()
    assert well_formed(vtype)
    assert not well_formed(vtype.array_of())


def test_zero_values_are_fresh() -> None:
    assert (zero_value(INT), zero_value(BOOL), zero_value(STR)) == (0, False, "")
    first, second = zero_value(INT.array_of()), zero_value(INT.array_of())
    assert first == [] and first is not second


def test_sized_kinds() -> None:
    assert not is_sized(INT) and not is_sized(BOOL)
    assert is_sized(STR) and is_sized(BOOL.array_of())


def test_host_annotations_map_to_types() -> None:
    assert annotation_type(int) is not None and annotation_type(int) == INT
    assert annotation_type(bool) == BOOL
    assert annotation_type(list[list[str]]) == STR.array_of().array_of()
    assert annotation_type(float) == FLOAT
    assert annotation_type(list[float]) == FLOAT.array_of()
    assert annotation_type(complex) is None
    assert annotation_type(dict[str, int]) == ValueType(TypeKind.MAP, (STR, INT))  # maps (#17)
    assert annotation_type(dict[list[int], int]) is None  # map keys are int, str or bool
    assert annotation_type(list[complex]) is None
    deep: Any = int
    for _ in range(MAX_ARRAY_DEPTH + 1):
        deep = list[deep]
    assert annotation_type(deep) is None


def test_import_goes_through_the_rows() -> None:
    limits = Limits()
    assert import_value((1, 2), INT.array_of(), limits) == ([1, 2], 2)
    assert import_value([["ab"]], STR.array_of().array_of(), limits) == ([["ab"]], 4)
    with pytest.raises(ValueMismatch, match=r"value\[1\]: expected int, found bool"):
        import_value([1, True], INT.array_of(), limits)


def test_texts_and_examples() -> None:
    assert [value_text(v) for v in (42, True, "a\u00e9", [[1], []])] == ["42", "true", '"a\u00e9"', "[[1], []]"]
    assert json_example(INT.array_of()) == "[1, 2]"
    assert json_example(STR.array_of().array_of()) == '[["a", "b"]]'


def test_version_1_types_are_shared_objects_and_copies_verify_alike() -> None:
    from chronicle_testing.verify_builders import fn, ins, module
    from chronicle_vm.core.model import Module
    from chronicle_vm.errors import VerifyError
    from chronicle_vm.verifier.rules import verify

    shared = tuple(v1_types())
    assert shared[0] is INT and array_type(BaseType.STR, 2) is shared[2 * (MAX_ARRAY_DEPTH + 1) + 2]
    copy = ValueType(TypeKind.ARRAY, (ValueType(TypeKind.INT),))  # equal to [int], not the shared object
    assert copy == INT.array_of() and all(copy is not t for t in shared)
    built = module(fn("main", [ins("ret", 0)], registers=(INT, copy), result=INT, exported=True))
    decoded = Module.from_bytes(built.to_bytes())
    assert decoded.functions[0].registers[1] is array_type(BaseType.INT, 1)
    assert verify(built).module == verify(decoded).module
    forged = module(fn("main", [ins("ret", 0)], registers=(INT, ValueType(TypeKind.ARRAY, [INT])), result=INT))  # type: ignore[arg-type]
    with pytest.raises(VerifyError) as caught:
        verify(forged)
    assert caught.value.code == "verify.type-invalid"


# -- JSON forms (the registry's to_json/from_json columns) -------------------------------------------------


def test_every_row_has_a_json_form_and_round_trips() -> None:
    from chronicle_vm.core.type_registry import from_json, to_json

    assert all(found.to_json is not None and found.from_json is not None for found in ROWS.values())
    cases: list[tuple[Any, ValueType]] = [
        (-(2**63), INT),
        (True, BOOL),
        ('a\u00e9"\\', STR),
        ([[1, 2], []], INT.array_of().array_of()),
        ([["x"]], STR.array_of().array_of()),
    ]
    for value, vtype in cases:
        written = to_json(value, vtype)
        assert written == value
        assert from_json(written, vtype) == value
    nested = [[1]]
    written = to_json(nested, INT.array_of().array_of())
    assert written is not nested and written[0] is not nested[0]  # a fresh tree, never the VM's lists


@pytest.mark.parametrize(
    ("obj", "vtype", "message"),
    [
        (True, INT, "args[0]: expected int, found a bool"),
        (2**63, INT, "args[0]: int 9223372036854775808 is outside signed 64 bits"),
        (1, BOOL, "args[0]: expected bool, found an int"),
        (None, STR, "args[0]: expected str, found null"),
        ({"a": 1}, INT.array_of(), "args[0]: expected [int] (a JSON array), found an object"),
        ([[1], [2, "x"]], INT.array_of().array_of(), "args[0][1][1]: expected int, found a string"),
        (1.5, INT, "args[0]: expected int, found a number with a fraction or exponent"),
    ],
)
def test_from_json_names_the_path_inside_the_value(obj: object, vtype: ValueType, message: str) -> None:
    from chronicle_vm.core.type_registry import from_json

    with pytest.raises(ValueMismatch) as caught:
        from_json(obj, vtype, what="args[0]")
    assert str(caught.value) == message


def test_json_forms_refuse_nesting_beyond_the_bound_without_recursing() -> None:
    from chronicle_vm.core.type_registry import JsonForm, from_json, to_json

    deep = array_type(BaseType.INT, MAX_ARRAY_DEPTH)
    value: Any = [1]
    for _ in range(MAX_ARRAY_DEPTH - 1):
        value = [value]
    assert from_json(to_json(value, deep), deep) == value
    shallow = JsonForm(max_depth=3)
    with pytest.raises(ValueMismatch, match="deeper than 3"):
        from_json(value, deep, shallow)
    with pytest.raises(ValueMismatch, match="deeper than 3"):
        to_json(value, deep, shallow)


def test_a_kind_without_a_row_has_no_json_form_yet() -> None:
    from chronicle_vm.core.type_registry import from_json, to_json

    examples = {TypeKind.FLOAT: FLOAT, TypeKind.MAP: map_type(STR, INT), TypeKind.STRUCT: struct_type(0)}
    for kind in TypeKind:
        if kind in ROWS:
            continue
        with pytest.raises(ValueMismatch, match="no JSON form"):
            from_json(1, examples[kind])
        with pytest.raises(ValueMismatch, match="no JSON form"):
            to_json(1, examples[kind])


# -- the FLOAT row -------------------------------------------------------------------------------------------------


def test_float_json_form_is_a_number_written_as_repr() -> None:
    from chronicle_vm.core.type_registry import from_json, to_json

    for value in (1.0, -0.0, 0.1, 1e16, 5e-324, -1.7976931348623157e308):
        written = to_json(value, FLOAT)
        assert type(written) is float and json.dumps(written) == repr(value)
        back = from_json(json.loads(json.dumps(written)), FLOAT)
        assert type(back) is float and back.hex() == value.hex()
    assert from_json(3, FLOAT) == 3.0 and type(from_json(3, FLOAT)) is float  # an int a float holds exactly
    assert to_json([1.5, -0.0], FLOAT.array_of()) == [1.5, -0.0]


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (True, "args[0]: expected float, found a bool"),
        ("1.5", "args[0]: expected float, found a string"),
        (float("nan"), "args[0]: float nan is not finite"),
        (float("inf"), "args[0]: float inf is not finite"),
        (2**53 + 1, "args[0]: int 9007199254740993 has no exact float"),
        (10**400, "args[0]: int of 1329 bits has no exact float"),
    ],
)
def test_float_json_refuses_what_is_not_a_finite_number(obj: object, message: str) -> None:
    from chronicle_vm.core.type_registry import from_json

    with pytest.raises(ValueMismatch) as caught:
        from_json(obj, FLOAT, what="args[0]")
    assert str(caught.value) == message


def test_float_host_values_are_finite_floats_or_exact_ints() -> None:
    limits = Limits()
    assert import_value(1.5, FLOAT, limits) == (1.5, 0)
    value, units = import_value(-(2**63), FLOAT, limits)
    assert type(value) is float and value == -(2.0**63) and units == 0
    assert import_value([1, 2.5], FLOAT.array_of(), limits)[0] == [1.0, 2.5]
    for bad, why in [
        (float("nan"), "not finite"),
        (float("-inf"), "not finite"),
        (True, "expected float, found bool"),
        ("1.5", "expected float, found str"),
        (2**63 + 1, "has no exact float"),
        (None, "expected float, found nothing"),
    ]:
        with pytest.raises(ValueMismatch, match=why):
            import_value(bad, FLOAT, limits)


def test_float_row_text_zero_and_order() -> None:
    from chronicle_vm.core.type_registry import value_text, zero_value

    assert value_text(-0.0) == "-0.0" and value_text(1e16) == "1e+16" and value_text([0.5]) == "[0.5]"
    zero = zero_value(FLOAT)
    assert type(zero) is float and zero.hex() == (0.0).hex()
    assert ROWS[TypeKind.FLOAT].orderable and not ROWS[TypeKind.FLOAT].sized
    assert parse_type("float") == FLOAT and parse_type("[[float]]") == FLOAT.array_of().array_of()
    assert str(FLOAT.array_of()) == "[float]" and FLOAT.is_scalar_kind


def test_to_json_of_a_value_sharing_one_array_many_times_is_bounded() -> None:
    from chronicle_vm.core.type_registry import JsonForm, to_json

    shared: Any = [1]
    vtype = INT.array_of()
    for _ in range(MAX_ARRAY_DEPTH - 1):
        shared = [shared, shared]  # 2**7 arrays written from 8 objects
        vtype = vtype.array_of()
    assert len(json.dumps(to_json(shared, vtype))) > 2**7
    with pytest.raises(ValueMismatch, match="more than 100 arrays"):
        to_json(shared, vtype, JsonForm(max_items=100))


def test_export_value_copies_linearly_and_keeps_sharing_and_cycles() -> None:
    from chronicle_vm.core.values import export_value, value_units

    chain: Any = [1]
    for _ in range(500):
        chain = [chain, chain]  # 2**500 paths, 501 objects: copied once each
    copy = export_value(chain)
    assert copy is not chain and copy[0] is copy[1] and copy[0] is not chain[0]
    cyclic: list[Any] = []
    cyclic.append(cyclic)
    again = export_value(cyclic)
    assert again[0] is again and again is not cyclic
    mapped = {"k": [1, 2]}
    out = export_value([mapped])
    assert isinstance(out, list) and out[0] == mapped and out[0] is not mapped and out[0]["k"] is not mapped["k"]
    assert value_units(chain) == 2 * 500 + 1 and value_units(cyclic) == 1
    assert value_units({"ab": "cde"}) == 1 + 2 + 3
