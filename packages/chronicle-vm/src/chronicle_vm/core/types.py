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
from dataclasses import dataclass

__all__ = [
    "BOOL",
    "FLOAT",
    "INT",
    "MAX_ARRAY_DEPTH",
    "SCALAR_TYPES",
    "STR",
    "BaseType",
    "StructDef",
    "StructField",
    "TypeKind",
    "ValueType",
    "array_type",
    "map_type",
    "parse_type",
    "struct_type",
]

#: Deepest array nesting a module may declare (`[[[[int]]]]` is depth 4).
MAX_ARRAY_DEPTH = 8


class TypeKind(enum.Enum):
    """What a type node is; the value is its name in the text form (scalars) or a label (composites)."""

    INT = "int"
    BOOL = "bool"
    STR = "str"
    FLOAT = "float"
    ARRAY = "array"
    MAP = "map"  # args: (key type, value type); keys are int, str or bool
    STRUCT = "struct"  # no args; `ref` indexes the module's struct table


class BaseType(enum.IntEnum):
    """The scalar kinds by their version-1 binary tag (the `base` of a type)."""

    INT = 1
    BOOL = 2
    STR = 3


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


def parse_type(text: str) -> ValueType | None:
    """Read the text form (`int`, `float`, `[str]`, `[[bool]]`); None when it is not one."""
    text = text.strip()
    depth = 0
    while text.startswith("[") and text.endswith("]") and depth <= MAX_ARRAY_DEPTH:
        text = text[1:-1].strip()
        depth += 1
    kind = _NAME_KINDS.get(text)
    if kind is None or depth > MAX_ARRAY_DEPTH:
        return None
    return array_type(ValueType(kind), depth)
