"""Trace format version 2: values by declared type (floats, maps, structs), read back bit for bit and order for order.

The documents here are built from the declared types with `TraceTypes`, as
the recorder writes them, then read by `load_trace` as untrusted input,
through the registry's float, map and struct rows.
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing import v2_traces as rows
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    map_type,
    struct_type,
)
from chronicle_vm.core.values import import_value
from chronicle_vm.errors import ReplayError
from chronicle_vm.limits import DEFAULT_LIMITS
from chronicle_vm.trace.document import canonical_json, load_trace
from chronicle_vm.trace.typed import (
    MAX_TYPE_NESTING,
    TraceTypes,
    parse_signature,
    parse_type_text,
)

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text(encoding="utf-8"))

ITEM = struct_type(0)
NODE = struct_type(1)
STRUCTS = (
    StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("unit", FLOAT))),
    StructDef(
        "Node",
        (
            StructField("kids", NODE.array_of()),
            StructField("tags", map_type(STR, BOOL)),
            StructField("weight", FLOAT),
        ),
    ),
)


def types_for(vtype: ValueType) -> TraceTypes:
    return rows.trace_types(vtype, STRUCTS)


def document(vtype: ValueType, arg: Any, result: Any, returned: Any) -> dict[str, Any]:
    """A version-2 trace of `main(arg) -> returned` that called data.echo(arg) -> result once (JSON forms)."""
    return rows.v2_document(vtype, STRUCTS, arg, result, returned)


def load(doc: dict[str, Any]) -> Any:
    return load_trace(canonical_json(doc))


def refused(doc: dict[str, Any]) -> ReplayError:
    with pytest.raises(ReplayError) as caught:
        load(doc)
    return caught.value


# -- strategies: declared types and VM values of them ------------------------------------------------------------

KEYS = st.sampled_from([INT, STR, BOOL])
SCALARS = st.sampled_from([INT, BOOL, STR, FLOAT])
TYPES = st.recursive(
    SCALARS | st.sampled_from([ITEM, NODE]),
    lambda inner: st.builds(ValueType.array_of, inner) | st.builds(map_type, KEYS, inner),
    max_leaves=4,
)
FLOATS = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [-0.0, 0.0, 5e-324, -1.7976931348623157e308]
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=6)


def values(vtype: ValueType, depth: int = 0) -> st.SearchStrategy[Any]:
    """VM values of `vtype` (structs as lists of their fields, maps as dicts in insertion order)."""
    kind = vtype.kind
    if kind is TypeKind.INT:
        return st.integers(-(2**63), 2**63 - 1)
    if kind is TypeKind.BOOL:
        return st.booleans()
    if kind is TypeKind.STR:
        return TEXT
    if kind is TypeKind.FLOAT:
        return FLOATS
    size = 0 if depth > 3 else 3
    if size == 0 and kind is not TypeKind.STRUCT:
        return st.builds(dict if kind is TypeKind.MAP else list)
    if kind is TypeKind.ARRAY:
        return st.lists(values(vtype.args[0], depth + 1), max_size=size)
    if kind is TypeKind.MAP:
        pairs = st.lists(st.tuples(values(vtype.args[0], depth + 1), values(vtype.args[1], depth + 1)), max_size=size)
        return pairs.map(dict)
    fields = STRUCTS[vtype.ref].fields
    return st.tuples(*(values(field.type, depth + 1) for field in fields)).map(list)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[ValueType, Any]:
    vtype = draw(TYPES)
    return vtype, draw(values(vtype))


def same(one: Any, two: Any) -> bool:
    """Exactly the same VM value: floats by their bits, maps in their order, no int standing for a bool.

    A map is a dict either way (the VM's own maps are `VMap`, a dict that counts its key-set changes).
    """
    if isinstance(one, dict) and isinstance(two, dict):
        return len(one) == len(two) and all(same(a, b) and same(one[a], two[b]) for a, b in zip(one, two, strict=True))
    if type(one) is not type(two):
        return False
    if type(one) is float:
        return bool(struct.pack("<d", one) == struct.pack("<d", two))
    if type(one) is list:
        return len(one) == len(two) and all(same(a, b) for a, b in zip(one, two, strict=True))
    if type(one) is dict:
        return len(one) == len(two) and all(same(a, b) and same(one[a], two[b]) for a, b in zip(one, two, strict=True))
    return bool(one == two)


# -- the round trip ----------------------------------------------------------------------------------------------


@given(typed_values(), typed_values())
@settings(max_examples=150)
def test_v2_values_round_trip_bit_exact_and_in_order(
    first: tuple[ValueType, Any], second: tuple[ValueType, Any]
) -> None:
    vtype, value = first
    types = types_for(vtype)
    written = types.to_json(value, vtype)
    doc = document(vtype, written, written, written)
    data = canonical_json(doc)
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(data))
    loaded = load_trace(data)
    assert loaded.to_json() == data
    recorded = loaded.events[0]["result"]
    host = types.from_json(recorded, vtype, "result")
    back, _units = import_value(host, vtype, DEFAULT_LIMITS, "result", STRUCTS)
    assert same(back, value)
    assert canonical_json(types.to_json(back, vtype)) == canonical_json(written)
    other_type, other = second
    if other_type == vtype and not same(other, value):  # a different value has a different canonical text
        assert canonical_json(types.to_json(other, vtype)) != canonical_json(written)


def test_floats_keep_every_bit_and_one_text() -> None:
    types = types_for(FLOAT.array_of())
    cases = [-0.0, 0.0, 1.0, 0.1, 5e-324, 1e16, 2.5e-3, -1.7976931348623157e308]
    data = canonical_json(document(FLOAT.array_of(), cases, cases, cases))
    assert b"[-0.0,0.0,1.0,0.1,5e-324,1e+16,0.0025,-1.7976931348623157e+308]" in data
    loaded = load_trace(data)
    back = types.from_json(loaded.outcome["value"], FLOAT.array_of(), "value")
    assert [struct.pack("<d", x) for x in back] == [struct.pack("<d", x) for x in cases]
    assert math.copysign(1.0, back[0]) == -1.0


def test_maps_keep_insertion_order_and_structs_their_field_names() -> None:
    vtype = map_type(STR, ITEM)
    value = {"z": ["z-1", 2, 0.5], "a": ["a-1", -1, -0.0]}
    types = types_for(vtype)
    written = types.to_json(value, vtype)
    assert written == [
        ["z", {"sku": "z-1", "qty": 2, "unit": 0.5}],
        ["a", {"sku": "a-1", "qty": -1, "unit": -0.0}],
    ]
    loaded = load(document(vtype, written, written, written))
    host = types.from_json(loaded.events[0]["args"][0], vtype, "args[0]")
    assert list(host) == ["z", "a"]
    assert list(host["z"]) == ["sku", "qty", "unit"]  # declared order, whatever order the JSON object had


# -- ill-typed values are ReplayErrors naming the event and the path -----------------------------------------


def bad_result(vtype: ValueType, result: Any) -> ReplayError:
    ok = types_for(vtype).to_json(_zero(vtype), vtype)
    return refused(document(vtype, ok, result, ok))


def _zero(vtype: ValueType) -> Any:
    """A VM value of `vtype`: zeros, empty strings, arrays and maps, structs of those."""
    if vtype.kind is TypeKind.STRUCT:
        return [_zero(field.type) for field in STRUCTS[vtype.ref].fields]
    zeros: dict[TypeKind, Any] = {TypeKind.INT: 0, TypeKind.BOOL: False, TypeKind.STR: "", TypeKind.FLOAT: 0.0}
    if vtype.kind in zeros:
        return zeros[vtype.kind]
    return {} if vtype.kind is TypeKind.MAP else []


@pytest.mark.parametrize(
    ("vtype", "result", "where"),
    [
        (map_type(STR, INT), [[1, 2]], "$.events[0].result"),  # wrong key type (the row names the key its way)
        (map_type(INT, INT), [[1, 2, 3]], "$.events[0].result[0]"),  # not a pair
        (map_type(INT, INT), {"1": 2}, "$.events[0].result"),  # an object is the command line's form, not a trace's
        (ITEM, {"sku": "a", "qty": 1}, "$.events[0].result"),  # missing field
        (ITEM, {"sku": "a", "qty": 1, "unit": 1.0, "extra": 0}, "$.events[0].result"),  # extra field
        (ITEM, {"sku": "a", "qty": 1, "unit": 2**53 + 1}, "$.events[0].result.unit"),  # an int no float holds
        (ITEM, {"sku": "a", "qty": 1, "unit": True}, "$.events[0].result.unit"),  # a bool for a float
        (ITEM, ["a", 1, 1.0], "$.events[0].result"),  # a struct as a list
        (INT.array_of(), [[1]], "$.events[0].result[0]"),  # wrong nesting
        (FLOAT, True, "$.events[0].result"),
        (INT, 1.0, "$.events[0].result"),
    ],
)
def test_ill_typed_values_are_bad_values_naming_the_path(vtype: ValueType, result: Any, where: str) -> None:
    error = bad_result(vtype, result)
    assert (error.code, error.details["seq"], error.details["path"]) == ("replay.bad-value", 0, "$.events[0].result")
    assert error.message.startswith(where), error.message
    assert error.message[len(where)] in ":[. {", error.message  # a path inside the value, then the message


def test_an_int_a_float_holds_exactly_reads_as_that_float() -> None:
    loaded = load(document(FLOAT, 1, 2, -3))  # as at the host boundary; the recorder itself writes 1.0
    types = types_for(FLOAT)
    assert [types.from_json(v, FLOAT, "v") for v in (1, 2, -3)] == [1.0, 2.0, -3.0]
    assert loaded.outcome["value"] == -3


def test_non_finite_float_texts_are_refused() -> None:
    ok = canonical_json(document(FLOAT, 1.5, 1.5, 1.5))
    for text, code in (
        (b"1e999", "replay.bad-value"),
        (b"-1e999", "replay.bad-value"),
        (b"NaN", "replay.malformed-json"),
        (b"Infinity", "replay.malformed-json"),
    ):
        data = ok.replace(b'"result":1.5', b'"result":' + text)
        assert data != ok
        with pytest.raises(ReplayError) as caught:
            load_trace(data)
        assert caught.value.code == code


def test_entry_and_outcome_values_are_checked_by_the_entry_signature() -> None:
    ok = types_for(ITEM).to_json(["a", 1, 1.0], ITEM)
    error = refused(document(ITEM, {"sku": "a"}, ok, ok))
    assert (error.code, error.details["path"]) == ("replay.entry", "$.entry.args[0]")
    error = refused(document(ITEM, ok, ok, {"sku": 1, "qty": 1, "unit": 1.0}))
    assert (error.code, error.details["path"]) == ("replay.bad-value", "$.outcome.value")
    error = refused(document(ITEM, ok, ok, None))
    assert error.code == "replay.schema"


def test_deep_values_are_refused_without_recursing() -> None:
    node: Any = {"kids": [], "tags": [], "weight": 0.0}
    for _ in range(150):  # within what the JSON reader reads, beyond MAX_JSON_DEPTH
        node = {"kids": [node], "tags": [], "weight": 0.0}
    ok = {"kids": [], "tags": [], "weight": 0.0}
    error = refused(document(NODE, ok, node, ok))
    assert error.code == "replay.bad-value" and "deeper than" in error.message
    deep = b"[" * 200_000 + b"]" * 200_000
    data = canonical_json(document(INT.array_of(), [], [], [])).replace(b'"result":[]', b'"result":' + deep)
    with pytest.raises(ReplayError) as caught:
        load_trace(data)
    assert caught.value.code in {"replay.too-deep", "replay.bad-value"}


# -- the header: struct table and signatures ---------------------------------------------------------------------


def test_header_defects_are_schema_errors() -> None:
    ok = document(INT, 1, 1, 1)
    load(ok)

    def edited(change: Any) -> ReplayError:
        doc = json.loads(canonical_json(ok))
        change(doc)
        return refused(doc)

    cases = [
        (lambda d: d["provenance"].pop("structs"), "$.provenance.structs"),
        (lambda d: d["entry"].pop("signature"), "$.entry.signature"),
        (lambda d: d["entry"].update(signature="(int"), "$.entry.signature"),
        (lambda d: d["provenance"]["capabilities"][0].update(signature="(struct#9) -> int"), "signature"),
        (lambda d: d["provenance"]["capabilities"][0].update(signature="({float: int}) -> int"), "signature"),
        (lambda d: d["provenance"]["structs"].append({"name": "X"}), "$.provenance.structs"),
        (lambda d: d["provenance"]["structs"][0]["fields"].append({"name": "sku", "type": "int"}), "structs"),
        (lambda d: d["provenance"]["structs"][0]["fields"][0].update(type="[" * 40 + "int" + "]" * 40), "structs"),
        (lambda d: d["events"][0].update(capability="data.other"), "$.events[0].capability"),
    ]
    for change, where in cases:
        error = edited(change)
        assert error.code == "replay.schema", (where, error.message)
        assert where in error.details["path"], (where, error.details)
    v1 = json.loads(canonical_json(ok))
    v1["version"] = 1
    assert refused(v1).code == "replay.schema"  # a version-1 trace has no struct table
    v3 = dict(ok, version=3)
    assert refused(v3).code == "replay.version"


@given(TYPES)
def test_type_texts_read_back(vtype: ValueType) -> None:
    assert parse_type_text(str(vtype), len(STRUCTS)) == vtype
    signature = parse_signature(f"({vtype}, int) -> {vtype}", len(STRUCTS))
    assert signature == ((vtype, INT), vtype)
    assert parse_signature("()", 0) == ((), None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "int int",
        "[int",
        "{int: }",
        "{float: int}",
        "struct#2",
        "struct#-1",
        "Int",
        "[" * 30 + "int" + "]" * 30,
        "x" * 5000,
        "(int) ->",
        "int -> int",
        "{str: int",
    ],
)
def test_bad_type_texts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_type_text(text, len(STRUCTS))
    assert MAX_TYPE_NESTING < 30


@given(st.binary(max_size=64), st.integers(0, 10_000))
@settings(max_examples=200)
def test_mutated_v2_traces_never_escape_as_anything_but_replay_errors(noise: bytes, at: int) -> None:
    vtype = map_type(STR, ITEM)
    written = types_for(vtype).to_json({"k": ["a", 1, -0.0]}, vtype)
    data = canonical_json(document(vtype, written, written, written))
    at %= len(data)
    mutated = data[:at] + noise + data[at + len(noise) :]
    with contextlib.suppress(ReplayError):
        load_trace(mutated)


def test_the_schema_keeps_version_1_values_to_version_1_forms() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    v2 = json.loads(canonical_json(document(FLOAT, 1.5, 1.5, 1.5)))
    validator.validate(v2)
    v1 = json.loads(canonical_json(v2))
    v1["version"] = 1
    del v1["provenance"]["structs"]
    del v1["entry"]["signature"]
    assert not validator.is_valid(v1)  # a float in a version-1 trace
    v1["entry"]["args"] = v1["events"][0]["args"] = [1]
    v1["events"][0]["result"] = v1["outcome"]["value"] = 1
    validator.validate(v1)
    del v2["provenance"]["structs"]
    assert not validator.is_valid(v2)  # a version-2 trace records its struct table


@given(TYPES)
def test_type_texts_with_struct_names_read_back(vtype: ValueType) -> None:
    from chronicle_vm.core.types import type_text

    names = {struct.name: index for index, struct in enumerate(STRUCTS)}
    assert parse_type_text(type_text(vtype, STRUCTS), len(STRUCTS), names) == vtype
    signature = parse_signature(f"({type_text(vtype, STRUCTS)}) -> [Item]", len(STRUCTS), names)
    assert signature == ((vtype,), ITEM.array_of())


def test_signatures_may_name_structs_and_names_are_unique() -> None:
    doc = document(ITEM, {"sku": "a", "qty": 1, "unit": 0.5}, {"sku": "b", "qty": 2, "unit": 1.5}, None)
    doc["provenance"]["capabilities"][0]["signature"] = "(Item) -> Item"
    doc["entry"]["signature"] = "(Item)"
    assert load(doc).entry["signature"] == "(Item)"
    doc["provenance"]["capabilities"][0]["signature"] = "(Nope) -> Item"
    assert refused(doc).details["path"] == "$.provenance.capabilities[0].signature"
    doc["provenance"]["capabilities"][0]["signature"] = "(Item) -> Item"
    doc["provenance"]["structs"][1]["name"] = "Item"
    assert refused(doc).details["path"] == "$.provenance.structs"
