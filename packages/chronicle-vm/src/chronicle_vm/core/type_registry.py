"""The value-type registry: takes a `ValueType`, gives everything each stage needs to know about its kind.

One row per `TypeKind`: its version-1 binary tag, its Python form at the host
boundary (import checks and export copies), its zero value in a fresh
register, its JSON check in traces and on the command line, and its
allocation cost, and its JSON form (`to_json`/`from_json`: traces, `--arg`
and `"value"`).  The decoder, encoder, verifier, host boundary, trace,
replay, CLI and front ends read these rows instead of keeping their own
copies, so a new kind (#17: float, maps, structs) is one row here plus the
code where its behaviour genuinely differs.

The version-1 binary format stores a type as (array depth, scalar tag);
`v1_types()` lists every type it can hold, in the verifier's id order.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeGuard

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.limits import Limits

from . import structured
from .structured import KEY_KINDS, VMap
from .types import MAX_ARRAY_DEPTH, BaseType, StructDef, TypeKind, ValueType, array_type

__all__ = [
    "MAX_JSON_DEPTH",
    "ROWS",
    "JsonForm",
    "JsonReader",
    "JsonWriter",
    "TypeRow",
    "ValueMismatch",
    "annotation_type",
    "decode_v1",
    "encode_v1",
    "float_text",
    "from_json",
    "is_plain_scalar",
    "json_example",
    "is_sized",
    "json_kind",
    "kind_name",
    "row",
    "to_json",
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


#: Deepest nesting of composites (arrays, maps, structs) a JSON form is read or written with: a recursive
#: struct (`struct Node { kids: [Node] }`) bounds no depth by its type, and JSON readers and writers recurse.
MAX_JSON_DEPTH = 100


@dataclass(frozen=True, slots=True)
class JsonForm:
    """What a JSON form is read and written with: the module's struct table, and which forms are accepted.

    `structs` is the table `ValueType(TypeKind.STRUCT, ref=i)` indexes (`Module.structs`).  A trace reads
    only the canonical form (`lenient` False); the command line (`lenient` True) also takes the shorter
    forms CONTRACT.md section 4 allows (a map with str keys as a JSON object, a float as an exact int).
    """

    structs: Sequence[StructDef] = ()
    lenient: bool = False
    max_depth: int = MAX_JSON_DEPTH
    #: Most arrays, maps and structs one written JSON form holds (the trace reader's MAX_TRACE_CONTAINERS).
    max_items: int = 4_000_000


#: Writes one item of a composite in its JSON form: (VM value, its type) -> JSON value.
JsonWriter = Callable[[Any, ValueType], Any]
#: Reads one item of a composite: (JSON value, its type, what, for messages: `args[0].items[3]`) -> VM value.
JsonReader = Callable[[object, ValueType, str], Any]


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
    #: The JSON form of a VM value (traces, `"value"`): (VM value, type, form, writer for items) -> JSON value.
    #: It takes the VM's own representation (a struct is the list of its fields; a map a dict) and writes a map
    #: as `[[key, value], ...]` in insertion order, a struct as `{field: value}`, a float as itself (JSON: repr).
    to_json: Callable[[Any, ValueType, JsonForm, JsonWriter], Any] | None = None
    #: A value read from its JSON form (raising `ValueMismatch` naming `what` and the path inside): (JSON, type,
    #: form, what, reader for items) -> the HOST form, what `check`/`import_value` then takes: a list for an
    #: array, a dict in pair order for a map, a dict by field name in declared order for a struct.  Sizes
    #: against the limits are the importer's (`check`), not this.  `form.lenient`: the CLI's shorter forms too.
    from_json: Callable[[object, ValueType, JsonForm, str, JsonReader], Any] | None = None


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
    fast = _scalar_items(obj, element, limits)
    if fast is not None:
        return fast
    values: list[Any] = []
    units = len(obj)
    for index, item in enumerate(obj):
        value, item_units = items(item, element, limits, f"{what}[{index}]")
        values.append(value)
        units += item_units
    return values, units


def _same_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    """Ints, bools and strings are their own JSON form."""
    return value


def _int_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is not int:
        raise ValueMismatch(f"{what}: expected int, found {json_kind(obj)}")
    if not I64_MIN <= obj <= I64_MAX:
        raise ValueMismatch(f"{what}: int {_short(obj)} is outside signed 64 bits")
    return obj


def _bool_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is not bool:
        raise ValueMismatch(f"{what}: expected bool, found {json_kind(obj)}")
    return obj


def _str_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is not str:
        raise ValueMismatch(f"{what}: expected str, found {json_kind(obj)}")
    return obj


def _float_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    """A JSON number; the canonical writer gives it as `repr` (`1.0`, never `1`; `-0.0`; `1e+16`)."""
    return float(value)


def _float_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    """A finite JSON number: a float, or an int a float holds exactly (never a bool)."""
    if type(obj) is int:
        exact = float(obj) if -_FLOAT_INT_BOUND < obj < _FLOAT_INT_BOUND else None
        if exact is None or exact != obj:
            raise ValueMismatch(f"{what}: int {_short(obj)} has no exact float")
        return exact
    if type(obj) is not float:
        raise ValueMismatch(f"{what}: expected float, found {json_kind(obj)}")
    if not math.isfinite(obj):
        raise ValueMismatch(f"{what}: float {obj!r} is not finite")
    return obj


def _array_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    element = vtype.args[0]
    return [write(item, element) for item in value]


def _array_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    if type(obj) is not list:
        raise ValueMismatch(f"{what}: expected {vtype} (a JSON array), found {json_kind(obj)}")
    element = vtype.args[0]
    return [read(item, element, f"{what}[{index}]") for index, item in enumerate(obj)]


def _import_map(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    pairs = structured.map_pairs(obj)
    if pairs is None:
        raise ValueMismatch(f"{what}: expected {_text(vtype, items)} (a dict), found {kind_name(obj)}")
    if len(pairs) > limits.max_array_len:
        raise ValueMismatch(f"{what}: map of {len(pairs)} entries exceeds max_array_len {limits.max_array_len}")
    key_type, value_type = vtype.args
    made = VMap()
    units = len(pairs)
    for key, item in pairs:
        shown = _short_key(key)
        checked, key_units = items(key, key_type, limits, f"{what} key {shown}")
        value, item_units = items(item, value_type, limits, f"{what}[{shown}]")
        made[checked] = value
        units += key_units + item_units
    return made, units


def _import_struct(obj: object, vtype: ValueType, limits: Limits, what: str, items: Importer) -> tuple[Any, int]:
    structs = getattr(items, "structs", ())
    pairs = structured.struct_items(obj, vtype, structs, what)
    if isinstance(pairs, str):
        raise ValueMismatch(pairs)
    fields = structured.struct_fields(vtype, structs)
    values: list[Any] = []
    units = len(fields)
    for (name, item), declared in zip(pairs, fields, strict=True):
        value, item_units = items(item, declared.type, limits, f"{what}.{name}" if what else name)
        values.append(value)
        units += item_units
    return values, units


def _short_key(key: object) -> str:
    if type(key) is str:
        return repr(key if len(key) <= 40 else key[:37] + "...")
    if type(key) is int:
        return _short(key)
    return repr(key) if type(key) is bool else kind_name(key)


def _text(vtype: ValueType, items: Importer) -> str:
    return structured.type_text(vtype, getattr(items, "structs", ()))


def _map_text(value: Any) -> str:
    return "{" + ", ".join(f"{value_text(key)}: {value_text(item)}" for key, item in value.items()) + "}"


def _scalar_items(obj: list[Any] | tuple[Any, ...], element: ValueType, limits: Limits) -> tuple[Any, int] | None:
    """An array of ints or strings checked at C speed (None: not all plain, let the item-by-item check explain)."""
    kind = element.kind
    if kind is TypeKind.STR:
        if not obj or set(map(type, obj)) != {str}:
            return None
        joined = "".join(obj)  # one string: its length is the characters, its scan the Unicode check
        total = len(joined)
        if total > limits.max_string_len and max(map(len, obj)) > limits.max_string_len:
            return None
        if not joined.isascii():
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                return None
        return list(obj), len(obj) + total
    if kind is TypeKind.INT:
        if not obj or set(map(type, obj)) != {int} or min(obj) < I64_MIN or max(obj) > I64_MAX:
            return None
        return list(obj), len(obj)
    return None


def _map_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    """A map: `[key, value]` pairs in insertion order (a trace); on the command line (`lenient`), an object when
    its keys are str."""
    key_type, value_type = vtype.args
    if form.lenient and key_type.kind is TypeKind.STR:
        return {key: write(item, value_type) for key, item in value.items()}
    return [[write(key, key_type), write(item, value_type)] for key, item in value.items()]


def _map_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    """A map's JSON form read into the host form `import_value` takes: a dict in the pairs' order."""
    key_type, value_type = vtype.args
    # (key, value, the key's path, the value's path): JSON paths into the pairs, or by key into an object
    pairs: list[tuple[object, object, str, str]] = []
    if type(obj) is dict and form.lenient and key_type.kind is TypeKind.STR:
        pairs = [
            (key, item, f"{what} key {_short_key(key)}", f"{what}[{_short_key(key)}]") for key, item in obj.items()
        ]
    elif type(obj) is list:
        for index, pair in enumerate(obj):
            if type(pair) is not list or len(pair) != 2:
                raise ValueMismatch(f"{what}[{index}]: expected a [key, value] pair, found {json_kind(pair)}")
            pairs.append((pair[0], pair[1], f"{what}[{index}][0]", f"{what}[{index}][1]"))
    else:
        lenient = form.lenient and key_type.kind is TypeKind.STR
        wanted = "an array of [key, value] pairs" + (" or an object" if lenient else "")
        raise ValueMismatch(f"{what}: expected {vtype} ({wanted}), found {json_kind(obj)}")
    made: dict[Any, Any] = {}
    for key, item, key_path, item_path in pairs:
        checked = read(key, key_type, key_path)
        if checked in made:
            raise ValueMismatch(f"{key_path}: key {_short_key(key)} appears twice")
        made[checked] = read(item, value_type, item_path)
    return made


def _struct_to_json(value: Any, vtype: ValueType, form: JsonForm, write: JsonWriter) -> Any:
    """A struct: an object of its fields by name, in declaration order (from a VM struct, a dict or a dataclass)."""
    fields = structured.struct_fields(vtype, form.structs)
    items: Iterable[tuple[Any, Any]]
    if type(value) is list:
        items = zip(fields, value, strict=True)
    elif type(value) is dict:
        items = ((item, value[item.name]) for item in fields)
    else:
        items = ((item, getattr(value, item.name)) for item in fields)
    return {item.name: write(field, item.type) for item, field in items}


def _struct_from_json(obj: object, vtype: ValueType, form: JsonForm, what: str, read: JsonReader) -> Any:
    fields = structured.struct_fields(vtype, form.structs)
    names = [item.name for item in fields]
    name = structured.struct_name(vtype, form.structs)
    if type(obj) is not dict:
        raise ValueMismatch(f"{what}: expected struct {name} (a JSON object of its fields), found {json_kind(obj)}")
    if len(obj) != len(names) or set(obj) != set(names):
        raise ValueMismatch(f"{what}: struct {name}: {structured.field_difference(names, obj)}")
    return {item.name: read(obj[item.name], item.type, f"{what}.{item.name}") for item in fields}


def _bool_text(value: Any) -> str:
    return "true" if value else "false"


def _str_text(value: Any) -> str:
    import json  # here: a run that shows no str as JSON never loads it (start-up)

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
        to_json=_same_json,
        from_json=_int_from_json,
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
        to_json=_same_json,
        from_json=_bool_from_json,
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
        to_json=_same_json,
        from_json=_str_from_json,
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
        to_json=_float_to_json,
        from_json=_float_from_json,
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
        to_json=_array_to_json,
        from_json=_array_from_json,
    ),
    TypeKind.MAP: TypeRow(
        TypeKind.MAP,
        None,
        2,
        python=VMap,
        annotation=dict,
        zero=VMap,
        check=_import_map,
        sized=True,
        text=_map_text,
        to_json=_map_to_json,
        from_json=_map_from_json,
    ),
    # A struct is a list of its fields; its zero needs the module's struct table (`zero_value`).
    TypeKind.STRUCT: TypeRow(
        TypeKind.STRUCT,
        None,
        0,
        python=list,
        annotation=None,
        zero=list,
        check=_import_struct,
        sized=True,
        text=_array_text,
        to_json=_struct_to_json,
        from_json=_struct_from_json,
    ),
}


# bool before int: a bool is an int in Python, and the first row whose type matches names the value.
_BY_PYTHON = sorted(ROWS.values(), key=lambda found: found.python is not bool)


def value_text(value: object) -> str:
    """A VM value (or its JSON form) as the language writes it: 42, true, "text", [1, 2], {"a": 1}."""
    if isinstance(value, dict):
        return _map_text(value)
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


def zero_value(vtype: ValueType, structs: Sequence[StructDef] = ()) -> Any:
    """A fresh register's value: 0, False, "", a new empty array or map, a struct of its fields' zeros."""
    if vtype.kind is TypeKind.STRUCT:
        return structured.zero_struct(vtype, structs)
    return ROWS[vtype.kind].zero()


def is_sized(vtype: ValueType) -> bool:
    """True when a value's cost and trace size depend on its length (strings and composites)."""
    return ROWS[vtype.kind].sized


