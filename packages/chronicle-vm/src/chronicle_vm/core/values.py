"""The value boundary: takes host objects and VM values, gives checked copies across the boundary.

Inside the VM a value is a Python `int` (always within signed 64 bits),
`bool`, `str` (valid Unicode, no lone surrogates) or `list` (an array, shared
by reference).  Whatever crosses into the VM from a host (entry arguments,
capability results, recorded trace values) is checked against its declared
type and the run's size limits and copied, so a host never shares a list with
plugin code; whatever leaves is copied back the same way.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from chronicle_vm.limits import Limits

from .structured import MAX_VALUE_DEPTH, Structs, VMap
from .type_registry import I64_MAX, I64_MIN, ROWS, ValueMismatch
from .types import TypeKind, ValueType

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

#: A VM value: int (signed 64-bit), bool, str, float, an array or a struct (list), or a map (VMap).
Value: TypeAlias = int | bool | str | float | list["Value"] | VMap  # VMap: a map (#17); a struct is a list


def wrap_i64(value: int) -> int:
    """Two's-complement wrap of any Python int into signed 64 bits."""
    return ((value + 2**63) & 0xFFFF_FFFF_FFFF_FFFF) - 2**63


class _Importer:
    """The deep import of one host value: the struct table, the containers on the current path (cycles), a budget."""

    __slots__ = ("active", "budget", "structs")

    def __init__(self, structs: Structs, limits: Limits) -> None:
        self.structs = structs
        self.active: list[int] = []
        # every part of the value is visited once per occurrence: a value shared many times (a DAG) is bounded
        # by what its copy would take, in items, against max_allocation's words
        self.budget = max(limits.max_allocation // 4, 1)

    def __call__(self, obj: object, vtype: ValueType, limits: Limits, what: str) -> tuple[Value, int]:
        row = ROWS.get(vtype.kind)
        if row is None:
            raise ValueMismatch(f"{what}: the type {vtype} cannot cross the boundary")
        if not row.sized or type(obj) is str:
            return row.check(obj, vtype, limits, what, self)
        self.budget -= 1
        if self.budget < 0:
            raise ValueMismatch(f"{what}: the value is larger than max_allocation allows")
        marker = id(obj)
        if marker in self.active:
            raise ValueMismatch(f"{what}: the value contains itself (a cyclic structure cannot cross the boundary)")
        if len(self.active) >= MAX_VALUE_DEPTH:
            raise ValueMismatch(f"{what}: the value nests deeper than {MAX_VALUE_DEPTH} levels")
        self.active.append(marker)
        try:
            return row.check(obj, vtype, limits, what, self)
        finally:
            self.active.pop()


def import_value(
    obj: object, vtype: ValueType, limits: Limits, what: str = "value", structs: Structs = ()
) -> tuple[Value, int]:
    """Check a host object against `vtype` and the size limits; give a fresh VM value and its allocation units.

    Ints must already be within signed 64 bits (no silent wrapping), bools are
    not ints and ints are not bools, strings must be valid Unicode, arrays may be
    lists or tuples.  Raises `ValueMismatch` naming the offending part.  Each
    kind's check is its row in `core.type_registry`.
    """
    if vtype.kind is TypeKind.INT or vtype.kind is TypeKind.BOOL:
        value, units = ROWS[vtype.kind].check(obj, vtype, limits, what, import_value)
        return value, units
    return _Importer(structs, limits)(obj, vtype, limits, what)


def value_units(value: Value) -> int:
    """Allocation units a value holds: characters of strings plus items of arrays, nested."""
    if type(value) is str:
        return len(value)
    if type(value) is list:
        return len(value) + sum(value_units(item) for item in value)
    if type(value) is VMap:
        return len(value) + sum(value_units(key) + value_units(item) for key, item in value.items())
    return 0


def export_value(value: Value) -> Any:
    """A copy safe to hand to a host or write as JSON: arrays (and structs) are copied, maps become dicts, nested.

    The engines measure a value before it leaves (`costs.export_size`), which
    refuses cyclic values and nesting beyond MAX_VALUE_DEPTH, so this recursion is bounded.
    """
    if type(value) is list:
        return [export_value(item) for item in value]
    if type(value) is VMap:
        return {key: export_value(item) for key, item in value.items()}
    return value
