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

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, Protocol

from chronicle_vm.core.casemap import fixed_lower, fixed_trim, fixed_upper
from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.isa import CHARS_PER_FUEL, OPCODES, Op, OperandKind
from chronicle_vm.core.structured import VMap
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, wrap_i64
from chronicle_vm.engines import faults
from chronicle_vm.engines.costs import (
    ENTRY_WORDS,
    ITEM_WORDS,
    LIST_WORDS,
    MAP_WORDS,
    STR_WORDS,
    append_piece,
    compare_extra,
    joined,
    joined_extra,
    joined_words,
    piece_length,
    string_extra,
)
from chronicle_vm.engines.faults import OperandFault

__all__ = [
    "EXTRA_COSTS",
    "FLOAT_TEXT",
    "INT_TEXT",
    "PLAIN",
    "SEMANTICS",
    "VALUES",
    "WORKS",
    "IncompleteSemantics",
    "Machine",
    "Semantics",
    "Work",
    "operand_values",
    "plain_operation",
    "require_complete",
    "sort_work",
    "writes_a",
]

_SHIFT = CHARS_PER_FUEL.bit_length() - 1
#: The text `parseint` reads: an optional sign and 1 to 19 decimal digits (then checked against 64 bits).
INT_TEXT = re.compile(r"[+-]?[0-9]{1,19}")
#: The text `parsefloat` reads: an optional sign, digits, an optional fraction (a digit on both sides of the point)
#: and an optional exponent; ASCII digits only, no white space, no `_`, no `inf` or `nan` (docs/isa.md).
FLOAT_TEXT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class IncompleteSemantics(RuntimeError):
    """An engine (or this table) does not cover exactly the ISA's opcodes: raised at import, never at run time."""


class Machine(Protocol):
    """What a row's `step` sees of a run (the reference interpreter, chronicle_vm.engines.oracle, is one)."""

    regs: list[Any]  # the current frame's registers (typed by the verifier)
    max_string: int
    max_array: int

    def constant(self, index: int) -> Value: ...

    def struct_size(self, register: int) -> int:
        """The number of fields of the struct type of the current frame's register `register`."""

    def pay(self, extra: int) -> None:
        """Cost model 2's extra fuel, paid before the work (or the run stops before this instruction)."""

    def allocate(self, words: int) -> None:
        """Count `words` against max_allocation (or stop with limit.allocation)."""

    def private_append(self) -> bool:
        """Whether the current instruction is an append to a private string register (costs.private_appends)."""

    def private_read(self) -> bool:
        """Whether the current instruction is a `len`, comparison or `ret` of a private string register, whose
        value may be in pieces (costs.private_strings)."""

    def private(self, register: int) -> bool:
        """Whether `register` of the current frame is a private string register (costs.private_strings)."""

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


#: A sized operation's parts, as functions of its operands' values (chronicle_vm.engines.semantics.operand_values):
#: the extra fuel (values, max_string_len) -> int; the checks (values, max_string_len, max_array_len) -> the words
#: it allocates, raising OperandFault; and the effect (values) -> a's value (ignored when `a` is not written).
WorkFuel = Callable[[tuple[Any, ...], int], int]
WorkCheck = Callable[[tuple[Any, ...], int, int], int]
WorkAct = Callable[[tuple[Any, ...]], Any]


@dataclass(frozen=True, slots=True)
class Work:
    """An instruction whose work grows with its operands, stated as the order every engine follows.

    An engine pays `fuel` (or stops before the instruction), then runs
    `check` (a trap or a size limit raises OperandFault), counts the words it
    gives against max_allocation, and only then calls `act`, which does the
    work and cannot fail.  So the three engines share one implementation of
    each formula and each check, and differ only in how they charge.
    """

    fuel: WorkFuel
    check: WorkCheck
    act: WorkAct


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
    work: Work | None = None  # or: a sized operation (charge, check, act), from which every engine derives its code

    def run(self) -> Step:
        """The row's step (derived from `value` for a plain operation, from `work` for a sized one)."""
        if self.step is not None:
            return self.step
        if self.work is not None:
            return _work_step(self.op, self.work)
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
        if m.private_read():  # the joins and the comparison's own charge in one
            left, right = _join_compared(m, op, b, c)
        else:
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
    if a == b and m.private_append():
        _append(m, a, c)
        return
    left, right = m.regs[b], m.regs[c]
    size = len(left) + len(right)
    m.pay(size >> _SHIFT)
    if size > m.max_string:
        m.fail(faults.string_too_long(size, m.max_string))
    _new_string(m, a, left + right)


