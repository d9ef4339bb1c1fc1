"""The `.casm` reader: takes assembly text, gives an `IRModule` that assembles or one `SourceError` with every problem.

A hand-written line parser (one line is one directive, label or
instruction), so it is fast on large files and has no recursion: any text
at all ends in an `IRModule` or a `SourceError`.  Syntax problems are
reported by the parser; name problems (unknown labels, undefined or
duplicate names) by the assembler's checks, which `parse_casm` runs too,
with every item's `.casm` location as its `origin`.  docs/assembly.md
describes the syntax.
"""

from __future__ import annotations

import difflib
import gc
import re
from collections.abc import Callable

from chronicle_vm.core.isa import OPCODES, OPS_BY_NAME, OperandKind, OpInfo
from chronicle_vm.core.model import FORMAT_VERSIONS, Capability, Module
from chronicle_vm.core.types import StructDef, StructField, ValueType, parse_type

from .assembler import check_and_assemble
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
    IROperand,
    Label,
    LabelDef,
    Pos,
    Raw,
    Reg,
)
from .syntax import (
    I64_MAX,
    I64_MIN,
    NAME_RE,
    U32_MAX,
    Token,
    is_register,
    parse_float,
    parse_int,
    parse_string,
    tokenize,
)

__all__ = ["assemble_text", "parse_casm"]

#: Diagnostics kept per input; the rest are counted in one closing note.
MAX_DIAGNOSTICS = 200

_KIND_WORDS = {
    OperandKind.NONE: "#n (an unused operand)",
    OperandKind.REG: "a register",
    OperandKind.ARGS: "a register (the first argument)",
    OperandKind.PAIR: "a register (the first of a pair)",
    OperandKind.FIELDS: "a register (the first field)",
    OperandKind.CONST: "a constant (name, int, float or string literal)",
    OperandKind.FUNC: "a function name",
    OperandKind.CAP: "a capability name",
    OperandKind.TARGET: "a label",
    OperandKind.IMM: "a number",
}
_USED_SLOTS: dict[int, tuple[int, ...]] = {
    op: tuple(i for i, operand in enumerate(info.operands) if operand.kind is not OperandKind.NONE)
    for op, info in OPCODES.items()
}


# The common instruction line, read with one match: mnemonic, up to three
# operands without strings, an optional numeric position and a comment.
# Anything else (labels, strings, errors) takes the general tokenizer path.
_WORD = r"([^\s,;:@\"()\[\]>]+)"
_FAST_RE = re.compile(
    r"[ \t]*([a-z]+)"
    rf"(?:[ \t]+{_WORD}(?:[ \t]*,[ \t]*{_WORD})?(?:[ \t]*,[ \t]*{_WORD})?)?"
    r"[ \t]*(?:@([0-9]{1,9}):([0-9]{1,9}):([0-9]{1,9})[ \t]*)?(?:;.*)?\r?"
)

# Per mnemonic: the row, its used slots and each slot's kind as a string
# (cheap to hash, unlike enum members).
_FAST_ROWS: dict[str, tuple[OpInfo, tuple[int, ...], tuple[str, str, str]]] = {
    info.name: (
        info,
        _USED_SLOTS[op],
        (info.operands[0].kind.value, info.operands[1].kind.value, info.operands[2].kind.value),
    )
    for op, info in OPCODES.items()
}


