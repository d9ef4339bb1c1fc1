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

from .structured import MAX_VALUE_DEPTH, Structs
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

#: A VM value: int (signed 64-bit), bool, str, float (always finite), an array or a struct (a list), or a map (a dict).
Value: TypeAlias = int | bool | str | float | list["Value"] | dict[Any, "Value"]


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
    """Allocation units a value holds: characters of strings plus items of arrays, entries of maps (each key and
    value counted), nested.  Iterative, and each shared or cyclic part is counted once."""
    if type(value) is str:
        return len(value)
    total = 0
    seen: set[int] = set()
    pending: list[Any] = [value]
    while pending:
        node = pending.pop()
        kind = type(node)
        if kind is str:
            total += len(node)
        elif kind is list or isinstance(node, dict):
            if id(node) in seen:
                continue
            seen.add(id(node))
            total += len(node)
            pending.extend(node if kind is list else [*node.keys(), *node.values()])
    return total


def export_value(value: Value) -> Value:
    """A copy safe to hand to a host or to keep in a trace: arrays and structs (lists) and maps (dicts) are copied,
    nested; ints, floats, bools and strings are immutable and shared.

    Iterative, in time linear in the value's objects: a part shared twice (`[xs, xs]`) is copied once and shared
    again in the copy, and a cycle (a struct that holds itself through an array) stays a cycle, so neither a deep
    chain nor a doubling chain of references (`x = [x, x]` a hundred times) can recurse or blow up here.  A map
    comes out a plain `dict`.
    """
    if type(value) is list:
        if _SCALAR_KINDS.issuperset(map(type, value)):  # at C speed: a list of scalars, the common case
            return value.copy()
    elif not isinstance(value, dict):
        return value
    copies: dict[int, Any] = {}
    top = _shell(value, copies)
    pending: list[Any] = [value]
    while pending:
        source = pending.pop()
        target = copies[id(source)]
        items = enumerate(source) if type(source) is list else source.items()
        for key, item in items:
            if type(item) is list or isinstance(item, dict):
                known = copies.get(id(item))
                if known is None:
                    if type(item) is list and _SCALAR_KINDS.issuperset(map(type, item)):
                        known = copies[id(item)] = item.copy()
                    else:
                        known = _shell(item, copies)
                        pending.append(item)
                target[key] = known
    return top  # type: ignore[no-any-return]


#: The immutable kinds of VM values: never copied.
_SCALAR_KINDS = frozenset({int, bool, str, float})


def _shell(value: Any, copies: dict[int, Any]) -> Any:
    """A shallow copy of one list or dict, registered by the original's id (its composite items fixed up later)."""
    shell = value.copy() if type(value) is list else dict(value)
    copies[id(value)] = shell
    return shell
