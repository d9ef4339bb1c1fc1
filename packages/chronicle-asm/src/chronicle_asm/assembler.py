"""The assembler: takes an `IRModule`, gives a `chronicle_vm.Module`, guarantees every problem is reported.

Resolves labels to instruction indices, constants to pool indices (named
entries first, in order; `ConstValue` reuses the first equal entry of the
same kind or appends one), function and capability names to table indices
and positions to the source map.  It checks names, ranges and operand kinds
against `chronicle_vm.core.isa.OPCODES`, but not register types: that is the
verifier's job.  All problems are collected and raised together as one
`SourceError`; no other exception escapes, whatever the IR holds.

Positions: a function whose instructions all lack `pos` gets an empty
position list.  When only some lack it, each such instruction takes the
position of the instruction before it (the first ones take the function's
`pos`, or else the first position given), so the source map stays one
position per instruction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from chronicle_vm.core.isa import OPCODES, Op, OperandKind, OpInfo
from chronicle_vm.core.model import (
    AUTO_VERSION,
    FORMAT_VERSIONS,
    Capability,
    Function,
    Instruction,
    Module,
    SourceMap,
    SourcePos,
    fitting_version,
)
from chronicle_vm.core.types import StructDef, StructField, type_problem

from .diagnostics import Diagnostic, raise_if_any, show
from .ir import (
    CapRef,
    ConstName,
    ConstValue,
    FuncRef,
    Imm,
    IRFunction,
    IRInstr,
    IRModule,
    Label,
    LabelDef,
    Pos,
    Raw,
    Reg,
)
from .syntax import I64_MAX, I64_MIN, U32_MAX

__all__ = ["assemble", "check_and_assemble"]

_NoneType = type(None)

# Which IR operand classes each operand kind takes.
_ALLOWED: dict[OperandKind, tuple[type, ...]] = {
    OperandKind.NONE: (_NoneType, Raw),
    OperandKind.REG: (Reg, Raw),
    OperandKind.ARGS: (Reg, Raw, _NoneType),  # None: an empty argument window
    OperandKind.PAIR: (Reg, Raw),
    OperandKind.FIELDS: (Reg, Raw),
    OperandKind.CONST: (ConstValue, ConstName, Raw),
    OperandKind.FUNC: (FuncRef, Raw),
    OperandKind.CAP: (CapRef, Raw),
    OperandKind.TARGET: (Label, Raw),
    OperandKind.IMM: (Imm, Raw),
}
_KIND_WORDS = {
    OperandKind.NONE: "nothing",
    OperandKind.REG: "a register",
    OperandKind.ARGS: "a register (the first argument)",
    OperandKind.PAIR: "a register (the first of a pair)",
    OperandKind.FIELDS: "a register (the first field)",
    OperandKind.CONST: "a constant",
    OperandKind.FUNC: "a function",
    OperandKind.CAP: "a capability",
    OperandKind.TARGET: "a label",
    OperandKind.IMM: "a number",
}
_CLASS_WORDS: dict[type, str] = {
    _NoneType: "nothing",
    Reg: "a register",
    Raw: "a raw number",
    ConstValue: "a constant",
    ConstName: "a constant",
    FuncRef: "a function",
    CapRef: "a capability",
    Label: "a label",
    Imm: "a number",
}
_REGLIKE = frozenset({OperandKind.REG, OperandKind.ARGS, OperandKind.PAIR, OperandKind.FIELDS})
# Per opcode number (plain int keys: hashing enum members is slow on the hot
# path): the row, which slots take a register, and which take None (unused,
# an empty argument window, a call's absent result).
_FAST: dict[int, tuple[OpInfo, tuple[bool, bool, bool], tuple[bool, bool, bool]]] = {
    int(op): (
        info,
        (
            info.operands[0].kind in _REGLIKE,
            info.operands[1].kind in _REGLIKE,
            info.operands[2].kind in _REGLIKE,
        ),
        (
            info.operands[0].kind in (OperandKind.NONE, OperandKind.ARGS),
            info.operands[1].kind in (OperandKind.NONE, OperandKind.ARGS),
            info.operands[2].kind in (OperandKind.NONE, OperandKind.ARGS) or op in (Op.CALL, Op.CAPCALL),
        ),
    )
    for op, info in OPCODES.items()
}
_AMBIGUOUS = -1


class _Locator:
    """Turns an IR item's origin or position into diagnostic fields, with the line's text when known."""

    def __init__(self, sources: Mapping[str, str] | None) -> None:
        self._sources = sources or {}
        self._lines: dict[str, list[str]] = {}
        self.files: list[str] = []

    def line_text(self, file: str, line: int) -> str | None:
        lines = self._lines.get(file)
        if lines is None:
            text = self._sources.get(file)
            if text is None:
                return None
            lines = self._lines[file] = text.split("\n")
        if 1 <= line <= len(lines):
            return _clip(lines[line - 1].rstrip("\r"))
        return None

    def diag(self, code: str, message: str, where: Pos | None) -> Diagnostic:
        if where is None:
            return Diagnostic(code, message)
        file: str | None
        if isinstance(where.file, str):
            file = where.file
        elif isinstance(where.file, int) and 0 <= where.file < len(self.files):
            file = self.files[where.file]
        else:
            file = None
        line = where.line if isinstance(where.line, int) else None
        col = where.col if isinstance(where.col, int) else None
        text = self.line_text(file, line) if file is not None and line is not None else None
        return Diagnostic(code, message, file, line, col, text)


def _clip(text: str) -> str:
    return text if len(text) <= 300 else text[:300] + "..."


class _Assembler:
    def __init__(self, ir: IRModule, sources: Mapping[str, str] | None) -> None:
        self.ir = ir
        self.loc = _Locator(sources)
        self.diags: list[Diagnostic] = []
        self.pool: list[int | str | float] = []
        self.const_names: dict[str, int] = {}
        self.const_values: dict[tuple[type, int | str], int] = {}
        self.struct_count = 0
        self.func_names: dict[str, int] = {}
        self.cap_names: dict[str, int] = {}
        self.files: list[str] = []
        self.file_index: dict[str, int] = {}
        self.pos_cache: dict[Pos, SourcePos] = {}

    def error(self, code: str, message: str, where: Pos | None) -> None:
        self.diags.append(self.loc.diag(code, message, where))

    # -- tables -------------------------------------------------------------

    def constants(self) -> None:
        origins = self.ir.constant_origins
        entries: list[object] = list(self.ir.constants)
        for index, entry in enumerate(entries):
            where = origins[index] if index < len(origins) else None
            if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str)):
                self.error("asm-invalid-ir", f"constant entry {index} is not a (name, value) pair", where)
                self.pool.append(0)
                continue
            name, value = entry
            checked = self.const_value(value, where)
            self.pool.append(0 if checked is None else checked)
            if name in self.const_names:
                self.error("asm-duplicate-constant", f"constant {show(name)} is defined twice", where)
            else:
                self.const_names[name] = index
            if checked is not None:
                self.const_values.setdefault(_pool_key(checked), index)

    def const_value(self, value: object, where: Pos | None) -> int | str | float | None:
        if isinstance(value, bool):
            self.error(
                "asm-bool-constant", f"{value} cannot be a pool constant: constants are int, str or float", where
            )
            return None
        if isinstance(value, float):
            if not math.isfinite(value):
                self.error("asm-bad-literal", f"float constant {value!r} is not finite", where)
                return None
            return float(value)
        if isinstance(value, int):
            if not I64_MIN <= value <= I64_MAX:
                self.error("asm-int-range", f"constant {value} is outside signed 64-bit", where)
                return None
            return int(value)
        if isinstance(value, str):
            if not _encodable(value):
                self.error("asm-bad-literal", "a string constant holds a lone surrogate (not UTF-8)", where)
                return None
            return str(value)
        self.error(
            "asm-bool-constant", f"{type(value).__name__} cannot be a pool constant: int, str or float only", where
        )
        return None

    def structs(self) -> tuple[StructDef, ...]:
        """The struct table: each entry a StructDef of encodable names and valid field types."""
        out: list[StructDef] = []
        origins = self.ir.struct_origins
        names: dict[str, int] = {}
        items: list[object] = list(self.ir.structs)
        self.struct_count = len(items)
        for index, item in enumerate(items):
            where = origins[index] if index < len(origins) else None
            if not (isinstance(item, StructDef) and isinstance(item.name, str) and isinstance(item.fields, tuple)):
                self.error("asm-invalid-ir", f"struct {index} is not a StructDef", where)
                out.append(StructDef(f"S{index}", ()))
                continue
            if not _encodable(item.name):
                self.error("asm-bad-literal", f"struct name {show(item.name)} holds a lone surrogate", where)
            self.claim(names, item.name, index, "asm-duplicate-definition", "struct", where)
            fields: tuple[object, ...] = item.fields
            for field in fields:
                if not isinstance(field, StructField) or not isinstance(field.name, str):
                    self.error("asm-invalid-ir", f"struct {show(item.name)}: a field is not a StructField", where)
                elif not _encodable(field.name):
                    self.error("asm-bad-literal", f"field name {show(field.name)} holds a lone surrogate", where)
                elif not self.type_ok(field.type):
                    problem = type_problem(field.type, self.struct_count)
                    self.error("asm-bad-type", f"field {show(field.name)} of {show(item.name)}: {problem}", where)
            out.append(item)
        return tuple(out)

    def type_ok(self, value: object) -> bool:
        return type_problem(value, self.struct_count) is None

    def types_ok(self, types: Sequence[object], result: object) -> bool:
        return all(self.type_ok(t) for t in types) and (result is None or self.type_ok(result))

    def capabilities(self) -> list[Capability]:
        out: list[Capability] = []
        origins = self.ir.capability_origins
        for index, cap in enumerate(self.ir.capabilities):
            where = origins[index] if index < len(origins) else None
            if not isinstance(cap, Capability) or not self.types_ok(cap.params, cap.result):
                self.error("asm-invalid-ir", f"capability {index} is not a well-typed Capability", where)
                out.append(Capability(f"<invalid {index}>", (), None))
                continue
            if not _encodable(cap.name):
                self.error("asm-bad-literal", f"capability name {show(cap.name)} holds a lone surrogate", where)
            out.append(cap)
            self.claim(self.cap_names, cap.name, index, "asm-duplicate-capability", "capability", where)
        return out

    def claim(self, names: dict[str, int], name: str, index: int, code: str, what: str, where: Pos | None) -> None:
        if name not in names:
            names[name] = index
            return
        if not self.ir.allow_duplicate_names:
            self.error(code, f"{what} {show(name)} is defined twice", where)
        names[name] = _AMBIGUOUS

    def file_of(self, pos: Pos, where: Pos | None) -> int | None:
        file = pos.file
        if isinstance(file, bool) or not isinstance(file, (int, str)):
            self.error("asm-invalid-ir", "a position's file is neither a path nor an index", where)
            return None
        if isinstance(file, int):
            if not 0 <= file <= U32_MAX:
                self.error("asm-bad-position", f"file index {file} is outside 0..{U32_MAX}", where)
                return None
            return file
        index = self.file_index.get(file)
        if index is None:
            if not _encodable(file):
                self.error("asm-bad-literal", f"source file path {show(file)} holds a lone surrogate", where)
            index = self.file_index[file] = len(self.files)
            self.files.append(file)
        return index

    # -- functions ----------------------------------------------------------

    def function(self, func: IRFunction) -> tuple[Function, tuple[SourcePos, ...]]:
        where = func.origin or func.pos
        raw_name: object = func.name
        name = raw_name if isinstance(raw_name, str) else "<invalid>"
        if not isinstance(raw_name, str):
            self.error("asm-invalid-ir", "a function's name is not a string", where)
        elif not _encodable(raw_name):
            self.error("asm-bad-literal", f"function name {show(raw_name)} holds a lone surrogate", where)
        param_count = func.param_count
        if isinstance(param_count, bool) or not isinstance(param_count, int) or not 0 <= param_count <= U32_MAX:
            self.error("asm-invalid-ir", f"function {show(name)}: param_count is not a count", where)
            param_count = 0
        registers = tuple(func.registers)
        if not self.types_ok(registers, func.result):
            self.error("asm-invalid-ir", f"function {show(name)}: a register or result type is not a ValueType", where)
            registers = ()
        labels: dict[str, int] = {}
        instrs: list[IRInstr] = []
        items: list[object] = list(func.body)
        for item in items:
            if isinstance(item, LabelDef):
                if item.name in labels:
                    self.error(
                        "asm-duplicate-label",
                        f"label {show(item.name)} is defined twice in function {show(name)}",
                        item.origin or item.pos,
                    )
                else:
                    labels[item.name] = len(instrs)
            elif isinstance(item, IRInstr):
                instrs.append(item)
            else:
                self.error(
                    "asm-invalid-ir", f"function {show(name)}: a body item is neither IRInstr nor LabelDef", where
                )
        code = [self.instruction(instr, labels, name) for instr in instrs]
        positions = self.positions(func, instrs)
        function = Function(name, bool(func.exported), param_count, func.result, registers, tuple(code))
        return function, positions

    def instruction(self, instr: IRInstr, labels: dict[str, int], func_name: str) -> Instruction:
        op: object = instr.op
        row = _FAST.get(int(op)) if isinstance(op, int) and not isinstance(op, bool) else None
        where = instr.origin or instr.pos
        if row is None:
            self.error("asm-invalid-ir", f"{show(op)} is not an opcode", where)
            return Instruction(0)
        info, reg_ok, none_ok = row
        operands: object = instr.operands
        if not isinstance(operands, tuple) or len(operands) != 3:
            self.error("asm-operand-count", f"{info.name}: the IR must give exactly three operand slots", where)
            return Instruction(info.op.value)
        values = [0, 0, 0]
        for slot in range(3):
            operand = operands[slot]
            cls = type(operand)
            # The common cases first, without the general checks' cost.
            if cls is Reg:
                if reg_ok[slot]:
                    number = operand.index
                    if type(number) is int and 0 <= number <= U32_MAX:
                        values[slot] = number
                        continue
            elif operand is None and none_ok[slot]:
                continue
            kind = info.operands[slot].kind
            if cls not in _ALLOWED[kind]:
                got = _CLASS_WORDS.get(cls, type(operand).__name__)
                self.error(
                    "asm-operand-kind",
                    f"{info.name}: operand {slot + 1} must be {_KIND_WORDS[kind]}, not {got}",
                    _at_operand(instr, slot),
                )
                continue
            values[slot] = self.operand(operand, info.name, slot, labels, func_name, instr)
        return Instruction(info.op.value, values[0], values[1], values[2])

    def operand(
        self,
        operand: object,
        mnemonic: str,
        slot: int,
        labels: dict[str, int],
        func_name: str,
        instr: IRInstr,
    ) -> int:
        if operand is None:
            return 0
        if isinstance(operand, (Reg, Imm, Raw)):
            return self.number_operand(operand, mnemonic, slot, instr)
        if isinstance(operand, Label):
            target = labels.get(operand.name)
            if target is None:
                self.error(
                    "asm-unknown-label",
                    f"{mnemonic}: label {show(operand.name)} is not defined in function {show(func_name)}",
                    _at_operand(instr, slot),
                )
                return 0
            return target
        if isinstance(operand, ConstName):
            index = self.const_names.get(operand.name)
            if index is None:
                self.error(
                    "asm-undefined-constant",
                    f"{mnemonic}: constant {show(operand.name)} is not defined",
                    _at_operand(instr, slot),
                )
                return 0
            return index
        if isinstance(operand, ConstValue):
            return self.const_operand(operand, instr, slot)
        if isinstance(operand, FuncRef):
            return self.lookup(
                self.func_names, operand.name, "function", "asm-undefined-function", mnemonic, instr, slot
            )
        if isinstance(operand, CapRef):
            return self.lookup(
                self.cap_names, operand.name, "capability", "asm-undefined-capability", mnemonic, instr, slot
            )
        raise AssertionError("operand classes are checked by the caller")

    def number_operand(self, operand: Reg | Imm | Raw, mnemonic: str, slot: int, instr: IRInstr) -> int:
        """A register, immediate or raw operand: its number, which must fit the format's u32."""
        number = operand.index if isinstance(operand, Reg) else operand.value
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= U32_MAX:
            self.error(
                "asm-int-range",
                f"{mnemonic}: operand {slot + 1} ({show(number)}) is outside 0..{U32_MAX}",
                _at_operand(instr, slot),
            )
            return 0
        return number

    def const_operand(self, operand: ConstValue, instr: IRInstr, slot: int) -> int:
        """A constant written in place: its index in the pool, added on first use."""
        value: object = operand.value
        if not (type(value) is int and I64_MIN <= value <= I64_MAX):
            key = _pool_key(value)
            if key not in self.const_values:  # only new strings need the (costlier) full check
                value = self.const_value(value, _at_operand(instr, slot))
        if value is None:
            return 0
        assert isinstance(value, (int, str, float))
        key = _pool_key(value)
        index = self.const_values.get(key)
        if index is None:
            index = self.const_values[key] = len(self.pool)
            self.pool.append(value)
        return index

    def lookup(
        self, names: dict[str, int], name: str, what: str, code: str, mnemonic: str, instr: IRInstr, slot: int
    ) -> int:
        index = names.get(name)
        if index is None:
            self.error(code, f"{mnemonic}: {what} {show(name)} is not defined", _at_operand(instr, slot))
            return 0
        if index == _AMBIGUOUS:
            self.error(
                "asm-ambiguous-name",
                f"{mnemonic}: {what} name {show(name)} is shared by several {what} entries; refer to one by #index",
                _at_operand(instr, slot),
            )
            return 0
        return index

    def positions(self, func: IRFunction, instrs: Sequence[IRInstr]) -> tuple[SourcePos, ...]:
        given = [instr.pos for instr in instrs]
        if func.positions is not None:
            where = func.origin or func.pos
            stray = next((instr for instr, pos in zip(instrs, given, strict=True) if pos is not None), None)
            if stray is not None:
                self.error(
                    "asm-bad-position",
                    f"function {show(func.name)} gives its positions whole (.pos): its instructions may have none",
                    stray.origin or stray.pos,
                )
            return tuple(self.source_pos(pos, where) for pos in func.positions)
        first = next((pos for pos in given if pos is not None), None)
        if first is None:
            return ()
        current: Pos = func.pos if func.pos is not None else first
        out: list[SourcePos] = []
        for instr, pos in zip(instrs, given, strict=True):
            if pos is not None:
                current = pos
            out.append(self.source_pos(current, instr.origin or pos or func.origin))
        return tuple(out)

    def source_pos(self, pos: object, where: Pos | None) -> SourcePos:
        known = self.pos_cache.get(pos) if type(pos) is Pos else None
        if known is not None:
            return known
        out = self.new_source_pos(pos, where)
        if type(pos) is Pos and type(pos.file) in (str, int) and not self.diags:
            self.pos_cache[pos] = out
        return out

    def new_source_pos(self, pos: object, where: Pos | None) -> SourcePos:
        if not isinstance(pos, Pos):
            self.error("asm-invalid-ir", "a position is not a Pos", where)
            return SourcePos(0, 0, 0)
        file = self.file_of(pos, where)
        numbers = []
        for label, number in (("line", pos.line), ("column", pos.col)):
            if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= U32_MAX:
                self.error("asm-bad-position", f"position {label} {show(number)} is outside 0..{U32_MAX}", where)
                number = 0
            numbers.append(number)
        return SourcePos(file or 0, numbers[0], numbers[1])

    # -- whole module -------------------------------------------------------

    def run(self) -> Module:
        ir = self.ir
        paths: list[object] = list(ir.source_files)
        for path in paths:
            if not isinstance(path, str):
                self.error("asm-invalid-ir", "a source file path is not a string", None)
                path = str(path)
            elif not _encodable(path):
                self.error("asm-bad-literal", f"source file path {show(path)} holds a lone surrogate", None)
            self.file_index.setdefault(path, len(self.files))
            self.files.append(path)
        self.loc.files = self.files
        version = ir.version
        if type(version) is not int or (version != AUTO_VERSION and version not in FORMAT_VERSIONS):
            written = ", ".join(str(v) for v in FORMAT_VERSIONS)
            self.error(
                "asm-int-range",
                f"format version {show(version)} cannot be written: this runtime writes {written}",
                None,
            )
            version = AUTO_VERSION
        structs = self.structs()
        self.constants()
        capabilities = self.capabilities()
        funcs: list[object] = list(ir.functions)
        for index, item in enumerate(funcs):
            if isinstance(item, IRFunction) and isinstance(item.name, str):
                self.claim(
                    self.func_names, item.name, index, "asm-duplicate-function", "function", item.origin or item.pos
                )
        functions: list[Function] = []
        positions: list[tuple[SourcePos, ...]] = []
        for item in funcs:
            if not isinstance(item, IRFunction):
                self.error("asm-invalid-ir", "a function is not an IRFunction", None)
                continue
            function, where = self.function(item)
            functions.append(function)
            positions.append(where)
        module = Module(
            constants=tuple(self.pool),
            capabilities=tuple(capabilities),
            functions=tuple(functions),
            source_map=SourceMap(files=tuple(self.files), functions=tuple(positions)),
            version=version,
            structs=structs,
        )
        if module.version == 1 and fitting_version(module) != 1:
            self.error(
                "asm-int-range",
                ".version 1 cannot hold this module: it has structs, float or map types or float constants "
                "(format version 2; leave .version out to get the fitting one)",
                ir.version_origin,
            )
        return module