def _append(m: Machine, a: int, c: int) -> None:
    """`s = s + x` on a private local (costs.py): it costs what it appends, the old string is dropped.

    Fuel len(x) // n beyond the unit; max_string_len on the new length; len(x) words of max_allocation (the run
    holds only that many characters more).  `s = s + s` first joins s (its length // n fuel and a new string's
    words when it is in pieces), in the same charge: the instruction pays its whole cost before its checks.
    """
    left = m.regs[a]
    length = piece_length(left)
    if c == a:  # s = s + s: the right side is s itself, joined
        m.pay(joined_extra(left) + (length >> _SHIFT))
        if 2 * length > m.max_string:
            m.fail(faults.string_too_long(2 * length, m.max_string))
        m.allocate(joined_words(left) + length)
        left = right = joined(left)
        m.regs[a] = append_piece(left, right, 2 * length)
        return
    right = m.regs[c]
    size = length + len(right)
    m.pay(len(right) >> _SHIFT)
    if size > m.max_string:
        m.fail(faults.string_too_long(size, m.max_string))
    m.allocate(len(right))
    m.regs[a] = append_piece(left, right, size)


def _join_private(m: Machine, registers: tuple[int, ...], extra: int) -> None:
    """Join the private registers among `registers` that are in pieces, paying `extra` more in the same charge."""
    distinct = [r for r in dict.fromkeys(registers) if m.private(r)]
    m.pay(extra + sum(joined_extra(m.regs[r]) for r in distinct))
    words = sum(joined_words(m.regs[r]) for r in distinct)
    if words:
        m.allocate(words)
    for r in distinct:
        m.regs[r] = joined(m.regs[r])


def _join_compared(m: Machine, op: Op, b: int, c: int) -> tuple[str, str]:
    """A comparison of a private string: the joins and the comparison's own charge in one, then the operands."""
    extra = compare_extra(op.value, piece_length(m.regs[b]), piece_length(m.regs[c]))
    _join_private(m, (b, c), extra)
    return m.regs[b], m.regs[c]


def _len(m: Machine, a: int, b: int, c: int) -> None:
    m.regs[a] = piece_length(m.regs[b]) if m.private_read() else len(m.regs[b])  # pieces: no join


def _ret(m: Machine, a: int, b: int, c: int) -> None:
    if m.private_read():
        _join_private(m, (a,), 0)
    m.ret(m.regs[a])


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


# -- bitwise operators (plain operations: bounded work, no allocation) --------------------------------------------

_MASK64 = 0xFFFFFFFFFFFFFFFF


def _shl(value: int, count: int) -> int:
    if not 0 <= count <= 63:
        raise OperandFault(faults.shift_count("shl", count))
    return (((value << count) + 0x8000000000000000) & _MASK64) - 0x8000000000000000


def _shr(value: int, count: int) -> int:
    if not 0 <= count <= 63:
        raise OperandFault(faults.shift_count("shr", count))
    return value >> count  # Python's >> on a negative int is arithmetic


# -- floats (plain operations: bounded work, no allocation; finite in, finite out or a trap) ------------------------
#
# Every float in the VM is finite.  An operation whose IEEE binary64 result would be an infinity or a NaN traps
# `runtime.float-nonfinite`; `x - x` is 0.0 for every finite x and NaN for inf and NaN, so `if r - r:` is the test.

#: Floats in [-2**63, 2**63) are the ones whose int, floor, ceil and round lie in signed 64 bits.
F64_LOW = -9223372036854775808.0
F64_HIGH = 9223372036854775808.0


def _finite(instruction: str, symbol: str, b: float, c: float, result: float) -> float:
    if result - result:
        raise OperandFault(faults.float_nonfinite(instruction, f"{b!r} {symbol} {c!r}"))
    return result


