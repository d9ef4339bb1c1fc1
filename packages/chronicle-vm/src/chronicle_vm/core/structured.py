"""Maps and structs as values: takes a map or struct type and the module's struct table, gives their values.

Inside the VM a map `{K: V}` is a `VMap`, a `dict` in insertion order that
also counts the changes of its key set (`keyset`), so that an iteration can
check in O(1) whether keys were added or removed since it began (the
`mapstamp` and `mapcheck` instructions).  A struct is a Python `list` of its
field values in declaration order; its type (`ValueType(STRUCT, ref=i)`)
indexes the module's struct table, a tuple of `StructDef`.

This module holds what the value-type registry's MAP and STRUCT rows do:
the zero value of a struct (every field's zero, nested structs included),
importing a host object deeply (with the path of the part that does not fit,
refusing cycles), exporting a VM value to the host (dicts, dataclasses) and
their JSON forms (a map as `[key, value]` pairs in insertion order, a struct
as an object of its fields by name).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .types import StructDef, TypeKind, ValueType

__all__ = [
    "field_difference",
    "KEY_KINDS",
    "MAX_VALUE_DEPTH",
    "MAX_ZERO_ITEMS",
    "Structs",
    "VMap",
    "shape_difference",
    "struct_fields",
    "struct_name",
    "type_text",
    "zero_items",
    "zero_struct",
]

#: A module's struct table.
Structs = Sequence[StructDef]

#: The kinds a map key may have.
KEY_KINDS = frozenset((TypeKind.INT, TypeKind.STR, TypeKind.BOOL))
#: Deepest nesting of a value crossing the boundary (host objects in, VM values out, JSON): deeper is refused.
MAX_VALUE_DEPTH = 100
#: Most fields a register's zero struct may hold, nested structs counted (the verifier refuses more).
MAX_ZERO_ITEMS = 256


class VMap(dict):  # type: ignore[type-arg]
    """A VM map: a dict in insertion order plus `keyset`, the number of times its set of keys changed."""

    __slots__ = ("keyset",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.keyset = 0

    def __reduce__(self) -> Any:  # copies and pickles keep the counter
        return (_rebuild, (dict(self), self.keyset))


def _rebuild(items: dict[Any, Any], keyset: int) -> VMap:
    made = VMap(items)
    made.keyset = keyset
    return made


def struct_fields(vtype: ValueType, structs: Structs) -> tuple[Any, ...]:
    """The fields of struct type `vtype` (empty when the table does not have it)."""
    if 0 <= vtype.ref < len(structs):
        return structs[vtype.ref].fields
    return ()


def struct_name(vtype: ValueType, structs: Structs) -> str:
    if 0 <= vtype.ref < len(structs):
        return structs[vtype.ref].name
    return f"struct#{vtype.ref}"


def type_text(vtype: ValueType, structs: Structs) -> str:
    """A type as people read it, structs by name: `{str: [Item]}`."""
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        return f"[{type_text(vtype.args[0], structs)}]"
    if kind is TypeKind.MAP:
        return f"{{{type_text(vtype.args[0], structs)}: {type_text(vtype.args[1], structs)}}}"
    if kind is TypeKind.STRUCT:
        return struct_name(vtype, structs)
    return str(vtype)


def zero_items(vtype: ValueType, structs: Structs, depth: int = 0) -> int:
    """Fields a zero value of `vtype` holds, nested structs counted (0 for other kinds); large when unbounded."""
    if vtype.kind is not TypeKind.STRUCT:
        return 0
    if depth > len(structs) or depth > MAX_VALUE_DEPTH:
        return MAX_ZERO_ITEMS + 1  # a struct that holds itself by value: never finite
    total = 0
    for item in struct_fields(vtype, structs):
        total += 1 + zero_items(item.type, structs, depth + 1)
        if total > MAX_ZERO_ITEMS:
            break
    return total


def zero_struct(vtype: ValueType, structs: Structs) -> list[Any]:
    """A fresh struct of `vtype` whose every field holds its type's zero (nested structs are fresh too)."""
    from .type_registry import zero_value  # the registry's rows give each field's zero

    return [zero_value(item.type, structs) for item in struct_fields(vtype, structs)]


def shape_difference(
    left: ValueType, left_structs: Structs, right: ValueType, right_structs: Structs, path: str = ""
) -> str | None:
    """Where two types differ when structs are compared by shape (names, order and field types), or None.

    The answer names the differing part, e.g. `Item.unit: float vs int`.
    Recursive struct types are compared once per pair of struct indexes.
    """
    return _shape(left, left_structs, right, right_structs, path, set())