def _at_operand(instr: IRInstr, slot: int) -> Pos | None:
    """Where operand `slot` of `instr` was written, as precisely as known."""
    origin = instr.origin
    cols = instr.operand_cols
    if origin is None or cols is None:
        return origin or instr.pos
    return Pos(origin.file, origin.line, cols[slot])


def _pool_key(value: object) -> tuple[type, int | str]:
    """What makes two pool constants the same entry: kind and value, a float by its exact bits (-0.0 != 0.0)."""
    if type(value) is float:
        return (float, value.hex())
    return (type(value), value)  # type: ignore[return-value]  # an int or a str here


def _encodable(text: str) -> bool:
    """Whether `text` is valid UTF-8 material (no lone surrogates), as the format requires."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_and_assemble(
    ir: IRModule, sources: Mapping[str, str] | None = None
) -> tuple[Module | None, list[Diagnostic]]:
    """Assemble without raising: the module (None when there were problems) and every problem found."""
    assembler = _Assembler(ir, sources)
    try:
        module = assembler.run()
    except Exception as exc:  # a malformed IR object (wrong Python types): report, never crash
        assembler.error("asm-invalid-ir", f"the IR is malformed: {type(exc).__name__}: {exc}", None)
        return None, assembler.diags
    if assembler.diags:
        return None, assembler.diags
    return module, []


def assemble(ir: IRModule, *, sources: Mapping[str, str] | None = None) -> Module:
    """The module `ir` describes; raises `SourceError` listing every problem (and nothing else).

    `sources` maps file paths to their text, so diagnostics can quote the
    offending line.
    """
    module, diagnostics = check_and_assemble(ir, sources)
    raise_if_any(diagnostics)
    assert module is not None
    return module
