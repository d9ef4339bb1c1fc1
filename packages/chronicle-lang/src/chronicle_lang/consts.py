"""Module-level constants: takes the `const` declarations, gives each one's value folded at compile time.

A constant's value is a *constant expression*: literals, constants declared
before it, and the operators over them, folded with the VM's own semantics
(64-bit wrapping arithmetic, floor division, bitwise operators and shifts
from chronicle_vm's semantics table, strings ordered by code point), so
`const K: int = (1 << 63) >> 3;` means exactly what the same expression
computes at run time.  Anything that would trap at run time (a division by
zero, a shift count outside 0..63) is a compile error here.  Calls, array
literals and indexing are not constant.  Only constants declared *before*
are visible, so there are no cycles and folding is one pass over the
declarations; a folded string is bounded by `MAX_CONST_STRING` so that
doubling a constant a few dozen times cannot exhaust memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chronicle_vm.core.isa import Op
from chronicle_vm.core.types import BOOL, FLOAT, INT, STR, ValueType
from chronicle_vm.core.values import wrap_i64
from chronicle_vm.engines.faults import OperandFault
from chronicle_vm.engines.semantics import VALUES

from .diagnostics import Diagnostics
from .syntax import Binary, BoolLit, ConstDecl, Expr, FloatLit, IntLit, Name, Span, StrLit, Unary

__all__ = ["CONST_TYPES", "MAX_CONST_STRING", "MAX_CONST_TOTAL", "Folded", "fold_constants"]

#: The types a constant may have.  Float constants fold with the VM's finite-only rule: a result that would be
#: an infinity or a NaN is a compile error, as it is a trap at run time.
CONST_TYPES: tuple[ValueType, ...] = (INT, FLOAT, BOOL, STR)
#: The longest string a constant expression may fold to (characters).
MAX_CONST_STRING = 1 << 20
#: The characters all of a module's string constants may hold together (10,000 constants each doubling a 1M
#: string must not hold 10G characters in the compiler).
MAX_CONST_TOTAL = 1 << 22

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1

_NOT_CONSTANT_HINT = "a constant's value is literals, earlier constants and operators; compute this in a function"


@dataclass(frozen=True, slots=True)
class Folded:
    """A constant's type and value (None: its declaration had an error, already reported)."""

    type: ValueType
    value: int | float | bool | str | None


class _Fail(Exception):
    """A folding error, already reported."""


