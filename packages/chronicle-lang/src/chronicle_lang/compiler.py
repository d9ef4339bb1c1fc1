"""Name resolution, type checking and lowering: takes a `Program`, gives an `IRModule` or diagnostics.

One pass per function checks and emits together: every expression is typed
where it is lowered, so the IR can never disagree with the checker.  Any
diagnostic discards the IR.  An expression with an error gets the type
`ERROR`, which is accepted everywhere, so one mistake reports once.

Registers: parameters first, then locals and temporaries.  Temporaries are
returned to a per-type free pool as soon as they are read, and a block's
locals when the block ends; call arguments take a window of consecutive
free registers.  A function needing more than `max_registers` registers is
a diagnostic.  Every instruction carries the `.chr` position it came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chronicle_asm.ir import (
    CapRef,
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
    Reg,
)
from chronicle_vm.core.isa import OPCODES, Op
from chronicle_vm.core.model import Capability
from chronicle_vm.core.type_registry import row as row_of
from chronicle_vm.core.types import BOOL, INT, MAX_ARRAY_DEPTH, SCALAR_TYPES, STR, ValueType, array_type
from chronicle_vm.verifier.rules import CAP_NAME_MAX_LEN

from .builtins import BUILTINS, Builtin
from .consts import CONST_TYPES, Folded, fold_constants
from .diagnostics import Diagnostics, nearest_name
from .hints import equality_hint, method_call_hint, name_hint, undeclared_assignment_hint
from .syntax import (
    ArrayLit,
    Assign,
    Binary,
    Block,
    BoolLit,
    Break,
    Call,
    CapCall,
    ConstDecl,
    Continue,
    Expr,
    ExprStmt,
    FnDecl,
    ForEach,
    ForRange,
    If,
    Index,
    IntLit,
    Let,
    Name,
    Program,
    Return,
    Span,
    Stmt,
    StrLit,
    TypeExpr,
    Unary,
    While,
)

__all__ = ["BUILTINS", "ERROR", "compile_program"]

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
STR_ARRAY = STR.array_of()


@dataclass(frozen=True, slots=True)
class _Special:
    """A checker-only type: `<error>` (unifies with everything) or `nothing` (no value)."""

    name: str

    def __str__(self) -> str:
        return self.name


ERROR = _Special("<error>")
VOID = _Special("nothing")
Ty = ValueType | _Special

# The verifier's rule for declared capability names, checked here so chronc reports it at the source.
_CAP_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+", re.ASCII)


_ARITH = {"+": Op.ADD, "-": Op.SUB, "*": Op.MUL, "/": Op.DIV, "%": Op.MOD}
_ORDER = {"<": Op.LT, "<=": Op.LE, ">": Op.GT, ">=": Op.GE}
_BITWISE = {"&": Op.BAND, "|": Op.BOR, "^": Op.BXOR, "<<": Op.SHL, ">>": Op.SHR}
#: What an author from a language with `and`/`or` on bools may mean by a bitwise operator on two bools.
_BOOL_BITWISE = {"&": "&&", "|": "||"}
_EQUALITY = {"==": Op.EQ, "!=": Op.NE}


@dataclass(frozen=True, slots=True)
class _Sig:
    params: tuple[Ty, ...]
    result: Ty  # VOID when the function returns nothing


@dataclass(slots=True)
class _Var:
    name: str
    type: Ty
    reg: int
    span: Span


@dataclass(slots=True)
class _Loop:
    continue_label: str
    break_label: str
    broke: bool = False


def compile_program(program: Program, diags: Diagnostics, path: str, max_registers: int) -> IRModule:
    """Check and lower `program`; the IR is only meaningful when `diags` stayed empty."""
    caps: dict[str, tuple[_Sig, Capability | None]] = {}
    capabilities: list[Capability] = []
    for cap in program.caps:
        params = tuple(_resolve_type(p.type, diags) for p in cap.params)
        result = _resolve_type(cap.result, diags) if cap.result is not None else VOID
        _check_duplicate_params(cap.params, diags)
        if cap.name in caps:
            diags.error("duplicate-name", f"capability '{cap.name}' is declared twice", cap.name_span)
            continue
        if len(cap.name) > CAP_NAME_MAX_LEN or not _CAP_NAME.fullmatch(cap.name):
            diags.error(
                "bad-capability-name",
                f"capability name '{cap.name[:CAP_NAME_MAX_LEN]}' is not dotted lower-case words",
                cap.name_span,
                hint=f"write it like log.info or kv.get (at most {CAP_NAME_MAX_LEN} characters)",
            )
        model: Capability | None = None
        if all(isinstance(p, ValueType) for p in params) and result is not ERROR:
            model = Capability(
                cap.name,
                tuple(p for p in params if isinstance(p, ValueType)),
                result if isinstance(result, ValueType) else None,
            )
            capabilities.append(model)
        caps[cap.name] = (_Sig(params, result), model)

    sigs: dict[str, _Sig] = {}
    for fn in program.functions:
        params = tuple(_resolve_type(p.type, diags) for p in fn.params)
        result = _resolve_type(fn.result, diags) if fn.result is not None else VOID
        if fn.name in BUILTINS:
            diags.error(
                "reserved-name",
                f"'{fn.name}' is a builtin and cannot be redefined",
                fn.name_span,
                hint="choose another name",
            )
        elif fn.name in sigs:
            diags.error("duplicate-name", f"function '{fn.name}' is defined twice", fn.name_span)
            continue
        sigs[fn.name] = _Sig(params, result)

    consts = _constants(program.consts, sigs, caps, diags)
    module = IRModule(capabilities=capabilities, source_files=[path])
    seen: set[str] = set()
    for fn in program.functions:
        if fn.name in seen:
            continue
        seen.add(fn.name)
        if fn.name_span in program.unchecked_bodies:
            continue  # its body did not parse: only its signature counts
        compiler = _FunctionCompiler(fn, sigs, caps, diags, path, max_registers, program.unparsed_names, consts)
        module.functions.append(compiler.compile())
    return module


def _constants(
    decls: tuple[ConstDecl, ...],
    sigs: dict[str, _Sig],
    caps: dict[str, tuple[_Sig, Capability | None]],
    diags: Diagnostics,
) -> dict[str, Folded]:
    """The module's constants, folded (chronicle_lang.consts), after checking their names and types."""
    declared: dict[str, ValueType | None] = {}
    for decl in decls:
        ty = _resolve_type(decl.type, diags)
        if decl.name in declared:
            diags.error("duplicate-name", f"constant '{decl.name}' is declared twice", decl.name_span)
            continue
        if decl.name in BUILTINS or decl.name in sigs:
            what = "a builtin" if decl.name in BUILTINS else "a function"
            diags.error("duplicate-name", f"'{decl.name}' is {what} and cannot also be a constant", decl.name_span)
        if isinstance(ty, ValueType) and ty not in CONST_TYPES:
            allowed = ", ".join(str(t) for t in CONST_TYPES)
            diags.error(
                "type-mismatch",
                f"a constant is one of {allowed}, not {ty}",
                decl.type.span,
                hint="build arrays in the function that uses them",
            )
        declared[decl.name] = ty if isinstance(ty, ValueType) and ty in CONST_TYPES else None
    return fold_constants(decls, declared, diags)


