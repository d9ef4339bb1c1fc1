"""The IR shared by the `.chr` compiler and the `.casm` parser: symbolic functions the assembler resolves.

Takes nothing, gives the IR data types.  Operands name things instead of
numbering them: labels instead of instruction indices, constant values or
pool names instead of pool indices, function and capability names instead of
table indices.  Positions name a source file by its path (or, exactly, by its
index in the file table).  `Raw` carries an operand's exact number whatever
its kind, so that the disassembler can write any decodable module without
loss.  `origin` fields say where an item was written (a `.casm` line), for
diagnostics only; `pos` fields are what goes into the module's source map.
The assembler (`chronicle_asm.assembler`) turns an `IRModule` into a
`chronicle_vm.Module`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import AUTO_VERSION, Capability
from chronicle_vm.core.types import StructDef, ValueType

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
    "Raw",
    "Reg",
]


@dataclass(frozen=True, slots=True)
class Pos:
    """A source position: file path (or index into the file table), 1-based line and column."""

    file: str | int
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

    value: int | str | float


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


@dataclass(frozen=True, slots=True)
class Raw:
    """An operand's exact unsigned 32-bit number, whatever the opcode says it is.

    Valid in every operand slot; the disassembler writes it (`#n`) for
    numbers no name can stand for: jump targets outside the function,
    indices past a table's end, non-zero unused operands.
    """

    value: int


IROperand = Reg | Label | ConstValue | ConstName | FuncRef | CapRef | Imm | Raw | None


@dataclass(frozen=True, slots=True)
class IRInstr:
    """An instruction with up to three symbolic operands (None for unused ones)."""

    op: Op
    operands: tuple[IROperand, IROperand, IROperand] = (None, None, None)
    pos: Pos | None = None
    origin: Pos | None = None  # where it was written, for diagnostics (not in the module)
    operand_cols: tuple[int, int, int] | None = None  # columns of the operands on the origin's line


@dataclass(frozen=True, slots=True)
class LabelDef:
    """Marks the position of the next instruction with a label name."""

    name: str
    pos: Pos | None = None
    origin: Pos | None = None


@dataclass(slots=True)
class IRFunction:
    """A function in symbolic form; `registers[:param_count]` are the parameters.

    `param_count` may exceed `len(registers)` (the format allows it; the
    verifier refuses it).
    """

    name: str
    exported: bool
    param_count: int
    result: ValueType | None
    registers: list[ValueType]
    body: list[IRInstr | LabelDef] = field(default_factory=list)
    pos: Pos | None = None
    origin: Pos | None = None
    #: The function's source map entry given whole, instead of by the
    #: instructions' `pos` (which must then all be None): how the
    #: disassembler writes an entry whose length differs from the code's.
    positions: list[Pos] | None = None


@dataclass(slots=True)
class IRModule:
    """A module in symbolic form.

    `constants` are named pool entries placed first, in order (the
    disassembler writes every pool entry this way so nothing is lost);
    `ConstValue` operands reuse an equal entry or append one.
    `source_files` is the start of the file table, in order; paths named by
    positions and missing from it are appended in order of first use.
    `allow_duplicate_names` lets two functions (or two capabilities) share a
    name, as a decoded module may; such a name can then only be referred to
    by `Raw` index.  `constant_origins` and `capability_origins`, when not
    empty, run parallel to `constants` and `capabilities` for diagnostics.
    """

    capabilities: list[Capability] = field(default_factory=list)
    functions: list[IRFunction] = field(default_factory=list)
    constants: list[tuple[str, int | str | float]] = field(default_factory=list)
    source_files: list[str] = field(default_factory=list)
    allow_duplicate_names: bool = False
    version: int = AUTO_VERSION
    constant_origins: list[Pos | None] = field(default_factory=list)
    capability_origins: list[Pos | None] = field(default_factory=list)
    structs: list[StructDef] = field(default_factory=list)
    struct_origins: list[Pos | None] = field(default_factory=list)
    version_origin: Pos | None = None
