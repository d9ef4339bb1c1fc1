"""chronicle_asm: takes `.casm` text or IR, gives ChronicleVM modules, and writes any module back as `.casm`.

    parse_casm(text, path) -> IRModule        # .casm text to IR (SourceError on any problem)
    assemble(ir) -> Module                    # IR to module (the .chr compiler lowers to IR)
    assemble_text(text, path) -> Module       # both at once
    disassemble(module) -> str                # any module to .casm; round-trips exactly

Every problem is reported as one `chronicle_vm.errors.SourceError` whose
`details["diagnostics"]` lists each one with file, line, column and the
offending line.  docs/assembly.md describes the `.casm` syntax.
"""

from __future__ import annotations

from .assembler import assemble, check_and_assemble
from .diagnostics import CODES, Diagnostic
from .disassembler import disassemble
from .ir import (
    CapRef,
    ConstName,
    ConstValue,
    FuncRef,
    Imm,
    IRFunction,
    IRInstr,
    IRModule,
    IROperand,
    Label,
    LabelDef,
    Pos,
    Raw,
    Reg,
)
from .parser import assemble_text, parse_casm

__all__ = [
    "CODES",
    "CapRef",
    "ConstName",
    "ConstValue",
    "Diagnostic",
    "FuncRef",
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
    "assemble",
    "assemble_text",
    "check_and_assemble",
    "disassemble",
    "parse_casm",
]