def _resolve_type(written: TypeExpr | None, diags: Diagnostics) -> Ty:
    if written is None:
        return VOID
    base = SCALAR_TYPES.get(written.base)
    if base is None:
        hint_name = nearest_name(written.base, SCALAR_TYPES)
        diags.error(
            "unknown-type",
            f"unknown type '{written.base}'",
            written.span,
            hint=f"did you mean '{hint_name}'?" if hint_name else "the types are int, bool, str and [T]",
        )
        return ERROR
    if written.depth > MAX_ARRAY_DEPTH:
        diags.error("type-too-deep", f"arrays nest at most {MAX_ARRAY_DEPTH} deep", written.span)
        return ERROR
    return array_type(base, written.depth)


def _check_duplicate_params(params: tuple[object, ...], diags: Diagnostics) -> None:
    seen: set[str] = set()
    for param in params:
        name: str = param.name  # type: ignore[attr-defined]
        if name in seen:
            diags.error("duplicate-name", f"parameter '{name}' is declared twice", param.span)  # type: ignore[attr-defined]
        seen.add(name)


def _writes_once_at_the_end(expr: Expr) -> bool:
    """Whether lowering `expr` into a register writes it only with its last instruction, after every read.

    Then `x = x + 1` can compute straight into x's register: nothing reads x after it changes.
    """
    if isinstance(expr, Binary):
        return expr.op not in ("&&", "||")  # short-circuits write their result register early
    return isinstance(expr, Unary | Index)


def _mentions(expr: Expr, name: str) -> bool:
    """Whether `name` is read anywhere in `expr` (then a value cannot be built in its register)."""
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            if node.name == name:
                return True
        elif isinstance(node, ArrayLit):
            stack.extend(node.items)
        elif isinstance(node, Index):
            stack.extend((node.base, node.index))
        elif isinstance(node, Call | CapCall):
            stack.extend(node.args)
        elif isinstance(node, Unary):
            stack.append(node.operand)
        elif isinstance(node, Binary):
            stack.extend((node.left, node.right))
    return False


@dataclass(slots=True)
class _Registers:
    """Typed registers of one function with per-type free pools."""

    types: list[ValueType] = field(default_factory=list)
    free: dict[ValueType, set[int]] = field(default_factory=dict)
    temps: set[int] = field(default_factory=set)

    def new(self, ty: ValueType) -> int:
        self.types.append(ty)
        return len(self.types) - 1

    def alloc(self, ty: ValueType) -> int:
        pool = self.free.get(ty)
        if pool:
            reg = min(pool)
            pool.remove(reg)
            return reg
        return self.new(ty)

    def temp(self, ty: ValueType) -> int:
        reg = self.alloc(ty)
        self.temps.add(reg)
        return reg

    def release(self, reg: int) -> None:
        """Give back `reg` if it is a temporary (variables' registers are released by scope)."""
        if reg in self.temps:
            self.temps.discard(reg)
            self.free.setdefault(self.types[reg], set()).add(reg)

    def release_var(self, reg: int) -> None:
        if 0 <= reg < len(self.types):
            self.free.setdefault(self.types[reg], set()).add(reg)

    def window(self, tys: tuple[ValueType, ...]) -> int:
        """The first of len(tys) consecutive free registers typed `tys`, as temporaries."""
        first = self.free.get(tys[0], set())
        for start in sorted(first):
            if all(
                start + i < len(self.types) and self.types[start + i] == ty and start + i in self.free.get(ty, ())
                for i, ty in enumerate(tys)
            ):
                for i, ty in enumerate(tys):
                    self.free[ty].discard(start + i)
                    self.temps.add(start + i)
                return start
        start = len(self.types)
        for ty in tys:
            self.temps.add(self.new(ty))
        return start


