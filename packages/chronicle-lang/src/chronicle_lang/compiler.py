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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

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
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    MAX_ARRAY_DEPTH,
    SCALAR_TYPES,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    array_type,
    map_type,
    struct_type,
)
from chronicle_vm.verifier.rules import CAP_NAME_MAX_LEN

from .builtins import BUILTINS, Builtin
from .consts import CONST_TYPES, Folded, fold_constants
from .diagnostics import Diagnostics, nearest_name
from .hints import equality_hint, method_call_hint, name_hint, undeclared_assignment_hint
from .syntax import (
    MAP_BASE,
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
    Field,
    FloatLit,
    FnDecl,
    ForEach,
    ForPair,
    ForRange,
    If,
    Index,
    IntLit,
    Let,
    MapLit,
    Name,
    Program,
    Return,
    Span,
    Stmt,
    StrLit,
    StructDecl,
    StructLit,
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
#: The float instruction of each arithmetic operator (by name: the float ISA rows live in chronicle_vm).
_FLOAT_ARITH = {"+": "FADD", "-": "FSUB", "*": "FMUL", "/": "FDIV", "%": "FMOD"}


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
    table = _struct_table(program.structs, diags)
    names = table.index
    caps: dict[str, tuple[_Sig, Capability | None]] = {}
    capabilities: list[Capability] = []
    for cap in program.caps:
        params = tuple(_resolve_type(p.type, diags, names) for p in cap.params)
        result = _resolve_type(cap.result, diags, names) if cap.result is not None else VOID
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
        params = tuple(_resolve_type(p.type, diags, names) for p in fn.params)
        result = _resolve_type(fn.result, diags, names) if fn.result is not None else VOID
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

    consts = _constants(program.consts, sigs, names, diags)
    module = _new_module(capabilities, path, table.defs)
    seen: set[str] = set()
    for fn in program.functions:
        if fn.name in seen:
            continue
        seen.add(fn.name)
        if fn.name_span in program.unchecked_bodies:
            continue  # its body did not parse: only its signature counts
        compiler = _FunctionCompiler(fn, sigs, caps, diags, path, max_registers, program.unparsed_names, consts)
        compiler.structs = table.defs
        compiler.struct_index = names
        module.functions.append(compiler.compile())
    return module


def _new_module(capabilities: list[Capability], path: str, structs: tuple[StructDef, ...]) -> IRModule:
    """The IR module; it is written as version 1 when everything in it fits version 1 (no structs, ...)."""
    return IRModule(capabilities=capabilities, source_files=[path], structs=list(structs))


@dataclass(frozen=True, slots=True)
class _StructTable:
    defs: tuple[StructDef, ...]  # the module's struct table, in declaration order
    index: Mapping[str, int]  # each struct's index by name


def _struct_table(decls: tuple[StructDecl, ...], diags: Diagnostics) -> _StructTable:
    """The module's structs: names first (so a struct may be used before it is declared), then field types."""
    index: dict[str, int] = {}
    kept: list[StructDecl] = []
    for decl in decls:
        if decl.name in index:
            first = kept[index[decl.name]].name_span.line
            diags.error(
                "duplicate-name",
                f"struct '{decl.name}' is declared twice",
                decl.name_span,
                hint=f"it is first declared on line {first}; rename one of them",
            )
            continue
        if decl.name in SCALAR_TYPES or decl.name == "float":
            diags.error("duplicate-name", f"'{decl.name}' is a builtin type and cannot be a struct", decl.name_span)
        index[decl.name] = len(kept)
        kept.append(decl)
    diags.struct_names = tuple(decl.name for decl in kept)
    defs: list[StructDef] = []
    for decl in kept:
        seen: set[str] = set()
        members: list[StructField] = []
        for member in decl.fields:
            ty = _resolve_type(member.type, diags, index)
            if member.name in seen:
                diags.error("duplicate-field", f"field '{member.name}' is declared twice in '{decl.name}'", member.span)
                continue
            seen.add(member.name)
            members.append(StructField(member.name, ty if isinstance(ty, ValueType) else INT))
        defs.append(StructDef(decl.name, tuple(members)))
    table = tuple(defs)
    _check_struct_cycles(table, kept, diags)
    return _StructTable(table, index)


def _check_struct_cycles(defs: tuple[StructDef, ...], decls: list[StructDecl], diags: Diagnostics) -> None:
    """Refuse a struct that holds itself by value: no value of it could ever be built (iterative DFS)."""
    state = [0] * len(defs)  # 0 new, 1 on the path, 2 done
    for root in range(len(defs)):
        if state[root]:
            continue
        path: list[tuple[int, int]] = [(root, 0)]  # (struct, next field to follow)
        state[root] = 1
        while path:
            node, at = path[-1]
            members = defs[node].fields
            if at == len(members):
                state[node] = 2
                path.pop()
                continue
            path[-1] = (node, at + 1)
            ty = members[at].type
            if ty.kind is not TypeKind.STRUCT or not 0 <= ty.ref < len(defs):
                continue
            if state[ty.ref] == 1:
                cycle = [defs[n].name for n, _ in path[[n for n, _ in path].index(ty.ref) :]]
                member = decls[node].fields[at] if at < len(decls[node].fields) else None
                shown = " -> ".join([*cycle, defs[ty.ref].name])
                diags.error(
                    "recursive-struct",
                    f"struct '{defs[ty.ref].name}' contains itself by value ({shown})",
                    member.span if member is not None else decls[node].name_span,
                    hint=f"no value of it could be built; hold it in an array or a map, e.g. '[{defs[ty.ref].name}]'",
                )
                state[ty.ref] = 2  # one report per cycle
            elif state[ty.ref] == 0:
                state[ty.ref] = 1
                path.append((ty.ref, 0))


def _constants(
    decls: tuple[ConstDecl, ...],
    sigs: dict[str, _Sig],
    structs: Mapping[str, int],
    diags: Diagnostics,
) -> dict[str, Folded]:
    """The module's constants, folded (chronicle_lang.consts), after checking their names and types."""
    declared: dict[str, ValueType | None] = {}
    for decl in decls:
        ty = _resolve_type(decl.type, diags, structs)
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
                hint="build arrays, maps and structs in the function that uses them",
            )
        declared[decl.name] = ty if isinstance(ty, ValueType) and ty in CONST_TYPES else None
    return fold_constants(decls, declared, diags)


