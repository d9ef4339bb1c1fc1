"""The disassembler: takes any `Module`, gives readable `.casm` that assembles back to the same module.

Every pool entry is written as a named `.const` (duplicates and unused ones
included) and referred to by name, with its value repeated as a comment
where an instruction uses it; jump targets inside the function become
labels `L<index>`; source positions are written `@file:line:col` with the
file as its index in the `.file` table.  Numbers no name can stand for
(targets outside the function, indices past a table's end, non-zero unused
operands) are written raw as `#n`, so even an unverifiable module
round-trips: `assemble(parse_casm(disassemble(m))) == m`.  It never raises
for a module the decoder produced.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from chronicle_vm.core.isa import OPCODES, OperandKind
from chronicle_vm.core.model import Function, Instruction, Module, SourcePos, fitting_version
from chronicle_vm.core.types import TypeKind, ValueType

from .syntax import format_float, format_name, format_string

__all__ = ["disassemble"]

_INSTR_WIDTH = 34
_POS_WIDTH = 14
_REGS_PER_LINE = 8
_REGLIKE = (OperandKind.REG, OperandKind.ARGS, OperandKind.PAIR, OperandKind.FIELDS)


#: A struct name a type can refer to bare: an identifier that is no builtin type's name.
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_BUILTIN_TYPE_NAMES = frozenset({"int", "bool", "str", "float"})


def _const_note(value: int | str | float) -> str:
    if isinstance(value, (int, float)):
        return format_float(value) if isinstance(value, float) else str(value)
    text = format_string(value)
    return text if len(text) <= 40 else text[:36] + '..."'


class _Writer:
    def __init__(self, module: Module) -> None:
        self.module = module
        self.out: list[str] = []
        func_counts = Counter(f.name for f in module.functions)
        cap_counts = Counter(c.name for c in module.capabilities)
        self.duplicates = any(n > 1 for n in func_counts.values()) or any(n > 1 for n in cap_counts.values())
        self.func_refs = [format_name(f.name) if func_counts[f.name] == 1 else None for f in module.functions]
        self.cap_refs = [format_name(c.name) if cap_counts[c.name] == 1 else None for c in module.capabilities]
        struct_counts = Counter(s.name for s in module.structs)
        # A struct type is written by its name when that reads back as exactly it, else as `struct#N`.
        self.struct_refs = [
            s.name
            if struct_counts[s.name] == 1 and _TYPE_NAME.fullmatch(s.name) and s.name not in _BUILTIN_TYPE_NAMES
            else f"struct#{i}"
            for i, s in enumerate(module.structs)
        ]
        self.duplicates = self.duplicates or any(n > 1 for n in struct_counts.values())

    def type(self, vtype: ValueType) -> str:
        """A type's text, structs by name (or `struct#N`)."""
        if vtype.kind is TypeKind.ARRAY:
            return f"[{self.type(vtype.args[0])}]"
        if vtype.kind is TypeKind.MAP:
            return f"{{{self.type(vtype.args[0])}: {self.type(vtype.args[1])}}}"
        if vtype.kind is TypeKind.STRUCT and 0 <= vtype.ref < len(self.struct_refs):
            return self.struct_refs[vtype.ref]
        return str(vtype)

    def signature(self, params: Sequence[ValueType], result: ValueType | None) -> str:
        text = "(" + ", ".join(self.type(p) for p in params) + ")"
        return text if result is None else f"{text} -> {self.type(result)}"

    def run(self) -> str:
        module = self.module
        out = self.out
        out.append(
            f"; ChronicleVM module: {len(module.constants)} constants, {len(module.capabilities)} capabilities,"
            f" {len(module.functions)} functions"
        )
        if module.version != fitting_version(module):
            out.append(f".version {module.version}")
        if self.duplicates:
            out.append(".allow duplicate-names")
        for index, path in enumerate(module.source_map.files):
            out.append(f"{'.file ' + format_string(path):<{_INSTR_WIDTH - 1}} ; file {index}")
        if module.structs:
            out.append("")
        for index, struct_def in enumerate(module.structs):
            fields = ", ".join(f"{format_name(f.name)}: {self.type(f.type)}" for f in struct_def.fields)
            line = f".struct {format_name(struct_def.name)} ({fields})"
            out.append(f"{line:<{_INSTR_WIDTH - 1}} ; struct {index}")
        if module.constants:
            out.append("")
        for index, value in enumerate(module.constants):
            if isinstance(value, str):
                literal = format_string(value)
            else:  # a float's repr always has a point or an exponent, so it reads back as a float
                literal = format_float(value) if isinstance(value, float) else str(value)
            out.append(f".const k{index} {literal}")
        if module.capabilities:
            out.append("")
        for index, cap in enumerate(module.capabilities):
            line = f".cap {format_name(cap.name)} {self.signature(cap.params, cap.result)}"
            out.append(f"{line:<{_INSTR_WIDTH - 1}} ; cap {index}")
        position_lists = module.source_map.functions
        for index, function in enumerate(module.functions):
            positions = position_lists[index] if index < len(position_lists) else ()
            out.append("")
            self.function(index, function, positions)
        out.append("")
        return "\n".join(out)

    def function(self, index: int, function: Function, positions: Sequence[SourcePos]) -> None:
        out = self.out
        params = function.registers[: function.param_count]
        header = f".func {format_name(function.name)}{' export' if function.exported else ''} "
        header += self.signature(params, function.result)
        out.append(f"{header:<{_INSTR_WIDTH - 1}} ; func {index}")
        for start in range(len(params), len(function.registers), _REGS_PER_LINE):
            chunk = function.registers[start : start + _REGS_PER_LINE]
            line = "  .regs " + ", ".join(self.type(t) for t in chunk)
            last = start + len(chunk) - 1
            span = f"r{start}" if last == start else f"r{start}..r{last}"
            out.append(f"{line:<{_INSTR_WIDTH - 1}} ; {span}")
        if function.param_count > len(function.registers):
            out.append(f"  .params {function.param_count:<{_INSTR_WIDTH - 11}} ; more than its registers")
        code = function.code
        targets = self.targets(code)
        with_positions = len(positions) == len(code)
        if positions and not with_positions:
            # An entry whose length is not the code's cannot sit on the
            # instruction lines: it is written whole.
            out.append(f"  ; {len(positions)} positions for {len(code)} instructions")
            out.extend(f"  .pos @{pos.file}:{pos.line}:{pos.col}" for pos in positions)
        for at, instr in enumerate(code):
            if at in targets:
                out.append(f"L{at}:")
            text, notes = self.instruction(instr, len(code))
            where = ""
            if with_positions:
                pos = positions[at]
                where = f"@{pos.file}:{pos.line}:{pos.col}"
            comment = f"; {at}" + (": " + ", ".join(notes) if notes else "")
            out.append(f"    {text:<{_INSTR_WIDTH - 5}} {where:<{_POS_WIDTH - 1}} {comment}".rstrip())
        if len(code) in targets:
            out.append(f"L{len(code)}:")
        out.append(".end")

    def targets(self, code: Sequence[Instruction]) -> set[int]:
        found: set[int] = set()
        limit = len(code)
        for instr in code:
            info = OPCODES.get(instr.op)
            if info is None or not info.branches:
                continue
            for slot, operand in enumerate(info.operands):
                if operand.kind is OperandKind.TARGET:
                    value = instr[slot + 1]
                    if 0 <= value <= limit:
                        found.add(value)
        return found

    def reference(self, kind: OperandKind, value: int, notes: list[str]) -> str:
        """A function or capability operand: its name, or `#index` (with a note when the name is shared)."""
        if kind is OperandKind.FUNC:
            refs, entries = self.func_refs, [f.name for f in self.module.functions]
        else:
            refs, entries = self.cap_refs, [c.name for c in self.module.capabilities]
        ref = refs[value] if value < len(refs) else None
        if ref is None and value < len(refs):  # a shared name: say which one
            notes.append(f"#{value} = {format_name(entries[value])}")
        return ref if ref is not None else f"#{value}"

    def instruction(self, instr: Instruction, code_len: int) -> tuple[str, list[str]]:
        info = OPCODES.get(instr.op)
        values = (instr.a, instr.b, instr.c)
        if info is None:
            # Only a module built in memory can get here (the decoder refuses
            # unknown opcodes); write it so that reassembling fails loudly.
            return f".opcode {instr.op}, #{instr.a}, #{instr.b}, #{instr.c}", ["not in the instruction set"]
        kinds = [operand.kind for operand in info.operands]
        full = any(kind is OperandKind.NONE and value != 0 for kind, value in zip(kinds, values, strict=True))
        parts: list[str] = []
        notes: list[str] = []
        constants = self.module.constants
        for kind, value in zip(kinds, values, strict=True):
            if kind is OperandKind.NONE:
                if full:
                    parts.append(f"#{value}")
                continue
            if kind in _REGLIKE:
                parts.append(f"r{value}")
            elif kind is OperandKind.CONST:
                if value < len(constants):
                    parts.append(f"k{value}")
                    notes.append(f"k{value} = {_const_note(constants[value])}")
                else:
                    parts.append(f"#{value}")
            elif kind is OperandKind.FUNC or kind is OperandKind.CAP:
                parts.append(self.reference(kind, value, notes))
            elif kind is OperandKind.TARGET:
                parts.append(f"L{value}" if 0 <= value <= code_len else f"#{value}")
            else:  # IMM
                parts.append(str(value))
        text = info.name + (" " + ", ".join(parts) if parts else "")
        return text, notes


def disassemble(module: Module) -> str:
    """Readable `.casm` for `module`; `parse_casm` and `assemble` give the same module back."""
    return _Writer(module).run()
