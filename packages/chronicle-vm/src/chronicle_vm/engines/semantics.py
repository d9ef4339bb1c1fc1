"""The semantics table: takes the ISA's opcodes, gives one row per opcode saying what it does, checked complete.

Each row states an opcode's operation, the faults (chronicle_vm.engines.faults,
by function name) its checks can raise, the helpers its implementation calls,
and its cost-model-2 extra fuel (docs/isa.md's cost table is generated from
these rows; chronicle_vm.engines.costs implements the formulas).  Every engine
keys its per-opcode code by these rows and calls `require_complete` when it is
imported: an engine that lacks an opcode of the ISA, or knows one the ISA does
not have, refuses to load, so an opcode without semantics can never run (a new
ISA row with no semantics row fails this module's own import).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from chronicle_vm.core.casemap import fixed_lower, fixed_trim, fixed_upper
from chronicle_vm.core.isa import CHARS_PER_FUEL, OPCODES, Op, OperandKind
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, wrap_i64
from chronicle_vm.engines import faults
from chronicle_vm.engines.costs import ITEM_WORDS, LIST_WORDS, STR_WORDS, string_extra
from chronicle_vm.engines.faults import OperandFault

__all__ = [
    "EXTRA_COSTS",
    "INT_TEXT",
    "PLAIN",
    "SEMANTICS",
    "VALUES",
    "IncompleteSemantics",
    "Machine",
    "Semantics",
    "plain_operation",
    "require_complete",
]

_SHIFT = CHARS_PER_FUEL.bit_length() - 1
#: The text `parseint` reads: an optional sign and 1 to 19 decimal digits (then checked against 64 bits).
INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")


class IncompleteSemantics(RuntimeError):
    """An engine (or this table) does not cover exactly the ISA's opcodes: raised at import, never at run time."""


class Machine(Protocol):
    """What a row's `step` sees of a run (the reference interpreter, chronicle_vm.engines.oracle, is one)."""

    regs: list[Any]  # the current frame's registers (typed by the verifier)
    max_string: int
    max_array: int

    def constant(self, index: int) -> Value: ...

    def pay(self, extra: int) -> None:
        """Cost model 2's extra fuel, paid before the work (or the run stops before this instruction)."""

    def allocate(self, words: int) -> None:
        """Count `words` against max_allocation (or stop with limit.allocation)."""

    def fail(self, failure: faults.Failure) -> NoReturn: ...

    def jump(self, target: int) -> None: ...

    def call(self, function: int, first: int, result: int) -> None: ...

    def capcall(self, capability: int, first: int, result: int) -> None: ...

    def ret(self, value: Value | None) -> None: ...


#: One instruction's effect on a machine, given its operands a, b, c.
Step = Callable[[Machine, int, int, int], None]
#: A plain operation: a's value from the values of registers b and c (None where the operand is no register).
#: Its work is bounded, it allocates nothing (it gives an int or a bool) and it raises OperandFault for operands
#: outside its domain.  Every engine derives its code for such a row from this function alone.
ValueOf = Callable[[Any, Any], Value]


@dataclass(frozen=True, slots=True)
class Semantics:
    """One opcode's meaning, stated once for every engine."""

    op: Op
    operation: str  # what the instruction computes, in the operands' names (a, b, c)
    traps: tuple[str, ...] = ()  # the chronicle_vm.engines.faults functions its checks can raise
    helpers: tuple[str, ...] = ()  # the shared functions its implementation calls
    fuel: str | None = None  # cost model 2's extra charge beyond the base unit (None: bounded work, pays 1)
    step: Step | None = None  # the reference semantics, one instruction on a Machine
    value: ValueOf | None = None  # or: a plain operation, from which the step and the compiled code derive

    def run(self) -> Step:
        """The row's step (derived from `value` for a plain operation)."""
        if self.step is not None:
            return self.step
        compute = plain_operation(self.op.value)

        def plain(m: Machine, a: int, b: int, c: int) -> None:
            try:
                m.regs[a] = compute(m.regs, b, c)
            except OperandFault as fault:
                m.fail(fault.failure)

        return plain


# -- the steps (each follows docs/isa.md; the order of checks and charges is part of the meaning) ----------------


def _wrap(value: int) -> int:
    return wrap_i64(value) if value > I64_MAX or value < I64_MIN else value


