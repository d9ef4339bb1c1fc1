"""The value-type registry: takes a `ValueType`, gives everything each stage needs to know about its kind.

One row per `TypeKind`: its version-1 binary tag, its Python form at the host
boundary (import checks and export copies), its zero value in a fresh
register, its JSON check in traces and on the command line, and its
allocation cost.  The decoder, encoder, verifier, host boundary, trace,
replay, CLI and front ends read these rows instead of keeping their own
copies, so a new kind (#17: float, maps, structs) is one row here plus the
code where its behaviour genuinely differs.

The version-1 binary format stores a type as (array depth, scalar tag);
`v1_types()` lists every type it can hold, in the verifier's id order.
"""

from __future__ import annotations

import json
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeGuard

from chronicle_vm.limits import Limits

from .types import MAX_ARRAY_DEPTH, BaseType, TypeKind, ValueType, array_type

__all__ = [
    "ROWS",
    "TypeRow",
    "ValueMismatch",
    "annotation_type",
    "decode_v1",
    "encode_v1",
    "float_text",
    "is_plain_scalar",
    "json_example",
    "is_sized",
    "kind_name",
    "row",
    "v1_types",
    "value_text",
    "well_formed",
    "zero_value",
]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
_FLOAT_INT_BOUND = 2**1024  # ints at or beyond this have no float at all (float() would overflow)

#: The importer a row calls back for a composite's items: (object, type, limits, what) -> (value, units).
Importer = Callable[[object, ValueType, Limits, str], tuple[Any, int]]


class ValueMismatch(Exception):
    """A host value does not fit its declared type or the limits; callers turn it into a ChronicleError."""


@dataclass(frozen=True, slots=True)
class TypeRow:
    """What one kind of type is, for every stage.

    `tag` is the version-1 binary tag (None for arrays, which the format stores
    as a depth); `python` is the exact Python type of its VM values and
    `annotation` the host annotation that declares it (`list` takes one
    argument); `zero` builds a fresh register's value; `check` imports a host
    object (raising `ValueMismatch`) and gives its value and allocation units;
    `sized` says whether its cost and trace size depend on its length;
    `examples` are two JSON texts of its values, for messages that show how
    to write one (empty for composites, whose examples are built from their
    arguments'); `text` writes a value as the language does (`true`, `"a"`,
    `[1, 2]`), for the CLI's results and trace views.  `orderable` kinds
    compare with `< <= > >=` and sort (ints by value, strings by code point).
    """

    kind: TypeKind
    tag: BaseType | None
    arity: int
    python: type
    annotation: object
    zero: Callable[[], Any]
    check: Callable[[object, ValueType, Limits, str, Importer], tuple[Any, int]]
    sized: bool
    examples: tuple[str, ...] = ()
    text: Callable[[Any], str] = str
    orderable: bool = False  # `< <= > >=` and `sort` take its values (the verifier's ORDERED rules read this)