def _shape(
    left: ValueType,
    ls: Structs,
    right: ValueType,
    rs: Structs,
    path: str,
    seen: set[tuple[int, int]],
) -> str | None:
    where = path or "the type"
    if left.kind is not right.kind or len(left.args) != len(right.args):
        return f"{where}: {type_text(left, ls)} vs {type_text(right, rs)}"
    if left.kind is TypeKind.STRUCT:
        pair = (left.ref, right.ref)
        if pair in seen:
            return None
        seen.add(pair)
        lf, rf = struct_fields(left, ls), struct_fields(right, rs)
        name = struct_name(left, ls)
        for index in range(max(len(lf), len(rf))):
            if index >= len(lf) or index >= len(rf):
                extra = (rf if index >= len(lf) else lf)[index].name
                return f"{name}: field {index} `{extra}` is on one side only"
            if lf[index].name != rf[index].name:
                return f"{name}: field {index} is `{lf[index].name}` vs `{rf[index].name}`"
            found = _shape(lf[index].type, ls, rf[index].type, rs, f"{name}.{lf[index].name}", seen)
            if found is not None:
                return found
        return None
    for index, (a, b) in enumerate(zip(left.args, right.args, strict=True)):
        part = ("key" if index == 0 else "value") if left.kind is TypeKind.MAP else "item"
        found = _shape(a, ls, b, rs, f"{path}<{part}>" if path else f"<{part}>", seen)
        if found is not None:
            return found
    return None


# -- host objects in ---------------------------------------------------------------------------------------------


def is_dataclass_instance(obj: object) -> bool:
    return dataclasses.is_dataclass(obj) and not isinstance(obj, type)


def struct_items(obj: object, vtype: ValueType, structs: Structs, what: str) -> list[tuple[str, object]] | str:
    """A host struct's (field name, object) pairs in the struct's order, or why it does not fit."""
    fields = struct_fields(vtype, structs)
    names = [item.name for item in fields]
    name = struct_name(vtype, structs)
    if is_dataclass_instance(obj):
        declared = [item.name for item in dataclasses.fields(obj)]  # type: ignore[arg-type]
        if declared != names:
            return f"{what}: expected struct {name} with fields {names}, found {type(obj).__name__} with {declared}"
        return [(field, getattr(obj, field)) for field in names]
    if type(obj) is dict:
        if not all(type(key) is str for key in obj) or set(obj) != set(names) or len(obj) != len(names):
            keys = [key if type(key) is str else repr(key) for key in obj]
            return f"{what}: expected struct {name} with exactly the fields {names}, found a dict with keys {keys}"
        return [(field, obj[field]) for field in names]
    kind = "nothing" if obj is None else type(obj).__name__
    return f"{what}: expected struct {name} (a dataclass or a dict of its fields), found {kind}"


def map_pairs(obj: object) -> list[tuple[object, object]] | None:
    """A host map's (key, value) pairs in order: a dict or a Mapping; None when it is not one."""
    if isinstance(obj, Mapping):
        return list(obj.items())
    return None


# -- VM values out -----------------------------------------------------------------------------------------------

#: Host classes for struct shapes: (struct index in the module's table) -> the dataclass the host registered.
HostClasses = Mapping[int, type]


def to_host(value: Any, vtype: ValueType, structs: Structs, classes: HostClasses, depth: int = 0) -> Any:
    """A VM value as the host receives it: maps as new dicts, structs as the registered dataclass or a dict.

    The value must already be a copy the VM does not hold (`export_value`),
    or a value the caller does not keep; every container is built afresh.
    """
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        element = vtype.args[0]
        return [to_host(item, element, structs, classes, depth + 1) for item in value]
    if kind is TypeKind.MAP:
        inner = vtype.args[1]
        return {key: to_host(item, inner, structs, classes, depth + 1) for key, item in value.items()}
    if kind is TypeKind.STRUCT:
        fields = struct_fields(vtype, structs)
        named = {
            item.name: to_host(field, item.type, structs, classes, depth + 1)
            for item, field in zip(fields, value, strict=True)
        }
        cls = classes.get(vtype.ref)
        return cls(**named) if cls is not None else named
    return value


def export_tree(value: Any, depth: int = 0) -> Any:
    """A deep copy of a VM value with maps as plain dicts (arrays and structs stay lists)."""
    if type(value) is list:
        return [export_tree(item, depth + 1) for item in value]
    if type(value) is VMap or type(value) is dict:
        return {key: export_tree(item, depth + 1) for key, item in value.items()}
    return value


def is_finite(number: float) -> bool:
    return math.isfinite(number)


Convert = Callable[[Any, ValueType], Any]


# -- JSON forms ----------------------------------------------------------------------------------------------------


class JSONShapeError(ValueError):
    """A JSON value does not have the form its declared type takes (the message names the path inside it)."""


