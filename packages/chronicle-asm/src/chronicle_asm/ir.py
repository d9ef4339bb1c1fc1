"""The IR shared by the `.chr` compiler and the `.casm` parser: symbolic functions the assembler resolves.

Takes nothing, gives the IR data types.  Operands name things instead of
numbering them: labels instead of instruction indices, constant values or
pool names instead of pool indices, function and capability names instead of
table indices.  Positions name a source file by its path.  The assembler
(`chronicle_asm.assembler`) turns an `IRModule` into a `chronicle_vm.Module`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronicle_vm.isa import Op
from chronicle_vm.model import Capability
from chronicle_vm.types import ValueType

__all__ = [
    "ConstName",
    "ConstValue",
    "FuncRef",
    "CapRef",
    "IRFunction",
    "IRInstr",
    "IRModule",
    "IROperand",
    "Imm",
    "Label",
    "LabelDef",
    "Pos",
    "Reg",
]


@dataclass(frozen=True, slots=True)
class Pos:
    """A source position: file path, 1-based line and column."""

    file: str
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Reg:
    """A register of the current function, by index."""

    index: int


@dataclass(frozen=True, slots=True)
class Label:
    """A jump target, by label name (defined by a `LabelDef` in the same function)."""

    name: str


@dataclass(frozen=True, slots=True)
class ConstValue:
    """A constant by value; the assembler finds or appends its pool entry."""

    value: int | str


@dataclass(frozen=True, slots=True)
class ConstName:
    """A constant by the name given to it in `IRModule.constants`."""

    name: str


@dataclass(frozen=True, slots=True)
class FuncRef:
    """A function, by name."""

    name: str


@dataclass(frozen=True, slots=True)
class CapRef:
    """A declared capability, by dotted name."""

    name: str


@dataclass(frozen=True, slots=True)
class Imm:
    """An immediate unsigned number (meaning given by the opcode)."""

    value: int


IROperand = Reg | Label | ConstValue | ConstName | FuncRef | CapRef | Imm | None


@dataclass(frozen=True, slots=True)
class IRInstr:
    """An instruction with up to three symbolic operands (None for unused ones)."""

    op: Op
    operands: tuple[IROperand, IROperand, IROperand] = (None, None, None)
    pos: Pos | None = None


@dataclass(frozen=True, slots=True)
class LabelDef:
    """Marks the position of the next instruction with a label name."""

    name: str
    pos: Pos | None = None


@dataclass(slots=True)
class IRFunction:
    """A function in symbolic form; `registers[:param_count]` are the parameters."""

    name: str
    exported: bool
    param_count: int
    result: ValueType | None
    registers: list[ValueType]
    body: list[IRInstr | LabelDef] = field(default_factory=list)
    pos: Pos | None = None


@dataclass(slots=True)
class IRModule:
    """A module in symbolic form.

    `constants` are named pool entries placed first, in order (the
    disassembler writes every pool entry this way so nothing is lost);
    `ConstValue` operands reuse an equal entry or append one.
    """

    capabilities: list[Capability] = field(default_factory=list)
    functions: list[IRFunction] = field(default_factory=list)
    constants: list[tuple[str, int | str]] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)
