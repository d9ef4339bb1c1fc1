"""Value types of the VM: takes nothing, gives `ValueType` (a small tree) and its text form.

A type is a kind plus its type arguments: `int` is `ValueType(TypeKind.INT)`,
`[[int]]` is an ARRAY whose one argument is an ARRAY of INT.  Composite kinds
(#17's maps `{K: V}` take two arguments; a struct will carry an index into the
module's struct table) extend the tree without changing its shape.  What each
kind means elsewhere (binary tag, zero value, host and JSON forms, allocation
cost) is in `core.type_registry`, the one table every stage reads.

A struct type is `ValueType(TypeKind.STRUCT, ref=i)`: `i` indexes the
module's struct table (`Module.structs`, a tuple of `StructDef`), which names
the struct and its typed fields.  Types stay finite trees even for recursive
structs (`struct Node { kids: [Node] }`), because a field refers back to the
table by index instead of holding the struct's type itself.  Comparing struct
types across modules or with host signatures is by shape (field names, order,
types), which needs both tables: see `core.type_registry`.

`base` and `depth` are the version-1 binary format's view of a type (the
innermost scalar and the number of array levels around it): the format encodes
exactly that pair, and the engines' pre-decoding still reads it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence

from chronicle_vm.core.codecache import dataclass

__all__ = [
    "BOOL",
    "FLOAT",
    "INT",
    "MAP_KEY_KINDS",
    "MAX_ARRAY_DEPTH",
    "MAX_STRUCTS",
    "MAX_STRUCT_FIELDS",
    "MAX_TYPE_DEPTH",
    "MAX_TYPE_NODES",
    "SCALAR_TYPES",
    "STR",
    "V1_INTERNED",
    "BaseType",
    "StructDef",
    "StructField",
    "TypeKind",
    "ValueType",
    "array_type",
    "map_type",
    "parse_type",
    "struct_type",
    "distinct_objects",
    "type_depth",
    "type_fault",
    "type_nodes",
    "type_problem",
    "type_text",
]

#: Deepest array nesting a module may declare (`[[[[int]]]]` is depth 4).
MAX_ARRAY_DEPTH = 8
#: Deepest nesting of composite types (arrays and maps) a module may declare: `{str: [int]}` is depth 2.
#: A struct type is a leaf (its fields are in the struct table), so recursion through structs is unbounded
#: in values but not in types.
MAX_TYPE_DEPTH = 8
#: Most structs one module's struct table may hold.
MAX_STRUCTS = 1024
#: Most fields one struct may have.
MAX_STRUCT_FIELDS = 256
#: Most nodes the version-2 type table may hold (every distinct type and sub-type the module names).
MAX_TYPE_NODES = 4096


class TypeKind(enum.Enum):
    """What a type node is; the value is its name in the text form (scalars) or a label (composites)."""

    INT = "int"
    BOOL = "bool"
    STR = "str"
    FLOAT = "float"
    ARRAY = "array"
    MAP = "map"  # args: (key type, value type); keys are int, str or bool
    STRUCT = "struct"  # no args; `ref` indexes the module's struct table

    # Members are singletons compared by identity, so the identity hash agrees with equality; Enum's own
    # hashes the name in Python, and every ValueType hash (the verifier's and the registry's tables) hashes a kind.
    __hash__ = object.__hash__


class BaseType(enum.IntEnum):
    """The scalar kinds by their version-1 binary tag (the `base` of a type)."""

    INT = 1
    BOOL = 2
    STR = 3


#: The kinds a map's key may have.
MAP_KEY_KINDS = frozenset({TypeKind.INT, TypeKind.STR, TypeKind.BOOL})

#: Kinds that take no type arguments, and the version-1 tag of each.
_SCALAR_TAGS = {TypeKind.INT: BaseType.INT, TypeKind.BOOL: BaseType.BOOL, TypeKind.STR: BaseType.STR}
_TAG_KINDS = {tag: kind for kind, tag in _SCALAR_TAGS.items()}
#: Kinds without type arguments: the version-1 scalars and `float` (version 2 only, so it has no version-1 tag).
_SCALAR_KINDS = frozenset((*_SCALAR_TAGS, TypeKind.FLOAT))
_NAME_KINDS = {kind.value: kind for kind in (*_SCALAR_TAGS, TypeKind.FLOAT)}


@dataclass(frozen=True, slots=True)
class ValueType:
    """A VM value type: a kind and its type arguments (an array's one element type)."""

    kind: TypeKind
    args: tuple[ValueType, ...] = ()
    ref: int = 0  # STRUCT only: index into the module's struct table

    @property
    def is_array(self) -> bool:
        return self.kind is TypeKind.ARRAY

    @property
    def is_scalar_kind(self) -> bool:
        """True for a kind without type arguments (int, bool, str, float)."""
        return self.kind in _SCALAR_KINDS

    def element(self) -> ValueType:
        """The element type of an array type."""
        if self.kind is not TypeKind.ARRAY:
            raise ValueError(f"{self} is not an array type")
        return self.args[0]

    def array_of(self) -> ValueType:
        """The type of arrays whose elements have this type."""
        return ValueType(TypeKind.ARRAY, (self,))

    @property
    def depth(self) -> int:
        """Array levels around the innermost scalar (the version-1 encoding's depth)."""
        depth, node = 0, self
        while node.kind is TypeKind.ARRAY:
            depth, node = depth + 1, node.args[0]
        return depth

    @property
    def base(self) -> BaseType:
        """The innermost scalar's version-1 tag."""
        node = self
        while node.kind is TypeKind.ARRAY:
            node = node.args[0]
        return _SCALAR_TAGS[node.kind]

    def __str__(self) -> str:
        if self.kind is TypeKind.ARRAY:
            return f"[{self.args[0]}]"
        if self.kind is TypeKind.MAP:
            return f"{{{self.args[0]}: {self.args[1]}}}"
        if self.kind is TypeKind.STRUCT:
            # without the module's table a struct has no name; `StructDef.name` is what people read
            return f"struct#{self.ref}"
        return str(self.kind.value)


@dataclass(frozen=True, slots=True)
class StructField:
    """One field of a struct: its name and type."""

    name: str
    type: ValueType


@dataclass(frozen=True, slots=True)
class StructDef:
    """One entry of a module's struct table: the struct's name and its fields, in declaration order."""

    name: str
    fields: tuple[StructField, ...]


INT = ValueType(TypeKind.INT)
BOOL = ValueType(TypeKind.BOOL)
STR = ValueType(TypeKind.STR)
FLOAT = ValueType(TypeKind.FLOAT)


def map_type(key: ValueType, value: ValueType) -> ValueType:
    """The type `{key: value}`."""
    return ValueType(TypeKind.MAP, (key, value))


def struct_type(index: int) -> ValueType:
    """The type of struct `index` of the module's struct table."""
    return ValueType(TypeKind.STRUCT, (), index)


def array_type(base: BaseType | ValueType, depth: int = 0) -> ValueType:
    """`base` (a version-1 tag or a type) wrapped in `depth` array levels: the decoder's and tests' builder.

    Types the version-1 format holds come back as the one shared object of
    each (`_CANONICAL`), so stages can recognise them by identity at C speed.
    """
    if isinstance(base, BaseType) and 0 <= depth <= MAX_ARRAY_DEPTH:
        return _CANONICAL[base, depth]
    vtype = base if isinstance(base, ValueType) else ValueType(_TAG_KINDS[base])
    for _ in range(depth):
        vtype = vtype.array_of()
    return vtype


def _canonical() -> dict[tuple[BaseType, int], ValueType]:
    table: dict[tuple[BaseType, int], ValueType] = {}
    for tag, scalar in ((BaseType.INT, INT), (BaseType.BOOL, BOOL), (BaseType.STR, STR)):
        vtype = scalar
        for depth in range(MAX_ARRAY_DEPTH + 1):
            table[tag, depth] = vtype
            vtype = vtype.array_of()
    return table


_CANONICAL = _canonical()


#: The scalar types by their name in the text form: the front ends' names of the builtin types.
SCALAR_TYPES: dict[str, ValueType] = {kind.value: ValueType(kind) for kind in _NAME_KINDS.values()}


_ARITY = {
    TypeKind.INT: 0,
    TypeKind.BOOL: 0,
    TypeKind.STR: 0,
    TypeKind.FLOAT: 0,
    TypeKind.ARRAY: 1,
    TypeKind.MAP: 2,
    TypeKind.STRUCT: 0,
}
_NAMED_KINDS = {kind.value: kind for kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.STR, TypeKind.FLOAT)}
#: The shared object of each type the version-1 format holds, by value (so decoders can intern).
V1_INTERNED: dict[ValueType, ValueType] = {vtype: vtype for vtype in _CANONICAL.values()}


