"""The module model: takes nothing, gives the immutable in-memory form of a `.cmod` module.

A `Module` is exactly what the binary format holds, no more: the decoder
builds it from bytes, the assembler builds it from IR, and the encoder writes
it back byte for byte.  Nothing here is checked beyond the types of fields;
the verifier (`chronicle_vm.verifier.rules`) decides whether a module may run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .types import ValueType

__all__ = [
    "FORMAT_VERSION",
    "Capability",
    "Constant",
    "Function",
    "Instruction",
    "Module",
    "SourceMap",
    "SourcePos",
]

#: Version of the binary format this runtime reads and writes.  Bump it when
#: the bytes change; older and newer versions are refused by the decoder.
FORMAT_VERSION = 1

#: A constant pool entry: a 64-bit signed int or a string (never a bool).
Constant = int | str


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

    def signature(self) -> str:
        params = ", ".join(str(p) for p in self.params)
        result = "" if self.result is None else f" -> {self.result}"
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

    def signature(self) -> str:
        params = ", ".join(str(p) for p in self.params)
        result = "" if self.result is None else f" -> {self.result}"
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
    version: int = FORMAT_VERSION

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
        import hashlib

        return hashlib.sha256(self.to_bytes()).hexdigest()