class _Error(Exception):
    """A problem on the current line: stops reading that line only."""

    def __init__(self, code: str, message: str, col: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.col = col


def _opcode(kind: str, mnemonic: str, col: int) -> OpInfo:
    """The instruction a line's first token names, or an error with the nearest mnemonic as a hint."""
    if kind != "w":
        raise _Error("asm-syntax", f"expected an instruction, a label or a directive, not {show(mnemonic)}", col)
    info = OPS_BY_NAME.get(mnemonic)
    if info is None:
        hint = difflib.get_close_matches(mnemonic, list(OPS_BY_NAME), n=1) if len(mnemonic) < 40 else []
        shown = mnemonic if len(mnemonic) < 40 else mnemonic[:40] + "..."
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        raise _Error("asm-unknown-opcode", f"unknown instruction {shown!r}{suggestion}", col)
    return info


def _operand_groups(tokens: list[Token]) -> list[list[Token]]:
    """An instruction's operand tokens split at commas (no groups for no operands)."""
    groups: list[list[Token]] = [[]]
    for token in tokens:
        if token[0] == "p" and token[1] == ",":
            groups.append([])
        else:
            groups[-1].append(token)
    return [] if groups == [[]] else groups


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.split("\n")
        self.diags: list[Diagnostic] = []
        self.dropped = 0
        self.ir = IRModule()
        self.func: IRFunction | None = None
        self.lineno = 0
        self.version_seen = False
        self.operand_cache: dict[tuple[str, str], IROperand] = {}
        self.allow_seen = False
        #: Struct names by index, from every `.struct` line (types may name a struct declared further down).
        self.struct_names: dict[str, int] = {}

    # -- diagnostics --------------------------------------------------------

    def report(self, code: str, message: str, line: int, col: int) -> None:
        if len(self.diags) >= MAX_DIAGNOSTICS:
            self.dropped += 1
            return
        text = self.lines[line - 1].rstrip("\r") if 1 <= line <= len(self.lines) else None
        if text is not None and len(text) > 300:
            text = text[:300] + "..."
        self.diags.append(Diagnostic(code, message, self.path, line, col, text))

    def here(self, col: int) -> Pos:
        return Pos(self.path, self.lineno, col)

    # -- lines --------------------------------------------------------------

    def scan_structs(self) -> None:
        """Number the structs before reading anything, so a type may name a struct declared later."""
        count = 0
        for line in self.lines:
            stripped = line.lstrip()
            if not stripped.startswith(".struct"):
                continue
            tokens = tokenize(stripped)
            if tokens[0][1] != ".struct":
                continue
            if len(tokens) > 1 and tokens[1][0] in "sw":
                name = tokens[1][1] if tokens[1][0] == "w" else parse_string(tokens[1][1])[0]
                if name is not None:
                    self.struct_names.setdefault(name, count)
            count += 1

    def run(self) -> None:
        self.scan_structs()
        for lineno, line in enumerate(self.lines, 1):
            stripped = line.strip()
            if not stripped or stripped[0] == ";":
                continue
            self.lineno = lineno
            try:
                fast = _FAST_RE.fullmatch(line) if self.func is not None else None
                if fast is None or not self.fast_instruction(fast):
                    self.line(line)
            except _Error as err:
                self.report(err.code, err.message, lineno, err.col)
        if self.func is not None:
            self.close_function("at the end of the file", 0)

    def line(self, line: str) -> None:
        tokens = tokenize(line)
        if tokens and tokens[-1][0] == "c":
            tokens.pop()
        for kind, text, col in tokens:
            if kind == "u":
                raise _Error("asm-bad-literal", "unterminated string literal", col)
            if kind == "o":
                raise _Error("asm-syntax", f"unexpected character {text!r}", col)
        if not tokens:
            return
        kind, text, col = tokens[0]
        if kind == "w" and text[0] == ".":
            self.directive(text, tokens)
            return
        if len(tokens) >= 2 and kind == "w" and tokens[1][1] == ":" and tokens[1][0] == "p":
            self.label(text, col)
            tokens = tokens[2:]
            if not tokens:
                return
        self.instruction(tokens)

    def label(self, name: str, col: int) -> None:
        if NAME_RE.fullmatch(name) is None or is_register(name):
            raise _Error("asm-syntax", f"{show(name)} is not a label name (letters, digits, _ and .)", col)
        if self.func is None:
            raise _Error("asm-outside-function", f"label {show(name)} outside a function (.func ... .end)", col)
        self.func.body.append(LabelDef(name, origin=self.here(col)))

    # -- directives ---------------------------------------------------------

    def directive(self, name: str, tokens: list[Token]) -> None:
        col = tokens[0][2]
        handler = _DIRECTIVES.get(name)
        if handler is None:
            known = ", ".join(sorted(_DIRECTIVES))
            raise _Error("asm-unknown-directive", f"unknown directive {show(name)} (known: {known})", col)
        in_function = name in (".reg", ".regs", ".params", ".pos", ".end")
        if in_function and self.func is None:
            raise _Error("asm-outside-function", f"{name} outside a function (.func ... .end)", col)
        if not in_function and self.func is not None:
            self.close_function(f"before this {name}", col)
        handler(self, tokens[1:], col)

    def d_version(self, args: list[Token], col: int) -> None:
        value = self.single_int(args, col, ".version N")
        if value not in FORMAT_VERSIONS:
            written = ", ".join(str(v) for v in FORMAT_VERSIONS)
            raise _Error(
                "asm-int-range",
                f"format version {value} cannot be written: this runtime writes {written}",
                args[0][2],
            )
        if self.version_seen:
            raise _Error("asm-duplicate-definition", ".version is given twice", col)
        self.version_seen = True
        self.ir.version = value
        self.ir.version_origin = self.here(args[0][2])

    def d_file(self, args: list[Token], col: int) -> None:
        if len(args) != 1 or args[0][0] not in "sw":
            raise _Error("asm-syntax", '.file takes one path: .file "plugin.chr"', col)
        self.ir.source_files.append(self.text_value(args[0]))

    def d_allow(self, args: list[Token], col: int) -> None:
        if len(args) != 1 or args[0][1] != "duplicate-names":
            raise _Error("asm-syntax", ".allow takes one option: .allow duplicate-names", col)
        if self.allow_seen:
            raise _Error("asm-duplicate-definition", ".allow duplicate-names is given twice", col)
        self.allow_seen = True
        self.ir.allow_duplicate_names = True

    def d_const(self, args: list[Token], col: int) -> None:
        if len(args) != 2 or args[0][0] != "w" or args[1][0] not in "sw":
            raise _Error("asm-syntax", '.const takes a name and a value: .const k0 42 or .const k1 "text"', col)
        name_tok, value_tok = args
        if NAME_RE.fullmatch(name_tok[1]) is None or is_register(name_tok[1]):
            raise _Error("asm-syntax", f"{show(name_tok[1])} is not a constant name", name_tok[2])
        value: int | str | float
        if value_tok[0] == "s":
            value = self.text_value(value_tok)
        else:
            word = value_tok[1]
            if word in ("true", "false"):
                raise _Error(
                    "asm-bool-constant",
                    f"{word} cannot be a pool constant: constants are int, str or float",
                    value_tok[2],
                )
            number = self.float_value(value_tok)
            value = number if number is not None else self.int_value(value_tok, I64_MIN, I64_MAX, "a constant")
        self.ir.constants.append((name_tok[1], value))
        self.ir.constant_origins.append(self.here(name_tok[2]))

    def d_cap(self, args: list[Token], col: int) -> None:
        if not args or args[0][0] not in "sw":
            raise _Error("asm-syntax", ".cap takes a name and a signature: .cap kv.get (str) -> str", col)
        name = self.name_value(args[0])
        params, result, rest = self.signature(args[1:], col)
        if rest:
            raise _Error("asm-syntax", "unexpected text after the signature", rest[0][2])
        self.ir.capabilities.append(Capability(name, params, result))
        self.ir.capability_origins.append(self.here(args[0][2]))

    def d_struct(self, args: list[Token], col: int) -> None:
        # A broken line still takes its place in the table, so later structs keep their indexes.
        struct_def = StructDef(f"<invalid struct at line {self.lineno}>", ())
        self.ir.structs.append(struct_def)
        self.ir.struct_origins.append(self.here(col))
        usage = ".struct takes a name and its fields: .struct Item (sku: str, qty: int)"
        if not args or args[0][0] not in "sw":
            raise _Error("asm-syntax", usage, col)
        name = self.name_value(args[0])
        self.ir.struct_origins[-1] = self.here(args[0][2])
        rest = args[1:]
        if not rest or rest[0][0] != "p" or rest[0][1] != "(":
            raise _Error("asm-syntax", usage, rest[0][2] if rest else col)
        if rest[-1][0] != "p" or rest[-1][1] != ")":
            raise _Error("asm-syntax", "the field list has no closing ) at the end of the line", rest[-1][2])
        fields: list[StructField] = []
        for group in _comma_groups(rest[1:-1]):
            if len(group) < 3 or group[0][0] not in "sw" or group[1][0] != "p" or group[1][1] != ":":
                where = group[0][2] if group else rest[0][2]
                raise _Error("asm-syntax", "a field is NAME: TYPE, e.g. qty: int", where)
            fields.append(StructField(self.name_value(group[0]), self.type_of(group[2:], group[2][2])))
        self.ir.structs[-1] = StructDef(name, tuple(fields))

    def d_func(self, args: list[Token], col: int) -> None:
        # A broken header still opens a function, so that its body is not
        # reported line by line as being outside any function.
        func = IRFunction(f"<invalid function at line {self.lineno}>", False, 0, None, [], origin=self.here(col))
        self.func = func
        if not args or args[0][0] not in "sw":
            raise _Error("asm-syntax", ".func takes a name: .func main export (int) -> int", col)
        func.name = self.name_value(args[0])
        func.origin = self.here(args[0][2])
        rest = args[1:]
        if rest and rest[0][0] == "w" and rest[0][1] == "export":
            func.exported = True
            rest = rest[1:]
        params, result, rest = self.signature(rest, col)
        if rest and rest[0][1] == "@" and rest[0][0] == "p":
            func.pos = self.position(rest[1:], rest[0][2])
            rest = []
        if rest:
            raise _Error("asm-syntax", "unexpected text after the signature", rest[0][2])
        func.param_count = len(params)
        func.registers = list(params)
        func.result = result
        self.ir.functions.append(func)

    def d_reg(self, args: list[Token], col: int) -> None:
        assert self.func is not None
        if len(args) < 2 or args[0][0] != "w" or not is_register(args[0][1]):
            raise _Error("asm-syntax", ".reg takes a register and a type: .reg r3 int", col)
        expected = len(self.func.registers)
        if self.int_value((args[0][0], args[0][1][1:], args[0][2]), 0, U32_MAX, "a register number") != expected:
            raise _Error(
                "asm-syntax",
                f"registers are declared in order: the next one is r{expected}, not {show(args[0][1])}",
                args[0][2],
            )
        self.func.registers.append(self.type_of(args[1:], args[1][2]))

    def d_regs(self, args: list[Token], col: int) -> None:
        assert self.func is not None
        if not args:
            raise _Error("asm-syntax", ".regs takes a list of types: .regs int, bool, [str]", col)
        self.func.registers.extend(self.type_list(args, col))

    def d_params(self, args: list[Token], col: int) -> None:
        assert self.func is not None
        value = self.single_int(args, col, ".params N")
        if not 0 <= value <= U32_MAX:
            raise _Error("asm-int-range", f"parameter count {value} is outside 0..{U32_MAX}", args[0][2])
        self.func.param_count = value

    def d_pos(self, args: list[Token], col: int) -> None:
        assert self.func is not None
        if not args or args[0][0] != "p" or args[0][1] != "@":
            raise _Error("asm-bad-position", ".pos takes a position: .pos @0:3:5", col)
        position = self.position(args[1:], args[0][2])
        if self.func.positions is None:
            self.func.positions = []
        self.func.positions.append(position)

    def d_end(self, args: list[Token], col: int) -> None:
        if args:
            raise _Error("asm-syntax", ".end takes nothing", args[0][2])
        self.func = None

    def close_function(self, where: str, col: int) -> None:
        """Report a function left open; `col` 0 means at its `.func` line instead of the current one."""
        assert self.func is not None
        origin = self.func.origin
        name = self.func.name
        self.func = None
        if col == 0:
            line = origin.line if origin is not None else self.lineno
            self.report("asm-missing-end", f"function {show(name)} has no .end {where}", line, 1)
        else:
            self.report("asm-missing-end", f"function {show(name)} has no .end {where}", self.lineno, col)

    # -- pieces -------------------------------------------------------------

    def single_int(self, args: list[Token], col: int, usage: str) -> int:
        if len(args) != 1 or args[0][0] != "w":
            raise _Error("asm-syntax", f"expected {usage}", col)
        return self.int_value(args[0], -(2**70), 2**70, "a number")

    def int_value(self, token: Token, low: int, high: int, what: str) -> int:
        value = parse_int(token[1])
        if value is None:
            raise _Error("asm-bad-literal", f"{show(token[1])} is not a number", token[2])
        if not low <= value <= high:
            raise _Error("asm-int-range", f"{show(token[1])} is outside the range of {what} ({low}..{high})", token[2])
        return value

    def float_value(self, token: Token) -> float | None:
        """The value of a float literal token, None when it is not one; an error when it is not finite."""
        value, problem = parse_float(token[1])
        if problem is not None:
            raise _Error("asm-bad-literal", problem, token[2])
        return value

    def text_value(self, token: Token) -> str:
        if token[0] == "w":
            return token[1]
        value, problem = parse_string(token[1])
        if problem is not None:
            raise _Error("asm-bad-literal", problem[0], token[2] + problem[1])
        assert value is not None
        return value

    def name_value(self, token: Token) -> str:
        if token[0] == "w" and NAME_RE.fullmatch(token[1]) is None:
            raise _Error("asm-syntax", f"{show(token[1])} is not a name (quote it)", token[2])
        return self.text_value(token)

    def type_of(self, tokens: list[Token], col: int) -> ValueType:
        text = " ".join(t[1] for t in tokens)
        parsed = parse_type(text, self.struct_names) if len(text) < 2000 else None
        if parsed is None or not tokens:
            shown = text if len(text) < 40 else text[:40] + "..."
            kinds = "int, bool, str, float, [T], {K: V}, a struct's name; at most 8 levels"
            raise _Error("asm-bad-type", f"{shown!r} is not a type ({kinds})", col)
        return parsed

    def type_list(self, tokens: list[Token], col: int) -> list[ValueType]:
        out: list[ValueType] = []
        start = 0
        for i in range(len(tokens) + 1):
            if i == len(tokens) or (tokens[i][0] == "p" and tokens[i][1] == ","):
                item_col = tokens[start][2] if start < len(tokens) else col
                out.append(self.type_of(tokens[start:i], item_col))
                start = i + 1
        return out

    def signature(self, tokens: list[Token], col: int) -> tuple[tuple[ValueType, ...], ValueType | None, list[Token]]:
        """`(T, ...) [-> T]` at the start of `tokens`: params, result and the tokens after it."""
        if not tokens or tokens[0][1] != "(" or tokens[0][0] != "p":
            where = tokens[0][2] if tokens else col
            raise _Error("asm-syntax", "expected a parameter list such as (int, str)", where)
        close = next((i for i, t in enumerate(tokens) if t[0] == "p" and t[1] == ")"), None)
        if close is None:
            raise _Error("asm-syntax", "the parameter list has no closing )", tokens[0][2])
        inner = tokens[1:close]
        params = tuple(self.type_list(inner, tokens[0][2] + 1)) if inner else ()
        rest = tokens[close + 1 :]
        result: ValueType | None = None
        if rest and rest[0][0] == "p" and rest[0][1] == "->":
            end = next((i for i, t in enumerate(rest) if t[0] == "p" and t[1] == "@"), len(rest))
            if end == 1:
                raise _Error("asm-syntax", "expected a result type after ->", rest[0][2])
            result = self.type_of(rest[1:end], rest[1][2])
            rest = rest[end:]
        return params, result, rest

    def position(self, tokens: list[Token], col: int) -> Pos:
        """`FILE:LINE:COL` after an `@`, FILE a file index, a bare path or a quoted path."""
        usage = "a position is @FILE:LINE:COL, FILE being a file index or a path"
        if len(tokens) != 5 or tokens[1][1] != ":" or tokens[3][1] != ":" or tokens[0][0] not in "sw":
            raise _Error("asm-bad-position", usage, col)
        file: str | int
        if tokens[0][0] == "w" and tokens[0][1][0].isdigit():
            file = self.int_value(tokens[0], 0, U32_MAX, "a file index")
        else:
            file = self.text_value(tokens[0])
        numbers = []
        for token in (tokens[2], tokens[4]):
            if token[0] != "w":
                raise _Error("asm-bad-position", usage, token[2])
            numbers.append(self.int_value(token, 0, U32_MAX, "a line or column"))
        return Pos(file, numbers[0], numbers[1])

    # -- instructions -------------------------------------------------------

    def fast_instruction(self, match: re.Match[str]) -> bool:
        """Read a line `_FAST_RE` matched; False when it needs the general path after all."""
        row = _FAST_ROWS.get(match.group(1))
        func = self.func
        if row is None or func is None:
            return False
        info, used, kinds = row
        count = 3 if match.group(4) is not None else 2 if match.group(3) is not None else 1 if match.group(2) else 0
        if count == len(used):
            slots = used
        elif count == 3:
            slots = (0, 1, 2)
        else:
            return False
        operands: list[IROperand] = [None, None, None]
        col = match.start(1) + 1
        cols = [col, col, col]
        cache = self.operand_cache
        for group, slot in enumerate(slots, 2):
            text = match.group(group)
            key = (kinds[slot], text)
            operand = cache.get(key)
            if operand is None:
                operand = self.operand(info, slot, ("w", text, match.start(group) + 1))
                cache[key] = operand
            operands[slot] = operand
            cols[slot] = match.start(group) + 1
        file = match.group(5)
        pos = None if file is None else Pos(int(file), int(match.group(6)), int(match.group(7)))
        func.body.append(
            IRInstr(
                info.op,
                (operands[0], operands[1], operands[2]),
                pos,
                Pos(self.path, self.lineno, col),
                (cols[0], cols[1], cols[2]),
            )
        )
        return True

    def instruction(self, tokens: list[Token]) -> None:
        kind, mnemonic, col = tokens[0]
        info = _opcode(kind, mnemonic, col)
        if self.func is None:
            raise _Error("asm-outside-function", f"instruction {mnemonic} outside a function (.func ... .end)", col)
        pos: Pos | None = None
        rest = tokens[1:]
        for i, token in enumerate(rest):
            if token[0] == "p" and token[1] == "@":
                pos = self.position(rest[i + 1 :], token[2])
                rest = rest[:i]
                break
        groups = _operand_groups(rest)
        used = _USED_SLOTS[info.op]
        if len(groups) == len(used):
            slots = used
        elif len(groups) == 3:
            slots = (0, 1, 2)
        else:
            raise _Error(
                "asm-operand-count",
                f"{mnemonic} takes {len(used)} operand{'s' if len(used) != 1 else ''}, not {len(groups)}",
                rest[0][2] if rest else col,
            )
        operands: list[IROperand] = [None, None, None]
        cols = [col, col, col]
        for slot, group in zip(slots, groups, strict=True):
            if len(group) != 1:
                where = group[1][2] if group else (rest[0][2] if rest else col)
                raise _Error("asm-syntax", f"{mnemonic}: operand {slot + 1} must be one item", where)
            operands[slot] = self.operand(info, slot, group[0])
            cols[slot] = group[0][2]
        self.func.body.append(
            IRInstr(
                info.op,
                (operands[0], operands[1], operands[2]),
                pos,
                Pos(self.path, self.lineno, col),
                (cols[0], cols[1], cols[2]),
            )
        )

    def literal_operand(self, kind: OperandKind, token: Token) -> tuple[IROperand, str]:
        """A number or `true` / `false` where an operand of `kind` is written: the operand, or None and its name."""
        text, col = token[1], token[2]
        if text in ("true", "false"):
            if kind is OperandKind.IMM:
                return Imm(1 if text == "true" else 0), text
            if kind is OperandKind.CONST:
                raise _Error("asm-bool-constant", f"{text} cannot be a pool constant (use loadb)", col)
            return None, text
        if kind is OperandKind.CONST:
            number = self.float_value(token)
            if number is not None:
                return ConstValue(number), text
            return ConstValue(self.int_value(token, I64_MIN, I64_MAX, "an int constant")), text
        if kind is OperandKind.IMM:
            return Imm(self.int_value(token, 0, U32_MAX, "an immediate")), text
        return None, f"number {show(text)[1:-1]} (a raw number is written #{show(text)[1:-1]})"

    def operand(self, info: OpInfo, slot: int, token: Token) -> IROperand:
        kind = info.operands[slot].kind
        tkind, text, col = token
        if tkind == "w" and text[0] == "#":
            return Raw(self.int_value((tkind, text[1:], col), 0, U32_MAX, "an operand"))
        what: str
        if tkind == "s":
            from_string = _FROM_STRING.get(kind)
            if from_string is not None:
                return from_string(self.text_value(token))
            what = "a string"
        elif tkind != "w":
            what = repr(text)
        elif is_register(text):
            if kind in (OperandKind.REG, OperandKind.ARGS, OperandKind.PAIR, OperandKind.FIELDS):
                return Reg(self.int_value((tkind, text[1:], col), 0, U32_MAX, "a register number"))
            what = f"register {show(text)[1:-1]}"
        elif text[0].isdigit() or (text[0] == "-" and len(text) > 1) or text in ("true", "false"):
            literal, what = self.literal_operand(kind, token)
            if literal is not None:
                return literal
        elif NAME_RE.fullmatch(text) is not None:
            from_name = _FROM_NAME.get(kind)
            if from_name is not None:
                return from_name(text)
            what = f"name {show(text)}"
        else:
            raise _Error("asm-syntax", f"{show(text)} is not an operand", col)
        raise _Error(
            "asm-operand-kind",
            f"{info.name}: operand {slot + 1} must be {_KIND_WORDS[kind]}, not {what}",
            col,
        )


#: What a string or a bare name becomes where an operand of each kind is written.
_FROM_STRING: dict[OperandKind, Callable[[str], IROperand]] = {
    OperandKind.CONST: ConstValue,
    OperandKind.FUNC: FuncRef,
    OperandKind.CAP: CapRef,
}
_FROM_NAME: dict[OperandKind, Callable[[str], IROperand]] = {
    OperandKind.CONST: ConstName,
    OperandKind.FUNC: FuncRef,
    OperandKind.CAP: CapRef,
    OperandKind.TARGET: Label,
}


def _comma_groups(tokens: list[Token]) -> list[list[Token]]:
    """Tokens split at commas (no groups for no tokens)."""
    return _operand_groups(tokens)


_DIRECTIVES = {
    ".version": _Parser.d_version,
    ".struct": _Parser.d_struct,
    ".file": _Parser.d_file,
    ".allow": _Parser.d_allow,
    ".const": _Parser.d_const,
    ".cap": _Parser.d_cap,
    ".func": _Parser.d_func,
    ".reg": _Parser.d_reg,
    ".regs": _Parser.d_regs,
    ".params": _Parser.d_params,
    ".pos": _Parser.d_pos,
    ".end": _Parser.d_end,
}


def _parse(given: object, given_path: object) -> tuple[IRModule, Module | None, list[Diagnostic]]:
    # Typed callers pass str; untyped ones may not, and still get a SourceError.
    path = given_path if isinstance(given_path, str) else str(given_path)
    if not isinstance(given, str):
        kind = type(given).__name__
        return IRModule(), None, [Diagnostic("asm-syntax", f"the input is {kind}, not text (decode it first)", path)]
    text = given
    parser = _Parser(text, path)
    # The parse makes many small objects and no reference cycles: pausing the
    # cyclic collector meanwhile saves about a third of the time on large files.
    collecting = gc.isenabled()
    gc.disable()
    try:
        try:
            parser.run()
        except RecursionError:  # never expected: the parser does not recurse
            parser.report("asm-syntax", "input too deeply nested", max(parser.lineno, 1), 1)
        module, problems = check_and_assemble(parser.ir, {path: text})
    finally:
        if collecting:
            gc.enable()
    diagnostics = parser.diags + problems
    if parser.dropped or len(diagnostics) > MAX_DIAGNOSTICS:
        extra = parser.dropped + max(0, len(diagnostics) - MAX_DIAGNOSTICS)
        diagnostics = diagnostics[:MAX_DIAGNOSTICS]
        diagnostics.append(Diagnostic("assembly", f"{extra} more problems not shown", path))
    return parser.ir, module, diagnostics


def parse_casm(text: str, path: str = "<input>") -> IRModule:
    """The IR of `.casm` text; raises `SourceError` listing every problem (the IR it returns always assembles)."""
    ir, _, diagnostics = _parse(text, path)
    raise_if_any(diagnostics)
    return ir


def assemble_text(text: str, path: str = "<input>") -> Module:
    """Parse and assemble `.casm` text in one step; raises `SourceError` listing every problem."""
    _, module, diagnostics = _parse(text, path)
    raise_if_any(diagnostics)
    assert module is not None
    return module