def type_fault(vtype: object, struct_count: int) -> tuple[str, str] | None:
    """What makes `vtype` not a valid type of a module with `struct_count` structs, or None when it is one.

    Gives (what, message), `what` one of "invalid" (not a ValueType of exact classes, wrong arity, a `ref`
    on a kind other than struct), "depth" (arrays and maps nested deeper than MAX_TYPE_DEPTH), "map-key"
    (a key that is not int, str or bool) and "struct-ref" (outside the struct table).  Iterative and
    bounded by MAX_TYPE_DEPTH, so any in-memory object is safe to check.
    """
    stack: list[tuple[object, int]] = [(vtype, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is not ValueType or type(node.kind) is not TypeKind or type(node.args) is not tuple:
            return "invalid", f"a {type(node).__name__} is not a ValueType of a TypeKind and a tuple of arguments"
        if len(node.args) != _ARITY[node.kind]:
            return "invalid", f"a {node.kind.value} type takes {_ARITY[node.kind]} type arguments, not {len(node.args)}"
        if type(node.ref) is not int:
            return "invalid", "a type's struct ref is not an int"
        if node.kind is TypeKind.STRUCT:
            if not 0 <= node.ref < struct_count:
                shown = node.ref if -(10**12) < node.ref < 10**12 else "out of range"
                return "struct-ref", f"struct type #{shown} is outside the struct table ({struct_count} structs)"
        elif node.ref != 0:
            return "invalid", f"a {node.kind.value} type has a struct ref (only struct types have one)"
        if node.args and depth >= MAX_TYPE_DEPTH:
            return "depth", f"the type nests arrays and maps deeper than {MAX_TYPE_DEPTH} levels"
        if node.kind is TypeKind.MAP:
            key = node.args[0]
            if type(key) is ValueType and type(key.kind) is TypeKind and key.kind not in MAP_KEY_KINDS:
                return "map-key", f"a map key must be int, str or bool, not {key.kind.value}"
        stack.extend((arg, depth + 1) for arg in node.args)
    return None


def type_problem(vtype: object, struct_count: int) -> str | None:
    """`type_fault`'s message alone: None when `vtype` is a valid type."""
    fault = type_fault(vtype, struct_count)
    return None if fault is None else fault[1]


def type_depth(vtype: ValueType) -> int:
    """Composite levels (arrays and maps) around the deepest leaf: 0 for `int` and struct types."""
    return 1 + max(type_depth(arg) for arg in vtype.args) if vtype.args else 0


def type_nodes(types: Iterable[ValueType]) -> list[ValueType]:
    """The canonical version-2 type table of `types`: every type and sub-type, children first, by first use.

    Deduplicated by value; a node's arguments always come before it.  The types must be well formed
    (`type_problem` is None): the walk recurses at most MAX_TYPE_DEPTH levels.
    """
    seen: dict[ValueType, int] = {}

    def visit(vtype: ValueType) -> None:
        if vtype in seen:
            return
        for arg in vtype.args:
            visit(arg)
        seen[vtype] = len(seen)

    for vtype in distinct_objects(types):
        visit(vtype)
    return list(seen)


def distinct_objects(types: Iterable[ValueType]) -> list[ValueType]:
    """`types` without repeats of the same object, in order of first use (at C speed; equal but distinct
    objects are all kept).  A decoded module's types are a few shared objects repeated many times."""
    listed = types if isinstance(types, list) else list(types)
    return list(dict(zip(map(id, listed), listed, strict=True)).values())


def type_text(vtype: ValueType, structs: Sequence[StructDef] = ()) -> str:
    """The text form with struct types named from `structs` (`Item`, `[Item]`); `str(vtype)` without a table."""
    if vtype.kind is TypeKind.ARRAY:
        return f"[{type_text(vtype.args[0], structs)}]"
    if vtype.kind is TypeKind.MAP:
        return f"{{{type_text(vtype.args[0], structs)}: {type_text(vtype.args[1], structs)}}}"
    if vtype.kind is TypeKind.STRUCT and 0 <= vtype.ref < len(structs):
        return structs[vtype.ref].name
    return str(vtype)


#: One token of a type's text; compiled at the first parse (through `re`'s cache), not at import: a run
#: reads its types from the binary module and never parses one.
_TYPE_TOKEN = r"\s*(?:([\[\]{}:])|(struct#[0-9]{1,10}|[A-Za-z_][A-Za-z0-9_]*))"


class _TypeReader:
    """Recursive descent over the text of one type; every failure is None at the top."""

    def __init__(self, text: str, structs: Mapping[str, int]) -> None:
        self.tokens: list[str] = []
        token = re.compile(_TYPE_TOKEN, re.ASCII)
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            found = token.match(text, pos)
            if found is None:
                raise ValueError(text)
            self.tokens.append(found.group(1) or found.group(2))
            pos = found.end()
        self.at = 0
        self.structs = structs
        self.by_index = False

    def take(self) -> str:
        if self.at >= len(self.tokens):
            raise ValueError("end")
        self.at += 1
        return self.tokens[self.at - 1]

    def expect(self, token: str) -> None:
        if self.take() != token:
            raise ValueError(token)

    def read(self, depth: int) -> ValueType:
        token = self.take()
        if token in ("[", "{") and depth >= MAX_TYPE_DEPTH:
            raise ValueError("too deep")
        if token == "[":
            element = self.read(depth + 1)
            self.expect("]")
            return _intern(element.array_of())
        if token == "{":
            key = self.read(depth + 1)
            self.expect(":")
            value = self.read(depth + 1)
            self.expect("}")
            if key.kind not in MAP_KEY_KINDS:
                raise ValueError("key")
            return map_type(key, value)
        if token in _NAMED_KINDS:
            return _intern(ValueType(_NAMED_KINDS[token]))
        if token in self.structs:
            return struct_type(self.structs[token])
        if token.startswith("struct#") and self.by_index:
            return struct_type(int(token[7:]))
        raise ValueError(token)


def _intern(vtype: ValueType) -> ValueType:
    return V1_INTERNED.get(vtype, vtype)


def parse_type(text: str, structs: Mapping[str, int] | None = None) -> ValueType | None:
    """Read the text form (`int`, `float`, `[str]`, `{str: [int]}`, a struct's name); None when it is not one.

    `structs` maps struct names to their index in the module's struct table; without it no name is a
    struct.  Given a table, `struct#N` (what `str` writes) is struct N of it, so a struct whose name is not
    unique can still be written; the index is not range-checked here.  Nesting is bounded by
    MAX_TYPE_DEPTH (arrays by MAX_ARRAY_DEPTH, the same bound).
    """
    try:
        reader = _TypeReader(text, structs or {})
        reader.by_index = structs is not None
        vtype = reader.read(0)
    except (ValueError, RecursionError):
        return None
    if reader.at != len(reader.tokens):
        return None
    return vtype
