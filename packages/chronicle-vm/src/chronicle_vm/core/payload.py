"""Bytes out: takes a VM value or a capability signature, gives the documented estimate of its JSON text in bytes.

One estimate serves both bounds on what leaves a run: `Limits.max_output_bytes`
(the capability arguments a run sends out, traced or not: the live handlers
and replay charge it) and `Limits.max_trace_bytes` (the trace a traced run
writes: trace/budget.py).  It is an upper bound of the canonical JSON text
(trace.document.canonical_json), cheap to compute and the same on every
Python: a string of printable ASCII its length plus its quotes and escapes,
any other string 6 bytes a character (a `\\u00XX` escape), an int 20 bytes
(-9223372036854775808), a bool 5, an array 2 plus each item and a comma.
A fixed-size parameter is charged its longest text whatever its value, so
the charge of a scalar-only call is a constant per capability.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .type_registry import is_sized
from .types import TypeKind, ValueType

__all__ = [
    "BOOL_BYTES",
    "INT_BYTES",
    "MAX_WALK",
    "UNBOUNDED",
    "call_plan",
    "scalar_bytes",
    "struct_item_bytes",
    "value_bytes",
]

#: The longest JSON text of a signed 64-bit int.
INT_BYTES = 20
#: `false`.
BOOL_BYTES = 5
#: Any other fixed-size scalar: the longest shortest-repr of a float (`-1.7976931348623157e+308`).
_OTHER_SCALAR_BYTES = 24


def value_bytes(value: Any, per_item: int = 0) -> int:
    """An upper bound of the canonical JSON text of a VM value (see the module docstring).

    `per_item` is added for every item of every array or struct (a list): a module with structs passes the
    longest `"field":` text of its struct table (`struct_item_bytes`), since a struct, a list of its fields in
    the VM, is written as an object by field name.  Composites are walked iteratively; a value whose walk
    passes MAX_WALK items (a cycle, or one array shared many times over: its JSON text repeats every copy)
    is charged UNBOUNDED, above every limit, so the call that would send or record it stops there.
    """
    kind = type(value)
    if kind is str:
        if value.isascii() and value.isprintable():
            if '"' in value or "\\" in value:  # escaped with one more byte each (`in` is cheaper than count)
                size: int = len(value) + value.count('"') + value.count("\\") + 2
                return size
            return len(value) + 2
        return 6 * len(value) + 2
    if kind is bool:
        return BOOL_BYTES
    if kind is int:
        return INT_BYTES
    if kind is float:  # its repr: at most 24 characters (-2.2250738585072014e-308)
        return _OTHER_SCALAR_BYTES
    if kind is list or isinstance(value, dict):
        return _composite_bytes(value, per_item)
    if value is None:
        return 4
    return 6 * len(str(value)) + 2  # not a VM value the recorder writes today: still counted, generously


#: Most items one value's charge walks; past them the value is charged UNBOUNDED.
MAX_WALK = 8_000_000
#: The charge of a value too large (or cyclic) to walk: above every limit (they are at most 2**62).
UNBOUNDED = 2**62 + 1


def _composite_bytes(value: Any, per_item: int) -> int:
    """Arrays and structs: 2 + each item and a comma; maps (`[[k,v],...]`): 2 + each key and value and 5."""
    total = 0
    walked = 0
    pending = [value]
    while pending:
        node = pending.pop()
        if type(node) is list:
            walked += len(node) + 1
            total += 2 + (1 + per_item) * len(node)
            items: Any = node
        elif isinstance(node, dict):
            walked += 2 * len(node) + 1
            total += 2 + 5 * len(node)
            items = [*node.keys(), *node.values()]
        else:
            total += value_bytes(node)
            continue
        if walked > MAX_WALK:
            return UNBOUNDED
        for item in items:
            kind = type(item)
            if kind is int:
                total += INT_BYTES
            elif kind is list or isinstance(item, dict):
                pending.append(item)
            else:
                total += value_bytes(item)
    return total


def struct_item_bytes(structs: Sequence[Any]) -> int:
    """The `per_item` charge of a module's struct table: its longest `"name":` field text, 0 without structs."""
    longest = 0
    for struct in structs:
        for field in struct.fields:
            longest = max(longest, value_bytes(field.name) + 1)
    return longest


def scalar_bytes(vtype: ValueType) -> int:
    """What a fixed-size value of `vtype` is charged whatever its value."""
    if vtype.kind is TypeKind.INT:
        return INT_BYTES
    if vtype.kind is TypeKind.BOOL:
        return BOOL_BYTES
    return _OTHER_SCALAR_BYTES


def call_plan(params: Sequence[ValueType]) -> tuple[int, tuple[int, ...]]:
    """(the fixed charge of a call's fixed-size arguments, the positions of its text and composite ones)."""
    fixed = sum(scalar_bytes(p) for p in params if not is_sized(p))
    return fixed, tuple(k for k, p in enumerate(params) if is_sized(p))
