"""Value types of the VM: takes nothing, gives `ValueType` and its text form.

A type is a base (`int`, `bool`, `str`) wrapped in zero or more array
levels: `[[int]]` is `ValueType(BaseType.INT, 2)`.  The flat pair keeps the
binary encoding and every type comparison non-recursive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "BOOL",
    "INT",
    "MAX_ARRAY_DEPTH",
    "STR",
    "BaseType",
    "ValueType",
    "parse_type",
]

#: Deepest array nesting a module may declare (`[[[[int]]]]` is depth 4).
MAX_ARRAY_DEPTH = 8


class BaseType(enum.IntEnum):
    """The scalar a type is built on; the numbers are the binary tags."""

    INT = 1
    BOOL = 2
    STR = 3


_BASE_NAMES = {BaseType.INT: "int", BaseType.BOOL: "bool", BaseType.STR: "str"}
_NAME_BASES = {name: base for base, name in _BASE_NAMES.items()}


@dataclass(frozen=True, slots=True)
class ValueType:
    """A VM value type: `base` wrapped in `depth` array levels."""

    base: BaseType
    depth: int = 0

    @property
    def is_array(self) -> bool:
        return self.depth > 0

    def element(self) -> ValueType:
        """The element type of an array type."""
        if self.depth == 0:
            raise ValueError(f"{self} is not an array type")
        return ValueType(self.base, self.depth - 1)

    def array_of(self) -> ValueType:
        """The type of arrays whose elements have this type."""
        return ValueType(self.base, self.depth + 1)

    def __str__(self) -> str:
        return "[" * self.depth + _BASE_NAMES[self.base] + "]" * self.depth


INT = ValueType(BaseType.INT)
BOOL = ValueType(BaseType.BOOL)
STR = ValueType(BaseType.STR)


def parse_type(text: str) -> ValueType | None:
    """Read the text form (`int`, `[str]`, `[[bool]]`); None when it is not one."""
    text = text.strip()
    depth = 0
    while text.startswith("[") and text.endswith("]") and depth <= MAX_ARRAY_DEPTH:
        text = text[1:-1].strip()
        depth += 1
    base = _NAME_BASES.get(text)
    if base is None or depth > MAX_ARRAY_DEPTH:
        return None
    return ValueType(base, depth)