def is_plain_scalar(vtype: ValueType, kind: TypeKind | None = None) -> bool:
    """True for a fixed-size scalar (int, bool), or for exactly `kind` when given."""
    if kind is not None:
        return vtype.kind is kind
    return not ROWS[vtype.kind].sized


# --- JSON forms (traces, the command line) ----------------------------------------


def to_json(value: Any, vtype: ValueType, form: JsonForm | None = None) -> Any:
    """The JSON form of a VM value of the declared `vtype` (a fresh JSON tree, never sharing the value's lists).

    Read by the declared type, never by the value's Python type: a struct (a list of its fields) is written
    as an object by field name, a map as `[key, value]` pairs in insertion order.  Raises `ValueMismatch`
    when composites nest deeper than `form.max_depth` or a row has no JSON form.
    """
    use = _DEFAULT_FORM if form is None else form
    limit = use.max_depth
    budget = [use.max_items]  # a VM value may share one array many times over: its JSON form writes each copy

    def write(item: Any, item_type: ValueType, depth: int = 0) -> Any:
        found = ROWS.get(item_type.kind)
        if found is None or found.to_json is None:
            raise ValueMismatch(f"a value of type {item_type} has no JSON form")
        if found.arity == 0 and item_type.kind is not TypeKind.STRUCT:
            return found.to_json(item, item_type, use, _no_items)
        if depth >= limit:
            raise ValueMismatch(f"the value nests composites deeper than {limit}")
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueMismatch(f"the value's JSON form holds more than {use.max_items} arrays, maps and structs")
        return found.to_json(item, item_type, use, lambda inner, inner_type: write(inner, inner_type, depth + 1))

    return write(value, vtype)


