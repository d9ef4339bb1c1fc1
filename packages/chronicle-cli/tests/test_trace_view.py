"""The trace views of version-2 traces: maps in insertion order, structs by field name, floats as repr, text escaped."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from chronicle_cli.common import cleaned
from chronicle_cli.render import render_diff, render_trace
from chronicle_cli.summary import render_summary, summarize
from chronicle_cli.trace_view import show_typed, typed_diff, typed_document
from chronicle_testing import v2_traces as rows
from chronicle_vm.core.types import FLOAT, INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.trace.document import canonical_json, diff_traces, load_trace

ITEM = struct_type(0)
STRUCTS = (StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("unit", FLOAT))),)
LINES = map_type(STR, ITEM)


def trace(value: dict[str, Any]) -> Any:
    written = rows.trace_types(LINES, STRUCTS).to_json(value, LINES)
    return load_trace(canonical_json(rows.v2_document(LINES, STRUCTS, written, written, written)))


def rendered(draw: Any) -> str:
    console = Console(width=400, record=True, color_system=None)
    draw(console)
    return console.export_text()


VALUE = {"z": ["z-1", 2, 0.5], "a": ["a\x1b[31m\u202e", -1, -0.0]}


def test_inspect_shows_maps_in_order_structs_by_field_and_floats_as_repr() -> None:
    doc = trace(VALUE).to_dict()
    expected = (
        '{"z": Item { sku: "z-1", qty: 2, unit: 0.5 }, "a": Item { sku: "a\\\\x1b[31m\\\\u202e", qty: -1, unit: -0.0 }}'
    )
    shown = typed_document(cleaned(doc))
    assert shown["outcome"]["value"] == expected  # escaped as v1 views escape text (visible, then JSON)
    text = rendered(lambda console: render_trace(console, shown, "t.json"))
    assert 'Item { sku: "z-1", qty: 2, unit: 0.5 }' in text
    assert "\x1b" not in text and "\u202e" not in text  # hostile text stays escaped
    assert text.index('"z"') < text.index('"a"')  # insertion order, not the sorted order of the JSON bytes
    summary = rendered(lambda console: render_summary(console, summarize(typed_document(cleaned(doc))), "t.json"))
    assert 'returned {"z": Item { sku: "z-1"' in summary


def test_diff_shows_both_sides_by_their_types() -> None:
    one, two = trace(VALUE), trace({"z": ["z-1", 2, 0.5], "a": ["a", -1, 0.0]})
    result = diff_traces(one, two)
    assert result["where"] == "entry"
    shown = typed_diff(cleaned(result), cleaned(one.doc), cleaned(two.doc))
    text = rendered(lambda console: render_diff(console, shown))
    assert "unit: -0.0" in text and "unit: 0.0 }" in text
    assert "\x1b" not in text and "\u202e" not in text


def test_values_that_do_not_fit_are_shown_as_json() -> None:
    types = rows.trace_types(LINES, STRUCTS)
    assert show_typed([["k", {"sku": 1}]], LINES, types) == '{"k": Item { sku: 1, qty: null, unit: null }}'
    assert show_typed({"odd": True}, LINES, types) == '{"odd": true}'
    huge = show_typed([[str(i), {"sku": "x" * 50, "qty": i, "unit": 0.5}] for i in range(10_000)], LINES, types)
    assert len(huge) <= 4096 and huge.endswith("...")


def test_inspect_names_structs_in_the_header() -> None:
    doc = typed_document(cleaned(trace(VALUE).to_dict()))
    assert doc["provenance"]["structs"] == "Item { sku: str, qty: int, unit: float }"
    assert doc["provenance"]["capabilities"][0]["signature"] == "({str: Item}) -> {str: Item}"
    text = rendered(lambda console: render_trace(console, doc, "t.json"))
    assert "Item { sku: str, qty: int, unit: float }" in text and "({str: Item}) -> {str: Item}" in text