def _fadd(b: float, c: float) -> float:
    return _finite("fadd", "+", b, c, b + c)


def _fsub(b: float, c: float) -> float:
    return _finite("fsub", "-", b, c, b - c)


def _fmul(b: float, c: float) -> float:
    return _finite("fmul", "*", b, c, b * c)


def _fdiv(b: float, c: float) -> float:
    if c == 0.0:
        raise OperandFault(faults.division_by_zero(modulo=False))
    return _finite("fdiv", "/", b, c, b / c)


def _fmod(b: float, c: float) -> float:
    """Python's `%`: b - c * floor(b / c), with c's sign; a zero result is 0.0 or -0.0 by c's sign.  Always finite."""
    if c == 0.0:
        raise OperandFault(faults.division_by_zero(modulo=True))
    return b % c


def _to_int(instruction: str, convert: Callable[[float], int]) -> Callable[[float, None], int]:
    def value(b: float, _: None) -> int:
        if not F64_LOW <= b < F64_HIGH:
            raise OperandFault(faults.float_range(instruction, b))
        return convert(b)

    return value


def _sqrt(b: float, _: None) -> float:
    if b < 0.0:
        raise OperandFault(faults.float_nonfinite("sqrt", f"of {b!r}"))
    return math.sqrt(b)  # correctly rounded (IEEE 754), so the same bits on every platform; sqrt(-0.0) is -0.0


def negative(value: float) -> bool:
    """Whether a float's sign bit is set (True for -0.0)."""
    return math.copysign(1.0, value) < 0.0


def fmin(b: float, c: float) -> float:
    """The smaller; of two equal values b unless c is -0.0 and b is 0.0 (so fmin(0.0, -0.0) is -0.0 either way)."""
    if b < c:
        return b
    if c < b:
        return c
    return c if negative(c) else b


def fmax(b: float, c: float) -> float:
    """The larger; of two equal values b unless b is -0.0 and c is 0.0 (so fmax(-0.0, 0.0) is 0.0 either way)."""
    if b > c:
        return b
    if c > b:
        return c
    return b if not negative(b) else c


def parse_float_value(text: str) -> float | faults.Failure:
    """The float `text` reads as (FLOAT_TEXT), or the failure: parse-float, or float-nonfinite when it overflows."""
    if not FLOAT_TEXT.fullmatch(text):
        return faults.parse_float(faults.quote_operand(text))
    number = float(text)
    if number - number:
        return faults.float_nonfinite("parsefloat", f"of {faults.quote_operand(text)}")
    return number


def _parsefloat_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return len(values[0]) >> _SHIFT


def _parsefloat_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    found = parse_float_value(values[0])
    if type(found) is tuple:
        raise OperandFault(found)
    return 0


_PARSEFLOAT = Work(_parsefloat_fuel, _parsefloat_check, lambda v: float(v[0]))


# -- sized operations (rows with `work`) ----------------------------------------------------------------------------


def operand_values(op: int) -> Callable[[list[Any], int, int, int], tuple[Any, ...]]:
    """The values a sized row's functions take: its read registers in operand order (a PAIR gives two)."""
    picks: list[tuple[int, int]] = []
    for pos, operand in enumerate(OPCODES[op].operands):
        if operand.kind is OperandKind.REG and not operand.write:
            picks.append((pos, 0))
        elif operand.kind is OperandKind.PAIR:
            picks.extend(((pos, 0), (pos, 1)))
    shape = tuple(picks)
    return lambda regs, a, b, c: tuple(regs[(a, b, c)[pos] + step] for pos, step in shape)


def writes_a(op: int) -> bool:
    """Whether the row's operand a is a register it writes (else a sized row's `act` changes an array in place)."""
    first = OPCODES[op].operands[0]
    return first.kind is OperandKind.REG and first.write


def _work_step(op: Op, work: Work) -> Step:
    read = operand_values(op.value)
    written = writes_a(op.value)

    def step(m: Machine, a: int, b: int, c: int) -> None:
        values = read(m.regs, a, b, c)
        m.pay(work.fuel(values, m.max_string))
        try:
            words = work.check(values, m.max_string, m.max_array)
        except OperandFault as fault:
            m.fail(fault.failure)
        m.allocate(words)
        result = work.act(values)
        if written:
            m.regs[a] = result

    return step


