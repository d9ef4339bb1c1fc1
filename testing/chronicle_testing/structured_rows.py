"""Stand-in registry rows for float, maps and structs, for trace tests written before (or beside) the real rows.

`structured_rows()` installs a row for each of FLOAT, MAP and STRUCT that the
registry does not have yet, and takes it out again afterwards; a kind whose
real row has landed keeps it, so the same tests then run against the real
rows.  The stand-ins follow the shared decisions (docs/trace.md): a float is
a JSON number (finite, Python `repr` text), a map a list of `[key, value]`
pairs in insertion order, a struct an object by field name; the host forms
are `float`, `dict` and a `dict` by field name.  A struct's fields come from
`TABLE`, which a test sets to the struct table it uses.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

from chronicle_vm.core import type_registry
from chronicle_vm.core.type_registry import ROWS, JsonForm, JsonReader, JsonWriter, TypeRow, ValueMismatch, json_kind
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.limits import DEFAULT_LIMITS, Limits
from chronicle_vm.trace.typed import TraceTypes, structs_record

__all__ = ["TABLE", "structured_rows", "trace_types", "v2_document"]

#: The struct table the stand-in STRUCT row imports dicts by (a test sets it).
TABLE: list[StructDef] = []


def _import_float(obj: object, vtype: ValueType, limits: Limits, what: str, items: Any) -> tuple[Any, int]:
    if type(obj) is not float or not math.isfinite(obj):
        raise ValueMismatch(f"{what}: expected a finite float, found {type(obj).__name__}")
    return obj, 0


def _float_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    return value


def _float_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is int and -(2**1024) < obj < 2**1024 and float(obj) == obj:
        return float(obj)  # an int a float holds exactly, as at the host boundary
    if type(obj) is not float:
        raise ValueMismatch(f"{what}: expected float, found {json_kind(obj)}")
    if not math.isfinite(obj):
        raise ValueMismatch(f"{what}: a float is finite")
    return obj


def _import_map(obj: object, vtype: ValueType, limits: Limits, what: str, items: Any) -> tuple[Any, int]:
    if not isinstance(obj, dict):
        raise ValueMismatch(f"{what}: expected {vtype}, found {type(obj).__name__}")
    if len(obj) > limits.max_array_len:
        raise ValueMismatch(f"{what}: map of {len(obj)} entries exceeds max_array_len")
    key_type, value_type = vtype.args
    out: dict[Any, Any] = {}
    units = len(obj)
    for key, value in obj.items():
        k, ku = items(key, key_type, limits, f"{what}{{{key!r}}}")
        v, vu = items(value, value_type, limits, f"{what}[{key!r}]")
        out[k] = v
        units += ku + vu
    return out, units


def _map_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    key_type, value_type = vtype.args
    return [[write(key, key_type), write(item, value_type)] for key, item in value.items()]


def _map_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is not list:
        raise ValueMismatch(f"{what}: expected {vtype} as [key, value] pairs, found {json_kind(obj)}")
    key_type, value_type = vtype.args
    out: dict[Any, Any] = {}
    for index, pair in enumerate(obj):
        if type(pair) is not list or len(pair) != 2:
            raise ValueMismatch(f"{what}[{index}]: expected a [key, value] pair")
        key = read(pair[0], key_type, f"{what}[{index}][0]")
        if key in out:
            raise ValueMismatch(f"{what}[{index}][0]: key {key!r} appears twice")
        out[key] = read(pair[1], value_type, f"{what}[{index}][1]")
    return out


def _fields(vtype: ValueType, structs: Sequence[StructDef]) -> StructDef:
    return structs[vtype.ref]


def _import_struct(obj: object, vtype: ValueType, limits: Limits, what: str, items: Any) -> tuple[Any, int]:
    struct = _fields(vtype, TABLE)
    names = [field.name for field in struct.fields]
    if not isinstance(obj, dict) or set(obj) != set(names):
        raise ValueMismatch(f"{what}: expected struct {struct.name}")
    out: list[Any] = []
    units = len(names)
    for field in struct.fields:
        value, used = items(obj[field.name], field.type, limits, f"{what}.{field.name}")
        out.append(value)
        units += used
    return out, units


def _struct_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    struct = _fields(vtype, form.structs)
    return {field.name: write(value[index], field.type) for index, field in enumerate(struct.fields)}


def _struct_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    struct = _fields(vtype, form.structs)
    if type(obj) is not dict:
        raise ValueMismatch(f"{what}: expected struct {struct.name} as an object, found {json_kind(obj)}")
    names = {field.name for field in struct.fields}
    if obj.keys() != names:
        missing = sorted(names - obj.keys())
        extra = sorted(obj.keys() - names)
        said = f"lacks field {missing[0]}" if missing else f"has no field {extra[0][:40]}"
        raise ValueMismatch(f"{what}: struct {struct.name} {said}")
    return {field.name: read(obj[field.name], field.type, f"{what}.{field.name}") for field in struct.fields}


_STAND_INS = {
    TypeKind.FLOAT: TypeRow(
        TypeKind.FLOAT,
        None,
        0,
        python=float,
        annotation=float,
        zero=float,
        check=_import_float,
        sized=False,
        examples=("1.5", "2.0"),
        text=repr,
        orderable=True,
        to_json=_float_to_json,
        from_json=_float_from_json,
    ),
    TypeKind.MAP: TypeRow(
        TypeKind.MAP,
        None,
        2,
        python=dict,
        annotation=dict,
        zero=dict,
        check=_import_map,
        sized=True,
        to_json=_map_to_json,
        from_json=_map_from_json,
    ),
    TypeKind.STRUCT: TypeRow(
        TypeKind.STRUCT,
        None,
        0,
        python=list,
        annotation=None,
        zero=list,
        check=_import_struct,
        sized=True,
        to_json=_struct_to_json,
        from_json=_struct_from_json,
    ),
}


@contextlib.contextmanager
def structured_rows() -> Iterator[None]:
    """The registry with a row for every kind: the real rows where they exist, the stand-ins elsewhere."""
    added = [kind for kind in _STAND_INS if kind not in ROWS]
    for kind in added:
        ROWS[kind] = _STAND_INS[kind]
    try:
        yield
    finally:
        for kind in added:
            del ROWS[kind]
        assert type_registry.ROWS is ROWS


# -- version-2 trace documents built by hand (as the recorder writes them) ---------------------------------------


def _header(vtype: ValueType, structs: Sequence[StructDef]) -> dict[str, Any]:
    signature = f"({vtype}) -> {vtype}"
    decision = {"name": "data.echo", "signature": signature, "decision": "granted", "reason": "", "max_calls": None}
    return {
        "provenance": {
            "runtime": {"name": "chronicle-vm", "version": "0"},
            "module_sha256": "0" * 64,
            "policy_sha256": None,
            "cost_model": 2,
            "limits": DEFAULT_LIMITS.to_dict(),
            "capabilities": [decision],
            "structs": structs_record(structs),
        },
        "entry": {"function": "main", "signature": signature},
    }


def trace_types(vtype: ValueType, structs: Sequence[StructDef]) -> TraceTypes:
    """The declared types of `v2_document(vtype, structs, ...)`, read from its header."""
    header = _header(vtype, structs)
    return TraceTypes.from_header(header["provenance"], header["entry"])


def v2_document(vtype: ValueType, structs: Sequence[StructDef], arg: Any, result: Any, returned: Any) -> dict[str, Any]:
    """A version-2 trace of `main(arg) -> returned` that called data.echo(arg) -> result once (JSON forms)."""
    doc = _header(vtype, structs)
    doc["entry"]["args"] = [arg]
    event = {
        "seq": 0,
        "kind": "call",
        "capability": "data.echo",
        "args": [arg],
        "result": result,
        "instructions": 3,
        "location": {"function": "main", "index": 3},
    }
    doc.update(
        format="chronicle-trace",
        version=2,
        events=[event],
        outcome={"status": "returned", "value": returned, "instructions": 9},
    )
    return doc