def _loadk(m: Machine, a: int, b: int, c: int) -> None:
    value = m.constant(b)
    if type(value) is str and len(value) > m.max_string:  # a module may hold it; loading it is what the limit stops
        m.fail(faults.string_too_long(len(value), m.max_string))
    m.regs[a] = value


def _div(m: Machine, a: int, b: int, c: int) -> None:
    if m.regs[c] == 0:
        m.fail(faults.division_by_zero(modulo=False))
    m.regs[a] = _wrap(m.regs[b] // m.regs[c])  # only MIN // -1 overflows


def _mod(m: Machine, a: int, b: int, c: int) -> None:
    if m.regs[c] == 0:
        m.fail(faults.division_by_zero(modulo=True))
    m.regs[a] = m.regs[b] % m.regs[c]


def _equality(op: Op) -> Step:
    def step(m: Machine, a: int, b: int, c: int) -> None:
        left, right = m.regs[b], m.regs[c]
        if type(left) is str:
            m.pay(string_extra(op.value, left, right, m.max_string))
        m.regs[a] = (left == right) if op is Op.EQ else (left != right)

    return step


def _branch(when: bool) -> Step:
    def step(m: Machine, a: int, b: int, c: int) -> None:
        if bool(m.regs[a]) is when:
            m.jump(b)

    return step


def _trap(m: Machine, a: int, b: int, c: int) -> None:
    m.fail(faults.trap(m.constant(a)))  # type: ignore[arg-type]  # the verifier checked: a str constant


def _new_string(m: Machine, a: int, text: str) -> None:
    """Write a new string to register a: checked against max_string_len, then counted against max_allocation."""
    if len(text) > m.max_string:
        m.fail(faults.string_too_long(len(text), m.max_string))
    m.allocate(STR_WORDS + len(text))
    m.regs[a] = text


def _concat(m: Machine, a: int, b: int, c: int) -> None:
    left, right = m.regs[b], m.regs[c]
    size = len(left) + len(right)
    m.pay(size >> _SHIFT)
    if size > m.max_string:
        m.fail(faults.string_too_long(size, m.max_string))
    _new_string(m, a, left + right)


def _tostr(m: Machine, a: int, b: int, c: int) -> None:
    value = m.regs[b]
    if type(value) is str:
        m.regs[a] = value
    else:
        _new_string(m, a, ("true" if value else "false") if type(value) is bool else str(value))


def _slice(m: Machine, a: int, b: int, c: int) -> None:
    text = m.regs[b]
    lo = min(max(m.regs[c], 0), len(text))
    hi = min(max(m.regs[c + 1], 0), len(text))
    piece = text[lo:hi] if lo < hi else ""
    m.pay(len(piece) >> _SHIFT)
    m.allocate(STR_WORDS + len(piece))
    m.regs[a] = piece


def _scan(op: Op) -> Step:
    def step(m: Machine, a: int, b: int, c: int) -> None:
        text, other = m.regs[b], m.regs[c]
        m.pay(string_extra(op.value, text, other, m.max_string))
        m.regs[a] = (other in text) if op is Op.CONTAINS else text.find(other)

    return step


def _parseint(m: Machine, a: int, b: int, c: int) -> None:
    text = m.regs[b]
    m.pay(string_extra(Op.PARSEINT.value, text, None, m.max_string))
    if not INT_TEXT.fullmatch(text):
        m.fail(faults.not_decimal(faults.quote_operand(text)))
    number = int(text)
    if not I64_MIN <= number <= I64_MAX:
        m.fail(faults.outside_64_bits(faults.quote_operand(text)))
    m.regs[a] = number


def _casemap(op: Op, mapping: Callable[[str], str]) -> Step:
    def step(m: Machine, a: int, b: int, c: int) -> None:
        text = m.regs[b]
        m.pay(string_extra(op.value, text, None, m.max_string))
        _new_string(m, a, mapping(text))  # fixed tables, not str.upper(): the same on every Python (casemap)

    return step


def _split(m: Machine, a: int, b: int, c: int) -> None:
    text, separator = m.regs[b], m.regs[c]
    m.pay(string_extra(Op.SPLIT.value, text, separator, m.max_string))
    if not separator:
        m.fail(faults.empty_separator())
    pieces = text.count(separator) + 1
    if pieces > m.max_array:
        m.fail(faults.array_too_long(pieces, m.max_array))
    m.allocate(LIST_WORDS + (ITEM_WORDS + STR_WORDS) * pieces + len(text))
    m.regs[a] = text.split(separator)


def _join(m: Machine, a: int, b: int, c: int) -> None:
    items, separator = m.regs[b], m.regs[c]
    m.pay(string_extra(Op.JOIN.value, items, separator, m.max_string))
    size = sum(len(item) for item in items) + len(separator) * max(len(items) - 1, 0)
    if size > m.max_string:
        m.fail(faults.string_too_long(size, m.max_string))
    _new_string(m, a, separator.join(items))


def _repeat(m: Machine, a: int, b: int, c: int) -> None:
    text, times = m.regs[b], m.regs[c]
    m.pay(string_extra(Op.REPEAT.value, text, times, m.max_string))
    size = len(text) * times if times > 0 else 0
    if size > m.max_string:
        m.fail(faults.string_too_long(size, m.max_string))
    _new_string(m, a, text * times if times > 0 else "")


def _index(m: Machine, sequence: Any, index: int, container: str) -> None:
    if not 0 <= index < len(sequence):
        m.fail(faults.index_out_of_range(index, len(sequence), container))


def _charat(m: Machine, a: int, b: int, c: int) -> None:
    _index(m, m.regs[b], m.regs[c], "string")
    _new_string(m, a, m.regs[b][m.regs[c]])


def _newarr(m: Machine, a: int, b: int, c: int) -> None:
    m.allocate(LIST_WORDS)
    m.regs[a] = []


def _push(m: Machine, a: int, b: int, c: int) -> None:
    if len(m.regs[a]) >= m.max_array:
        m.fail(faults.push_full(m.max_array))
    m.allocate(ITEM_WORDS)
    m.regs[a].append(m.regs[b])


def _pop(m: Machine, a: int, b: int, c: int) -> None:
    if not m.regs[b]:
        m.fail(faults.pop_empty())
    m.regs[a] = m.regs[b].pop()


def _getidx(m: Machine, a: int, b: int, c: int) -> None:
    _index(m, m.regs[b], m.regs[c], "array")
    m.regs[a] = m.regs[b][m.regs[c]]


def _setidx(m: Machine, a: int, b: int, c: int) -> None:
    _index(m, m.regs[a], m.regs[b], "array")
    m.regs[a][m.regs[b]] = m.regs[c]


def _set(compute: Callable[[Machine, int, int], Any]) -> Step:
    """A step that writes `compute(machine, b, c)` to register a."""

    def step(m: Machine, a: int, b: int, c: int) -> None:
        m.regs[a] = compute(m, b, c)

    return step


def _ord(text: str, _: None) -> int:
    if len(text) != 1:
        raise OperandFault(faults.bad_operand("ord", "a one-character string", faults.quote_operand(text)))
    return ord(text)


_ALLOC = "allocation"
_STRLEN = "string_too_long"
_UNPAID = "unpaid"  # a cost-model-2 charge the remaining fuel cannot pay
_EQUAL_STRINGS = "strings: len(b) // n when len(b) == len(c), else 0 (ints, bools: 0)"
_CASE = ("casemap.fixed_upper", "casemap.fixed_lower", "casemap.fixed_trim")


def _nothing(m: Machine, a: int, b: int, c: int) -> None:
    pass


_ROWS: tuple[Semantics, ...] = (
    Semantics(Op.NOP, "nothing", step=_nothing),
    Semantics(Op.MOV, "a = b", step=_set(lambda m, b, c: m.regs[b])),
    Semantics(Op.LOADK, "a = constant b", traps=(_STRLEN,), step=_loadk),
    Semantics(Op.LOADB, "a = (b == 1)", step=_set(lambda m, b, c: b == 1)),
    Semantics(Op.ADD, "a = wrap64(b + c)", step=_set(lambda m, b, c: _wrap(m.regs[b] + m.regs[c]))),
    Semantics(Op.SUB, "a = wrap64(b - c)", step=_set(lambda m, b, c: _wrap(m.regs[b] - m.regs[c]))),
    Semantics(Op.MUL, "a = wrap64(b * c)", step=_set(lambda m, b, c: _wrap(m.regs[b] * m.regs[c]))),
    Semantics(Op.DIV, "a = wrap64(b // c)", traps=("division_by_zero",), step=_div),
    Semantics(Op.MOD, "a = b % c", traps=("division_by_zero",), step=_mod),
    Semantics(Op.NEG, "a = wrap64(-b)", step=_set(lambda m, b, c: _wrap(-m.regs[b]))),
    Semantics(Op.LT, "a = b < c", step=_set(lambda m, b, c: m.regs[b] < m.regs[c])),
    Semantics(Op.LE, "a = b <= c", step=_set(lambda m, b, c: m.regs[b] <= m.regs[c])),
    Semantics(Op.GT, "a = b > c", step=_set(lambda m, b, c: m.regs[b] > m.regs[c])),
    Semantics(Op.GE, "a = b >= c", step=_set(lambda m, b, c: m.regs[b] >= m.regs[c])),
    Semantics(Op.EQ, "a = b == c", (_UNPAID,), ("costs.string_extra",), _EQUAL_STRINGS, _equality(Op.EQ)),
    Semantics(Op.NE, "a = b != c", (_UNPAID,), ("costs.string_extra",), _EQUAL_STRINGS, _equality(Op.NE)),
    Semantics(Op.NOT, "a = not b", step=_set(lambda m, b, c: not m.regs[b])),
    Semantics(Op.JMP, "continue at a", step=lambda m, a, b, c: m.jump(a)),
    Semantics(Op.JMPIF, "if a: continue at b", step=_branch(True)),
    Semantics(Op.JMPIFNOT, "if not a: continue at b", step=_branch(False)),
    Semantics(
        Op.CALL,
        "c = function a(b..)",
        traps=("call_depth", "registers", "stack_registers"),
        step=lambda m, a, b, c: m.call(a, b, c),
    ),
    Semantics(
        Op.CAPCALL,
        "c = handler a(b..) (recorded)",
        traps=("capability_unavailable", "export_too_large", _UNPAID, _ALLOC),
        helpers=("costs.export_work_of", "costs.value_words"),
        fuel="size(arguments) // n, the arguments' characters and items counted as a tree",
        step=lambda m, a, b, c: m.capcall(a, b, c),
    ),
    Semantics(
        Op.RET,
        "return a",
        traps=("export_too_large",),
        helpers=("costs.export_size",),
        step=lambda m, a, b, c: m.ret(m.regs[a]),
    ),
    Semantics(Op.RETV, "return", step=lambda m, a, b, c: m.ret(None)),
    Semantics(Op.TRAP, "stop with constant a", traps=("trap",), step=_trap),
    Semantics(Op.CONCAT, "a = b + c", (_UNPAID, _STRLEN, _ALLOC), (), "(len(b) + len(c)) // n", _concat),
    Semantics(Op.TOSTR, "a = text of b", traps=(_STRLEN, _ALLOC), step=_tostr),
    Semantics(Op.LEN, "a = len(b)", step=_set(lambda m, b, c: len(m.regs[b]))),
    Semantics(Op.SLICE, "a = b[clamp(c):clamp(c + 1)]", (_UNPAID, _ALLOC), (), "len(result) // n", _slice),
    Semantics(
        Op.CONTAINS, "a = c in b", (_UNPAID,), ("costs.string_extra",), "(len(b) + len(c)) // n", _scan(Op.CONTAINS)
    ),
    Semantics(Op.FIND, "a = b.find(c)", (_UNPAID,), ("costs.string_extra",), "(len(b) + len(c)) // n", _scan(Op.FIND)),
    Semantics(
        Op.PARSEINT,
        "a = int(b)",
        traps=(_UNPAID, "not_decimal", "outside_64_bits"),
        helpers=("costs.string_extra",),
        fuel="len(b) // n",
        step=_parseint,
    ),
    Semantics(
        Op.UPPER, "a = upper(b)", (_UNPAID, _STRLEN, _ALLOC), _CASE[:1], "len(b) // n", _casemap(Op.UPPER, fixed_upper)
    ),
    Semantics(
        Op.LOWER, "a = lower(b)", (_UNPAID, _STRLEN, _ALLOC), _CASE[1:2], "len(b) // n", _casemap(Op.LOWER, fixed_lower)
    ),
    Semantics(Op.TRIM, "a = trim(b)", (_UNPAID, _ALLOC), _CASE[2:], "len(b) // n", _casemap(Op.TRIM, fixed_trim)),
    Semantics(
        Op.SPLIT,
        "a = b.split(c)",
        traps=(_UNPAID, "empty_separator", "array_too_long", _ALLOC),
        helpers=("costs.string_extra",),
        fuel="2 * len(b) // n (one scan to count the pieces, one to build them)",
        step=_split,
    ),
    Semantics(
        Op.JOIN,
        "a = c.join(b)",
        traps=(_UNPAID, _STRLEN, _ALLOC),
        helpers=("costs.string_extra",),
        fuel="(4 * len(b) + min(len(result), max_string_len + 1)) // n",
        step=_join,
    ),
    Semantics(
        Op.REPEAT,
        'a = b * c ("" when c <= 0)',
        traps=(_UNPAID, _STRLEN, _ALLOC),
        helpers=("costs.string_extra",),
        fuel="min(len(b) * c, max_string_len + 1) // n (0 when c <= 0)",
        step=_repeat,
    ),
    Semantics(Op.CHARAT, "a = b[c]", traps=("index_out_of_range", _STRLEN, _ALLOC), step=_charat),
    Semantics(Op.ORD, "a = ord(b)", traps=("bad_operand",), value=_ord),
    Semantics(Op.NEWARR, "a = []", traps=(_ALLOC,), step=_newarr),
    Semantics(Op.PUSH, "a.append(b)", traps=("push_full", _ALLOC), step=_push),
    Semantics(Op.POP, "a = b.pop()", traps=("pop_empty",), step=_pop),
    Semantics(Op.GETIDX, "a = b[c]", traps=("index_out_of_range",), step=_getidx),
    Semantics(Op.SETIDX, "a[b] = c", traps=("index_out_of_range",), step=_setidx),
)


def plain_operation(op: int) -> Callable[[list[Any], int, int], Value]:
    """Row `op`'s `value` over a frame's registers: (registers, b, c) -> a's value (None for a non-register)."""
    row = SEMANTICS[op]
    value = row.value
    assert value is not None, f"{row.op.name} is not a plain operation"
    second, third = (operand.kind is OperandKind.REG for operand in OPCODES[op].operands[1:])
    return lambda regs, b, c: value(regs[b] if second else None, regs[c] if third else None)


def require_complete(engine: str, covered: Iterable[int]) -> None:
    """Refuse `engine` unless the opcodes it implements are exactly the ISA's (called at the engine's import)."""
    have = set(covered)
    missing = sorted(set(OPCODES) - have)
    unknown = sorted(have - set(OPCODES))
    if missing or unknown:
        names = ", ".join(OPCODES[number].name for number in missing)
        raise IncompleteSemantics(
            f"{engine}: no semantics for opcode(s) {names or '-'}; not in the ISA: {[hex(u) for u in unknown] or '-'}"
        )


#: Every opcode's row, by opcode number.
SEMANTICS: Mapping[int, Semantics] = {row.op.value: row for row in _ROWS}
if len(SEMANTICS) != len(_ROWS):
    raise IncompleteSemantics("the semantics table has two rows for one opcode")
require_complete("the semantics table", SEMANTICS)
for _row in _ROWS:
    for _fault in _row.traps:
        if not callable(getattr(faults, _fault, None)):
            raise IncompleteSemantics(f"{_row.op.name}: no fault named {_fault} in chronicle_vm.engines.faults")
    if (_row.step is None) == (_row.value is None):
        raise IncompleteSemantics(f"{_row.op.name}: a row has a step or a value, exactly one")

#: The plain operations' functions, by opcode number (the engines' generic code calls them).
VALUES: Mapping[int, ValueOf] = {number: row.value for number, row in SEMANTICS.items() if row.value is not None}
#: The opcodes that are plain operations.
PLAIN: frozenset[int] = frozenset(VALUES)

#: Cost model 2's extra charges, by opcode number (`n` is CHARS_PER_FUEL, `len` counts characters or items): every
#: instruction costs 1 unit of fuel and these opcodes pay this extra charge too, computed from their operands
#: before the work.  Every other opcode does a bounded amount of work (`tostr` writes at most 20 characters, `len`,
#: `charat`, `push`, `pop`, `getidx`, `setidx` are O(1), `mov` of an array shares it), so it pays 1.
EXTRA_COSTS: Mapping[int, str] = {number: row.fuel for number, row in SEMANTICS.items() if row.fuel is not None}