class _FunctionCompiler:
    def __init__(
        self,
        fn: FnDecl,
        sigs: dict[str, _Sig],
        caps: dict[str, tuple[_Sig, Capability | None]],
        diags: Diagnostics,
        path: str,
        max_registers: int,
        unparsed_names: frozenset[str] = frozenset(),
        consts: dict[str, Folded] | None = None,
    ) -> None:
        self.fn = fn
        self.consts = consts or {}  # module-level constants, folded; locals and parameters shadow them
        # Functions and capabilities whose declarations did not parse: their calls are not reported.
        self.unparsed_names = unparsed_names
        self.sig = sigs[fn.name]
        self.sigs = sigs
        self.caps = caps
        self.diags = diags
        self.path = path
        self.max_registers = max_registers
        self.regs = _Registers()
        self.body: list[IRInstr | LabelDef] = []
        self.scopes: list[dict[str, _Var]] = []
        self.loops: list[_Loop] = []
        self.labels = 0
        self.fn_param_count = len(fn.params)

    # --- emission ----------------------------------------------------------

    def emit(self, op: Op, span: Span, a: IROperand = None, b: IROperand = None, c: IROperand = None) -> None:
        self.body.append(IRInstr(op, (a, b, c), Pos(self.path, span.line, span.col)))

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def place(self, name: str, span: Span) -> None:
        self.body.append(LabelDef(name, Pos(self.path, span.line, span.col)))

    def error(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.error(code, message, span, hint=hint)

    # --- scopes ------------------------------------------------------------

    def lookup(self, name: str) -> _Var | None:
        for scope in reversed(self.scopes):
            var = scope.get(name)
            if var is not None:
                return var
        return None

    def visible_names(self) -> Iterator[str]:
        for scope in self.scopes:
            yield from scope

    def declare(self, name: str, ty: Ty, reg: int, span: Span) -> _Var:
        scope = self.scopes[-1]
        if name in scope:
            self.error(
                "duplicate-name",
                f"'{name}' is already declared in this block",
                span,
                hint=f"assign with '{name} = ...' or choose another name",
            )
        var = _Var(name, ty, reg, span)
        scope[name] = var
        return var

    def push_scope(self) -> None:
        self.scopes.append({})

    def pop_scope(self) -> None:
        for var in self.scopes.pop().values():
            if var.reg >= self.fn_param_count:
                self.regs.release_var(var.reg)

    # --- function ----------------------------------------------------------

    def compile(self) -> IRFunction:
        fn = self.fn
        _check_duplicate_params(fn.params, self.diags)
        self.push_scope()
        for param, ty in zip(fn.params, self.sig.params, strict=True):
            reg = self.regs.new(ty if isinstance(ty, ValueType) else INT)
            self.scopes[-1].setdefault(param.name, _Var(param.name, ty, reg, param.span))
        ends = self.block_stmts(fn.body)
        self.pop_scope()
        result = self.sig.result
        end_span = Span(
            fn.body.span.end_line, max(1, fn.body.span.end_col - 1), fn.body.span.end_line, fn.body.span.end_col
        )
        if result is not VOID and result is not ERROR and not ends:
            self.error(
                "missing-return",
                f"function '{fn.name}' must return {result} on every path, but the end of its body can be reached",
                end_span,
                hint=f"add 'return <{result}>;' before this '}}'",
            )
        last = self.body[-1] if self.body else None
        if not (isinstance(last, IRInstr) and OPCODES[last.op].ends_block):
            if result is VOID:
                self.emit(Op.RETV, end_span)
            else:
                # Safety net: unreachable when the check above passed.
                self.emit(Op.TRAP, end_span, ConstValue(f"missing return in function '{fn.name}'"))
        if len(self.regs.types) > self.max_registers:
            self.error(
                "too-many-registers",
                f"function '{fn.name}' needs {len(self.regs.types)} registers,"
                f" more than the maximum of {self.max_registers}",
                fn.name_span,
                hint="split it into smaller functions",
            )
        return IRFunction(
            name=fn.name,
            exported=fn.exported,
            param_count=len(fn.params),
            result=result if isinstance(result, ValueType) else None,
            registers=list(self.regs.types),
            body=self.body,
            pos=Pos(self.path, fn.span.line, fn.span.col),
        )

    # --- statements --------------------------------------------------------

    def block_stmts(self, block: Block) -> bool:
        """Lower the statements of `block` in the current scope; True when its end cannot be reached."""
        ends = False
        for stmt in block.stmts:
            if self.stmt(stmt):
                ends = True
        return ends

    def block(self, block: Block) -> bool:
        self.push_scope()
        ends = self.block_stmts(block)
        self.pop_scope()
        return ends

    def stmt(self, stmt: Stmt) -> bool:
        if isinstance(stmt, Let):
            self.let(stmt)
            return False
        if isinstance(stmt, Assign):
            self.assign(stmt)
            return False
        if isinstance(stmt, ExprStmt):
            _, reg = self.value(stmt.expr, allow_void=True)
            self.regs.release(reg)
            return False
        if isinstance(stmt, If):
            return self.if_stmt(stmt)
        if isinstance(stmt, While):
            return self.while_stmt(stmt)
        if isinstance(stmt, ForEach):
            self.for_each(stmt)
            return False
        if isinstance(stmt, ForRange):
            self.for_range(stmt)
            return False
        if isinstance(stmt, Break | Continue):
            if not self.loops:
                word = "break" if isinstance(stmt, Break) else "continue"
                self.error("loop-control", f"'{word}' outside a loop", stmt.span)
                return True
            loop = self.loops[-1]
            if isinstance(stmt, Break):
                loop.broke = True
                self.emit(Op.JMP, stmt.span, Label(loop.break_label))
            else:
                self.emit(Op.JMP, stmt.span, Label(loop.continue_label))
            return True
        if isinstance(stmt, Return):
            self.return_stmt(stmt)
            return True
        return self.block(stmt)

    def let(self, stmt: Let) -> None:
        declared = _resolve_type(stmt.annotation, self.diags) if stmt.annotation is not None else None
        ty, reg = self.value(stmt.value, expected=declared)
        if declared is not None:
            self.expect(ty, declared, stmt.value, f"the declared type of '{stmt.name}'")
            ty = declared
        if isinstance(ty, ValueType):
            if reg in self.regs.temps:
                self.regs.temps.discard(reg)  # the temporary becomes the variable
            else:
                value_reg = reg
                reg = self.regs.alloc(ty)
                self.emit(Op.MOV, stmt.span, Reg(reg), Reg(value_reg))
        else:
            reg = -1
        self.declare(stmt.name, ty, reg, stmt.name_span)

    def assign(self, stmt: Assign) -> None:
        target = stmt.target
        if isinstance(target, Name):
            var = self.lookup(target.name)
            if var is None and target.name in self.consts:
                self.value(stmt.value)
                self.error(
                    "assign-to-const",
                    f"'{target.name}' is a constant and cannot be assigned",
                    target.span,
                    hint=f"copy it into a variable first: 'let {target.name.lower()} = {target.name};'",
                )
                return
            if var is None:
                near = nearest_name(target.name, self.visible_names())
                written = stmt.value.span
                shown = "..."  # `x = x + 1` has no first value to quote
                short = written.line == written.end_line and written.end_col - written.col <= 30
                if short and not _mentions(stmt.value, target.name):
                    shown = self.diags.source_line(written.line)[written.col - 1 : written.end_col - 1]
                hint = undeclared_assignment_hint(target.name, shown, near)
                self.error("unknown-name", f"unknown name '{target.name}'", target.span, hint=hint)
                # Declared from here on (untyped), so its uses, in this value too, do not report it again.
                self.declare(target.name, ERROR, -1, target.span)
                self.value(stmt.value)
                return
            into_variable = _writes_once_at_the_end(stmt.value) or not _mentions(stmt.value, var.name)
            dst = var.reg if isinstance(var.type, ValueType) and into_variable else None
            ty, reg = self.value(stmt.value, expected=var.type, dst=dst)
            self.expect(ty, var.type, stmt.value, f"'{var.name}'")
            if reg != var.reg and isinstance(var.type, ValueType) and reg >= 0:
                self.emit(Op.MOV, stmt.span, Reg(var.reg), Reg(reg))
            self.regs.release(reg)
            return
        if isinstance(target, Index):
            base_ty, base = self.value(target.base)
            index_ty, index = self.value(target.index, expected=INT)
            if base_ty == STR:
                self.value(stmt.value)
                self.error(
                    "not-assignable",
                    "strings are immutable: a character cannot be assigned",
                    target.span,
                    hint="build a new string with slice() and +",
                )
                return
            elem: Ty = ERROR
            if isinstance(base_ty, ValueType):
                if base_ty.is_array:
                    elem = base_ty.element()
                else:
                    self.error("type-mismatch", f"cannot index a value of type {base_ty}", target.base.span)
            self.expect(index_ty, INT, target.index, "an index")
            value_ty, value = self.value(stmt.value, expected=elem)
            self.expect(value_ty, elem, stmt.value, "the array's element type")
            self.emit(Op.SETIDX, stmt.span, Reg(base), Reg(index), Reg(value))
            for reg in (base, index, value):
                self.regs.release(reg)
            return
        self.value(stmt.value)
        self.error(
            "not-assignable",
            "only a variable or an array element can be assigned",
            target.span,
            hint="write 'name = value;' or 'array[i] = value;'",
        )

    def if_stmt(self, stmt: If) -> bool:
        end = self.label()
        all_end = True
        for cond, body in stmt.branches:
            skip = self.label()
            self.condition(cond, skip)
            if not self.block(body):
                all_end = False
                self.emit(Op.JMP, body.span, Label(end))
            self.place(skip, body.span)
        if stmt.otherwise is not None:
            if not self.block(stmt.otherwise):
                all_end = False
        else:
            all_end = False
        self.place(end, stmt.span)
        return all_end

    def condition(self, cond: Expr, label: str, *, jump_if: bool = False) -> None:
        """Jump to `label` when `cond` is `jump_if`; fall through otherwise."""
        ty, reg = self.value(cond, expected=BOOL)
        self.expect(ty, BOOL, cond, "a condition")
        self.emit(Op.JMPIF if jump_if else Op.JMPIFNOT, cond.span, Reg(reg), Label(label))
        self.regs.release(reg)

    # Loops are inverted: the test runs once before the loop and again after each iteration, jumping back while
    # it holds.  An iteration then runs one branch instead of a branch and a `jmp`, and the body and its test
    # form one straight run that ends in a jump to its own start (what the compiled engine turns into a loop).

    def loop_test(self, cond: Expr, top: str) -> None:
        """The test after the body: `cond` lowered a second time; its problems were reported at the entry test."""
        if self.diags.items or self.diags.dropped:
            self.emit(Op.JMP, cond.span, Label(top))  # a file with errors gives no module
            return
        self.condition(cond, top, jump_if=True)

    def while_stmt(self, stmt: While) -> bool:
        top, test, done = self.label(), self.label(), self.label()
        forever = isinstance(stmt.cond, BoolLit) and stmt.cond.value
        if not forever:
            self.condition(stmt.cond, done)
        self.place(top, stmt.span)
        loop = _Loop(test, done)
        self.loops.append(loop)
        self.block(stmt.body)
        self.loops.pop()
        self.place(test, stmt.span)
        if forever:
            self.emit(Op.JMP, stmt.span, Label(top))
        else:
            self.loop_test(stmt.cond, top)
        self.place(done, stmt.span)
        return forever and not loop.broke

    def for_each(self, stmt: ForEach) -> None:
        ty, source = self.value(stmt.iterable)
        elem: Ty = ERROR
        if isinstance(ty, ValueType):
            if ty.is_array:
                elem = ty.element()
            else:
                self.error(
                    "type-mismatch",
                    f"'for x in' needs an array, found {ty}",
                    stmt.iterable.span,
                    hint="for a range of ints write 'for i in lo..hi'" if ty == INT else None,
                )
        if not isinstance(ty, ValueType) or not isinstance(elem, ValueType):
            self.loop_body(stmt.var, ERROR, stmt.var_span, stmt.body, None, None, stmt.span)
            return
        span = stmt.iterable.span
        array = source
        if source not in self.regs.temps:
            # The loop walks the array it started with, even if the variable is reassigned.
            array = self.regs.temp(ty)
            self.emit(Op.MOV, span, Reg(array), Reg(source))
        counter = self.regs.temp(INT)
        self.emit(Op.LOADK, span, Reg(counter), ConstValue(0))
        top, step, done = self.label(), self.label(), self.label()
        self.array_test(array, counter, done, span, jump_if=False)
        self.place(top, span)
        self.push_scope()
        var = self.regs.alloc(elem)
        self.declare(stmt.var, elem, var, stmt.var_span)
        self.emit(Op.GETIDX, stmt.var_span, Reg(var), Reg(array), Reg(counter))
        self.loops.append(_Loop(step, done))
        self.block(stmt.body)
        self.loops.pop()
        self.pop_scope()
        self.place(step, stmt.span)
        self.increment(counter, stmt.span)
        self.array_test(array, counter, top, span, jump_if=True)
        self.place(done, stmt.span)
        self.regs.release(counter)
        self.regs.release(array)

    def array_test(self, array: int, counter: int, label: str, span: Span, *, jump_if: bool) -> None:
        """Jump to `label` when `counter < len(array)` is `jump_if` (the length is read each time: bodies may push)."""
        length = self.regs.temp(INT)
        self.emit(Op.LEN, span, Reg(length), Reg(array))
        more = self.regs.temp(BOOL)
        self.emit(Op.LT, span, Reg(more), Reg(counter), Reg(length))
        self.emit(Op.JMPIF if jump_if else Op.JMPIFNOT, span, Reg(more), Label(label))
        self.regs.release(more)
        self.regs.release(length)

    def range_test(self, counter: int, hi: int, label: str, span: Span, *, jump_if: bool) -> None:
        more = self.regs.temp(BOOL)
        self.emit(Op.LT, span, Reg(more), Reg(counter), Reg(hi))
        self.emit(Op.JMPIF if jump_if else Op.JMPIFNOT, span, Reg(more), Label(label))
        self.regs.release(more)

    def increment(self, counter: int, span: Span) -> None:
        one = self.regs.temp(INT)
        self.emit(Op.LOADK, span, Reg(one), ConstValue(1))
        self.emit(Op.ADD, span, Reg(counter), Reg(counter), Reg(one))
        self.regs.release(one)

    def for_range(self, stmt: ForRange) -> None:
        lo_ty, lo = self.value(stmt.lo, expected=INT)
        self.expect(lo_ty, INT, stmt.lo, "a range bound")
        counter = lo
        if lo not in self.regs.temps and lo >= 0:
            counter = self.regs.temp(INT)
            self.emit(Op.MOV, stmt.lo.span, Reg(counter), Reg(lo))
        hi_ty, hi = self.value(stmt.hi, expected=INT)
        self.expect(hi_ty, INT, stmt.hi, "a range bound")
        if hi not in self.regs.temps and hi >= 0:
            # The bound is read once: later assignments to its variable do not move it.
            copy = self.regs.temp(INT)
            self.emit(Op.MOV, stmt.hi.span, Reg(copy), Reg(hi))
            hi = copy
        self.loop_body(stmt.var, INT, stmt.var_span, stmt.body, counter, hi, stmt.span)
        self.regs.release(counter)
        self.regs.release(hi)

    def loop_body(
        self, name: str, ty: Ty, var_span: Span, body: Block, counter: int | None, hi: int | None, span: Span
    ) -> None:
        top, step, done = self.label(), self.label(), self.label()
        if counter is not None and hi is not None:
            self.range_test(counter, hi, done, var_span, jump_if=False)
        self.place(top, span)
        self.push_scope()
        var = self.regs.alloc(ty) if isinstance(ty, ValueType) else -1
        self.declare(name, ty, var, var_span)
        if counter is not None:
            self.emit(Op.MOV, var_span, Reg(var), Reg(counter))
        self.loops.append(_Loop(step, done))
        self.block(body)
        self.loops.pop()
        self.pop_scope()
        self.place(step, span)
        if counter is not None and hi is not None:
            self.increment(counter, span)
            self.range_test(counter, hi, top, var_span, jump_if=True)
        else:  # only after an error, when no module is produced
            self.emit(Op.JMP, span, Label(top))
        self.place(done, span)

    def return_stmt(self, stmt: Return) -> None:
        result = self.sig.result
        if stmt.value is None:
            if result is not VOID and result is not ERROR:
                self.error(
                    "return-value",
                    f"function '{self.fn.name}' must return a value of type {result}",
                    stmt.span,
                )
            self.emit(Op.RETV, stmt.span)
            return
        if result is VOID:
            self.value(stmt.value, allow_void=True)
            self.error(
                "return-value",
                f"function '{self.fn.name}' has no result type, so 'return' takes no value",
                stmt.value.span,
                hint="declare the result: 'fn name(...) -> type'",
            )
            return
        ty, reg = self.value(stmt.value, expected=result)
        self.expect(ty, result, stmt.value, f"the result of '{self.fn.name}'")
        self.emit(Op.RET, stmt.span, Reg(reg))
        self.regs.release(reg)

    # --- expressions -------------------------------------------------------

    def expect(self, actual: Ty, wanted: Ty, expr: Expr, what: str) -> None:
        if actual is ERROR or wanted is ERROR or actual == wanted:
            return
        self.error("type-mismatch", f"expected {wanted} for {what}, found {actual}", expr.span)

    def unknown_name(self, node: Name) -> None:
        near = nearest_name(node.name, self.visible_names())
        hint = f"did you mean '{near}'?" if near else None
        if node.name in self.sigs or node.name in BUILTINS:
            hint = f"'{node.name}' is a function: call it with '{node.name}(...)'"
        elif name_hint(node.name) is not None:
            hint = name_hint(node.name)
        self.error("unknown-name", f"unknown name '{node.name}'", node.span, hint=hint)

    def target(self, ty: ValueType, dst: int | None) -> int:
        return dst if dst is not None else self.regs.temp(ty)

    def value(
        self, expr: Expr, expected: Ty | None = None, dst: int | None = None, allow_void: bool = False
    ) -> tuple[Ty, int]:
        """Lower `expr`; gives its type and the register holding it (`dst` when given; -1 on error)."""
        ty, reg = self._value(expr, expected, dst)
        if ty is VOID and not allow_void:
            self.error("no-value", "this call returns nothing, so it has no value to use", expr.span)
            return ERROR, -1
        if dst is not None and isinstance(ty, ValueType) and reg != dst and reg >= 0:
            self.emit(Op.MOV, expr.span, Reg(dst), Reg(reg))
            self.regs.release(reg)
            reg = dst
        return ty, reg

    def _value(self, expr: Expr, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        span = expr.span
        if isinstance(expr, IntLit):
            return self.int_const(expr.value, span, dst)
        if isinstance(expr, BoolLit):
            reg = self.target(BOOL, dst)
            self.emit(Op.LOADB, span, Reg(reg), Imm(1 if expr.value else 0))
            return BOOL, reg
        if isinstance(expr, StrLit):
            reg = self.target(STR, dst)
            self.emit(Op.LOADK, span, Reg(reg), ConstValue(expr.value))
            return STR, reg
        if isinstance(expr, Name):
            var = self.lookup(expr.name)
            if var is None:
                return self.constant(expr, dst)
            return var.type, var.reg
        if isinstance(expr, ArrayLit):
            return self.array_lit(expr, expected, dst)
        if isinstance(expr, Index):
            return self.index(expr, dst)
        if isinstance(expr, Call):
            return self.call(expr, expected, dst)
        if isinstance(expr, CapCall):
            return self.capcall(expr, dst)
        if isinstance(expr, Unary):
            return self.unary(expr, dst)
        return self.binary(expr, dst)

    def constant(self, expr: Name, dst: int | None) -> tuple[Ty, int]:
        """A module-level constant: its folded value loaded like a literal (or an unknown name)."""
        folded = self.consts.get(expr.name)
        if folded is None:
            if expr.name not in self.unparsed_names:  # a broken declaration was reported where it is
                self.unknown_name(expr)
            return ERROR, -1
        value = folded.value
        if value is None:
            return ERROR, -1  # its declaration's error is reported
        reg = self.target(folded.type, dst)
        if type(value) is bool:
            self.emit(Op.LOADB, expr.span, Reg(reg), Imm(1 if value else 0))
        else:
            self.emit(Op.LOADK, expr.span, Reg(reg), ConstValue(value))
        return folded.type, reg

    def int_const(self, value: int, span: Span, dst: int | None) -> tuple[Ty, int]:
        if not INT_MIN <= value <= INT_MAX:
            self.error("int-out-of-range", f"integer {value} does not fit in 64 bits", span)
            return ERROR, -1
        reg = self.target(INT, dst)
        self.emit(Op.LOADK, span, Reg(reg), ConstValue(value))
        return INT, reg

    def empty_array(self, expr: ArrayLit, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        """`[]`: typed by its context (`expected`, an array type), else a cannot-infer error."""
        if not (isinstance(expected, ValueType) and expected.is_array):
            if expected is ERROR:
                return ERROR, -1  # already reported
            self.error(
                "cannot-infer",
                "cannot tell the element type of an empty array here",
                expr.span,
                hint="annotate it, for example: let xs: [int] = [];",
            )
            return ERROR, -1
        reg = self.target(expected, dst)
        self.emit(Op.NEWARR, expr.span, Reg(reg))
        return expected, reg

    def array_lit(self, expr: ArrayLit, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        want_elem: Ty | None = None
        if isinstance(expected, ValueType) and expected.is_array:
            want_elem = expected.element()
        if not expr.items:
            return self.empty_array(expr, expected, dst)
        # Items are evaluated into temporaries first, so an item may read the target variable.
        elem = want_elem
        order = list(range(len(expr.items)))
        if elem is None:
            # Any item types the empty ones (`[[], [1]]` as `[[1], []]`): the first item that is not all
            # empty arrays is compiled first.  Empty array literals have no effects, so nothing observable moves.
            first = next((k for k, item in enumerate(expr.items) if not _all_empty(item)), 0)
            order.insert(0, order.pop(first))
        compiled: dict[int, tuple[Ty, int, Expr]] = {}
        for position in order:
            item = expr.items[position]
            ty, reg = self.value(item, expected=elem)
            if elem is None or elem is ERROR:
                elem = ty
            else:
                self.expect(ty, elem, item, "an item of this array")
            compiled[position] = (ty, reg, item)
        items = [compiled[position] for position in range(len(expr.items))]
        if not isinstance(elem, ValueType):
            for _, reg, _ in items:
                self.regs.release(reg)
            return ERROR, -1
        if elem.depth >= MAX_ARRAY_DEPTH:
            self.error("type-too-deep", f"arrays nest at most {MAX_ARRAY_DEPTH} deep", expr.span)
            return ERROR, -1
        array_ty = elem.array_of()
        reg = self.target(array_ty, dst)
        self.emit(Op.NEWARR, expr.span, Reg(reg))
        for _, item_reg, item in items:
            self.emit(Op.PUSH, item.span, Reg(reg), Reg(item_reg))
        for _, item_reg, _ in items:
            self.regs.release(item_reg)
        return array_ty, reg

    def index(self, expr: Index, dst: int | None) -> tuple[Ty, int]:
        base_ty, base = self.value(expr.base)
        index_ty, index = self.value(expr.index, expected=INT)
        self.expect(index_ty, INT, expr.index, "an index")
        self.regs.release(base)
        self.regs.release(index)
        if base_ty == STR:
            reg = self.target(STR, dst)
            self.emit(Op.CHARAT, expr.span, Reg(reg), Reg(base), Reg(index))
            return STR, reg
        if isinstance(base_ty, ValueType) and base_ty.is_array:
            elem = base_ty.element()
            reg = self.target(elem, dst)
            self.emit(Op.GETIDX, expr.span, Reg(reg), Reg(base), Reg(index))
            return elem, reg
        if base_ty is not ERROR:
            self.error("type-mismatch", f"cannot index a value of type {base_ty}; only str and arrays", expr.base.span)
        return ERROR, -1

    def args_into_window(self, args: tuple[Expr, ...], params: tuple[Ty, ...], what: str) -> int | None:
        """Evaluate `args` left to right into a fresh window typed `params`; gives its first register."""
        concrete = tuple(p if isinstance(p, ValueType) else INT for p in params)
        base = self.regs.window(concrete) if concrete else None
        for i, (arg, param) in enumerate(zip(args, params, strict=True)):
            ty, _ = self.value(arg, expected=param, dst=None if base is None else base + i)
            self.expect(ty, param, arg, f"argument {i + 1} of {what}")
        return base

    def release_window(self, base: int | None, count: int) -> None:
        if base is not None:
            for i in range(count):
                self.regs.release(base + i)

    def check_count(self, args: tuple[Expr, ...], count: int, name: str, span: Span, signature: str) -> bool:
        if len(args) == count:
            return True
        for arg in args:
            _, reg = self.value(arg, allow_void=True)
            self.regs.release(reg)
        plural = "argument" if count == 1 else "arguments"
        self.error(
            "argument-count",
            f"'{name}' takes {count} {plural}, given {len(args)}",
            span,
            hint=f"signature: {signature}",
        )
        return False

    def call(self, expr: Call, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        if expr.name in BUILTINS and expr.name not in self.sigs:
            return self.builtin(expr, expected, dst)
        sig = self.sigs.get(expr.name)
        if sig is None:
            for arg in expr.args:
                _, reg = self.value(arg, allow_void=True)
                self.regs.release(reg)
            if expr.name in self.unparsed_names:
                pass  # its declaration did not parse and was reported there
            elif self.lookup(expr.name) is not None:
                self.error("unknown-function", f"'{expr.name}' is a variable, not a function", expr.name_span)
            else:
                near = nearest_name(expr.name, [*self.sigs, *BUILTINS])
                self.error(
                    "unknown-function",
                    f"unknown function '{expr.name}'",
                    expr.name_span,
                    hint=f"did you mean '{near}'?" if near else None,
                )
            return ERROR, -1
        signature = f"{expr.name}({', '.join(str(p) for p in sig.params)})" + (
            "" if sig.result is VOID else f" -> {sig.result}"
        )
        if not self.check_count(expr.args, len(sig.params), expr.name, expr.span, signature):
            return sig.result, -1
        base = self.args_into_window(expr.args, sig.params, f"'{expr.name}'")
        self.release_window(base, len(sig.params))
        return self.finish_call(Op.CALL, FuncRef(expr.name), base, sig.result, expr.span, dst)

    def finish_call(
        self, op: Op, callee: IROperand, base: int | None, result: Ty, span: Span, dst: int | None
    ) -> tuple[Ty, int]:
        window = Reg(base) if base is not None else None
        if isinstance(result, ValueType):
            reg = self.target(result, dst)
            self.emit(op, span, callee, window, Reg(reg))
            return result, reg
        self.emit(op, span, callee, window, None)
        return result, -1

    def capcall(self, expr: CapCall, dst: int | None) -> tuple[Ty, int]:
        entry = self.caps.get(expr.name)
        if entry is None:
            for arg in expr.args:
                _, reg = self.value(arg, allow_void=True)
                self.regs.release(reg)
            receiver, _, method = expr.name.partition(".")
            if expr.name in self.unparsed_names:
                pass  # its declaration did not parse and was reported there
            elif self.lookup(receiver) is not None and "." not in method:
                # `s.len()` on a variable: a method call from another language, not a capability.
                arity = {name: row.signature.count(",") + 1 for name, row in BUILTINS.items()}
                self.error(
                    "method-call",
                    f"'{receiver}' is a variable: values have no methods like '.{method}()'",
                    expr.name_span,
                    hint=method_call_hint(receiver, method, arity),
                )
            else:
                near = nearest_name(expr.name, self.caps)
                hint = f"did you mean '{near}'?" if near else f"declare it first, e.g. 'cap {expr.name}(...);'"
                self.error("unknown-capability", f"capability '{expr.name}' is not declared", expr.name_span, hint=hint)
            return ERROR, -1
        sig, _ = entry
        signature = f"{expr.name}({', '.join(str(p) for p in sig.params)})" + (
            "" if sig.result is VOID else f" -> {sig.result}"
        )
        if not self.check_count(expr.args, len(sig.params), expr.name, expr.span, signature):
            return sig.result, -1
        base = self.args_into_window(expr.args, sig.params, f"'{expr.name}'")
        self.release_window(base, len(sig.params))
        return self.finish_call(Op.CAPCALL, CapRef(expr.name), base, sig.result, expr.span, dst)

    def builtin(self, expr: Call, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        row = BUILTINS[expr.name]
        if row.simple:
            return self.builtin_simple(row, expr, dst)
        lower: Callable[[Builtin, Call, int | None], tuple[Ty, int]] = getattr(self, f"builtin_{row.lowering}")
        return lower(row, expr, dst)

    def builtin_simple(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        """A builtin that is one instruction over fixed types: the same check and lowering for every such row."""
        name, args, span = expr.name, expr.args, expr.span
        assert row.op is not None and row.returns is not None
        result = row.returns
        if not self.check_count(args, len(row.params), name, span, row.full_signature):
            return result, -1
        regs: list[int] = []
        for i, (arg, param) in enumerate(zip(args, row.params, strict=True)):
            ty, reg = self.value(arg, expected=param)
            self.expect(ty, param, arg, f"argument {i + 1} of '{name}'")
            regs.append(reg)
        for reg in regs:
            self.regs.release(reg)
        out = self.target(result, dst)
        operands: list[IROperand] = [Reg(out), *(Reg(r) for r in regs)]
        while len(operands) < 3:
            operands.append(None)
        self.emit(row.op, span, operands[0], operands[1], operands[2])
        return result, out

    def builtin_len(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 1, expr.name, span, row.full_signature):
            return INT, -1
        ty, reg = self.value(args[0])
        self.regs.release(reg)
        if ty is not ERROR and not (ty == STR or (isinstance(ty, ValueType) and ty.is_array)):
            self.error("type-mismatch", f"len() takes a str or an array, found {ty}", args[0].span)
        out = self.target(INT, dst)
        self.emit(Op.LEN, span, Reg(out), Reg(reg))
        return INT, out

    def builtin_str(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 1, expr.name, span, row.full_signature):
            return STR, -1
        ty, reg = self.value(args[0])
        self.regs.release(reg)
        if isinstance(ty, ValueType) and ty.is_array:
            self.error(
                "type-mismatch",
                f"str() takes an int, bool or str, found {ty}",
                args[0].span,
                hint="join(items, sep) makes one str of a [str]",
            )
        out = self.target(STR, dst)
        self.emit(Op.TOSTR, span, Reg(out), Reg(reg))
        return STR, out

    def _array_argument(self, name: str, arg: Expr) -> tuple[Ty, int]:
        """The array a push or pop works on, and its element type (ERROR when it is not an array)."""
        ty, array = self.value(arg)
        if isinstance(ty, ValueType):
            if ty.is_array:
                return ty.element(), array
            self.error("type-mismatch", f"{name}() takes an array first, found {ty}", arg.span)
        return ERROR, array

    def builtin_push(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 2, expr.name, span, row.full_signature):
            return VOID, -1
        elem, array = self._array_argument(expr.name, args[0])
        item_ty, item = self.value(args[1], expected=elem)
        self.expect(item_ty, elem, args[1], "the array's element type")
        self.emit(Op.PUSH, span, Reg(array), Reg(item))
        self.regs.release(item)
        self.regs.release(array)
        return VOID, -1

    def builtin_pop(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 1, expr.name, span, row.full_signature):
            return ERROR, -1
        elem, array = self._array_argument(expr.name, args[0])
        self.regs.release(array)
        if not isinstance(elem, ValueType):
            return ERROR, -1
        out = self.target(elem, dst)
        self.emit(Op.POP, span, Reg(out), Reg(array))
        return elem, out

    def builtin_slice(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        """slice(s, lo, hi) on a string or an array: the bounds go in a register pair."""
        args, span = expr.args, expr.span
        if not self.check_count(args, 3, expr.name, span, row.full_signature):
            return ERROR, -1
        s_ty, s = self.value(args[0])
        is_array = isinstance(s_ty, ValueType) and s_ty.is_array
        if s_ty is not ERROR and s_ty != STR and not is_array:
            self.error("type-mismatch", f"slice() takes a str or an array first, found {s_ty}", args[0].span)
        base = self.args_into_window(args[1:], (INT, INT), "'slice'")
        self.release_window(base, 2)
        self.regs.release(s)
        if not isinstance(s_ty, ValueType) or not (is_array or s_ty == STR):
            return ERROR, -1
        out = self.target(s_ty, dst)
        self.emit(Op.ASLICE if is_array else Op.SLICE, span, Reg(out), Reg(s), Reg(base if base is not None else 0))
        return s_ty, out

    def builtin_replace(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        """replace(s, old, new): `old` and `new` go in a register pair."""
        args, span = expr.args, expr.span
        if not self.check_count(args, 3, expr.name, span, row.full_signature):
            return STR, -1
        s_ty, s = self.value(args[0], expected=STR)
        self.expect(s_ty, STR, args[0], "argument 1 of 'replace'")
        base = self.args_into_window(args[1:], (STR, STR), "'replace'")
        self.release_window(base, 2)
        self.regs.release(s)
        out = self.target(STR, dst)
        self.emit(Op.REPLACE, span, Reg(out), Reg(s), Reg(base if base is not None else 0))
        return STR, out

    def _whole_array(self, row: Builtin, expr: Call) -> tuple[Ty, int]:
        """The one array argument of sort() or copy() and its type (ERROR when it is not an array)."""
        if not self.check_count(expr.args, 1, expr.name, expr.span, row.full_signature):
            return ERROR, -1
        ty, array = self.value(expr.args[0])
        self.regs.release(array)
        if isinstance(ty, ValueType) and not ty.is_array:
            self.error("type-mismatch", f"{expr.name}() takes an array, found {ty}", expr.args[0].span)
            return ERROR, -1
        return ty, array

    def builtin_sort(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        ty, array = self._whole_array(row, expr)
        if not isinstance(ty, ValueType):
            return ERROR, -1
        element = ty.element()
        if element.depth or not row_of(element).orderable:  # the VM's `sort` takes ordered element types
            self.error(
                "type-mismatch",
                f"sort() orders ints or strs, not the items of {ty}",
                expr.args[0].span,
                hint="sort by a key: keep an array of ints or strs and sort that",
            )
            return ERROR, -1
        out = self.target(ty, dst)
        self.emit(Op.SORT, expr.span, Reg(out), Reg(array))
        return ty, out

    def builtin_copy(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        ty, array = self._whole_array(row, expr)
        if not isinstance(ty, ValueType):
            return ERROR, -1
        out = self.target(ty, dst)
        self.emit(Op.COPY, expr.span, Reg(out), Reg(array))
        return ty, out

    def builtin_insert(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 3, expr.name, span, row.full_signature):
            return VOID, -1
        elem, array = self._array_argument(expr.name, args[0])
        index_ty, index = self.value(args[1], expected=INT)
        self.expect(index_ty, INT, args[1], "argument 2 of 'insert'")
        item_ty, item = self.value(args[2], expected=elem)
        self.expect(item_ty, elem, args[2], "the array's element type")
        self.emit(Op.INSERT, span, Reg(array), Reg(index), Reg(item))
        for reg in (item, index, array):
            self.regs.release(reg)
        return VOID, -1

    def builtin_remove_at(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 2, expr.name, span, row.full_signature):
            return ERROR, -1
        elem, array = self._array_argument(expr.name, args[0])
        index_ty, index = self.value(args[1], expected=INT)
        self.expect(index_ty, INT, args[1], "argument 2 of 'remove_at'")
        self.regs.release(index)
        self.regs.release(array)
        if not isinstance(elem, ValueType):
            return ERROR, -1
        out = self.target(elem, dst)
        self.emit(Op.REMOVEAT, span, Reg(out), Reg(array), Reg(index))
        return elem, out

    def unary(self, expr: Unary, dst: int | None) -> tuple[Ty, int]:
        if expr.op == "-" and isinstance(expr.operand, IntLit):
            return self.int_const(-expr.operand.value, expr.span, dst)
        want = BOOL if expr.op == "!" else INT
        ty, reg = self.value(expr.operand, expected=want)
        self.regs.release(reg)
        if ty is ERROR:
            return ERROR, -1
        if ty != want:
            self.error("type-mismatch", f"unary '{expr.op}' needs {want}, found {ty}", expr.operand.span)
            return ERROR, -1
        out = self.target(want, dst)
        code = {"-": Op.NEG, "!": Op.NOT, "~": Op.BNOT}[expr.op]
        self.emit(code, expr.span, Reg(out), Reg(reg))
        return want, out

    def operator_code(self, expr: Binary, left_ty: ValueType, right_ty: ValueType) -> tuple[Op, ValueType] | None:
        """The instruction and result type of binary operator `expr.op` on these operand types (None: reported)."""
        op = expr.op
        if op in _ARITH:
            if op == "+" and left_ty == STR and right_ty == STR:
                code, result = Op.CONCAT, STR
            elif left_ty == INT and right_ty == INT:
                code, result = _ARITH[op], INT
            else:
                needs = "two ints or two strs" if op == "+" else "two ints"
                hint = "convert with str(x) first" if op == "+" and STR in (left_ty, right_ty) else None
                self.error(
                    "type-mismatch",
                    f"'{op}' needs {needs}, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=hint,
                )
                return None
        elif op in _BITWISE:
            if left_ty != INT or right_ty != INT:
                both_bool = left_ty == BOOL and right_ty == BOOL and op in _BOOL_BITWISE
                self.error(
                    "type-mismatch",
                    f"'{op}' needs two ints, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=f"for bools write '{_BOOL_BITWISE[op]}'" if both_bool else None,
                )
                return None
            code, result = _BITWISE[op], INT
        elif op in _ORDER:
            if left_ty != right_ty or left_ty not in (INT, STR):
                self.error(
                    "type-mismatch",
                    f"'{op}' compares two ints or two strs, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=equality_hint(op, str(left_ty), str(right_ty)),
                )
                return None
            code, result = _ORDER[op], BOOL
        else:
            if left_ty != right_ty:
                self.error(
                    "type-mismatch",
                    f"'{op}' compares two values of one type, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=equality_hint(op, str(left_ty), str(right_ty)),
                )
                return None
            if isinstance(left_ty, ValueType) and left_ty.is_array:
                self.error(
                    "type-mismatch",
                    f"'{op}' compares int, bool or str values, not arrays",
                    expr.op_span,
                    hint="compare the items in a loop",
                )
                return None
            code, result = _EQUALITY[op], BOOL
        return code, result

    def binary(self, expr: Binary, dst: int | None) -> tuple[Ty, int]:
        op = expr.op
        if op in ("&&", "||"):
            out = self.target(BOOL, dst)
            left_ty, _ = self.value(expr.left, expected=BOOL, dst=out)
            self.expect(left_ty, BOOL, expr.left, f"the left side of '{op}'")
            done = self.label()
            self.emit(Op.JMPIFNOT if op == "&&" else Op.JMPIF, expr.op_span, Reg(out), Label(done))
            right_ty, _ = self.value(expr.right, expected=BOOL, dst=out)
            self.expect(right_ty, BOOL, expr.right, f"the right side of '{op}'")
            self.place(done, expr.span)
            return BOOL, out
        left_ty, left = self.value(expr.left)
        right_ty, right = self.value(expr.right, expected=left_ty if left_ty is not ERROR else None)
        self.regs.release(left)
        self.regs.release(right)
        if not isinstance(left_ty, ValueType) or not isinstance(right_ty, ValueType):
            return ERROR, -1  # an operand's error is reported
        found = self.operator_code(expr, left_ty, right_ty)
        if found is None:
            return ERROR, -1
        code, result = found
        out = self.target(result, dst)
        self.emit(code, expr.op_span, Reg(out), Reg(left), Reg(right))
        return result, out


def _all_empty(expr: Expr) -> bool:
    """An array literal holding nothing but empty array literals (`[]`, `[[], []]`): typed only by its context."""
    return isinstance(expr, ArrayLit) and all(_all_empty(item) for item in expr.items)


# A builtin without a lowering could not be compiled: refuse the table at import, not at a plugin's call.
_UNLOWERED = [
    r.name for r in BUILTINS.values() if not r.simple and not hasattr(_FunctionCompiler, f"builtin_{r.lowering}")
]
assert not _UNLOWERED, f"builtins without a lowering method: {_UNLOWERED}"
