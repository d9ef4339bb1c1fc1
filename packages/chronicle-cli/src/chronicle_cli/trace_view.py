"""Trace values for people: takes a trace document, gives it with each version-2 value as the text people read.

A version-2 trace writes floats, maps and structs in JSON forms that only
their declared types explain (a map is a list of `[key, value]` pairs, a
struct an object whose keys the canonical JSON sorted).  `typed_document`
replaces each value of such a trace (entry arguments, call arguments and
results, the returned value) with a `Shown` text written by its declared
type: a map `{"b": 1, "a": 2}` in insertion order, a struct
`Item { sku: "a", qty: 1, unit: 0.5 }` in declared field order, a float as
Python's `repr` (`-0.0`, `1e+16`).  Strings inside are escaped as every CLI
view escapes plugin text (`visible`, then JSON quoting), so a hostile string
cannot move the cursor or recolour the terminal.  A version-1 trace is
returned as it is: its values read the same without types.  No rich import.
Give it a document already `cleaned` (common.py): the `Shown` texts are
final and must not be cleaned again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from chronicle_vm.core.types import TypeKind, ValueType, type_text
from chronicle_vm.trace.typed import HeaderError, TraceTypes

from .common import visible
from .plain import Shown

__all__ = ["Shown", "show_typed", "typed_diff", "typed_document"]

#: Most characters of one value's text: views clip far shorter, and a map of 100,000 entries is not read whole.
_MAX_TEXT = 4096


def show_typed(obj: object, vtype: ValueType, types: TraceTypes) -> Shown:
    """The text of a recorded JSON form of `vtype`; JSON text where it does not fit (an edited trace)."""
    parts: list[str] = []
    _write(obj, vtype, types, parts, [0])
    text = "".join(parts)
    return Shown(text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "...")


def _write(obj: object, vtype: ValueType, types: TraceTypes, out: list[str], used: list[int]) -> None:
    """Append the text of `obj` to `out`, stopping once `_MAX_TEXT` characters are written."""
    if used[0] > _MAX_TEXT:
        return
    kind = vtype.kind
    text: str | None = None
    if kind is TypeKind.STR and type(obj) is str:
        text = json.dumps(visible(obj), ensure_ascii=False)
    elif kind is TypeKind.BOOL and type(obj) is bool:
        text = "true" if obj else "false"
    elif kind is TypeKind.INT and type(obj) is int:
        text = str(obj)
    elif kind is TypeKind.FLOAT and type(obj) is float:
        text = repr(obj)
    elif kind is TypeKind.FLOAT and type(obj) is int and abs(obj) <= 2**53:  # a float recorded as an exact int
        text = repr(float(obj))
    elif kind is TypeKind.ARRAY and type(obj) is list:
        _items(out, used, "[", "]", [(None, item, vtype.args[0]) for item in obj], types)
        return
    elif kind is TypeKind.MAP and type(obj) is list and all(type(p) is list and len(p) == 2 for p in obj):
        key_type, value_type = vtype.args
        _items(out, used, "{", "}", [(pair[0], pair[1], value_type) for pair in obj], types, key_type)
        return
    elif kind is TypeKind.STRUCT and type(obj) is dict and vtype.ref < len(types.structs):
        struct = types.structs[vtype.ref]
        fields: list[tuple[object, object, ValueType]] = [
            (field.name, obj.get(field.name), field.type) for field in struct.fields
        ]
        out.append(visible(struct.name) + " ")
        _items(out, used, "{ ", " }", fields, types, None, named=True)
        return
    if text is None:  # not of its declared type (load_trace refuses such a trace; a hand-built one may hold it)
        text = json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)
        text = visible(text)
    out.append(text)
    used[0] += len(text)


def _items(
    out: list[str],
    used: list[int],
    opening: str,
    closing: str,
    items: list[tuple[object, object, ValueType]],
    types: TraceTypes,
    key_type: ValueType | None = None,
    named: bool = False,
) -> None:
    out.append(opening if items or not named else opening.strip())
    for position, (key, item, item_type) in enumerate(items):
        if used[0] > _MAX_TEXT:
            out.append("...")
            break
        if position:
            out.append(", ")
        if named:
            out.append(visible(str(key)) + ": ")
        elif key_type is not None:
            _write(key, key_type, types, out, used)
            out.append(": ")
        _write(item, item_type, types, out, used)
    out.append(closing if items or not named else closing.strip())


def typed_document(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """`doc` with its version-2 values as `Shown` texts (a copy); a version-1 or unreadable one as it is."""
    if doc.get("version") != 2:
        return doc
    provenance, entry = doc.get("provenance"), doc.get("entry")
    if not isinstance(provenance, Mapping) or not isinstance(entry, Mapping):
        return doc
    try:
        types = TraceTypes.from_header(provenance, entry)
    except (HeaderError, KeyError, TypeError):
        return doc
    shown = dict(doc)
    shown["provenance"] = _shown_provenance(provenance, types)
    if types.entry is not None:
        shown["entry"] = dict(entry, args=_shown_list(entry.get("args"), types.entry.params, types))
    events = doc.get("events")
    if isinstance(events, list):
        shown["events"] = [_shown_event(event, types) for event in events]
    outcome = doc.get("outcome")
    declared = types.entry.result if types.entry is not None else None
    if isinstance(outcome, Mapping) and declared is not None and outcome.get("value") is not None:
        shown["outcome"] = dict(outcome, value=show_typed(outcome["value"], declared, types))
    return shown


def _signature_text(params: tuple[ValueType, ...], result: ValueType | None, types: TraceTypes) -> str:
    text = "(" + ", ".join(type_text(param, types.structs) for param in params) + ")"
    return text if result is None else f"{text} -> {type_text(result, types.structs)}"


def _shown_provenance(provenance: Mapping[str, Any], types: TraceTypes) -> dict[str, Any]:
    """The struct table as `Name { field: type, ... }` and signatures with struct names instead of `struct#i`."""
    shown = dict(provenance)
    tables = [
        f"{visible(struct.name)} {{ "
        + ", ".join(f"{visible(field.name)}: {type_text(field.type, types.structs)}" for field in struct.fields)
        + " }"
        for struct in types.structs
    ]
    shown["structs"] = Shown("; ".join(tables) if tables else "none")
    decisions = provenance.get("capabilities")
    if isinstance(decisions, list):
        named = []
        for decision in decisions:
            signature = types.capabilities.get(str(decision.get("name"))) if isinstance(decision, Mapping) else None
            if signature is not None:
                decision = dict(decision, signature=_signature_text(signature.params, signature.result, types))
            named.append(decision)
        shown["capabilities"] = named
    return shown


def _shown_list(values: object, params: tuple[ValueType, ...], types: TraceTypes) -> object:
    if not isinstance(values, list) or len(values) != len(params):
        return values
    return [show_typed(value, vtype, types) for value, vtype in zip(values, params, strict=True)]


def _shown_event(event: object, types: TraceTypes) -> object:
    if not isinstance(event, Mapping) or event.get("kind") != "call":
        return event
    signature = types.capabilities.get(str(event.get("capability")))
    if signature is None:
        return event
    shown = dict(event, args=_shown_list(event.get("args"), signature.params, types))
    if signature.result is not None and event.get("result") is not None:
        shown["result"] = show_typed(event["result"], signature.result, types)
    return shown


def typed_diff(diff: Mapping[str, Any], first: Mapping[str, Any], second: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `diff_traces` result whose event or outcome sides are shown by each trace's declared types."""
    where = diff.get("where")
    if where not in ("events", "outcome", "entry"):
        return diff
    shown = dict(diff)
    for side, doc in (("a", first), ("b", second)):
        part = diff.get(side)
        if part is None:
            continue
        typed = typed_document({**doc, where: [part] if where == "events" else part})
        value = typed.get(where)
        shown[side] = value[0] if where == "events" and isinstance(value, list) else value
    return shown