#: How deeply arrays and maps may nest inside one another in a written type.
MAX_TYPE_NESTING = MAX_ARRAY_DEPTH
#: The types a map key may have.
KEY_TYPES = (INT, STR, BOOL)
_TYPE_NAMES = {**SCALAR_TYPES, "float": FLOAT}


def _resolve_type(written: TypeExpr | None, diags: Diagnostics, structs: Mapping[str, int] | None = None) -> Ty:
    if written is None:
        return VOID
    if written.depth > MAX_ARRAY_DEPTH:
        diags.error("type-too-deep", f"arrays nest at most {MAX_ARRAY_DEPTH} deep", written.span)
        return ERROR
    base: Ty
    if written.base == MAP_BASE:
        base = _resolve_map_type(written, diags, structs)
    else:
        found = _TYPE_NAMES.get(written.base)
        if found is None and structs is not None and written.base in structs:
            found = struct_type(structs[written.base])
        if found is None:
            candidates = [*_TYPE_NAMES, *(structs or {})]
            hint_name = nearest_name(written.base, candidates)
            diags.error(
                "unknown-type",
                f"unknown type '{written.base}'",
                written.span,
                hint=f"did you mean '{hint_name}'?"
                if hint_name
                else "the types are int, float, bool, str, [T], {K: V} and declared structs",
            )
            return ERROR
        base = found
    if not isinstance(base, ValueType):
        return ERROR
    resolved = array_type(base, written.depth)
    if _nesting(resolved) > MAX_TYPE_NESTING:
        diags.error("type-too-deep", f"arrays and maps nest at most {MAX_TYPE_NESTING} deep", written.span)
        return ERROR
    return resolved


def _resolve_map_type(written: TypeExpr, diags: Diagnostics, structs: Mapping[str, int] | None) -> Ty:
    key_written, value_written = written.args
    key = _resolve_type(key_written, diags, structs)
    value = _resolve_type(value_written, diags, structs)
    if isinstance(key, ValueType) and key not in KEY_TYPES:
        diags.error(
            "bad-map-key",
            f"a map key is an int, a str or a bool, not {key}",
            key_written.span,
            hint="key the map by a str or int that names the value"
            if key != FLOAT
            else "floats are not keys (equal-looking floats can differ); key by an int or a str",
        )
        return ERROR
    if not isinstance(key, ValueType) or not isinstance(value, ValueType):
        return ERROR
    return map_type(key, value)