def _import_int(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    if type(obj) is not int:
        raise ValueMismatch(f"{what}: expected int, found {kind_name(obj)}")
    if not I64_MIN <= obj <= I64_MAX:
        raise ValueMismatch(f"{what}: int {_short(obj)} is outside signed 64 bits")
    return obj, 0


def _import_bool(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    if type(obj) is not bool:
        raise ValueMismatch(f"{what}: expected bool, found {kind_name(obj)}")
    return obj, 0


def _import_str(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    if type(obj) is not str:
        raise ValueMismatch(f"{what}: expected str, found {kind_name(obj)}")
    if len(obj) > limits.max_string_len:
        limit = limits.max_string_len
        raise ValueMismatch(f"{what}: string of {len(obj)} characters exceeds max_string_len {limit}")
    try:
        obj.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueMismatch(f"{what}: string is not valid Unicode (lone surrogate)") from None
    return obj, len(obj)


def _import_float(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    """A finite Python float; or an int (never a bool) that a float represents exactly (CONTRACT.md 3.1)."""
    if type(obj) is float:
        if not math.isfinite(obj):
            raise ValueMismatch(f"{what}: float {obj!r} is not finite (floats in the VM are always finite)")
        return obj, 0
    if type(obj) is int:
        exact = float(obj) if -_FLOAT_INT_BOUND < obj < _FLOAT_INT_BOUND else None
        if exact is None or exact != obj:
            raise ValueMismatch(f"{what}: int {_short(obj)} has no exact float (give a float)")
        return exact, 0
    raise ValueMismatch(f"{what}: expected float, found {kind_name(obj)}")


def float_text(value: Any) -> str:
    """A float's one text: Python's `repr` (the shortest that reads back to the same float; `-0.0`, `1e+16`)."""
    return repr(float(value))


def _import_array(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    if not isinstance(obj, (list, tuple)):
        raise ValueMismatch(f"{what}: expected {vtype}, found {kind_name(obj)}")
    if len(obj) > limits.max_array_len:
        raise ValueMismatch(f"{what}: array of {len(obj)} items exceeds max_array_len {limits.max_array_len}")
    element = vtype.args[0]
    values: list[Any] = []
    units = len(obj)
    for index, item in enumerate(obj):
        value, item_units = items(item, element, limits, f"{what}[{index}]")
        values.append(value)
        units += item_units
    return values, units


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def _str_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _array_text(value: Any) -> str:
    return "[" + ", ".join(value_text(item) for item in value) + "]"


#: The registry: one row per kind.  #17 adds FLOAT (here), MAP and STRUCT rows.
ROWS: dict[TypeKind, TypeRow] = {
    TypeKind.INT: TypeRow(
        TypeKind.INT,
        BaseType.INT,
        0,
        python=int,
        annotation=int,
        zero=int,
        check=_import_int,
        sized=False,
        examples=("1", "2"),
        orderable=True,
    ),
    TypeKind.BOOL: TypeRow(
        TypeKind.BOOL,
        BaseType.BOOL,
        0,
        python=bool,
        annotation=bool,
        zero=bool,
        check=_import_bool,
        sized=False,
        examples=("true", "false"),
        text=_bool_text,
    ),
    TypeKind.STR: TypeRow(
        TypeKind.STR,
        BaseType.STR,
        0,
        python=str,
        annotation=str,
        zero=str,
        check=_import_str,
        sized=True,
        examples=('"a"', '"b"'),
        text=_str_text,
        orderable=True,  # by code point
    ),
    TypeKind.FLOAT: TypeRow(
        TypeKind.FLOAT,
        None,  # version 2 only: the version-1 format has no tag for it
        0,
        python=float,
        annotation=float,
        zero=float,  # 0.0
        check=_import_float,
        sized=False,  # a register holds it, like an int: no allocation, a fixed-size JSON text
        examples=("1.5", "-0.25"),
        text=float_text,
        orderable=True,  # IEEE order (all values are finite: a total order except -0.0 == 0.0)
    ),
    TypeKind.ARRAY: TypeRow(
        TypeKind.ARRAY,
        None,
        1,
        python=list,
        annotation=list,
        zero=list,
        check=_import_array,
        sized=True,
        text=_array_text,
    ),
}


# bool before int: a bool is an int in Python, and the first row whose type matches names the value.
_BY_PYTHON = sorted(ROWS.values(), key=lambda found: found.python is not bool)


def value_text(value: object) -> str:
    """A VM value (or its JSON form) as the language writes it: 42, true, "text", [1, 2]."""
    for found in _BY_PYTHON:
        if isinstance(value, found.python):
            return found.text(value)
    return str(value)


def json_example(vtype: ValueType) -> str:
    """A JSON text of a value of `vtype`, for messages: `42`-like for scalars, `[1, 2]`, `[[1, 2]]` for arrays."""
    if vtype.is_scalar_kind:
        return ROWS[vtype.kind].examples[0]
    element = vtype.element()
    inner = ", ".join(ROWS[element.kind].examples) if element.is_scalar_kind else json_example(element)
    return f"[{inner}]"


def row(vtype: ValueType) -> TypeRow:
    """The registry row of a type's outermost kind."""
    return ROWS[vtype.kind]


def zero_value(vtype: ValueType) -> Any:
    """A fresh register's value: 0, False, "" or a new empty array."""
    return ROWS[vtype.kind].zero()


def is_sized(vtype: ValueType) -> bool:
    """True when a value's cost and trace size depend on its length (strings and composites)."""
    return ROWS[vtype.kind].sized


def is_plain_scalar(vtype: ValueType, kind: TypeKind | None = None) -> bool:
    """True for a fixed-size scalar (int, bool), or for exactly `kind` when given."""
    if kind is not None:
        return vtype.kind is kind
    return not ROWS[vtype.kind].sized


# --- the version-1 binary form ------------------------------------------------


def v1_types() -> Iterator[ValueType]:
    """Every type the version-1 format can hold: scalar-major, depth-minor (the verifier's id order)."""
    for tag in BaseType:
        for depth in range(MAX_ARRAY_DEPTH + 1):
            yield array_type(tag, depth)


def encode_v1(vtype: ValueType) -> tuple[int, int]:
    """The version-1 record of a type: (array depth, scalar tag)."""
    return (vtype.depth, int(vtype.base))


def decode_v1(depth: int, tag: int) -> ValueType | None:
    """The type a version-1 record names, or None for an unknown tag or a depth beyond MAX_ARRAY_DEPTH."""
    if depth > MAX_ARRAY_DEPTH or tag not in BaseType._value2member_map_:
        return None
    return array_type(BaseType(tag), depth)


def well_formed(vtype: object, depth: int = 0) -> TypeGuard[ValueType]:
    """True when `vtype` is exactly a registry type: exact classes all the way down, right arity, not too deep."""
    if type(vtype) is not ValueType or type(vtype.kind) is not TypeKind or type(vtype.args) is not tuple:
        return False
    found = ROWS[vtype.kind]
    if len(vtype.args) != found.arity:
        return False
    if vtype.kind is TypeKind.ARRAY and depth >= MAX_ARRAY_DEPTH:
        return False
    return all(well_formed(arg, depth + 1) for arg in vtype.args)


# --- the host boundary --------------------------------------------------------


def annotation_type(annotation: object, depth: int = 0) -> ValueType | None:
    """The type a host function's annotation declares (`int`, `list[str]`, ...), None when it declares none."""
    for found in ROWS.values():
        if found.arity == 0:
            # identity, not a dict lookup: an annotation may be any object, even an unhashable one
            if annotation is found.annotation:
                return ValueType(found.kind)
        elif typing.get_origin(annotation) is found.annotation:
            args = typing.get_args(annotation)
            if len(args) != found.arity or depth >= MAX_ARRAY_DEPTH:
                return None
            inner = [annotation_type(arg, depth + 1) for arg in args]
            if any(t is None for t in inner):
                return None
            return ValueType(found.kind, tuple(t for t in inner if t is not None))
    return None


def kind_name(obj: object) -> str:
    """The VM name of a Python object's kind, for mismatch messages."""
    if isinstance(obj, bool):
        return "bool"
    if isinstance(obj, int):
        return "int"
    if isinstance(obj, float):
        return "float"
    if isinstance(obj, str):
        return "str"
    if isinstance(obj, (list, tuple)):
        return "array"
    if obj is None:
        return "nothing"
    return type(obj).__name__


def _short(number: int) -> str:
    return str(number) if number.bit_length() < 200 else f"of {number.bit_length()} bits"
