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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chronicle_vm.core.isa import OPCODES, Op
from chronicle_vm.engines import faults

__all__ = ["EXTRA_COSTS", "SEMANTICS", "IncompleteSemantics", "Semantics", "require_complete"]


class IncompleteSemantics(RuntimeError):
    """An engine (or this table) does not cover exactly the ISA's opcodes: raised at import, never at run time."""


@dataclass(frozen=True, slots=True)
class Semantics:
    """One opcode's meaning, stated once for every engine."""

    op: Op
    operation: str  # what the instruction computes, in the operands' names (a, b, c)
    traps: tuple[str, ...] = ()  # the chronicle_vm.engines.faults functions its checks can raise
    helpers: tuple[str, ...] = ()  # the shared functions its implementation calls
    fuel: str | None = None  # cost model 2's extra charge beyond the base unit (None: bounded work, pays 1)


_ALLOC = "allocation"
_STRLEN = "string_too_long"
_UNPAID = "unpaid"  # a cost-model-2 charge the remaining fuel cannot pay
_EQUAL_STRINGS = "strings: len(b) // n when len(b) == len(c), else 0 (ints, bools: 0)"
_CASE = ("casemap.fixed_upper", "casemap.fixed_lower", "casemap.fixed_trim")

_ROWS: tuple[Semantics, ...] = (
    Semantics(Op.NOP, "nothing"),
    Semantics(Op.MOV, "a = b"),
    Semantics(Op.LOADK, "a = constant b", traps=(_STRLEN,)),
    Semantics(Op.LOADB, "a = (b == 1)"),
    Semantics(Op.ADD, "a = wrap64(b + c)"),
    Semantics(Op.SUB, "a = wrap64(b - c)"),
    Semantics(Op.MUL, "a = wrap64(b * c)"),
    Semantics(Op.DIV, "a = wrap64(b // c)", traps=("division_by_zero",)),
    Semantics(Op.MOD, "a = b % c", traps=("division_by_zero",)),
    Semantics(Op.NEG, "a = wrap64(-b)"),
    Semantics(Op.LT, "a = b < c"),
    Semantics(Op.LE, "a = b <= c"),
    Semantics(Op.GT, "a = b > c"),
    Semantics(Op.GE, "a = b >= c"),
    Semantics(Op.EQ, "a = b == c", traps=(_UNPAID,), helpers=("costs.string_extra",), fuel=_EQUAL_STRINGS),
    Semantics(Op.NE, "a = b != c", traps=(_UNPAID,), helpers=("costs.string_extra",), fuel=_EQUAL_STRINGS),
    Semantics(Op.NOT, "a = not b"),
    Semantics(Op.JMP, "continue at a"),
    Semantics(Op.JMPIF, "if a: continue at b"),
    Semantics(Op.JMPIFNOT, "if not a: continue at b"),
    Semantics(Op.CALL, "c = function a(b..)", traps=("call_depth", "registers", "stack_registers")),
    Semantics(
        Op.CAPCALL,
        "c = handler a(b..) (recorded)",
        traps=("capability_unavailable", "export_too_large", _UNPAID, _ALLOC),
        helpers=("costs.export_work_of", "costs.value_words"),
        fuel="size(arguments) // n, the arguments' characters and items counted as a tree",
    ),
    Semantics(Op.RET, "return a", traps=("export_too_large",), helpers=("costs.export_size",)),
    Semantics(Op.RETV, "return"),
    Semantics(Op.TRAP, "stop with constant a", traps=("trap",)),
    Semantics(Op.CONCAT, "a = b + c", traps=(_UNPAID, _STRLEN, _ALLOC), fuel="(len(b) + len(c)) // n"),
    Semantics(Op.TOSTR, "a = text of b", traps=(_STRLEN, _ALLOC)),
    Semantics(Op.LEN, "a = len(b)"),
    Semantics(Op.SLICE, "a = b[clamp(c):clamp(c + 1)]", traps=(_UNPAID, _ALLOC), fuel="len(result) // n"),
    Semantics(Op.CONTAINS, "a = c in b", traps=(_UNPAID,), fuel="(len(b) + len(c)) // n"),
    Semantics(Op.FIND, "a = b.find(c)", traps=(_UNPAID,), fuel="(len(b) + len(c)) // n"),
    Semantics(Op.PARSEINT, "a = int(b)", traps=(_UNPAID, "not_decimal", "outside_64_bits"), fuel="len(b) // n"),
    Semantics(Op.UPPER, "a = upper(b)", traps=(_UNPAID, _STRLEN, _ALLOC), helpers=_CASE[:1], fuel="len(b) // n"),
    Semantics(Op.LOWER, "a = lower(b)", traps=(_UNPAID, _STRLEN, _ALLOC), helpers=_CASE[1:2], fuel="len(b) // n"),
    Semantics(Op.TRIM, "a = trim(b)", traps=(_UNPAID, _ALLOC), helpers=_CASE[2:], fuel="len(b) // n"),
    Semantics(
        Op.SPLIT,
        "a = b.split(c)",
        traps=(_UNPAID, "empty_separator", "array_too_long", _ALLOC),
        helpers=("costs.string_extra",),
        fuel="2 * len(b) // n (one scan to count the pieces, one to build them)",
    ),
    Semantics(
        Op.JOIN,
        "a = c.join(b)",
        traps=(_UNPAID, _STRLEN, _ALLOC),
        helpers=("costs.string_extra",),
        fuel="(4 * len(b) + min(len(result), max_string_len + 1)) // n",
    ),
    Semantics(
        Op.REPEAT,
        'a = b * c ("" when c <= 0)',
        traps=(_UNPAID, _STRLEN, _ALLOC),
        helpers=("costs.string_extra",),
        fuel="min(len(b) * c, max_string_len + 1) // n (0 when c <= 0)",
    ),
    Semantics(Op.CHARAT, "a = b[c]", traps=("index_out_of_range", _STRLEN, _ALLOC)),
    Semantics(Op.NEWARR, "a = []", traps=(_ALLOC,)),
    Semantics(Op.PUSH, "a.append(b)", traps=("push_full", _ALLOC)),
    Semantics(Op.POP, "a = b.pop()", traps=("pop_empty",)),
    Semantics(Op.GETIDX, "a = b[c]", traps=("index_out_of_range",)),
    Semantics(Op.SETIDX, "a[b] = c", traps=("index_out_of_range",)),
)


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

#: Cost model 2's extra charges, by opcode number (`n` is CHARS_PER_FUEL, `len` counts characters or items): every
#: instruction costs 1 unit of fuel and these opcodes pay this extra charge too, computed from their operands
#: before the work.  Every other opcode does a bounded amount of work (`tostr` writes at most 20 characters, `len`,
#: `charat`, `push`, `pop`, `getidx`, `setidx` are O(1), `mov` of an array shares it), so it pays 1.
EXTRA_COSTS: Mapping[int, str] = {number: row.fuel for number, row in SEMANTICS.items() if row.fuel is not None}
