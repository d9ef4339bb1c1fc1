"""The module model: takes nothing, gives the immutable in-memory form of a `.cmod` module.

A `Module` is exactly what the binary format holds, no more: the decoder
builds it from bytes, the assembler builds it from IR, and the encoder writes
it back byte for byte.  Nothing here is checked beyond the types of fields;
the verifier (`chronicle_vm.verifier.rules`) decides whether a module may run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field
from typing import NamedTuple

from chronicle_vm.core.codecache import dataclass

from .types import V1_INTERNED, StructDef, TypeKind, ValueType, distinct_objects, type_text

__all__ = [
    "AUTO_VERSION",
    "FORMAT_VERSION",
    "FORMAT_VERSIONS",
    "Capability",
    "Constant",
    "Function",
    "Instruction",
    "Module",
    "SourceMap",
    "SourcePos",
    "fitting_version",
    "module_types",
]

#: Version 1 of the binary format: what every module without structs, floats
#: and maps is written as (byte for byte as before version 2 existed).
FORMAT_VERSION = 1
#: The versions this runtime reads and writes: 1, and 2 (the type section,
#: structs, float and map types, float constants).  Anything else is refused.
FORMAT_VERSIONS: tuple[int, ...] = (1, 2)
#: `Module(version=AUTO_VERSION)` (the default) becomes `fitting_version(module)`.
AUTO_VERSION = 0

#: A constant pool entry: a 64-bit signed int, a string or a finite float (never a bool).
Constant = int | str | float


class Instruction(NamedTuple):
    """One instruction: an opcode (`chronicle_vm.core.isa.Op`) and three operands."""

    op: int
    a: int = 0
    b: int = 0
    c: int = 0


class SourcePos(NamedTuple):
    """Where an instruction came from: an index into `SourceMap.files`, 1-based line and column."""

    file: int
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Capability:
    """A host capability the module declares: dotted name and typed signature."""

    name: str
    params: tuple[ValueType, ...]
    result: ValueType | None

    def signature(self, structs: Sequence[StructDef] = ()) -> str:
        """`(str, int) -> Item`: struct types by name from `structs` (the module's table), else `struct#N`."""
        params = ", ".join(type_text(p, structs) for p in self.params)
        result = "" if self.result is None else f" -> {type_text(self.result, structs)}"
        return f"({params}){result}"


@dataclass(frozen=True, slots=True)
class Function:
    """A function: its registers' types (parameters first) and its code.

    `registers[:param_count]` are the parameters, in order.
    """

    name: str
    exported: bool
    param_count: int
    result: ValueType | None
    registers: tuple[ValueType, ...]
    code: tuple[Instruction, ...]

    @property
    def params(self) -> tuple[ValueType, ...]:
        return self.registers[: self.param_count]

    def signature(self, structs: Sequence[StructDef] = ()) -> str:
        """`(str, int) -> Item`: struct types by name from `structs` (the module's table), else `struct#N`."""
        params = ", ".join(type_text(p, structs) for p in self.params)
        result = "" if self.result is None else f" -> {type_text(self.result, structs)}"
        return f"({params}){result}"


@dataclass(frozen=True, slots=True)
class SourceMap:
    """Source positions: `functions[i]` is empty or has one position per instruction of function i."""

    files: tuple[str, ...] = ()
    functions: tuple[tuple[SourcePos, ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Module:
    """A decoded (not yet verified) module."""

    constants: tuple[Constant, ...] = ()
    capabilities: tuple[Capability, ...] = ()
    functions: tuple[Function, ...] = ()
    source_map: SourceMap = field(default_factory=SourceMap)
    version: int = AUTO_VERSION
    structs: tuple[StructDef, ...] = ()

    def __post_init__(self) -> None:
        # Left out, the version is the oldest one that holds the module (1 unless it needs 2).
        if self.version is AUTO_VERSION or (type(self.version) is int and self.version == AUTO_VERSION):
            object.__setattr__(self, "version", fitting_version(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> Module:
        """Decode `.cmod` bytes; raises `DecodeError` (and nothing else) on any bad input."""
        from chronicle_vm.binary.decode import decode_module

        return decode_module(data)

    def to_bytes(self) -> bytes:
        """Encode to `.cmod` bytes; `Module.from_bytes(m.to_bytes()) == m`."""
        from chronicle_vm.binary.encode import encode_module

        return encode_module(self)

    def digest(self) -> str:
        """sha256 of the encoded module, as hex."""
        from .digest import sha256_hex

        return sha256_hex(self.to_bytes())


_V1_KINDS = frozenset({TypeKind.INT, TypeKind.BOOL, TypeKind.STR, TypeKind.ARRAY})
# The shared objects live as long as the module `types`, so no other live object has one of these ids.
_V1_IDS = frozenset(id(vtype) for vtype in V1_INTERNED)


def module_types(module: Module) -> list[ValueType]:
    """Every type the module declares, in the order the version-2 type table is derived from.

    Struct fields (struct by struct), then capabilities (parameters, result), then functions
    (registers, result).
    """
    types = [f.type for struct in module.structs for f in struct.fields]
    for cap in module.capabilities:
        types.extend(cap.params)
        if cap.result is not None:
            types.append(cap.result)
    for fn in module.functions:
        types.extend(fn.registers)
        if fn.result is not None:
            types.append(fn.result)
    return types


def _fits_v1(vtype: object) -> bool:
    while isinstance(vtype, ValueType) and vtype.kind is TypeKind.ARRAY and len(vtype.args) == 1:
        vtype = vtype.args[0]
    return isinstance(vtype, ValueType) and vtype.kind in _V1_KINDS and vtype.kind is not TypeKind.ARRAY


def fitting_version(module: Module) -> int:
    """The oldest format version that holds `module`: 1 without structs, float/map/struct types and float
    constants, else 2.  Never raises, whatever the fields hold (the encoder reports what is wrong)."""
    try:
        if module.structs:
            return 2
        if any(type(value) is float for value in module.constants):
            return 2
        types = module_types(module)
        # Most types are the shared objects of the version-1 types: recognised by identity at C speed.
        if _V1_IDS.issuperset(map(id, types)):
            return 1
        return 1 if all(_fits_v1(vtype) for vtype in distinct_objects(types)) else 2
    except (TypeError, AttributeError):
        return FORMAT_VERSION