def _no_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return 0


def _chr_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    (code,) = values
    if not 0 <= code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise OperandFault(faults.bad_operand("chr", "a Unicode scalar value", faults.quote_operand(code)))
    if max_string < 1:
        raise OperandFault(faults.string_too_long(1, max_string))
    return STR_WORDS + 1


def _affix_fuel(values: tuple[Any, ...], max_string: int) -> int:
    text, affix = values
    return min(len(text), len(affix)) >> _SHIFT  # at most the shorter string is compared


def _no_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    return 0


def _replaced_size(text: str, old: str, new: str) -> int:
    """The length of `text` with every `old` replaced by `new`, computed before building it."""
    return len(text) + text.count(old) * (len(new) - len(old))


def _replace_fuel(values: tuple[Any, ...], max_string: int) -> int:
    text, old, new = values
    if not old:
        return 0  # it traps without scanning
    return (len(text) + min(_replaced_size(text, old, new), max_string + 1)) >> _SHIFT


def _replace_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    text, old, new = values
    if not old:
        raise OperandFault(faults.empty_pattern())
    size = _replaced_size(text, old, new)
    if size > max_string:
        raise OperandFault(faults.string_too_long(size, max_string))
    return STR_WORDS + size


def _new_array_words(items: int) -> int:
    return LIST_WORDS + ITEM_WORDS * items


def sort_work(items: list[Any]) -> int:
    """Units of work of sorting `items`: (items + characters of str items) * bit_length(len), before `>> n`."""
    count = len(items)
    units = count
    if count and type(items[0]) is str:
        units += sum(len(item) for item in items)  # a comparison reads at most the shorter string's characters
    return units * count.bit_length()


def _sort_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return sort_work(values[0]) >> _SHIFT


def _fresh_array_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    return _new_array_words(len(values[0]))  # no longer than an array that exists: within max_array_len


def _clamp(length: int, lo: int, hi: int) -> tuple[int, int]:
    return min(max(lo, 0), length), min(max(hi, 0), length)


def _aslice_fuel(values: tuple[Any, ...], max_string: int) -> int:
    items, lo, hi = values
    lo, hi = _clamp(len(items), lo, hi)
    return max(hi - lo, 0) >> _SHIFT


def _aslice_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    items, lo, hi = values
    lo, hi = _clamp(len(items), lo, hi)
    return _new_array_words(max(hi - lo, 0))


def _aslice_act(values: tuple[Any, ...]) -> Any:
    items, lo, hi = values
    lo, hi = _clamp(len(items), lo, hi)
    return items[lo:hi] if lo < hi else []


def _insert_fuel(values: tuple[Any, ...], max_string: int) -> int:
    items, index, _ = values
    return (len(items) - index) >> _SHIFT if 0 <= index <= len(items) else 0  # the items moved up


def _insert_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    items, index, _ = values
    if not 0 <= index <= len(items):
        raise OperandFault(faults.insert_position(index, len(items)))
    if len(items) >= max_array:
        raise OperandFault(faults.array_too_long(len(items) + 1, max_array))
    return ITEM_WORDS


def _insert_act(values: tuple[Any, ...]) -> Any:
    items, index, item = values
    items.insert(index, item)


def _remove_fuel(values: tuple[Any, ...], max_string: int) -> int:
    items, index = values
    return (len(items) - index - 1) >> _SHIFT if 0 <= index < len(items) else 0  # the items moved down


def _remove_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    items, index = values
    if not 0 <= index < len(items):
        raise OperandFault(faults.index_out_of_range(index, len(items), "array"))
    return 0


def _copy_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return len(values[0]) >> _SHIFT


