"""What every engine shares around a run: takes a host's call, gives the checked entry and arguments, and locations.

Argument checking (`prepare_call`), the handler table, the outcome of a run and
the JSON location of an instruction are the same for every engine, so that
their errors and traces are too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from math import isfinite
from typing import TYPE_CHECKING, Any, NamedTuple

from chronicle_vm.core.calls import CapabilityHandler
from chronicle_vm.core.model import Module
from chronicle_vm.core.structured import struct_fields
from chronicle_vm.core.type_registry import row, zero_value
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, ValueMismatch, import_value
from chronicle_vm.errors import UsageError, declare_codes
from chronicle_vm.limits import Limits

from .costs import ITEM_WORDS, LIST_WORDS, STR_WORDS, value_words

if TYPE_CHECKING:
    from chronicle_vm.verifier.rules import VerifiedModule

__all__ = [
    "FRESH_KINDS",
    "RunOutcome",
    "describe",
    "handler_table",
    "locate",
    "plain_kinds",
    "plain_units",
    "prepare_call",
    "structs_of",
    "zero",
    "zero_maker",
]

declare_codes(
    "usage",
    {
        "unknown-entry": "the entry function does not exist or is not exported",
        "bad-arguments": "entry arguments do not match the entry's parameter types",
    },
)


class RunOutcome(NamedTuple):
    """A finished run: the entry's result (None for none) and the instructions executed.

    A named tuple, not a frozen dataclass: every call makes one, and this is three times cheaper to build.
    """

    value: Value | None
    instructions: int


def zero(vtype: ValueType, structs: Sequence[StructDef] = ()) -> Value:
    """A register's value before it is written: the type's zero (the value-type registry's row)."""
    return zero_value(vtype, structs)  # type: ignore[no-any-return]


def structs_of(module: Module) -> tuple[StructDef, ...]:
    """The module's struct table."""
    return getattr(module, "structs", ())


#: The kinds whose zero is a fresh mutable object in every frame (the others' zeros can be shared).
FRESH_KINDS = frozenset((TypeKind.ARRAY, TypeKind.MAP, TypeKind.STRUCT))


def zero_maker(vtype: ValueType, structs: Sequence[StructDef] = ()) -> Callable[[], Value]:
    """A function that makes `zero(vtype, structs)` afresh, fast: a struct copies a list of its shared fields'
    zeros and makes only its arrays, maps and structs anew (a frame may make a million fields: costs.frame_work)."""
    kind = vtype.kind
    if kind is TypeKind.STRUCT:
        template: list[Any] = []
        fresh: list[tuple[int, Callable[[], Value]]] = []
        for index, item in enumerate(struct_fields(vtype, structs)):
            if item.type.kind in FRESH_KINDS:
                template.append(None)
                fresh.append((index, zero_maker(item.type, structs)))
            else:
                template.append(zero(item.type, structs))
        if not fresh:
            return template.copy
        makers = tuple(fresh)

        def make() -> Value:
            made = template.copy()
            for index, maker in makers:
                made[index] = maker()
            return made

        return make
    if kind in FRESH_KINDS:  # an array or a map: its registry row's constructor (list, VMap)
        return row(vtype).zero
    shared = zero(vtype, structs)
    return lambda: shared


def handler_table(module: Module, handlers: Sequence[CapabilityHandler | None]) -> tuple[CapabilityHandler | None, ...]:
    """One handler slot per declared capability (None where the host gave none); shared by every engine."""
    return tuple(handlers) + (None,) * (len(module.capabilities) - len(handlers))


#: The parameter kinds whose host arguments `plain_units` can take as they are.
_PLAIN: dict[TypeKind, type] = {TypeKind.INT: int, TypeKind.BOOL: bool, TypeKind.STR: str, TypeKind.FLOAT: float}


def plain_kinds(params: Sequence[ValueType]) -> tuple[type, ...] | None:
    """The Python type each parameter takes as it is (int, bool, str, float); None when some parameter is other."""
    kinds = tuple(_PLAIN.get(param.kind) for param in params)
    return None if any(kind is None for kind in kinds) else kinds  # type: ignore[return-value]


def plain_units(args: Sequence[Any], kinds: tuple[Any, ...], max_string: int) -> int:
    """The allocation units of arguments that `import_value` would take exactly as they are, or -1.

    -1 (the argument count, a type, a range or a string's text is not plainly right): the full import decides,
    with its error.  An ASCII string is always valid Unicode; an int must be within 64 bits, a float finite.
    """
    if len(args) != len(kinds):
        return -1
    units = 0
    for arg, kind in zip(args, kinds, strict=True):
        if type(arg) is not kind:
            return -1
        if kind is str:
            if len(arg) > max_string or not arg.isascii():
                return -1
            units += STR_WORDS + len(arg)
        elif (kind is int and not I64_MIN <= arg <= I64_MAX) or (kind is float and not isfinite(arg)):
            return -1
    return units


def prepare_call(
    verified: VerifiedModule, limits: Limits, entry: str, args: Sequence[object]
) -> tuple[int, list[Value], int]:
    """Check a host's call before anything runs: the entry's index, the imported arguments, their allocation units.

    Every engine calls this, so argument checking and its errors are the same everywhere.
    """
    index = verified.exports.get(entry) if isinstance(entry, str) else None
    if index is None:
        exports = ", ".join(sorted(verified.exports)) or "none"
        raise UsageError("usage.unknown-entry", f"no exported function `{entry}` (exports: {exports})")
    function = verified.module.functions[index]
    params = function.params
    if len(args) != len(params):
        raise UsageError(
            "usage.bad-arguments",
            f"`{entry}` takes {len(params)} argument(s) {function.signature()}, got {len(args)}",
            entry=entry,
        )
    if not params:
        return index, [], 0
    values: list[Value] = []
    units = 0
    for position, (arg, vtype) in enumerate(zip(args, params, strict=True)):
        try:
            what = f"argument {position + 1} of `{entry}`"
            value, imported = import_value(arg, vtype, limits, what, structs_of(verified.module))
        except ValueMismatch as exc:
            raise UsageError("usage.bad-arguments", str(exc), entry=entry, position=position) from None
        values.append(value)
        units += _words(value, vtype, imported)
    return index, values, units


def _words(value: Value, vtype: ValueType, imported: int) -> int:
    """`value_words(value)`, without a second walk for the flat arrays whose import counted their characters."""
    if vtype.kind is TypeKind.ARRAY and type(value) is list:
        element = vtype.args[0].kind
        if element is TypeKind.STR:  # imported = items + characters
            return LIST_WORDS + (ITEM_WORDS + STR_WORDS) * len(value) + imported - len(value)
        if element is TypeKind.INT or element is TypeKind.BOOL:
            return LIST_WORDS + ITEM_WORDS * len(value)
    return value_words(value)


def locate(module: Module, function: int, index: int) -> dict[str, Any]:
    """JSON-safe location of instruction `index` of function `function`, with its source position if known."""
    out: dict[str, Any] = {"function": module.functions[function].name, "index": index}
    positions = module.source_map.functions[function] if function < len(module.source_map.functions) else ()
    if 0 <= index < len(positions):
        pos = positions[index]
        out.update(file=module.source_map.files[pos.file], line=pos.line, col=pos.col)
    return out


def describe(where: Mapping[str, Any]) -> str:
    text = f"in `{where['function']}` at instruction {where['index']}"
    if "file" in where:
        text += f" ({where['file']}:{where['line']}:{where['col']})"
    return text