def from_json(obj: object, vtype: ValueType, form: JsonForm | None = None, what: str = "value") -> Any:
    """The host form of the value a JSON form holds for `vtype` (for `import_value`); `ValueMismatch` naming the path.

    The path is `what` followed by indexes, `.field` names and `{key}` map entries (e.g. `args[0].items[3].unit`).
    Checks the form only; the run's size limits are the importer's (`core.values.import_value`).
    """
    use = _DEFAULT_FORM if form is None else form
    limit = use.max_depth

    def read(item: object, item_type: ValueType, where: str, depth: int = 0) -> Any:
        found = ROWS.get(item_type.kind)
        if found is None or found.from_json is None:
            raise ValueMismatch(f"{where}: a value of type {item_type} has no JSON form")
        if found.arity == 0 and item_type.kind is not TypeKind.STRUCT:
            return found.from_json(item, item_type, use, where, _no_reads)
        if depth >= limit:
            raise ValueMismatch(f"{where}: the value nests composites deeper than {limit}")
        return found.from_json(
            item, item_type, use, where, lambda inner, inner_type, at: read(inner, inner_type, at, depth + 1)
        )

    return read(obj, vtype, what)


_DEFAULT_FORM = JsonForm()


def _no_items(value: Any, vtype: ValueType) -> Any:
    raise AssertionError("a scalar row has no items")  # pragma: no cover