def _nesting(ty: ValueType) -> int:
    """Array and map levels around the innermost type (iterative; values are already bounded trees)."""
    depth, node = 0, ty
    while node.kind in (TypeKind.ARRAY, TypeKind.MAP):
        depth, node = depth + 1, node.args[-1]
    return depth


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
    return isinstance(expr, Unary | Index | Field)


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
        elif isinstance(node, Field):
            stack.append(node.base)
        elif isinstance(node, MapLit):
            stack.extend(e for pair in node.entries for e in pair)
        elif isinstance(node, StructLit):
            stack.extend(value for _n, _s, value in node.fields)
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
        self.structs: tuple[StructDef, ...] = ()  # the module's struct table
        self.struct_index: Mapping[str, int] = {}  # each struct's index by name

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
        if isinstance(stmt, ForEach | ForPair | ForRange):
            self.for_stmt(stmt)
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

    def for_stmt(self, stmt: ForEach | ForPair | ForRange) -> None:
        if isinstance(stmt, ForEach):
            self.for_each(stmt)
        elif isinstance(stmt, ForPair):
            self.for_pair(stmt)
        else:
            self.for_range(stmt)

    def let(self, stmt: Let) -> None:
        declared = (
            _resolve_type(stmt.annotation, self.diags, self.struct_index) if stmt.annotation is not None else None
        )
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
        if isinstance(target, Field):
            self.assign_field(target, stmt.value, stmt.span)
            return
        if isinstance(target, Index):
            self.assign_index(target, stmt)
            return
        self.value(stmt.value)
        self.error(
            "not-assignable",
            "only a variable, an array element, a map entry or a field can be assigned",
            target.span,
            hint="write 'name = value;', 'xs[i] = value;', 'm[k] = value;' or 'p.field = value;'",
        )

    def assign_index(self, target: Index, stmt: Assign) -> None:
        base_ty, base = self.value(target.base)
        if isinstance(base_ty, ValueType) and base_ty.kind is TypeKind.MAP:
            self.assign_map(base_ty, base, target.index, stmt.value, stmt.span)
            return
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

    def assign_field(self, target: Field, value: Expr, span: Span) -> None:
        base_ty, base = self.value(target.base)
        index, field_ty = self.field_of(base_ty, target.name, target.name_span, target.base.span)
        value_ty, reg = self.value(value, expected=field_ty)
        self.expect(value_ty, field_ty, value, f"field '{target.name}'")
        if index >= 0:
            self.vm("SETFIELD", span, Reg(base), Imm(index), Reg(reg))
        self.regs.release(reg)
        self.regs.release(base)

    def assign_map(self, map_ty: ValueType, base: int, key: Expr, value: Expr, span: Span) -> None:
        _, k = self.map_key(map_ty, key)
        value_ty, v = self.value(value, expected=map_ty.args[1])
        self.expect(value_ty, map_ty.args[1], value, "the map's value type")
        self.vm("MAPSET", span, Reg(base), Reg(k), Reg(v))
        for reg in (v, k, base):
            self.regs.release(reg)

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
        if isinstance(ty, ValueType) and ty.kind is TypeKind.MAP:
            self.map_loop(((stmt.var, stmt.var_span),), ty, source, stmt)
            return
        if isinstance(ty, ValueType):
            if ty.is_array:
                elem = ty.element()
            else:
                self.error(
                    "type-mismatch",
                    f"'for x in' needs an array or a map, found {ty}",
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
        if {actual, wanted} == {INT, FLOAT}:
            if isinstance(expr, IntLit):
                hint = f"write it as a float: {expr.value}.0"
            elif wanted == FLOAT:
                hint = "convert it with float(x)"
            else:
                hint = "convert it with int(f) (toward zero), floor(f), ceil(f) or round(f)"
            self.error("mixed-numbers", f"expected {wanted} for {what}, found {actual}", expr.span, hint=hint)
            return
        self.error("type-mismatch", f"expected {self.show(wanted)} for {what}, found {self.show(actual)}", expr.span)

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
        if isinstance(expr, FloatLit | ArrayLit | MapLit | StructLit | Field | Index):
            return self.composite(expr, expected, dst)
        if isinstance(expr, Call):
            return self.call(expr, expected, dst)
        if isinstance(expr, CapCall):
            return self.capcall(expr, dst)
        if isinstance(expr, Unary):
            return self.unary(expr, dst)
        return self.binary(expr, dst)

    def composite(
        self, expr: FloatLit | ArrayLit | MapLit | StructLit | Field | Index, expected: Ty | None, dst: int | None
    ) -> tuple[Ty, int]:
        if isinstance(expr, FloatLit):
            return self.float_const(expr.value, expr.span, dst)
        if isinstance(expr, ArrayLit):
            return self.array_lit(expr, expected, dst)
        if isinstance(expr, MapLit):
            return self.map_lit(expr, expected, dst)
        if isinstance(expr, StructLit):
            return self.struct_lit(expr, dst)
        if isinstance(expr, Field):
            return self.field_read(expr, dst)
        return self.index(expr, dst)

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
            self.emit(Op.LOADK, expr.span, Reg(reg), ConstValue(cast(Any, value)))
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
        if isinstance(base_ty, ValueType) and base_ty.kind is TypeKind.MAP:
            _, key = self.map_key(base_ty, expr.index)
            self.regs.release(base)
            self.regs.release(key)
            value_ty = base_ty.args[1]
            out = self.target(value_ty, dst)
            self.vm("MAPGET", expr.span, Reg(out), Reg(base), Reg(key))
            return value_ty, out
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
            self.error(
                "type-mismatch", f"cannot index a value of type {base_ty}; only str, arrays and maps", expr.base.span
            )
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
        """A builtin that is one instruction over fixed types: the same check and lowering for every such row.

        The instruction is `row.op`, or for the structured-values rows ("named") the ISA instruction `row.vm_op`.
        """
        name, args, span = expr.name, expr.args, expr.span
        assert (row.op is not None or row.vm_op) and row.returns is not None
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
        if row.op is not None:
            self.emit(row.op, span, operands[0], operands[1], operands[2])
        else:
            self.vm(row.vm_op, span, operands[0], operands[1], operands[2])
        return result, out

    def builtin_named(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        """A builtin that is one instruction, named, over fixed types (the float conversions and functions)."""
        return self.builtin_simple(row, expr, dst)

    def numbers(self, row: Builtin, expr: Call, count: int) -> tuple[Ty, list[int]]:
        """The `count` int or float arguments of abs, min or max, all of one type (ERROR when reported)."""
        if not self.check_count(expr.args, count, expr.name, expr.span, row.full_signature):
            return ERROR, []
        first_ty, first = self.value(expr.args[0])
        regs = [first]
        ty = first_ty
        for arg in expr.args[1:]:
            arg_ty, reg = self.value(arg, expected=first_ty)
            regs.append(reg)
            if first_ty in (INT, FLOAT):
                self.expect(arg_ty, first_ty, arg, f"argument 2 of '{expr.name}'")
        if isinstance(first_ty, ValueType) and first_ty not in (INT, FLOAT):
            self.error(
                "type-mismatch", f"{expr.name}() takes ints or floats, found {self.show(first_ty)}", expr.args[0].span
            )
            ty = ERROR
        return ty, regs

    def builtin_abs(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        ty, regs = self.numbers(row, expr, 1)
        if not isinstance(ty, ValueType):
            for reg in regs:
                self.regs.release(reg)
            return ERROR, -1
        (value,) = regs
        if ty == FLOAT:
            self.regs.release(value)
            out = self.target(ty, dst)
            self.vm("FABS", expr.span, Reg(out), Reg(value))
            return FLOAT, out
        out = self.target(ty, dst)  # taken before `value` is released: the two never share a register
        # An int: `out = x; if x < 0 { out = -x; }` (two's complement: the most negative int stays itself).
        zero = self.regs.temp(INT)
        self.emit(Op.LOADK, expr.span, Reg(zero), ConstValue(0))
        negative = self.regs.temp(BOOL)
        self.emit(Op.LT, expr.span, Reg(negative), Reg(value), Reg(zero))
        done = self.label()
        if out != value:
            self.emit(Op.MOV, expr.span, Reg(out), Reg(value))
        self.emit(Op.JMPIFNOT, expr.span, Reg(negative), Label(done))
        self.emit(Op.NEG, expr.span, Reg(out), Reg(value))
        self.place(done, expr.span)
        for reg in (negative, zero, value):
            self.regs.release(reg)
        return INT, out

    def builtin_minmax(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        ty, regs = self.numbers(row, expr, 2)
        if not isinstance(ty, ValueType):
            for reg in regs:
                self.regs.release(reg)
            return ERROR, -1
        a, b = regs
        if ty == FLOAT:
            for reg in regs:
                self.regs.release(reg)
            out = self.target(FLOAT, dst)
            self.vm("FMIN" if expr.name == "min" else "FMAX", expr.span, Reg(out), Reg(a), Reg(b))
            return FLOAT, out
        # Ints: `out = a; if b < a { out = b; }` for min (`a < b` for max); the result is taken before a and b
        # are released, so it never shares their registers.
        out = self.target(INT, dst)
        for reg in regs:
            self.regs.release(reg)
        better = self.regs.temp(BOOL)
        first, second = (b, a) if expr.name == "min" else (a, b)
        self.emit(Op.LT, expr.span, Reg(better), Reg(first), Reg(second))
        done = self.label()
        if out != a:
            self.emit(Op.MOV, expr.span, Reg(out), Reg(a))
        self.emit(Op.JMPIFNOT, expr.span, Reg(better), Label(done))
        self.emit(Op.MOV, expr.span, Reg(out), Reg(b))
        self.place(done, expr.span)
        self.regs.release(better)
        return INT, out

    def _map_argument(self, expr: Call) -> tuple[ValueType | None, int]:
        """The map a map builtin works on (None when it is not a map: reported)."""
        ty, reg = self.value(expr.args[0])
        if isinstance(ty, ValueType) and ty.kind is TypeKind.MAP:
            return ty, reg
        if ty is not ERROR:
            self.error("type-mismatch", f"{expr.name}() takes a map first, found {self.show(ty)}", expr.args[0].span)
        return None, reg

    def _map_and_key(self, row: Builtin, expr: Call, count: int) -> tuple[ValueType | None, int, int] | None:
        if not self.check_count(expr.args, count, expr.name, expr.span, row.full_signature):
            return None
        map_ty, mapping = self._map_argument(expr)
        if map_ty is None:
            _, key = self.value(expr.args[1])
        else:
            _, key = self.map_key(map_ty, expr.args[1])
        return map_ty, mapping, key

    def builtin_get(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        found = self._map_and_key(row, expr, 3)
        if found is None:
            return ERROR, -1
        map_ty, mapping, key = found
        value_ty: Ty = map_ty.args[1] if map_ty is not None else ERROR
        # The default goes into the result first; MAPGETD overwrites it when the key is there.
        out = self.target(value_ty, dst) if isinstance(value_ty, ValueType) else None
        default_ty, default = self.value(expr.args[2], expected=value_ty, dst=out)
        self.expect(default_ty, value_ty, expr.args[2], "the default (the map's value type)")
        for reg in (default, key, mapping):
            if reg != out:
                self.regs.release(reg)
        if out is None or not isinstance(value_ty, ValueType):
            return ERROR, -1
        self.vm("MAPGETD", expr.span, Reg(out), Reg(mapping), Reg(key))
        return value_ty, out

    def builtin_has(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        found = self._map_and_key(row, expr, 2)
        if found is None:
            return BOOL, -1
        _, mapping, key = found
        self.regs.release(key)
        self.regs.release(mapping)
        out = self.target(BOOL, dst)
        self.vm("MAPHAS", expr.span, Reg(out), Reg(mapping), Reg(key))
        return BOOL, out

    def builtin_remove(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        found = self._map_and_key(row, expr, 2)
        if found is None:
            return VOID, -1
        _, mapping, key = found
        self.vm("MAPDEL", expr.span, Reg(mapping), Reg(key))
        self.regs.release(key)
        self.regs.release(mapping)
        return VOID, -1

    def _map_array(self, row: Builtin, expr: Call, dst: int | None, which: int, op: str) -> tuple[Ty, int]:
        if not self.check_count(expr.args, 1, expr.name, expr.span, row.full_signature):
            return ERROR, -1
        map_ty, mapping = self._map_argument(expr)
        self.regs.release(mapping)
        if map_ty is None:
            return ERROR, -1
        ty = map_ty.args[which].array_of()
        out = self.target(ty, dst)
        self.vm(op, expr.span, Reg(out), Reg(mapping))
        return ty, out

    def builtin_keys(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        return self._map_array(row, expr, dst, 0, "MAPKEYS")

    def builtin_values(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        return self._map_array(row, expr, dst, 1, "MAPVALUES")

    def builtin_len(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 1, expr.name, span, row.full_signature):
            return INT, -1
        ty, reg = self.value(args[0])
        self.regs.release(reg)
        out = self.target(INT, dst)
        if isinstance(ty, ValueType) and ty.kind is TypeKind.MAP:
            self.vm("MAPLEN", span, Reg(out), Reg(reg))
            return INT, out
        if ty is not ERROR and not (ty == STR or (isinstance(ty, ValueType) and ty.is_array)):
            self.error("type-mismatch", f"len() takes a str, an array or a map, found {self.show(ty)}", args[0].span)
        self.emit(Op.LEN, span, Reg(out), Reg(reg))
        return INT, out

    def builtin_str(self, row: Builtin, expr: Call, dst: int | None) -> tuple[Ty, int]:
        args, span = expr.args, expr.span
        if not self.check_count(args, 1, expr.name, span, row.full_signature):
            return STR, -1
        ty, reg = self.value(args[0])
        self.regs.release(reg)
        if isinstance(ty, ValueType) and not ty.is_scalar_kind and ty != FLOAT:
            self.error(
                "type-mismatch",
                f"str() takes an int, float, bool or str, found {self.show(ty)}",
                args[0].span,
                hint="join(items, sep) makes one str of a [str]" if ty.is_array else "build the text from its parts",
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

    # --- structured values: floats, maps, structs -----------------------------

    def vm(self, name: str, span: Span, a: IROperand = None, b: IROperand = None, c: IROperand = None) -> None:
        """Emit VM instruction `name` (an instruction of the structured-values ISA, looked up by name)."""
        code = Op.__members__.get(name)
        if code is None:
            self.error("unsupported", f"this VM build has no '{name.lower()}' instruction", span)
            return
        self.emit(code, span, a, b, c)

    def float_const(self, value: float, span: Span, dst: int | None) -> tuple[Ty, int]:
        reg = self.target(FLOAT, dst)
        self.emit(Op.LOADK, span, Reg(reg), ConstValue(cast(Any, value)))
        return FLOAT, reg

    def show(self, ty: Ty) -> str:
        """A type as an author writes it (struct names, not indexes)."""
        return self.diags._named(str(ty))

    def struct_def(self, ty: Ty) -> StructDef | None:
        if isinstance(ty, ValueType) and ty.kind is TypeKind.STRUCT and 0 <= ty.ref < len(self.structs):
            return self.structs[ty.ref]
        return None

    def field_of(self, base_ty: Ty, name: str, span: Span, base_span: Span) -> tuple[int, Ty]:
        """The index and type of field `name` of a value of type `base_ty` (-1 and ERROR when reported)."""
        definition = self.struct_def(base_ty)
        if definition is None:
            if base_ty is not ERROR:
                self.error(
                    "type-mismatch",
                    f"only a struct has fields; this is {self.show(base_ty)}",
                    base_span,
                    hint="values have no methods: call builtins with the value, e.g. len(xs)"
                    if isinstance(base_ty, ValueType) and base_ty.kind is not TypeKind.STRUCT
                    else None,
                )
            return -1, ERROR
        for i, member in enumerate(definition.fields):
            if member.name == name:
                return i, member.type
        self.unknown_field(definition, name, span)
        return -1, ERROR

    def unknown_field(self, definition: StructDef, name: str, span: Span) -> None:
        names = [f.name for f in definition.fields]
        near = nearest_name(name, names)
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        hint = f"did you mean '{near}'?" if near else (f"its fields are {shown}" if names else "it has no fields")
        self.error("unknown-field", f"struct '{definition.name}' has no field '{name}'", span, hint=hint)

    def field_read(self, expr: Field, dst: int | None) -> tuple[Ty, int]:
        base_ty, base = self.value(expr.base)
        self.regs.release(base)
        index, ty = self.field_of(base_ty, expr.name, expr.name_span, expr.base.span)
        if not isinstance(ty, ValueType):
            return ERROR, -1
        out = self.target(ty, dst)
        self.vm("GETFIELD", expr.span, Reg(out), Reg(base), Imm(index))
        return ty, out

    def struct_lit(self, expr: StructLit, dst: int | None) -> tuple[Ty, int]:
        ref = self.struct_index.get(expr.name)
        if ref is None:
            for _name, _span, value in expr.fields:
                _, reg = self.value(value)
                self.regs.release(reg)
            near = nearest_name(expr.name, self.struct_index)
            self.error(
                "unknown-type",
                f"unknown struct '{expr.name}'",
                expr.name_span,
                hint=f"did you mean '{near}'?" if near else f"declare it: 'struct {expr.name} {{ field: type }}'",
            )
            return ERROR, -1
        definition = self.structs[ref]
        positions = {member.name: i for i, member in enumerate(definition.fields)}
        types = tuple(member.type for member in definition.fields)
        base = self.regs.window(types) if types else None
        given: set[str] = set()
        for name, span, value in expr.fields:  # evaluated in the order written
            at = positions.get(name)
            if at is None or name in given:
                _, reg = self.value(value)
                self.regs.release(reg)
                if at is None:
                    self.unknown_field(definition, name, span)
                else:
                    self.error("duplicate-field", f"field '{name}' is given twice", span, hint="give each field once")
                continue
            given.add(name)
            assert base is not None
            ty, _ = self.value(value, expected=types[at], dst=base + at)
            self.expect(ty, types[at], value, f"field '{name}' of '{definition.name}'")
        missing = [member.name for member in definition.fields if member.name not in given]
        if missing:
            shown = ", ".join(f"'{m}'" for m in missing[:5]) + (", ..." if len(missing) > 5 else "")
            plural = "field" if len(missing) == 1 else "fields"
            self.error(
                "missing-field",
                f"this '{definition.name}' literal does not give {plural} {shown}",
                expr.name_span,
                hint="a struct literal gives every field, in any order",
            )
        self.release_window(base, len(types))
        ty = struct_type(ref)
        out = self.target(ty, dst)
        self.vm("STRUCTNEW", expr.span, Reg(out), Reg(base if base is not None else out))
        return ty, out

    def map_lit(self, expr: MapLit, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        want: ValueType | None = expected if isinstance(expected, ValueType) and expected.kind is TypeKind.MAP else None
        if not expr.entries:
            return self.empty_map(expr, want, expected, dst)
        key_ty: Ty | None = want.args[0] if want is not None else None
        value_ty: Ty | None = want.args[1] if want is not None else None
        compiled: list[tuple[int, int, Span]] = []
        for key, value in expr.entries:  # into temporaries first: an entry may read the target variable
            k_ty, k = self.value(key, expected=key_ty)
            v_ty, v = self.value(value, expected=value_ty)
            if key_ty is None or key_ty is ERROR:
                key_ty = k_ty
            else:
                self.expect(k_ty, key_ty, key, "a key of this map")
            if value_ty is None or value_ty is ERROR:
                value_ty = v_ty
            else:
                self.expect(v_ty, value_ty, value, "a value of this map")
            compiled.append((k, v, key.span))
        for k, v, _ in compiled:
            self.regs.release(k)
            self.regs.release(v)
        if not isinstance(key_ty, ValueType) or not isinstance(value_ty, ValueType):
            return ERROR, -1
        if key_ty not in KEY_TYPES:
            self.error("bad-map-key", f"a map key is an int, a str or a bool, not {self.show(key_ty)}", expr.span)
            return ERROR, -1
        ty = map_type(key_ty, value_ty)
        if _nesting(ty) > MAX_TYPE_NESTING:
            self.error("type-too-deep", f"arrays and maps nest at most {MAX_TYPE_NESTING} deep", expr.span)
            return ERROR, -1
        out = self.target(ty, dst)
        self.vm("MAPNEW", expr.span, Reg(out))
        for k, v, span in compiled:
            self.vm("MAPSET", span, Reg(out), Reg(k), Reg(v))
        return ty, out

    def empty_map(self, expr: MapLit, want: ValueType | None, expected: Ty | None, dst: int | None) -> tuple[Ty, int]:
        """`{}`: typed by its context, else a cannot-infer error."""
        if want is None:
            if expected is not ERROR:
                self.error(
                    "cannot-infer",
                    "cannot tell the key and value types of an empty map here",
                    expr.span,
                    hint="annotate it, for example: let m: {str: int} = {};",
                )
            return ERROR, -1
        out = self.target(want, dst)
        self.vm("MAPNEW", expr.span, Reg(out))
        return want, out

    def map_loop(
        self, names: tuple[tuple[str, Span], ...], ty: ValueType, source: int, stmt: ForEach | ForPair
    ) -> None:
        """`for k in m` / `for k, v in m`: over a snapshot of the keys, checking the key set at every step."""
        span = stmt.iterable.span
        key_ty, value_ty = ty.args
        mapping = source
        if source not in self.regs.temps:
            mapping = self.regs.temp(ty)  # the loop walks the map it started with
            self.emit(Op.MOV, span, Reg(mapping), Reg(source))
        keys = self.regs.temp(key_ty.array_of())
        self.vm("MAPKEYS", span, Reg(keys), Reg(mapping))
        stamp = self.regs.temp(INT)
        self.vm("MAPSTAMP", span, Reg(stamp), Reg(mapping))
        counter = self.regs.temp(INT)
        self.emit(Op.LOADK, span, Reg(counter), ConstValue(0))
        top, step, done = self.label(), self.label(), self.label()
        self.array_test(keys, counter, done, span, jump_if=False)
        self.place(top, span)
        self.push_scope()
        self.vm("MAPCHECK", span, Reg(mapping), Reg(stamp))
        key = self.regs.alloc(key_ty)
        self.declare(names[0][0], key_ty, key, names[0][1])
        self.emit(Op.GETIDX, names[0][1], Reg(key), Reg(keys), Reg(counter))
        if len(names) == 2:
            value = self.regs.alloc(value_ty)
            self.declare(names[1][0], value_ty, value, names[1][1])
            self.vm("MAPGET", names[1][1], Reg(value), Reg(mapping), Reg(key))
        self.loops.append(_Loop(step, done))
        self.block(stmt.body)
        self.loops.pop()
        self.pop_scope()
        self.place(step, stmt.span)
        self.increment(counter, stmt.span)
        self.array_test(keys, counter, top, span, jump_if=True)
        self.place(done, stmt.span)
        for reg in (counter, stamp, keys, mapping):
            self.regs.release(reg)

    def for_pair(self, stmt: ForPair) -> None:
        ty, source = self.value(stmt.iterable)
        if isinstance(ty, ValueType) and ty.kind is TypeKind.MAP:
            self.map_loop(((stmt.key, stmt.key_span), (stmt.value, stmt.value_span)), ty, source, stmt)
            return
        if isinstance(ty, ValueType):
            self.error(
                "type-mismatch",
                f"'for k, v in' needs a map, found {self.show(ty)}",
                stmt.iterable.span,
                hint="for an array write 'for x in xs', or 'for i in 0..len(xs)' for its indexes"
                if ty.is_array
                else None,
            )
        self.push_scope()
        self.declare(stmt.key, ERROR, -1, stmt.key_span)
        self.declare(stmt.value, ERROR, -1, stmt.value_span)
        self.loops.append(_Loop("L0", "L0"))
        self.block(stmt.body)
        self.loops.pop()
        self.pop_scope()

    def map_key(self, map_ty: ValueType, key: Expr) -> tuple[Ty, int]:
        """Lower a key for a map of type `map_ty`, checked against its key type."""
        key_ty, reg = self.value(key, expected=map_ty.args[0])
        self.expect(key_ty, map_ty.args[0], key, "a key of this map")
        return key_ty, reg

    def unary(self, expr: Unary, dst: int | None) -> tuple[Ty, int]:
        if expr.op == "-" and isinstance(expr.operand, IntLit):
            return self.int_const(-expr.operand.value, expr.span, dst)
        if expr.op == "-" and isinstance(expr.operand, FloatLit):
            return self.float_const(-expr.operand.value, expr.span, dst)
        want = BOOL if expr.op == "!" else INT
        ty, reg = self.value(expr.operand, expected=want)
        self.regs.release(reg)
        if ty is ERROR:
            return ERROR, -1
        if ty == FLOAT and expr.op == "-":
            out = self.target(FLOAT, dst)
            self.vm("FNEG", expr.span, Reg(out), Reg(reg))
            return FLOAT, out
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
            return self.arith_code(expr, left_ty, right_ty)
        if op in _BITWISE:
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
            if {left_ty, right_ty} == {INT, FLOAT}:
                self.mixed_numbers(expr, left_ty)
                return None
            if left_ty != right_ty or left_ty not in (INT, STR, FLOAT):
                self.error(
                    "type-mismatch",
                    f"'{op}' compares two ints, two floats or two strs, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=equality_hint(op, str(left_ty), str(right_ty)),
                )
                return None
            code, result = _ORDER[op], BOOL
        else:
            if {left_ty, right_ty} == {INT, FLOAT}:
                self.mixed_numbers(expr, left_ty)
                return None
            if left_ty != right_ty:
                self.error(
                    "type-mismatch",
                    f"'{op}' compares two values of one type, found {left_ty} and {right_ty}",
                    expr.op_span,
                    hint=equality_hint(op, str(left_ty), str(right_ty)),
                )
                return None
            if left_ty.is_array or left_ty.kind in (TypeKind.MAP, TypeKind.STRUCT):
                what = {TypeKind.ARRAY: "arrays", TypeKind.MAP: "maps", TypeKind.STRUCT: "structs"}[left_ty.kind]
                self.error(
                    "type-mismatch",
                    f"'{op}' compares int, float, bool or str values, not {what}",
                    expr.op_span,
                    hint="compare the items in a loop" if left_ty.is_array else "compare the fields or entries",
                )
                return None
            code, result = _EQUALITY[op], BOOL
        return code, result

    def arith_code(self, expr: Binary, left_ty: ValueType, right_ty: ValueType) -> tuple[Op, ValueType] | None:
        op = expr.op
        if op == "+" and left_ty == STR and right_ty == STR:
            return Op.CONCAT, STR
        if left_ty == INT and right_ty == INT:
            return _ARITH[op], INT
        if left_ty == FLOAT and right_ty == FLOAT:
            return None if self.unsupported(_FLOAT_ARITH[op], expr.op_span) else (Op[_FLOAT_ARITH[op]], FLOAT)
        if {left_ty, right_ty} == {INT, FLOAT}:
            self.mixed_numbers(expr, left_ty)
            return None
        needs = "two ints, two floats or two strs" if op == "+" else "two ints or two floats"
        hint = "convert with str(x) first" if op == "+" and STR in (left_ty, right_ty) else None
        self.error("type-mismatch", f"'{op}' needs {needs}, found {left_ty} and {right_ty}", expr.op_span, hint=hint)
        return None

    def unsupported(self, name: str, span: Span) -> bool:
        """Whether VM instruction `name` is missing from this build (then it is reported)."""
        if name in Op.__members__:
            return False
        self.error("unsupported", f"this VM build has no '{name.lower()}' instruction", span)
        return True

    def mixed_numbers(self, expr: Binary, left_ty: ValueType) -> None:
        int_side = expr.left if left_ty == INT else expr.right
        written = int_side.span
        shown = "x"
        if written.line == written.end_line and written.end_col - written.col <= 30:
            shown = self.diags.source_line(written.line)[written.col - 1 : written.end_col - 1] or "x"
        literal = isinstance(int_side, IntLit)
        self.error(
            "mixed-numbers",
            f"'{expr.op}' mixes an int and a float; .chr converts between them only when asked",
            expr.op_span,
            hint=f"write {shown}.0" if literal else f"convert the int: float({shown}) (or the float: int(f), round(f))",
        )

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
