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

from .structured import VMap
from .type_registry import is_sized
from .types import TypeKind, ValueType

__all__ = ["INT_BYTES", "BOOL_BYTES", "call_plan", "scalar_bytes", "value_bytes"]

#: The longest JSON text of a signed 64-bit int.
INT_BYTES = 20
#: `false`.
BOOL_BYTES = 5
#: Any other fixed-size scalar: the longest shortest-repr of a float (`-1.7976931348623157e+308`).
_OTHER_SCALAR_BYTES = 24


def value_bytes(value: Any) -> int:
    """An upper bound of the canonical JSON text of a VM value (see the module docstring)."""
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
    if kind is list:
        return 2 + sum(value_bytes(item) + 1 for item in value)
    if kind is VMap:  # as `[key, value]` pairs
        return 2 + sum(value_bytes(key) + value_bytes(item) + 4 for key, item in value.items())
    if value is None:
        return 4
    return 6 * len(str(value)) + 2  # not a VM value the recorder writes today: still counted, generously


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