_CHR = Work(_no_fuel, _chr_check, lambda v: chr(v[0]))
_STARTS = Work(_affix_fuel, _no_check, lambda v: v[0].startswith(v[1]))
_ENDS = Work(_affix_fuel, _no_check, lambda v: v[0].endswith(v[1]))
_REPLACE = Work(_replace_fuel, _replace_check, lambda v: v[0].replace(v[1], v[2]))
_SORT = Work(_sort_fuel, _fresh_array_check, lambda v: sorted(v[0]))  # Python orders str by code point
_ASLICE = Work(_aslice_fuel, _aslice_check, _aslice_act)
_INSERT = Work(_insert_fuel, _insert_check, _insert_act)
_REMOVEAT = Work(_remove_fuel, _remove_check, lambda v: v[0].pop(v[1]))
_COPY = Work(_copy_fuel, _fresh_array_check, lambda v: list(v[0]))


# -- maps and structs (#17) ------------------------------------------------------------------------------------------


def quote_key(key: Any) -> str:
    """A map key as a trap message shows it: `true`, `42`, or the string quoted."""
    if type(key) is bool:
        return "true" if key else "false"
    return faults.quote_operand(key) if type(key) is str else str(key)


def key_fuel(key: Any) -> int:
    """Extra fuel of hashing and comparing a map key: a str key's length // n (int and bool keys: 0)."""
    return len(key) >> _SHIFT if type(key) is str else 0


def _map_key_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return key_fuel(values[1])


def _mapnew_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    return MAP_WORDS


def _mapget_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    mapping, key = values
    if key not in mapping:
        raise OperandFault(faults.key_missing(quote_key(key)))
    return 0


def _mapset_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    mapping, key, _ = values
    if key in mapping:
        return 0
    if len(mapping) >= max_array:
        raise OperandFault(faults.map_full(max_array))
    return ENTRY_WORDS


def _mapset_act(values: tuple[Any, ...]) -> Any:
    mapping, key, value = values
    if key not in mapping:
        mapping.keyset += 1
    mapping[key] = value


def _mapdel_act(values: tuple[Any, ...]) -> Any:
    mapping, key = values
    if key in mapping:
        del mapping[key]
        mapping.keyset += 1


def _listing_fuel(values: tuple[Any, ...], max_string: int) -> int:
    return len(values[0]) >> _SHIFT


def _listing_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    return _new_array_words(len(values[0]))  # a map holds at most max_array_len entries


def _mapcheck_check(values: tuple[Any, ...], max_string: int, max_array: int) -> int:
    mapping, token = values
    if mapping.keyset != token:
        raise OperandFault(faults.map_changed())
    return 0


def _mapgetd(m: Machine, a: int, b: int, c: int) -> None:
    mapping, key = m.regs[b], m.regs[c]
    if type(key) is str:
        m.pay(len(key) >> _SHIFT)
    if key in mapping:
        m.regs[a] = mapping[key]


def struct_words(fields: int) -> int:
    """Words a new struct of `fields` fields allocates (a list of them)."""
    return LIST_WORDS + ITEM_WORDS * fields


def _structnew(m: Machine, a: int, b: int, c: int) -> None:
    size = m.struct_size(a)
    m.pay(size >> _SHIFT)
    m.allocate(struct_words(size))
    m.regs[a] = m.regs[b : b + size]


def _getfield(m: Machine, a: int, b: int, c: int) -> None:
    m.regs[a] = m.regs[b][c]


def _setfield(m: Machine, a: int, b: int, c: int) -> None:
    m.regs[a][b] = m.regs[c]


_MAPNEW = Work(_no_fuel, _mapnew_check, lambda v: VMap())
_MAPGET = Work(_map_key_fuel, _mapget_check, lambda v: v[0][v[1]])
_MAPSET = Work(_map_key_fuel, _mapset_check, _mapset_act)
_MAPHAS = Work(_map_key_fuel, _no_check, lambda v: v[1] in v[0])
_MAPDEL = Work(_map_key_fuel, _no_check, _mapdel_act)
_MAPKEYS = Work(_listing_fuel, _listing_check, lambda v: list(v[0]))
_MAPVALUES = Work(_listing_fuel, _listing_check, lambda v: list(v[0].values()))
_MAPCHECK = Work(_no_fuel, _mapcheck_check, lambda v: None)