def _no_reads(obj: object, vtype: ValueType, what: str) -> Any:
    raise AssertionError("a scalar row has no items")  # pragma: no cover


def json_kind(obj: object) -> str:
    """The JSON name of a parsed JSON value's kind, for mismatch messages."""
    if obj is None:
        return "null"
    if type(obj) is bool:
        return "a bool"
    if type(obj) is int:
        return "an int"
    if type(obj) is float:
        return "a number with a fraction or exponent"
    if type(obj) is str:
        return "a string"
    if type(obj) is list:
        return "an array"
    if type(obj) is dict:
        return "an object"
    return type(obj).__name__


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
    if (vtype.kind is TypeKind.ARRAY or vtype.kind is TypeKind.MAP) and depth >= MAX_ARRAY_DEPTH:
        return False
    if vtype.kind is TypeKind.MAP and vtype.args[0].kind not in KEY_KINDS:
        return False
    if type(vtype.ref) is not int or vtype.ref < 0:
        return False
    return all(well_formed(arg, depth + 1) for arg in vtype.args)


# --- the host boundary --------------------------------------------------------


#: Turns a host's dataclass into a struct type of the host's own struct table (None: not a struct it can use).
StructOf = Callable[[type], "ValueType | None"]


def annotation_type(annotation: object, depth: int = 0, struct_of: StructOf | None = None) -> ValueType | None:
    """The type a host function's annotation declares (`int`, `list[str]`, `dict[str, int]`, a dataclass, ...).

    None when it declares none.  A dataclass becomes a struct type through
    `struct_of` (the host's struct table); without it, dataclasses declare nothing.
    """
    if depth > MAX_ARRAY_DEPTH:
        return None
    if struct_of is not None and isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return struct_of(annotation)
    for found in ROWS.values():
        if found.annotation is None:
            continue  # structs are declared by dataclasses (struct_of)
        if found.arity == 0:
            # identity, not a dict lookup: an annotation may be any object, even an unhashable one
            if annotation is found.annotation:
                return ValueType(found.kind)
        elif typing.get_origin(annotation) is found.annotation:
            args = typing.get_args(annotation)
            if len(args) != found.arity:
                return None
            inner = [annotation_type(arg, depth + 1, struct_of) for arg in args]
            if any(t is None for t in inner):
                return None
            made = ValueType(found.kind, tuple(t for t in inner if t is not None))
            if made.kind is TypeKind.MAP and made.args[0].kind not in KEY_KINDS:
                return None
            return made
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
    if isinstance(obj, dict):
        return "dict"
    if obj is None:
        return "nothing"
    return type(obj).__name__


def _short(number: int) -> str:
    return str(number) if number.bit_length() < 200 else f"of {number.bit_length()} bits"