def to_json(value: Any, vtype: ValueType, structs: Structs, *, objects: bool = True, depth: int = 0) -> Any:
    """A host-side value (dicts for maps, dataclasses or dicts for structs, lists) in its JSON form.

    A struct is an object of its fields by name in declaration order; a map
    is a list of `[key, value]` pairs in insertion order, or (with
    `objects`, as the command line writes it) an object when its keys are
    `str`.  Scalars are returned as they are.
    """
    if depth > MAX_VALUE_DEPTH:
        raise JSONShapeError("the value nests too deeply")
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        return [to_json(item, vtype.args[0], structs, objects=objects, depth=depth + 1) for item in value]
    if kind is TypeKind.MAP:
        key_type, value_type = vtype.args
        pairs = [
            (key, to_json(item, value_type, structs, objects=objects, depth=depth + 1)) for key, item in value.items()
        ]
        if objects and key_type.kind is TypeKind.STR:
            return dict(pairs)
        return [[key, item] for key, item in pairs]
    if kind is TypeKind.STRUCT:
        out: dict[str, Any] = {}
        for item in struct_fields(vtype, structs):
            field = getattr(value, item.name) if is_dataclass_instance(value) else value[item.name]
            out[item.name] = to_json(field, item.type, structs, objects=objects, depth=depth + 1)
        return out
    return value


def from_json(data: Any, vtype: ValueType, structs: Structs, path: str = "", depth: int = 0) -> Any:
    """A JSON value read by its declared type: maps from pair lists (or objects for str keys), structs from objects.

    Gives host-side objects (lists, dicts) that `import_value` then checks and
    copies; raises JSONShapeError naming the path of a part of the wrong form.
    Scalars are returned as they are (their checks are `import_value`'s).
    """
    where = path or "the value"
    if depth > MAX_VALUE_DEPTH:
        raise JSONShapeError(f"{where}: nests deeper than {MAX_VALUE_DEPTH} levels")
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        if not isinstance(data, list):
            raise JSONShapeError(f"{where}: expected a JSON array")
        return [from_json(item, vtype.args[0], structs, f"{path}[{k}]", depth + 1) for k, item in enumerate(data)]
    if kind is TypeKind.MAP:
        return _map_from_json(data, vtype, structs, path, depth)
    if kind is TypeKind.STRUCT:
        if not isinstance(data, dict):
            raise JSONShapeError(f"{where}: expected a JSON object with the fields of {struct_name(vtype, structs)}")
        fields = struct_fields(vtype, structs)
        names = [item.name for item in fields]
        if len(data) != len(names) or any(name not in data for name in names):
            raise JSONShapeError(f"{where}: {field_difference(names, data)}")
        return {
            item.name: from_json(
                data[item.name], item.type, structs, f"{path}.{item.name}" if path else item.name, depth + 1
            )
            for item in fields
        }
    return data


def _map_from_json(data: Any, vtype: ValueType, structs: Structs, path: str, depth: int) -> dict[Any, Any]:
    where = path or "the value"
    key_type, value_type = vtype.args
    if isinstance(data, dict):
        if key_type.kind is not TypeKind.STR:
            raise JSONShapeError(f"{where}: a map with {key_type} keys is a JSON array of [key, value] pairs")
        pairs = list(data.items())
    elif isinstance(data, list):
        pairs = []
        for k, pair in enumerate(data):
            if not isinstance(pair, list) or len(pair) != 2:
                raise JSONShapeError(f"{where}[{k}]: expected a [key, value] pair")
            pairs.append((pair[0], pair[1]))
    else:
        raise JSONShapeError(f"{where}: expected a JSON object or an array of [key, value] pairs")
    out: dict[Any, Any] = {}
    for key, item in pairs:
        if type(key) is not {TypeKind.INT: int, TypeKind.STR: str, TypeKind.BOOL: bool}.get(key_type.kind):
            raise JSONShapeError(f"{where}: key {key!r} is not a {key_type}")
        if key in out:
            raise JSONShapeError(f"{where}: key {key!r} appears twice")
        out[key] = from_json(item, value_type, structs, f"{path}[{key!r}]", depth + 1)
    return out


def field_difference(names: Sequence[str], data: Mapping[Any, object]) -> str:
    """How an object's keys differ from a struct's fields, bounded whatever the object holds."""
    wanted = set(names)
    missing = [name for name in names if name not in data]
    extra = [key for key in data if key not in wanted]

    def listed(found: Sequence[object]) -> str:
        texts = [item if type(item) is str else repr(item) for item in found[:5]]
        shown = ", ".join(repr(text if len(text) <= 40 else text[:37] + "...") for text in texts)
        return shown + (f" and {len(found) - 5:,} more" if len(found) > 5 else "")

    parts = [f"missing {listed(missing)}"] if missing else []
    if extra:
        parts.append(f"unexpected {listed(extra)}")
    return f"expected exactly the fields {listed(list(names))}; " + "; ".join(parts)
