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

from .types import BaseType, ValueType

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
Value: TypeAlias = int | bool | str | list["Value"]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


class ValueMismatch(Exception):
    """A host value does not fit its declared type or the limits; callers turn it into a ChronicleError."""


def wrap_i64(value: int) -> int:
    """Two's-complement wrap of any Python int into signed 64 bits."""
    return ((value + 2**63) & 0xFFFF_FFFF_FFFF_FFFF) - 2**63


def import_value(obj: object, vtype: ValueType, limits: Limits, what: str = "value") -> tuple[Value, int]:
    """Check a host object against `vtype` and the size limits; give a fresh VM value and its allocation units.

    Ints must already be within signed 64 bits (no silent wrapping), bools are
    not ints and ints are not bools, strings must be valid Unicode, arrays may be
    lists or tuples.  Raises `ValueMismatch` naming the offending part.
    """
    return _import(obj, vtype.base, vtype.depth, limits, what)


def _import(obj: object, base: BaseType, depth: int, limits: Limits, what: str) -> tuple[Value, int]:
    if depth == 0:
        if base is BaseType.INT:
            if type(obj) is not int:
                raise ValueMismatch(f"{what}: expected int, found {_kind(obj)}")
            if not I64_MIN <= obj <= I64_MAX:
                raise ValueMismatch(f"{what}: int {_short(obj)} is outside signed 64 bits")
            return obj, 0
        if base is BaseType.BOOL:
            if type(obj) is not bool:
                raise ValueMismatch(f"{what}: expected bool, found {_kind(obj)}")
            return obj, 0
        if type(obj) is not str:
            raise ValueMismatch(f"{what}: expected str, found {_kind(obj)}")
        if len(obj) > limits.max_string_len:
            limit = limits.max_string_len
            raise ValueMismatch(f"{what}: string of {len(obj)} characters exceeds max_string_len {limit}")
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueMismatch(f"{what}: string is not valid Unicode (lone surrogate)") from None
        return obj, len(obj)
    if not isinstance(obj, (list, tuple)):
        expected = str(ValueType(base, depth))
        raise ValueMismatch(f"{what}: expected {expected}, found {_kind(obj)}")
    if len(obj) > limits.max_array_len:
        raise ValueMismatch(f"{what}: array of {len(obj)} items exceeds max_array_len {limits.max_array_len}")
    items: list[Value] = []
    units = len(obj)
    for index, item in enumerate(obj):
        value, item_units = _import(item, base, depth - 1, limits, f"{what}[{index}]")
        items.append(value)
        units += item_units
    return items, units


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


def _kind(obj: object) -> str:
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "int"
    if isinstance(obj, str):
        return "str"
    if isinstance(obj, (list, tuple)):
        return "array"
    if obj is None:
        return "nothing"
    return type(obj).__name__


def _short(number: int) -> str:
    return str(number) if number.bit_length() < 200 else f"of {number.bit_length()} bits"
