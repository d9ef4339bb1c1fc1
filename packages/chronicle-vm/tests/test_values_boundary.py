"""Maps and structs at the host boundary (#17): deep import checks with paths, copies, annotations, shapes, JSON.

These are the value-type registry's MAP and STRUCT rows and the host
registry's dataclass reading, tested on their own (the engines' side is in
test_values_ops.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_vm.capabilities.host import Host
from chronicle_vm.core.structured import (
    JSONShapeError,
    VMap,
    from_json,
    shape_difference,
    to_host,
    to_json,
    zero_struct,
)
from chronicle_vm.core.type_registry import annotation_type, value_text, well_formed, zero_value
from chronicle_vm.core.types import BOOL, INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.core.values import ValueMismatch, export_value, import_value
from chronicle_vm.engines.costs import export_size
from chronicle_vm.errors import UsageError
from chronicle_vm.limits import Limits

ITEM = StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("tags", map_type(STR, BOOL))))
ORDER = StructDef("Order", (StructField("id", STR), StructField("items", struct_type(0).array_of())))
NODE = StructDef("Node", (StructField("name", STR), StructField("kids", struct_type(2).array_of())))
TABLE = (ITEM, ORDER, NODE)
LIMITS = Limits()


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    qty: int
    tags: dict[str, bool]


@dataclasses.dataclass
class Order:
    id: str
    items: list[Item]


@dataclasses.dataclass
class Bad:
    when: object


def _import(obj: object, vtype: Any, limits: Limits = LIMITS) -> Any:
    return import_value(obj, vtype, limits, "result of catalog.lookup", TABLE)[0]


def _mismatch(obj: object, vtype: Any, limits: Limits = LIMITS) -> str:
    with pytest.raises(ValueMismatch) as caught:
        _import(obj, vtype, limits)
    return str(caught.value)


def test_a_map_imports_as_a_fresh_vmap_in_order() -> None:
    host = {"b": 1, "a": 2}
    value = _import(host, map_type(STR, INT))
    assert type(value) is VMap and list(value.items()) == [("b", 1), ("a", 2)] and value.keyset == 0
    value["c"] = 3
    assert host == {"b": 1, "a": 2}  # a copy: the plugin never shares the host's dict


def test_dataclasses_frozen_or_plain_and_dicts_import_as_structs() -> None:
    order = Order("o1", [Item("x", 2, {"vip": True})])
    value = _import(order, struct_type(1))
    assert value == ["o1", [["x", 2, VMap({"vip": True})]]]
    as_dict = {"items": [{"qty": 2, "sku": "x", "tags": {"vip": True}}], "id": "o1"}
    assert _import(as_dict, struct_type(1)) == value  # fields by name, stored in declaration order


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        (
            {"id": "o", "items": [{"sku": "a", "qty": 1, "tags": {}}, {"sku": "b", "qty": True, "tags": {}}]},
            "items[1].qty",
        ),
        ({"id": "o", "items": [{"sku": "a", "qty": 1, "tags": {1: True}}]}, "items[0].tags key 1"),
        ({"id": "o", "items": [{"sku": "a", "qty": 1, "tags": {"k": 1}}]}, "items[0].tags['k']"),
        ({"id": "o", "items": [{"sku": "a", "qty": 1}]}, "items[0]"),
        ({"id": "o", "items": [{"sku": "a", "qty": 1, "tags": {}, "extra": 0}]}, "items[0]"),
        ({"id": 5, "items": []}, ".id"),
        (Item("a", 1, {}), "expected struct Order"),
    ],
)
def test_a_mismatch_names_the_path_inside_the_value(obj: object, path: str) -> None:
    message = _mismatch(obj, struct_type(1))
    assert message.startswith("result of catalog.lookup")
    assert path in message, message


def test_a_bool_is_no_int_and_a_wrong_shaped_dataclass_is_refused() -> None:
    assert "expected int, found bool" in _mismatch({"sku": "a", "qty": False, "tags": {}}, struct_type(0))

    @dataclasses.dataclass
    class Other:
        sku: str
        count: int
        tags: dict[str, bool]

    assert "fields" in _mismatch(Other("a", 1, {}), struct_type(0))


def test_cyclic_host_structures_are_refused_not_recursed() -> None:
    node: dict[str, Any] = {"name": "root", "kids": []}
    node["kids"].append(node)
    message = _mismatch(node, struct_type(2))
    assert "contains itself" in message and "kids[0]" in message
    loop: list[Any] = []
    loop.append(loop)
    assert "contains itself" in _mismatch(loop, INT.array_of().array_of())


def test_deep_host_structures_are_refused() -> None:
    node: dict[str, Any] = {"name": "leaf", "kids": []}
    for _ in range(500):
        node = {"name": "n", "kids": [node]}
    assert "nests deeper" in _mismatch(node, struct_type(2))


def test_map_size_limits_hold_at_the_boundary() -> None:
    small = Limits(max_array_len=3)
    assert "max_array_len" in _mismatch({str(k): k for k in range(4)}, map_type(STR, INT), small)
    assert _import({str(k): k for k in range(3)}, map_type(STR, INT), small)


def test_a_shared_subvalue_is_copied_per_occurrence_within_the_budget() -> None:
    shared: list[Any] = [1, 2, 3]
    value = _import([shared, shared], INT.array_of().array_of())
    assert value[0] is not value[1]
    tiny = Limits(max_allocation=64)
    deep: list[Any] = [0]
    for _ in range(30):  # 2**30 occurrences as a tree: refused by the budget, quickly
        deep = [deep, deep]
    vtype = INT
    for _ in range(31):
        vtype = vtype.array_of()
    with pytest.raises(ValueMismatch):
        import_value(deep, vtype, tiny)


def test_zero_values_of_maps_and_structs_are_fresh() -> None:
    first, second = zero_value(map_type(INT, INT)), zero_value(map_type(INT, INT))
    assert type(first) is VMap and first is not second
    zero = zero_struct(struct_type(1), TABLE)
    assert zero == ["", []]
    assert zero_value(struct_type(0), TABLE) == ["", 0, VMap()]


def test_export_copies_maps_to_dicts_and_refuses_cycles_by_size() -> None:
    inner = VMap({"a": [1, 2]})
    out = export_value([inner])
    assert out == [{"a": [1, 2]}] and type(out[0]) is dict and out[0]["a"] is not inner["a"]
    node: list[Any] = ["root", []]
    node[1].append(node)  # a struct that holds itself through an array: the plugin can build one
    assert export_size(node) >= 2**62
    deep: list[Any] = ["leaf", []]
    for _ in range(200):
        deep = ["n", [deep]]
    assert export_size(deep) >= 2**62


def test_to_host_gives_registered_dataclasses_else_dicts() -> None:
    value = export_value(["o1", [["x", 2, VMap({"vip": True})]]])
    as_dicts = to_host(value, struct_type(1), TABLE, {})
    assert as_dicts == {"id": "o1", "items": [{"sku": "x", "qty": 2, "tags": {"vip": True}}]}
    as_classes = to_host(value, struct_type(1), TABLE, {0: Item, 1: Order})
    assert as_classes == Order("o1", [Item("x", 2, {"vip": True})])


def test_host_annotations_declare_structs_and_maps() -> None:
    host = Host()

    @host.capability("catalog.lookup")
    def lookup(sku: str, prices: dict[str, int]) -> Order:
        return Order(sku, [])

    offered = host.get("catalog.lookup")
    assert offered is not None
    assert offered.params == (STR, map_type(STR, INT))
    assert offered.result == struct_type(0)  # the host's own table: Order first, then the Item it holds
    assert [s.name for s in offered.structs] == ["Order", "Item"]
    assert offered.classes == (Order, Item)
    assert offered.signature() == "(str, {str: int}) -> Order"
    # the module's Order is the host's by shape, whatever the index or name
    assert shape_difference(struct_type(1), TABLE, offered.result, offered.structs) is None


def test_host_refuses_unusable_annotations() -> None:
    host = Host()

    with pytest.raises(UsageError) as caught:

        @host.capability("bad.one")
        def one() -> Bad:
            raise AssertionError

    assert caught.value.code == "usage.host-struct"
    assert host.structs == ()  # the failed registration left nothing behind
    assert annotation_type(dict[list[int], int]) is None


def test_shape_difference_names_the_field() -> None:
    other = (
        StructDef("Item", (StructField("sku", STR), StructField("qty", STR), StructField("tags", map_type(STR, BOOL)))),
    )
    found = shape_difference(struct_type(0), TABLE, struct_type(0), other)
    assert found is not None and "Item.qty" in found
    renamed = (StructDef("Thing", ITEM.fields),)
    assert shape_difference(struct_type(0), TABLE, struct_type(0), renamed) is None  # by shape, not by name
    fewer = (StructDef("Item", ITEM.fields[:2]),)
    missing = shape_difference(struct_type(0), TABLE, struct_type(0), fewer)
    assert missing is not None and "tags" in missing
    # recursive shapes terminate
    assert shape_difference(struct_type(2), TABLE, struct_type(2), TABLE) is None


def test_well_formed_refuses_bad_map_keys() -> None:
    assert well_formed(map_type(STR, INT))
    assert not well_formed(map_type(INT.array_of(), INT))


def test_json_forms() -> None:
    value = {"id": "o1", "items": [{"sku": "x", "qty": 2, "tags": {"vip": True}}]}
    assert to_json(value, struct_type(1), TABLE) == value
    assert to_json({3: "a", 1: "b"}, map_type(INT, STR), TABLE) == [[3, "a"], [1, "b"]]
    assert to_json({"z": 1, "a": 2}, map_type(STR, INT), TABLE, objects=False) == [["z", 1], ["a", 2]]
    assert from_json([[3, "a"], [1, "b"]], map_type(INT, STR), TABLE) == {3: "a", 1: "b"}
    assert from_json({"b": 1}, map_type(STR, INT), TABLE) == {"b": 1}
    with pytest.raises(JSONShapeError, match="twice"):
        from_json([[1, "a"], [1, "b"]], map_type(INT, STR), TABLE)
    with pytest.raises(JSONShapeError, match="pairs"):
        from_json({"1": "a"}, map_type(INT, STR), TABLE)
    with pytest.raises(JSONShapeError, match=r"items\[0\]"):
        from_json({"id": "o", "items": [{"sku": "x"}]}, struct_type(1), TABLE)
    assert value_text(VMap({"a": 1})) == '{"a": 1}'


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), max_size=8))
def test_map_round_trip_keeps_insertion_order(mapping: dict[str, int]) -> None:
    vtype = map_type(STR, INT)
    value = _import(mapping, vtype)
    assert list(export_value(value).items()) == list(mapping.items())
    assert from_json(to_json(mapping, vtype, TABLE, objects=False), vtype, TABLE) == mapping


def test_registry_json_columns_for_maps_and_structs() -> None:
    from chronicle_vm.core.type_registry import JsonForm
    from chronicle_vm.core.type_registry import from_json as row_from_json
    from chronicle_vm.core.type_registry import to_json as row_to_json

    form = JsonForm(TABLE)
    vm_value = ["o1", [["x", 2, VMap({"vip": True, "new": False})]]]
    text = {"id": "o1", "items": [{"sku": "x", "qty": 2, "tags": [["vip", True], ["new", False]]}]}
    assert row_to_json(vm_value, struct_type(1), form) == text  # a trace: maps as pairs, in order
    host = row_from_json(text, struct_type(1), form, "args[0]")
    assert import_value(host, struct_type(1), LIMITS, "args[0]", TABLE)[0] == vm_value
    lenient = JsonForm(TABLE, lenient=True)
    assert row_to_json(VMap({"b": 1, "a": 2}), map_type(STR, INT), lenient) == {"b": 1, "a": 2}
    assert row_from_json({"b": 1}, map_type(STR, INT), lenient) == {"b": 1}
    with pytest.raises(ValueMismatch, match="pairs"):
        row_from_json({"b": 1}, map_type(STR, INT), form)
    with pytest.raises(ValueMismatch, match="appears twice"):
        row_from_json([[1, 2], [1, 3]], map_type(INT, INT), form)
    with pytest.raises(ValueMismatch, match=r"args\[0\]\.items\[0\]\.qty"):
        bad = {"id": "o1", "items": [{"sku": "x", "qty": "2", "tags": []}]}
        row_from_json(bad, struct_type(1), form, "args[0]")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=6), max_size=10), st.lists(st.integers(-5, 5), max_size=10))
def test_argument_words_without_a_second_walk_match_value_words(texts: list[str], ints: list[int]) -> None:
    from chronicle_vm.engines.costs import value_words
    from chronicle_vm.engines.entry import _words

    for obj, vtype in ((texts, STR.array_of()), (ints, INT.array_of()), ([texts], STR.array_of().array_of())):
        try:
            value, imported = import_value(obj, vtype, LIMITS)
        except ValueMismatch:
            continue  # a lone surrogate: refused either way
        assert _words(value, vtype, imported) == value_words(value)
