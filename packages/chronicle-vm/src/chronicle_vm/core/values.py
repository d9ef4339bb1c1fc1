"""The value boundary: takes host objects and VM values, gives checked copies across the boundary.

Inside the VM a value is a Python `int` (always within signed 64 bits),
`bool`, `str` (valid Unicode, no lone surrogates) or `list` (an array, shared
by reference).  Whatever crosses into the VM from a host (entry arguments,
capability results, recorded trace values) is checked against its declared
type and the run's size limits and copied, so a host never shares a list with
plugin code; whatever leaves is copied back the same way.
"""

from __future__ import annotations

from typing import TypeAlias

from chronicle_vm.limits import Limits

from .type_registry import I64_MAX, I64_MIN, ROWS, ValueMismatch
from .types import ValueType

__all__ = [
    "I64_MAX",
    "I64_MIN",
    "Value",
    "ValueMismatch",
    "export_value",
    "import_value",
    "value_units",
    "wrap_i64",
]

#: A VM value: int (signed 64-bit), bool, str, or an array (list) of values.
Value: TypeAlias = int | bool | str | float | list["Value"]


def wrap_i64(value: int) -> int:
    """Two's-complement wrap of any Python int into signed 64 bits."""
    return ((value + 2**63) & 0xFFFF_FFFF_FFFF_FFFF) - 2**63


def import_value(obj: object, vtype: ValueType, limits: Limits, what: str = "value") -> tuple[Value, int]:
    """Check a host object against `vtype` and the size limits; give a fresh VM value and its allocation units.

    Ints must already be within signed 64 bits (no silent wrapping), bools are
    not ints and ints are not bools, strings must be valid Unicode, arrays may be
    lists or tuples.  Raises `ValueMismatch` naming the offending part.  Each
    kind's check is its row in `core.type_registry`.
    """
    value, units = ROWS[vtype.kind].check(obj, vtype, limits, what, import_value)
    return value, units


def value_units(value: Value) -> int:
    """Allocation units a value holds: characters of strings plus items of arrays, nested."""
    if type(value) is str:
        return len(value)
    if type(value) is list:
        return len(value) + sum(value_units(item) for item in value)
    return 0


def export_value(value: Value) -> Value:
    """A copy safe to hand to a host or write as JSON: arrays are copied, nested."""
    if type(value) is list:
        return [export_value(item) for item in value]
    return value