def _int_ops() -> Mapping[str, Callable[[int, int], int]]:
    def shift(op: Op) -> Callable[[int, int], int]:
        return VALUES[op.value]  # type: ignore[return-value]  # a plain operation of two ints, giving an int

    return {
        "+": lambda x, y: wrap_i64(x + y),
        "-": lambda x, y: wrap_i64(x - y),
        "*": lambda x, y: wrap_i64(x * y),
        "/": lambda x, y: wrap_i64(x // y),
        "%": lambda x, y: x % y,
        "&": lambda x, y: x & y,
        "|": lambda x, y: x | y,
        "^": lambda x, y: x ^ y,
        "<<": shift(Op.SHL),
        ">>": shift(Op.SHR),
    }


_INT_OPS = _int_ops()
_COMPARE: Mapping[str, Callable[[object, object], bool]] = {
    "<": lambda x, y: x < y,  # type: ignore[operator]  # two ints or two strs, checked before
    "<=": lambda x, y: x <= y,  # type: ignore[operator]
    ">": lambda x, y: x > y,  # type: ignore[operator]
    ">=": lambda x, y: x >= y,  # type: ignore[operator]
    "==": lambda x, y: x == y,
    "!=": lambda x, y: x != y,
}


_FLOAT_OPS: Mapping[str, Callable[[float, float], float]] = {
    "+": lambda x, y: x + y,
    "-": lambda x, y: x - y,
    "*": lambda x, y: x * y,
    "/": lambda x, y: x / y,
    "%": lambda x, y: x % y,  # Python's floor remainder, as FMOD
}
_FINITE_HINT = "a float is finite: a result beyond about 1.8e308 traps at run time and cannot be a constant"


class _Folder:
    def __init__(self, diags: Diagnostics, known: dict[str, Folded], order: dict[str, int]) -> None:
        self.diags = diags
        self.known = known  # the constants folded so far
        self.order = order  # every constant's declaration index
        self.index = 0  # the declaration being folded

    def fail(self, code: str, message: str, span: Span, hint: str | None = None) -> _Fail:
        self.diags.error(code, message, span, hint=hint)
        return _Fail()

    def fold(self, expr: Expr) -> Folded:
        if isinstance(expr, IntLit):
            return self.int_value(expr.value, expr.span)
        if isinstance(expr, FloatLit):
            return Folded(FLOAT, expr.value)
        if isinstance(expr, BoolLit):
            return Folded(BOOL, expr.value)
        if isinstance(expr, StrLit):
            return Folded(STR, expr.value)
        if isinstance(expr, Name):
            return self.name(expr)
        if isinstance(expr, Unary):
            return self.unary(expr)
        if isinstance(expr, Binary):
            return self.binary(expr)
        raise self.fail(
            "not-constant", "a constant's value must be a constant expression", expr.span, _NOT_CONSTANT_HINT
        )

    def int_value(self, value: int, span: Span) -> Folded:
        if not INT_MIN <= value <= INT_MAX:
            raise self.fail("int-out-of-range", f"integer {value} does not fit in 64 bits", span)
        return Folded(INT, value)

    def name(self, expr: Name) -> Folded:
        found = self.known.get(expr.name)
        if found is not None and self.order[expr.name] < self.index:
            if found.value is None:
                raise _Fail  # its own error is reported
            return found
        if self.order.get(expr.name) == self.index:
            raise self.fail("not-constant", f"constant '{expr.name}' uses itself", expr.span, _NOT_CONSTANT_HINT)
        if expr.name in self.order and self.order[expr.name] > self.index:
            raise self.fail(
                "not-constant",
                f"constant '{expr.name}' is declared after the constant that uses it",
                expr.span,
                hint=f"declare '{expr.name}' first: a constant sees only the constants above it",
            )
        raise self.fail("not-constant", f"'{expr.name}' is not a constant", expr.span, _NOT_CONSTANT_HINT)

    def unary(self, expr: Unary) -> Folded:
        if expr.op == "-" and isinstance(expr.operand, IntLit):
            return self.int_value(-expr.operand.value, expr.span)  # -9223372036854775808 is a literal
        operand = self.fold(expr.operand)
        if operand.type == FLOAT and expr.op == "-":
            assert isinstance(operand.value, float)
            return Folded(FLOAT, -operand.value)
        want = BOOL if expr.op == "!" else INT
        if operand.type != want:
            raise self.fail("type-mismatch", f"unary '{expr.op}' needs {want}, found {operand.type}", expr.operand.span)
        value = operand.value
        assert value is not None
        if expr.op == "!":
            return Folded(BOOL, not value)
        assert isinstance(value, int)
        return Folded(INT, wrap_i64(-value) if expr.op == "-" else ~value)

    def binary(self, expr: Binary) -> Folded:
        op = expr.op
        left = self.fold(expr.left)
        if op in ("&&", "||"):
            return self.logical(expr, left)
        right = self.fold(expr.right)
        x, y = left.value, right.value
        if op in _COMPARE:
            ordered = (INT, FLOAT, STR) if op not in ("==", "!=") else CONST_TYPES
            if left.type != right.type or left.type not in ordered:
                needs = "two ints or two strs" if op not in ("==", "!=") else "two values of one type"
                raise self.fail(
                    "type-mismatch", f"'{op}' compares {needs}, found {left.type} and {right.type}", expr.op_span
                )
            return Folded(BOOL, _COMPARE[op](x, y))
        if op == "+" and left.type == STR and right.type == STR:
            assert isinstance(x, str) and isinstance(y, str)
            if len(x) + len(y) > MAX_CONST_STRING:
                raise self.fail("const-fold", f"a constant string longer than {MAX_CONST_STRING} characters", expr.span)
            return Folded(STR, x + y)
        if left.type == FLOAT and right.type == FLOAT and op in _FLOAT_OPS:
            return self.float_binary(expr, x, y)
        if left.type != INT or right.type != INT:
            code = "mixed-numbers" if {left.type, right.type} == {INT, FLOAT} else "type-mismatch"
            raise self.fail(
                code, f"'{op}' needs two ints or two floats, found {left.type} and {right.type}", expr.op_span
            )
        assert isinstance(x, int) and isinstance(y, int)
        if op in ("/", "%") and y == 0:
            raise self.fail("const-fold", "this constant divides by zero", expr.op_span)
        try:
            return Folded(INT, _INT_OPS[op](x, y))
        except OperandFault as fault:
            raise self.fail("const-fold", f"this constant would trap: {fault.failure[2]}", expr.op_span) from None

    def float_binary(self, expr: Binary, x: object, y: object) -> Folded:
        assert isinstance(x, float) and isinstance(y, float)
        if expr.op in ("/", "%") and y == 0.0:
            raise self.fail("const-fold", "this constant divides by zero", expr.op_span)
        value = _FLOAT_OPS[expr.op](x, y)
        if not math.isfinite(value):
            raise self.fail("const-fold", "this constant is not a finite float", expr.op_span, hint=_FINITE_HINT)
        return Folded(FLOAT, value)

    def logical(self, expr: Binary, left: Folded) -> Folded:
        right = self.fold(expr.right)  # both sides are folded (and checked), as the checker checks both
        if left.type != BOOL or right.type != BOOL:
            raise self.fail(
                "type-mismatch", f"'{expr.op}' needs two bools, found {left.type} and {right.type}", expr.op_span
            )
        both = (bool(left.value), bool(right.value))
        return Folded(BOOL, (both[0] and both[1]) if expr.op == "&&" else (both[0] or both[1]))


def fold_constants(
    consts: tuple[ConstDecl, ...], declared: Mapping[str, ValueType | None], diags: Diagnostics
) -> dict[str, Folded]:
    """Each constant's folded value, in declaration order (an erroneous one with value None, so uses are quiet).

    `declared` gives each constant's written type (None when it is not one a constant may have; the caller has
    reported the type).
    """
    known: dict[str, Folded] = {}
    order = {decl.name: i for i, decl in reversed(list(enumerate(consts)))}  # the first declaration wins
    folder = _Folder(diags, known, order)
    total = 0
    for index, decl in enumerate(consts):
        if decl.name in known:
            continue  # a second declaration: the caller reported it
        folder.index = index
        wanted = declared.get(decl.name)
        try:
            folded = folder.fold(decl.value)
        except _Fail:
            known[decl.name] = Folded(wanted or INT, None)
            continue
        if wanted is not None and folded.type != wanted:
            diags.error(
                "type-mismatch",
                f"expected {wanted} for constant '{decl.name}', found {folded.type}",
                decl.value.span,
            )
            known[decl.name] = Folded(wanted, None)
            continue
        if isinstance(folded.value, str):
            total += len(folded.value)
            if total > MAX_CONST_TOTAL:
                diags.error(
                    "const-fold",
                    f"the module's string constants hold more than {MAX_CONST_TOTAL} characters together",
                    decl.value.span,
                    hint="build long strings at run time (repeat, join) in the function that uses them",
                )
                known[decl.name] = Folded(folded.type, None)
                continue
        known[decl.name] = Folded(folded.type, folded.value if wanted is not None else None)
    return known