def _ordering(op: Op, compare: Callable[[Any, Any], bool]) -> Step:
    """`lt le gt ge`: ints by value, strings by code point (charged by the shorter string's length)."""

    def step(m: Machine, a: int, b: int, c: int) -> None:
        if m.private_read():
            left, right = _join_compared(m, op, b, c)
            m.regs[a] = compare(left, right)
            return
        left, right = m.regs[b], m.regs[c]
        if type(left) is str:
            m.pay(string_extra(op.value, left, right, m.max_string))
        m.regs[a] = compare(left, right)

    return step


_ALLOC = "allocation"
_STRLEN = "string_too_long"
_UNPAID = "unpaid"  # a cost-model-2 charge the remaining fuel cannot pay
_NONFINITE = "float_nonfinite"
_FRANGE = "float_range"
#: Joining a private string register kept in pieces (costs.private_strings): a copy of it, paid before the work.
_JOINS = "+ len // n for each private string operand in pieces (the join, once)"
_JOIN_HELPERS = ("costs.joined", "costs.joined_extra", "costs.joined_words")
_ORDER_STRINGS = f"strings: min(len(b), len(c)) // n (ints: 0) {_JOINS}"
_EQUAL_STRINGS = f"strings: len(b) // n when len(b) == len(c), else 0 (ints, bools: 0) {_JOINS}"
_COMPARE_TRAPS = ("unpaid", "allocation")
_COMPARE_HELPERS = ("costs.string_extra", "costs.compare_extra", *_JOIN_HELPERS)
_AFFIX = "min(len(b), len(c)) // n"
_KEY = "str keys: len(c) // n (int, bool keys: 0)"
_KEY_B = "str keys: len(b) // n (int, bool keys: 0)"
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
    Semantics(Op.LT, "a = b < c", _COMPARE_TRAPS, _COMPARE_HELPERS, _ORDER_STRINGS, _ordering(Op.LT, operator.lt)),
    Semantics(Op.LE, "a = b <= c", _COMPARE_TRAPS, _COMPARE_HELPERS, _ORDER_STRINGS, _ordering(Op.LE, operator.le)),
    Semantics(Op.GT, "a = b > c", _COMPARE_TRAPS, _COMPARE_HELPERS, _ORDER_STRINGS, _ordering(Op.GT, operator.gt)),
    Semantics(Op.GE, "a = b >= c", _COMPARE_TRAPS, _COMPARE_HELPERS, _ORDER_STRINGS, _ordering(Op.GE, operator.ge)),
    Semantics(Op.EQ, "a = b == c", _COMPARE_TRAPS, _COMPARE_HELPERS, _EQUAL_STRINGS, _equality(Op.EQ)),
    Semantics(Op.NE, "a = b != c", _COMPARE_TRAPS, _COMPARE_HELPERS, _EQUAL_STRINGS, _equality(Op.NE)),
    Semantics(Op.NOT, "a = not b", step=_set(lambda m, b, c: not m.regs[b])),
    Semantics(Op.JMP, "continue at a", step=lambda m, a, b, c: m.jump(a)),
    Semantics(Op.JMPIF, "if a: continue at b", step=_branch(True)),
    Semantics(Op.JMPIFNOT, "if not a: continue at b", step=_branch(False)),
    Semantics(
        Op.CALL,
        "c = function a(b..)",
        traps=("call_depth", "registers", "stack_registers", _UNPAID, _ALLOC),
        helpers=("costs.frame_work",),
        fuel="items(the callee's fresh arrays, maps and structs) // n: an array or struct 1 plus 1 per field, a map 8",
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
        traps=("export_too_large", _UNPAID, _ALLOC),
        helpers=("costs.export_size", *_JOIN_HELPERS),
        fuel="len(a) // n when a is a private string in pieces (the join), else 0",
        step=_ret,
    ),
    Semantics(Op.RETV, "return", step=lambda m, a, b, c: m.ret(None)),
    Semantics(Op.TRAP, "stop with constant a", traps=("trap",), step=_trap),
    Semantics(
        Op.CONCAT,
        "a = b + c",
        traps=(_UNPAID, _STRLEN, _ALLOC),
        helpers=("costs.append_piece", *_JOIN_HELPERS),
        fuel="(len(b) + len(c)) // n; an append to a private string (a = b): len(c) // n, and when c is b too, "
        "the join of b first",
        step=_concat,
    ),
    Semantics(Op.TOSTR, "a = text of b", traps=(_STRLEN, _ALLOC), step=_tostr),
    Semantics(Op.LEN, "a = len(b)", helpers=("costs.piece_length",), step=_len),  # pieces: their total, no join
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
    Semantics(Op.BAND, "a = b & c", value=operator.and_),
    Semantics(Op.BOR, "a = b | c", value=operator.or_),
    Semantics(Op.BXOR, "a = b ^ c", value=operator.xor),
    Semantics(Op.BNOT, "a = ~b", value=lambda b, _: ~b),
    Semantics(Op.SHL, "a = wrap64(b << c)", traps=("shift_count",), value=_shl),
    Semantics(Op.SHR, "a = b >> c", traps=("shift_count",), value=_shr),
    Semantics(Op.CHR, "a = chr(b)", traps=("bad_operand", _STRLEN, _ALLOC), work=_CHR),
    Semantics(Op.STARTSWITH, "a = b.startswith(c)", (_UNPAID,), fuel=_AFFIX, work=_STARTS),
    Semantics(Op.ENDSWITH, "a = b.endswith(c)", (_UNPAID,), fuel=_AFFIX, work=_ENDS),
    Semantics(
        Op.REPLACE,
        "a = b.replace(c, c + 1)",
        traps=(_UNPAID, "empty_pattern", _STRLEN, _ALLOC),
        fuel="(len(b) + min(len(result), max_string_len + 1)) // n (0 when c is empty: it traps)",
        work=_REPLACE,
    ),
    Semantics(
        Op.SORT,
        "a = sorted(b)",
        traps=(_UNPAID, _ALLOC),
        helpers=("sort_work",),
        fuel="(len(b) + characters of b's strings) * bit_length(len(b)) // n",
        work=_SORT,
    ),
    Semantics(Op.ASLICE, "a = b[clamp(c):clamp(c + 1)]", (_UNPAID, _ALLOC), fuel="len(result) // n", work=_ASLICE),
    Semantics(
        Op.INSERT,
        "a.insert(b, c)",
        traps=(_UNPAID, "insert_position", "array_too_long", _ALLOC),
        fuel="(len(a) - b) // n (the items moved)",
        work=_INSERT,
    ),
    Semantics(
        Op.REMOVEAT,
        "a = b.pop(c)",
        traps=(_UNPAID, "index_out_of_range"),
        fuel="(len(b) - c - 1) // n (the items moved)",
        work=_REMOVEAT,
    ),
    Semantics(Op.COPY, "a = list(b)", (_UNPAID, _ALLOC), fuel="len(b) // n", work=_COPY),
    Semantics(Op.FADD, "a = b + c (finite)", traps=(_NONFINITE,), value=_fadd),
    Semantics(Op.FSUB, "a = b - c (finite)", traps=(_NONFINITE,), value=_fsub),
    Semantics(Op.FMUL, "a = b * c (finite)", traps=(_NONFINITE,), value=_fmul),
    Semantics(Op.FDIV, "a = b / c (finite)", traps=("division_by_zero", _NONFINITE), value=_fdiv),
    Semantics(Op.FMOD, "a = b % c (Python's floor remainder)", traps=("division_by_zero",), value=_fmod),
    Semantics(Op.FNEG, "a = -b", value=lambda b, _: -b),
    Semantics(Op.ITOF, "a = float(b)", value=lambda b, _: float(b)),
    Semantics(Op.FTOI, "a = int(b) (toward zero)", traps=(_FRANGE,), value=_to_int("ftoi", int)),
    Semantics(Op.FLOOR, "a = math.floor(b)", traps=(_FRANGE,), value=_to_int("floor", math.floor)),
    Semantics(Op.CEIL, "a = math.ceil(b)", traps=(_FRANGE,), value=_to_int("ceil", math.ceil)),
    Semantics(Op.ROUND, "a = round(b) (half to even)", traps=(_FRANGE,), value=_to_int("round", round)),
    Semantics(Op.SQRT, "a = math.sqrt(b)", traps=(_NONFINITE,), value=_sqrt),
    Semantics(Op.FABS, "a = abs(b)", value=lambda b, _: abs(b)),
    Semantics(Op.FMIN, "a = fmin(b, c) (-0.0 < 0.0)", helpers=("fmin",), value=fmin),
    Semantics(Op.FMAX, "a = fmax(b, c) (-0.0 < 0.0)", helpers=("fmax",), value=fmax),
    Semantics(
        Op.PARSEFLOAT,
        "a = float(b) (FLOAT_TEXT only)",
        traps=(_UNPAID, "parse_float", _NONFINITE),
        helpers=("parse_float_value",),
        fuel="len(b) // n",
        work=_PARSEFLOAT,
    ),
    Semantics(Op.MAPNEW, "a = {}", traps=(_ALLOC,), work=_MAPNEW),
    Semantics(Op.MAPGET, "a = b[c]", traps=(_UNPAID, "key_missing"), helpers=("key_fuel",), fuel=_KEY, work=_MAPGET),
    Semantics(Op.MAPGETD, "if c in b: a = b[c]", traps=(_UNPAID,), helpers=("key_fuel",), fuel=_KEY, step=_mapgetd),
    Semantics(
        Op.MAPSET,
        "a[b] = c",
        traps=(_UNPAID, "map_full", _ALLOC),
        helpers=("key_fuel",),
        fuel=_KEY_B,
        work=_MAPSET,
    ),
    Semantics(Op.MAPHAS, "a = c in b", traps=(_UNPAID,), helpers=("key_fuel",), fuel=_KEY, work=_MAPHAS),
    Semantics(
        Op.MAPDEL,
        "a.pop(b, None)",
        traps=(_UNPAID,),
        helpers=("key_fuel",),
        fuel=_KEY_B,
        work=_MAPDEL,
    ),
    Semantics(Op.MAPLEN, "a = len(b)", value=lambda b, _: len(b)),
    Semantics(Op.MAPKEYS, "a = list(b)", (_UNPAID, _ALLOC), fuel="len(b) // n", work=_MAPKEYS),
    Semantics(Op.MAPVALUES, "a = list(b.values())", (_UNPAID, _ALLOC), fuel="len(b) // n", work=_MAPVALUES),
    Semantics(Op.MAPSTAMP, "a = b's key-set version", value=lambda b, _: b.keyset),
    Semantics(Op.MAPCHECK, "trap unless a's key-set version is b", traps=("map_changed",), work=_MAPCHECK),
    Semantics(
        Op.STRUCTNEW,
        "a = [registers b .. b + fields - 1] (one per field of a's struct)",
        traps=(_UNPAID, _ALLOC),
        helpers=("struct_words",),
        fuel="fields // n (the fields of a's struct, at most 256)",
        step=_structnew,
    ),
    Semantics(Op.GETFIELD, "a = b[c]", step=_getfield),
    Semantics(Op.SETFIELD, "a[b] = c", step=_setfield),
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
    if sum(part is not None for part in (_row.step, _row.value, _row.work)) != 1:
        raise IncompleteSemantics(f"{_row.op.name}: a row has a step, a value or a work, exactly one")

#: The plain operations' functions, by opcode number (the engines' generic code calls them).
VALUES: Mapping[int, ValueOf] = {number: row.value for number, row in SEMANTICS.items() if row.value is not None}
#: The opcodes that are plain operations.
PLAIN: frozenset[int] = frozenset(VALUES)
#: The sized operations' parts, by opcode number (every engine's generic code for them).
WORKS: Mapping[int, Work] = {number: row.work for number, row in SEMANTICS.items() if row.work is not None}

#: Cost model 2's extra charges, by opcode number (`n` is CHARS_PER_FUEL, `len` counts characters or items): every
#: instruction costs 1 unit of fuel and these opcodes pay this extra charge too, computed from their operands
#: before the work.  Every other opcode does a bounded amount of work (`tostr` writes at most 20 characters, `len`,
#: `charat`, `push`, `pop`, `getidx`, `setidx` are O(1), `mov` of an array shares it), so it pays 1.
EXTRA_COSTS: Mapping[int, str] = {number: row.fuel for number, row in SEMANTICS.items() if row.fuel is not None}
