"""The operator tools on version-2 traces: `policy suggest` and `report` read each value by its declared type.

Goldens (`tests/golden/`, rewritten by `CHRONICLE_BLESS=1 pytest -k golden`; read the diff): the suggestion
and the report page of two traces whose capabilities take floats, maps, structs and arrays of structs.
Hostile version-2 traces (wrong types, broken pairs, huge maps, deep nesting, oversized headers) end in a
result or a structured error, never a crash.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from chronicle_cli.report import render_report
from chronicle_cli.suggest import suggest_policy
from chronicle_testing.v2_traces import shop_document
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.errors import ChronicleError, ReplayError, UsageError
from chronicle_vm.trace.document import Trace, canonical_json, load_trace

GOLDEN = Path(__file__).parent / "golden"
BLESS = os.environ.get("CHRONICLE_BLESS") == "1"

APPLE = {"qty": 2, "sku": "apple", "unit": 1.5}
PEAR = {"qty": 1, "sku": "pear", "unit": 0.1}


def _check(name: str, actual: str) -> None:
    path = GOLDEN / name
    if BLESS:
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"{name} is missing: run with CHRONICLE_BLESS=1"
    assert actual == path.read_text(encoding="utf-8")


def loaded(doc: dict[str, Any]) -> Trace:
    return load_trace(canonical_json(doc))


def shop_traces() -> list[tuple[str, Trace]]:
    first = shop_document(
        [
            ("fx.convert", [1.5, "EUR"], 3.0),
            ("fx.convert", [1.0, "EUR"], 2.0),
            ("fx.convert", [0.1, "USD"], 0.30000000000000004),
            ("stock.put", [[["apple", 2], ["pear", 1]]], True),
            ("shop.price", [APPLE], 1.5),
            ("shop.batch", [[APPLE, PEAR], 3], None),
        ]
    )
    second = shop_document(
        [
            ("fx.convert", [1, "EUR"], 3.0),  # a float recorded as an exact int: the float 1.0, not the int 1
            ("fx.convert", [-0.0, "USD"], -0.0),
            ("stock.put", [[]], False),
            ("shop.price", [PEAR], 1e16),
            ("shop.batch", [[PEAR], 3], None),
        ],
        returned=[["pear", 5e-324]],
    )
    return [("first.json", loaded(first)), ("second.json", loaded(second))]


def test_golden_suggestion_of_float_map_and_struct_arguments() -> None:
    suggestion = suggest_policy(shop_traces())
    _check("suggest_v2.toml", suggestion.text)
    _check("suggest_v2.json", json.dumps(suggestion.summary, indent=2, ensure_ascii=False) + "\n")
    policy = Policy.from_toml(suggestion.text)  # a valid policy: comments for what no rule can restrict
    assert [rule.param for rule in policy.rule("fx.convert").args] == ["2"]  # type: ignore[union-attr]
    assert not policy.rule("shop.price").args  # type: ignore[union-attr]


def test_floats_are_floats_and_ints_are_ints_in_a_suggestion() -> None:
    caps = suggest_policy(shop_traces()).summary["capabilities"]
    floats = caps["fx.convert"]["observed"]["1"]
    assert floats["kind"] == "float" and floats["calls"] == 5
    assert [repr(value) for value in floats["values"]] == ["1.5", "1.0", "0.1", "-0.0"]  # the recorded 1 is 1.0
    assert all(type(value) is float for value in floats["values"])
    counts = caps["shop.batch"]["args"]["2"]["one_of"]
    assert counts == [3] and type(counts[0]) is int
    assert caps["stock.put"]["observed"]["1"] == {"kind": "map", "calls": 2, "min_entries": 0, "max_entries": 2}
    assert caps["shop.price"]["observed"]["1"]["example"] == 'Item { sku: "apple", qty: 2, unit: 1.5 }'
    assert caps["shop.batch"]["args"]["1"] == {"max_len": 2}


def test_many_floats_are_summed_up_as_their_range() -> None:
    calls = [("fx.convert", [index / 4, "EUR"], 1.0) for index in range(-3, 9)]
    text = suggest_policy([("many.json", loaded(shop_document(calls)))]).text
    assert "12 calls passed -0.75 to 2.0" in text


def test_golden_report_of_float_map_and_struct_values() -> None:
    (name, trace), _ = shop_traces()
    page = render_report(trace.doc, title=name)
    _check("report_v2.html", page)
    assert "main(Item { sku: &quot;apple&quot;, qty: 2, unit: 1.5 }, 2.0)" in page  # declared field order
    assert "{&quot;apple&quot;: 3.0, &quot;pear&quot;: -0.0}" in page  # a map in insertion order, floats as repr
    assert "Item { sku: str, qty: int, unit: float }" in page
    second = render_report(shop_traces()[1][1].doc, title="second.json")
    assert "<td class=mono>1.0, &quot;EUR&quot;</td>" in second  # the recorded int 1 shown as the float it is
    assert "<code>1e+16</code>" in second and "5e-324" in second


def _other_item(doc: dict[str, Any], fields: list[dict[str, str]], first: bool = True) -> dict[str, Any]:
    changed = copy.deepcopy(doc)
    structs = changed["provenance"]["structs"]
    item = {"name": "Item", "fields": fields}
    if first:
        structs[0] = item
    else:  # the same Item, after another struct: `struct#1` in this module, `struct#0` in the other
        structs[0] = {"name": "Other", "fields": [{"name": "x", "type": "int"}]}
        structs.append(item)
    changed["provenance"]["module_sha256"] = "6" * 64
    return changed


def test_one_capability_with_two_struct_shapes_is_a_conflict() -> None:
    base = shop_document([("shop.price", [APPLE], 1.5)])
    fields = [{"name": "sku", "type": "str"}, {"name": "qty", "type": "int"}, {"name": "unit", "type": "int"}]
    other = _other_item(base, fields)
    for entry in (other["entry"]["args"][0], other["events"][0]["args"][0]):
        entry["unit"] = 1
    with pytest.raises(UsageError) as caught:
        suggest_policy([("a.json", loaded(base)), ("b.json", loaded(other))])
    assert caught.value.code == "usage.suggest-conflict"
    assert "Item{sku: str, qty: int, unit: float}" in caught.value.message
    assert "Item{sku: str, qty: int, unit: int}" in caught.value.message
    same = _other_item(base, base["provenance"]["structs"][0]["fields"], first=False)
    summary = suggest_policy([("a.json", loaded(base)), ("c.json", loaded(same))]).summary
    assert summary["capabilities"]["shop.price"]["observed"]["1"]["calls"] == 2


def _node_document(depth: int) -> dict[str, Any]:
    doc = shop_document([])
    doc["provenance"]["structs"].append({"name": "Node", "fields": [{"name": "kids", "type": "[Node]"}]})
    doc["provenance"]["capabilities"].append(
        {"name": "tree.put", "signature": "(Node)", "decision": "granted", "reason": "", "max_calls": None}
    )
    node: dict[str, Any] = {"kids": []}
    for _ in range(depth):
        node = {"kids": [node]}
    doc["events"] = [
        {"seq": 0, "kind": "call", "capability": "tree.put", "args": [node], "result": None, "instructions": 3,
         "location": {"function": "main", "index": 3}}
    ]  # fmt: skip
    return doc


def _huge_map_then_wrong_key(doc: dict[str, Any]) -> None:
    pairs = doc["events"][1]["args"][0]
    pairs.extend([f"k{index}", index] for index in range(200_000))
    pairs.append([7, 1])


def _set(parts: tuple[Any, ...], value: Any) -> Any:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for part in parts[:-1]:
            target = target[part]
        target[parts[-1]] = value

    return change


_FLOAT_ARG = ("events", 0, "args", 0)
_MAP_ARG = ("events", 1, "args", 0)
_MAP_SIGNATURE = ("provenance", "capabilities", 1, "signature")
HOSTILE: dict[str, Any] = {
    "str-for-float": _set(_FLOAT_ARG, "1.5"),
    "bool-for-float": _set(_FLOAT_ARG, True),
    "int-overflow-for-float": _set(_FLOAT_ARG, 2**1100),
    "object-for-map": _set(_MAP_ARG, {"a": 1}),
    "broken-pair": lambda doc: doc["events"][1]["args"][0].append(["b"]),
    "duplicate-key": lambda doc: doc["events"][1]["args"][0].append(["a", 2]),
    "struct-missing-field": lambda doc: doc["entry"]["args"][0].pop("unit"),
    "struct-extra-field": _set(("entry", "args", 0, "colour"), "red"),
    "huge-map-then-wrong-key": _huge_map_then_wrong_key,
    "deep-nesting": lambda doc: doc.update(_node_document(150)),
    "deep-type-text": _set(_MAP_SIGNATURE, "(" + "[" * 40 + "int" + "]" * 40 + ") -> bool"),
    "too-many-structs": lambda doc: doc["provenance"]["structs"].extend(
        {"name": f"S{index}", "fields": []} for index in range(2000)
    ),
    "unknown-struct": _set(_MAP_SIGNATURE, "(Missing) -> bool"),
}


def _hostile(change: str) -> dict[str, Any]:
    doc = shop_document([("fx.convert", [1.5, "EUR"], 3.0), ("stock.put", [[["a", 1]]], True)])
    HOSTILE[change](doc)
    return doc


@pytest.mark.parametrize("change", sorted(HOSTILE))
def test_hostile_version_2_traces_end_in_structured_errors(change: str) -> None:
    data = canonical_json(_hostile(change))
    with pytest.raises(ReplayError) as caught:
        trace = load_trace(data)
        suggest_policy([("t.json", trace)])
        render_report(trace.doc, title="t.json")
    assert caught.value.code in ("replay.bad-value", "replay.schema", "replay.entry"), caught.value.message
    assert caught.value.to_dict()["code"] == caught.value.code


def test_a_huge_valid_map_and_deep_valid_nesting_end_in_a_result() -> None:
    doc = shop_document([("stock.put", [[[f"k{index}", index] for index in range(200_000)]], True)])
    suggestion = suggest_policy([("big.json", loaded(doc))])
    assert "1 call passed maps of 200000 entries" in suggestion.text
    page = render_report(loaded(doc).doc, title="big.json")
    assert len(page) < 100_000  # each value is clipped
    deep = loaded(_node_document(40))
    assert "Node { kids: [Node { kids: [" in suggest_policy([("deep.json", deep)]).text
    assert "Node { kids:" in render_report(deep.doc, title="deep.json")


def test_a_hand_made_trace_object_with_a_bad_value_is_still_a_structured_error() -> None:
    doc = shop_document([("fx.convert", ["x", "EUR"], 3.0)])
    with pytest.raises(ChronicleError) as caught:
        suggest_policy([("raw.json", Trace(doc))])  # not load_trace-checked: suggest reads by type anyway
    assert caught.value.code == "replay.bad-value"
