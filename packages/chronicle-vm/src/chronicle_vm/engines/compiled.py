"""The fast engine: takes a VerifiedModule, limits and handlers, gives exactly the reference interpreter's outcomes.

`CompiledEngine` has the `Interpreter`'s interface (`call(entry, args) ->
RunOutcome`) and its semantics to the instruction: the same results, traps
(codes, messages, `location`, `stack`), instruction counts, stop at
`max_instructions`, limit errors, and capability calls with the same
`CallSite`s, so a trace recorded on either engine is byte-identical.

How it runs
-----------
Each plugin function is translated, lazily on its first call, into one
Python function: registers are Python locals (`r0`, `r1`, ...; only those a
path may read before writing get a zero value at entry), wrapping arithmetic
is inline, and the code is cut into *arms* (a jump target and the blocks
that follow it up to the next jump target).  An arm that jumps back to its
own start becomes a `while True` loop of its own; other transfers set a
block variable: with few arms each arm is a breakable block behind an
`if blk == N` guard, so a forward jump falls to the guards below and only a
backward one goes round an outer loop; with many arms a balanced tree of
`if blk < N` dispatches.  Python's nesting stays bounded whatever the
module (a few loops, a tree of depth log2(arms)).

Instruction fuel is charged once per *segment* (a straight run inside an
arm that ends at a call, a return, an unconditional jump or the arm's end;
conditional jumps inside it are side exits that refund the instructions
they skip).  A segment ending in a call also pays for the callee's first
segment, and calls the callee's prepaid variant (`P3`, translated without
that charge; the plain `F3` keeps it for every other caller).  A call of a
function from which no capability call is reachable does not end a segment:
the caller charges what follows the call with what precedes it (fib pays one
fuel test per call instead of three).  Only a capability call reads the fuel
as a count on the fast path, so none can see those instructions charged
ahead; the slow paths that can (fuel running out inside the callee, an extra
charge that does not fit, a failure, a deadline stop) count them back from
the callers' frames (`_CodeInfo.line_beyond`), and where the interpreter
would still run them they hand the run to it.  When the
remaining fuel cannot pay for a whole segment, a second copy of the segment
runs its instructions one at a time with a check before each, so the run
stops before instruction N+1 exactly like the interpreter.  Capability calls
and failures in the middle of a segment compute their instruction count
from the fuel and their fixed offset in the segment (the line table of the
generated code records that offset for every line).  Cost model 2's extra
charges (chronicle_vm.engines.costs) are taken where the instruction runs, inside
its prepaid segment, with one test on the common path (`_pay` only from 16
characters of work); a charge that fits but would leave a later prepaid
instruction of the segment unfunded abandons the fast run for the reference
interpreter, which stops exactly there.

A side exit into an arm that nothing else enters (no fall-through, one
jump) leaves its refund to that arm's first charge (`FUEL >= length -
owed`), so fib's recursive arm is entered with one fuel operation less.  A
segment's fast copy making two calls or more tests the depth `d` once with
the fuel and computes the callees' `e = d - 1` once; `d = 0` takes the slow
copy, which stops at the same call.

CPython 3.11+ specialises an int comparison (fused with its jump) only when
both ints have one 30-bit digit, so the fuel stays below 2**29: a run
without a deadline is granted its max_instructions `_FUEL_GRANT` at a time,
the next grant taken where the fuel runs out, as the slices of a run with a
deadline are (only without the deadline check); a one-sided overflow check
(`i + 1`) tests a one-digit bound before the 64-bit one.  Int constants are
literals in the source (LOAD_CONST, not a global per use).

Range analysis and folding: an arm every way into which passed a guard
`lt/le x, k` (a `loadk` of an int right before, the branch right after)
knows x >= k until x is written, and `x - c` (c a positive constant) drops
its overflow check when k - c stays in 64 bits (fib's `n - 1` after
`n < 2`).  A backward liveness pass lets a value read only by the next
instruction go unstored: an int constant folds into the arithmetic or
comparison that reads it, an int comparison into its branch, and an
add/sub proved exact into the call argument that reads it
(`P0(e, (r0 - 1))`).  Folded instructions keep their place, fuel and
lines in every copy of their segment, so counts and locations are unchanged.

Errors carry the call stack without any bookkeeping on the fast path: a
fault is raised with its own function and instruction, and the callers'
positions are read from the Python traceback (each generated line maps to
the instruction it came from).  A capability handler's ChronicleError gains
location and stack the same way.

Calls and recursion
-------------------
Plugin calls are direct Python calls (the fastest option) carrying the
depth as an argument.  Below a bound that keeps Python's recursion limit out
of reach (the recursion limit minus the host's current stack minus a margin,
and never more than `max_call_depth` nor more frames than
`max_stack_registers` can hold), nothing else is checked; an entry that
cannot recurse takes only the frames of its longest chain of calls, and the
stack's room is probed in C (`sys._getframe` at the depth that would be too
deep) instead of walking every frame of the host's stack on each call.  A
call that would pass the bound abandons the fast run.  When the bound was Python's stack and
not a limit, the call runs again from the start on a worker thread with a
deep stack (chronicle_vm.engines.deep; the engine remembers the entry and
goes there directly next time), where the bound is the limit itself; when it
was a limit, the call re-executes on the reference interpreter, which stops
exactly where the limit says.  Either way the capability calls already made
are answered from a record of their results (the VM is deterministic, so it
makes the same calls in the same order) before going live.  This is exact and
costs nothing on the fast path; the rare deep or limit-reaching run pays one
re-execution.  A trampoline would have put a frame push and pop on every
call of every run instead.  The same fallback serves a function too large
to translate (more than `MAX_TRANSLATED_INSTRUCTIONS` instructions or
`MAX_TRANSLATED_REGISTERS` registers, or a translation that would outgrow
its source budget, `SOURCE_CHARS_PER_INSTRUCTION` characters per
instruction and `SOURCE_CHARS_PER_REGISTER` per register, as calls passing
thousands of arguments would), one Python's compiler refuses
(RecursionError, SyntaxError, MemoryError...), a frame over `max_registers`,
a run that would translate more than `TRANSLATION_BUDGET` instructions plus
one per 100 it has executed (translation is not metered by
`max_instructions`, so a plugin calling many large functions once each must
not make the host spend more compiling than the reference interpreter would
spend running it), and a re-entrant call of a busy engine from one of its
handlers.  Translations are cached per module (shared by every engine over
the same VerifiedModule), so a host that builds an engine per call pays
for each function once.

Security
--------
Generated source is built ONLY from integers (register numbers, instruction
and function indexes, counts, capability indexes the verifier checked, and
the module's int constants, written as decimal literals so that they load
as constants) and fixed templates; `_int()` asserts each interpolated value
is an `int` (`type(v) is int`: no bool, no subclass with its own `__str__`).
Every other constant (strings, floats), names, limits and handlers reach the
generated code only as entries of the globals dictionary it runs in (`k3`,
`H0`, `MAXI`, named from integers), never as source text, so untrusted input
cannot reach Python's compiler as code.  The generated code's builtins are empty: it sees
only the names the engine puts in its globals.  Some module facts choose
between fixed templates without entering the text: whether an int constant
loaded earlier in the segment is positive, negative or zero (one-sided
overflow checks, no zero-divisor check), whether a capability has a handler,
whether a callee exceeds max_registers, whether a guard's int constant
bounds a register far enough from the 64-bit edge to drop a check.
Translation work per run is budgeted (see above), so a module cannot make
the host compile without bound.

An engine is not thread-safe; use one engine per thread.
"""

from __future__ import annotations

import math
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.casemap import fixed_lower, fixed_trim, fixed_upper
from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.isa import CHARS_PER_FUEL, OPCODES, Op, OperandKind
from chronicle_vm.core.model import Function, Module
from chronicle_vm.core.structured import VMap, struct_fields
from chronicle_vm.core.type_registry import is_sized, zero_value
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, export_value, wrap_i64
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits

from . import faults
from .control import FUEL_SLICE, RunControl
from .costs import (
    ENTRY_WORDS,
    ITEM_WORDS,
    LIST_WORDS,
    STR_WORDS,
    WORD,
    append_piece,
    compare_extra,
    export_size,
    export_work_of,
    frame_work,
    joined_extra,
    joined_words,
    piece_length,
    private_strings,
    string_extra,
    value_words,
)
from .costs import Pieces as _Pieces
from .entry import RunOutcome, handler_table, locate, plain_kinds, plain_units, prepare_call
from .entry import describe as _describe
from .entry import structs_of as _structs
from .faults import OperandFault
from .faults import quote_operand as _quote
from .semantics import INT_TEXT as _INT_TEXT
from .semantics import VALUES, WORKS, operand_values, require_complete, writes_a

_SHIFT = CHARS_PER_FUEL.bit_length() - 1  # cost model 2: extra fuel = characters >> _SHIFT (chronicle_vm.engines.costs)
_FREE = CHARS_PER_FUEL - 1  # work of at most this many characters pays no extra fuel
_STR = STR_WORDS  # max_allocation's estimate of a string's header, in words (written into the source as an int)

if TYPE_CHECKING:
    from chronicle_vm.verifier.rules import VerifiedModule

    from .reference import Interpreter


def _interpreter() -> type[Interpreter]:
    """The fused interpreter, imported when a run first falls back to it (a compiled run seldom does)."""
    from .reference import Interpreter

    return Interpreter


def run_deep(job: Callable[[], RunOutcome], frames: int) -> RunOutcome:
    """`chronicle_vm.engines.deep.run_deep`, imported by the first run that goes deep: only such a run needs
    the worker-thread machinery (threading, contextvars)."""
    from .deep import run_deep as on_worker

    return on_worker(job, frames)


__all__ = [
    "MAX_TRANSLATED_INSTRUCTIONS",
    "MAX_TRANSLATED_REGISTERS",
    "TRANSLATION_BUDGET",
    "CompiledEngine",
]

#: Functions longer than this run on the reference interpreter (translation time and memory grow with size).
MAX_TRANSLATED_INSTRUCTIONS = 8_000
#: Functions with more registers than this run on the reference interpreter.
MAX_TRANSLATED_REGISTERS = 8_000
#: Instructions a run may translate before it has executed anything; beyond this plus one per
#: `_TRANSLATION_RATE` instructions executed, the run goes to the reference interpreter instead.
#: Translation is not metered by max_instructions, so this keeps its cost proportional to the run's.
TRANSLATION_BUDGET = 6_000
_TRANSLATION_RATE = 100
#: Fuel handed out at a time to a run without a deadline (the rest when it is used up, exactly as the slices of a
#: run with one, without the deadline check): CPython specialises int comparisons (`FUEL >= 15`) only for ints of
#: one 30-bit digit, and a run under max_instructions 10^12 would otherwise compare a big int at every charge.
_FUEL_GRANT = 1 << 29
#: Python frames kept free below the recursion limit for helpers and capability handlers.
_PYTHON_MARGIN = 120
#: Up to this many arms the dispatch is a chain of `if`; above it, a balanced tree.
_LINEAR_DISPATCH = 8

#: The largest one-digit int of CPython (30-bit digits; 15-bit builds only lose speed, never exactness).
_SMALL = (1 << 30) - 1
_JUMPS = (Op.JMP.value, Op.JMPIF.value, Op.JMPIFNOT.value)
#: Generated source allowed for a function: per instruction (compiler output stays under ~500), per register
#: (its zero value at entry), plus a constant, and at most MAX_SOURCE_CHARS; beyond it the function runs on
#: the reference interpreter.  Python's compiler takes about 150 bytes of memory per character of source, so
#: this bounds translation memory by the module's size whatever its shape (a call passing 4,095 arguments
#: writes 4,095 names, twice).
SOURCE_CHARS_PER_INSTRUCTION = 800
SOURCE_CHARS_PER_REGISTER = 40
MAX_SOURCE_CHARS = 4_000_000


class _SourceTooLarge(Exception):
    """The translation of one function outgrew its source budget."""


#: Visits per basic block the register analysis may make before it settles for its over-approximation.
_ANALYSIS_VISITS = 8
_SEGMENT_ENDS = frozenset((Op.CALL.value, Op.JMP.value, Op.RET.value, Op.RETV.value, Op.TRAP.value))
_TERMINAL = frozenset((Op.JMP.value, Op.RET.value, Op.RETV.value, Op.TRAP.value))


class _Fault(Exception):
    """A trap or limit inside generated code: the error to raise, at instruction `pc` of function `fidx`."""

    def __init__(
        self, error: type[ChronicleError], code: str, message: str, fidx: int, pc: int, details: dict[str, Any]
    ) -> None:
        super().__init__(code)
        self.error = error
        self.code = code
        self.message = message
        self.fidx = fidx
        self.pc = pc
        self.details = details


class _Bail(Exception):
    """The fast run cannot continue exactly: re-execute the call on the reference interpreter.

    `stop_at` > 0: a deadline or cancel stop fell due where instructions charged ahead had still to run; the
    interpreter stops at its first fuel-slice end from that count on (`_StopFrom`).
    """

    def __init__(self, stop_at: int = 0) -> None:
        super().__init__(stop_at)
        self.stop_at = stop_at


class _StopFrom(RunControl):
    """A call's control that lets a re-execution run to instruction `target` before it may stop it."""

    __slots__ = ("inner", "target")

    def __init__(self, inner: RunControl, target: int) -> None:  # not RunControl's: keep the same deadline
        self.timeout = inner.timeout
        self.deadline = inner.deadline
        self.cancel = inner.cancel
        self.stopped = None
        self.inner = inner
        self.target = target

    def check(self, instructions: int) -> faults.Failure | None:
        return None if instructions < self.target else self.inner.check(instructions)


class _Deep(_Bail):
    """A call would go past the frames the run was allowed (`d` reached 0)."""


def _stack_below(frames: int) -> bool:
    """Whether the caller has at most `frames` Python frames at and above it (a walk in C, unlike `_python_depth`)."""
    if frames < 1:
        return False
    try:
        sys._getframe(frames + 1)
    except ValueError:
        return True
    return False


def _python_depth() -> int:
    """Python frames on the current thread's stack (the compiled engine's calls are Python calls)."""
    depth = 0
    frame: types.FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _replaying(
    handlers: Sequence[CapabilityHandler | None], answers: list[Value | None]
) -> tuple[CapabilityHandler | None, ...]:
    """`handlers` answering the first `len(answers)` capability calls of a run (any capability) from `answers`."""
    position = 0

    def wrap(handler: CapabilityHandler) -> CapabilityHandler:
        def answer(call_args: Sequence[Value], site: CallSite) -> Value | None:
            nonlocal position
            if position < len(answers):
                position += 1
                return answers[position - 1]
            return handler(call_args, site)

        return answer

    return tuple(None if h is None else wrap(h) for h in handlers)


class _EntryPlan(NamedTuple):
    """What every call of one entry reuses: its function index, parameters, allowed argument units, static depth."""

    function: int
    params: tuple[ValueType, ...]
    kinds: tuple[type, ...] | None  # the parameters' plain Python types (`plain_units`), None if some are not
    room: int  # the allocation units its arguments may take (-1: none, see `CompiledEngine._fits`)
    depth: int  # the most frames its calls can have live at once, itself included; 0 when it may recurse


def _static_depth(module: Module, index: int) -> int:
    """The most frames live at once in a run of function `index` (its longest chain of calls), 0 if it may recurse.

    Iterative over the functions reachable from `index` (a module may chain thousands of functions).
    """
    functions = module.functions
    callees: dict[int, list[int]] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[int, int]] = [(index, 0)]
    while stack:
        node, position = stack.pop()
        if position == 0:
            if node in on_path:
                return 0  # a cycle: recursion
            on_path.add(node)
            callees[node] = sorted({a for op, a, _b, _c in functions[node].code if op == Op.CALL})
        below = callees[node]
        if position < len(below):
            stack.append((node, position + 1))
            if below[position] not in depth:
                stack.append((below[position], 0))
            continue
        on_path.discard(node)
        depth[node] = 1 + max((depth[c] for c in below), default=0)
    return depth[index]


#: `_static_depth` per module (by identity, like the translations), so an engine built per call does not walk
#: the call graph again; bounded, oldest first out.
_DEPTHS: OrderedDict[int, tuple[VerifiedModule, dict[int, int]]] = OrderedDict()


def _module_depth(verified: VerifiedModule, index: int) -> int:
    """`_static_depth(verified.module, index)`, worked out once per module."""
    known = _DEPTHS.get(id(verified))
    if known is None or known[0] is not verified:
        known = _DEPTHS[id(verified)] = (verified, {})
        while len(_DEPTHS) > _CACHE_MODULES:
            _DEPTHS.popitem(last=False)
    depths = known[1]
    depth = depths.get(index)
    if depth is None:
        depth = depths[index] = _static_depth(verified.module, index)
    return depth


_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class _CodeInfo:
    """Where each line of a function's translation maps back to its instructions (a docstring, so no signature)."""

    fidx: int
    line_pcs: tuple[int, ...]  # line number - 1 -> instruction index (-1 for dispatch lines)
    line_pending: tuple[int, ...]  # line number - 1 -> instructions charged ahead of the one on that line
    # line number - 1 -> instructions of this frame charged ahead and still to run when the line is a call that has
    # not returned (a segment that runs on past a call, see `_Translator.segment_end`); 0 for every other line
    line_beyond: tuple[int, ...]


def _literal(value: object) -> str:
    """An int constant of the module as a Python literal (parenthesised when negative): `_int` checks it."""
    number = _int(value)
    return str(number) if number >= 0 else f"({number})"


def _int(value: object) -> int:
    """The only way a value enters generated source: it must be a plain int."""
    if type(value) is not int:
        raise TypeError(f"generated source takes ints only, got {type(value).__name__}")
    return value


class CompiledEngine:
    """Runs functions of one verified module like `Interpreter`, translating each function to Python on first use.

    Each `call` starts from fresh counters; translations are cached for the
    engine's lifetime.
    """

    def __init__(
        self,
        verified: VerifiedModule,
        limits: Limits,
        handlers: Sequence[CapabilityHandler | None] = (),
    ) -> None:
        self.verified = verified
        self.module: Module = verified.module
        self.limits = limits
        self.handlers = handler_table(self.module, handlers)
        self._reference: Interpreter | None = None
        self._busy = False
        self._codes: dict[types.CodeType, _CodeInfo] = {}
        self._compiled: dict[int, Callable[..., Any]] = {}
        self._uncompilable: set[int] = set()
        self._capless: frozenset[int] | None = None
        self._deep_entries: set[str] = set()  # entries that ran out of the caller's Python stack once
        self._max_string = limits.max_string_len
        self._plans: dict[str, _EntryPlan] = {}  # entry name -> what its calls reuse (see `_plan`)
        self._translated = 0  # instructions translated (not found in the cache) during the current run
        functions = self.module.functions
        self._max_frame = max((len(f.registers) for f in functions), default=1) or 1
        #: Per function, what its frame's fresh values cost: (extra fuel, words), costs.frame_work.
        self.frame_work = tuple(frame_work(f, _structs(self.module)) for f in functions)
        # The frames a run may need: max_call_depth, or fewer when max_stack_registers cannot hold that many of the
        # largest frame (then the interpreter checks each frame beyond).
        self._wanted = min(limits.max_call_depth, limits.max_stack_registers // self._max_frame)
        # Per-run state lives in cells shared by every generated function (fast `nonlocal` access).
        self._fuel = types.CellType(0)
        self._alloc = types.CellType(0)
        self._bound = types.CellType(0)
        self._record: list[Value | None] = []
        # The current call's deadline and cancel handle, and the fuel handed out so far: grants of _FUEL_GRANT
        # without a control, else slices (see control.py); executed = issued - FUEL.
        self._control: RunControl | None = None
        self._issued = limits.max_instructions
        self._absent = tuple(h is None for h in self.handlers)  # translations depend on which slots are empty
        self._given: Sequence[CapabilityHandler | None] | None = None  # the handlers the last call passed
        self._handler_names = tuple(f"H{a}" for a in range(len(self.handlers)))  # their names in the globals
        self._globals = self._make_globals()

    # -- entry ------------------------------------------------------------------------------------------------------

    def call(
        self,
        entry: str,
        args: Sequence[object],
        *,
        handlers: Sequence[CapabilityHandler | None] | None = None,
        control: RunControl | None = None,
    ) -> RunOutcome:
        """Run exported function `entry` with host arguments (checked against its parameter types first).

        `handlers` replace the engine's for this call and the ones after it, keeping the translations
        (the handlers are globals of the generated code); `control` carries the call's deadline and
        cancel handle.
        """
        plan = self._plans.get(entry) if type(entry) is str else None
        values: list[Value]
        if plan is not None and not args and not plan.params:  # nothing to check
            index, values, units = plan.function, [], 0
        elif (
            plan is not None
            and plan.kinds is not None
            and (units := plain_units(args, plan.kinds, self._max_string)) >= 0
        ):
            index, values = plan.function, list(args)  # type: ignore[arg-type]  # scalars the import takes as they are
        else:
            index, values, units = prepare_call(self.verified, self.limits, entry, args)
            if plan is None:
                plan = self._plan(index)
                if type(entry) is str:
                    self._plans[entry] = plan
        if self._busy:  # re-entered from one of its own handlers: leave this run's state alone
            table = self.handlers if handlers is None else handlers
            return _interpreter()(self.verified, self.limits, table).call(entry, args, control=control)
        # The same handlers as the last call (an instance without per-call state) need no re-binding.
        if handlers is not None and handlers is not self._given and not self._rebind(handlers):
            table = handler_table(self.module, handlers)  # other empty slots: other translations
            return _interpreter()(self.verified, self.limits, table).call(entry, args, control=control)
        self._control = control
        if units > plan.room:
            return self._reference_engine().call(entry, args, handlers=self.handlers, control=control)
        self._busy = True
        try:
            return self._run(entry, args, index, values, units, plan.depth)
        finally:
            self._busy = False

    def _rebind(self, handlers: Sequence[CapabilityHandler | None]) -> bool:
        """Make `handlers` the engine's from now on; False (nothing changed) when their empty slots differ."""
        table = handler_table(self.module, handlers)
        if tuple(h is None for h in table) != self._absent:  # other empty slots: other translations
            return False
        self._given = handlers
        self.handlers = table
        names = self._globals
        for key, handler in zip(self._handler_names, table, strict=True):
            if key in names:  # bound by a translation that calls it
                names[key] = handler
        return True

    def _plan(self, index: int) -> _EntryPlan:
        """What does not change between calls of entry `index`: its parameters, the room its arguments may
        take (`_fits`) and how deep its calls can go (`_static_depth`)."""
        function = self.module.functions[index]
        params = function.params
        return _EntryPlan(index, params, plain_kinds(params), self._fits(index), _module_depth(self.verified, index))

    def _fits(self, index: int) -> int:
        """The allocation units the entry's arguments may take and still pass every check the interpreter makes
        before the first instruction; -1 when its frame itself does not pass them (kept per entry: the limits
        and the frame do not change between calls, only the arguments' units)."""
        limits = self.limits
        size = len(self.module.functions[index].registers)
        if size <= limits.max_registers and size <= limits.max_stack_registers and limits.max_call_depth >= 1:
            room = limits.max_allocation // WORD - self.frame_work[index][1]
            return room if room >= 0 else -1  # the entry frame's fresh values count first (costs.frame_work)
        return -1

    def _charge_translation(self, size: int) -> None:
        """Count `size` instructions of new translation against the run's budget; abandon the fast run beyond it."""
        executed = self._issued - self._fuel.cell_contents
        self._translated += size
        if self._translated > TRANSLATION_BUDGET + max(executed, 0) // _TRANSLATION_RATE:
            raise _Bail

    def _reference_engine(self) -> Interpreter:
        if self._reference is None:
            self._reference = _interpreter()(self.verified, self.limits, self.handlers)
        return self._reference

    def _run(
        self, entry: str, args: Sequence[object], index: int, values: list[Value], units: int, depth: int = 0
    ) -> RunOutcome:
        wanted = self._wanted
        if wanted < 1:
            # max_stack_registers cannot hold the largest frame, so no call may be taken unchecked (a `d` of -1
            # would never reach the `if not d` guard); the reference interpreter checks each frame.
            return self._reference_engine().call(entry, args, handlers=self.handlers, control=self._control)
        self._record.clear()  # the capability results of this run's attempts (none yet)
        if entry in self._deep_entries:  # went past the caller's Python stack before: straight to the deep thread
            return self._run_deep(entry, args, index, values, units, wanted)
        # The frames allowed: min(the room on this thread's stack, wanted).  An entry whose calls go at most
        # `depth` frames deep (no recursion) needs only those, and one that may recurse gets all it wants,
        # whenever the stack has the room: `sys._getframe(k)` fails exactly when fewer than k + 1 frames are
        # above this one, a walk in C.  Only a nearly full stack counts its frames one by one.
        limit = sys.getrecursionlimit() - _PYTHON_MARGIN - 1
        if 0 < depth <= wanted and _stack_below(limit - depth):
            bound = depth  # `d` never reaches 0 on the way down: no _Deep
        elif _stack_below(limit - wanted):
            bound = wanted
        else:
            bound = min(limit + 1 - _python_depth(), wanted)
            if bound < 4:
                return self._run_deep(entry, args, index, values, units, wanted)
        try:
            return self._attempt(entry, args, index, values, units, bound)
        except _Deep:
            if bound >= wanted:  # the real max_call_depth (or stack) limit: the interpreter stops exactly there
                return self._rerun_on_interpreter(entry, args, self._record)
        # Out of Python stack on this thread, not out of limits: again from the start on a deep stack.
        self._deep_entries.add(entry)
        return self._run_deep(entry, args, index, values, units, wanted)

    def _run_deep(
        self, entry: str, args: Sequence[object], index: int, values: list[Value], units: int, wanted: int
    ) -> RunOutcome:
        """The run again from the start on the deep-stack thread (chronicle_vm.engines.deep), exact as ever.

        Capability calls the abandoned attempt made are answered from its record (the VM is deterministic, so
        the run makes the same calls in the same order) before the live handlers take over.
        """
        answers = list(self._record)
        names = self._globals
        if answers:
            for key, handler in zip(self._handler_names, _replaying(self.handlers, answers), strict=True):
                names[key] = handler

        def job() -> RunOutcome:
            bound = min(wanted, sys.getrecursionlimit() - _python_depth() - _PYTHON_MARGIN)
            self._record.clear()
            try:
                return self._attempt(entry, args, index, values, units, bound)
            except _Deep:
                return self._rerun_on_interpreter(entry, args, self._record)

        try:
            return run_deep(job, 2 * wanted + 2 * _PYTHON_MARGIN)
        except RuntimeError:  # no thread could be started: the interpreter has no Python recursion to run out of
            return self._rerun_on_interpreter(entry, args, self._record)
        finally:
            if answers:
                for key, handler in zip(self._handler_names, self.handlers, strict=True):
                    names[key] = handler

    def _attempt(
        self, entry: str, args: Sequence[object], index: int, values: list[Value], units: int, bound: int
    ) -> RunOutcome:
        """One run of the translation with `bound` frames allowed; raises _Deep when a call would go past them."""
        limits = self.limits
        # Without a control the fuel in grants of _FUEL_GRANT.  With one, the first slice after the check a first
        # instruction would make when it asks for it (no stop due: the same slice ends; a stop: none, so that
        # instruction asks and stops exactly as before).
        control = self._control
        if control is None:  # in grants that stay one-digit ints (`_FUEL_GRANT`)
            self._issued = min(_FUEL_GRANT, limits.max_instructions)
        else:
            self._issued = min(FUEL_SLICE, limits.max_instructions) if control.check(0) is None else 0
        self._globals["MAXI"] = self._issued
        entry_fuel, entry_words = self.frame_work[index]  # the entry frame's fresh values, paid before it runs
        self._fuel.cell_contents = self._issued - entry_fuel
        self._alloc.cell_contents = units + entry_words
        self._bound.cell_contents = bound
        record = self._record
        if entry_fuel > self._issued:  # more than the first grant or slice: the interpreter stops or slices exactly
            return self._rerun_on_interpreter(entry, args, record)
        self._translated = 0
        try:
            # `d` counts the frames still allowed below this one: a call needs d > 0.  (Its first run translates
            # the function, which may abandon the fast run: _Bail.)
            function = self._compiled.get(index) or self._function(index)
            result = function(bound - 1, *values)
        except _Fault as fault:
            frames, pending = self._callers(fault.__traceback__)
            frames[-1] = (fault.fidx, fault.pc)
            stack = [self.location(function, pc) for function, pc in frames]
            where = stack[-1]
            error = fault.error(
                fault.code, f"{fault.message} {_describe(where)}", location=where, stack=stack, **fault.details
            )
            # Every failure says how many instructions had started, the failing one included.
            error.details.setdefault("instructions", self._issued - self._fuel.cell_contents - pending)
            raise error from None
        except _Deep:
            raise
        except _Bail as bail:
            return self._rerun_on_interpreter(entry, args, record, bail.stop_at)
        except ChronicleError as exc:
            # A capability handler's error (quota, host failure) gains the call site's location and stack.
            frames, pending = self._callers(exc.__traceback__)
            if frames:
                stack = [self.location(function, pc) for function, pc in frames]
                exc.details.setdefault("location", stack[-1])
                exc.details.setdefault("stack", stack)
                exc.details.setdefault("instructions", self._issued - self._fuel.cell_contents - pending)
            raise
        count = self._issued - self._fuel.cell_contents
        if type(result) is list or type(result) is VMap:
            if export_size(result) > limits.max_allocation // WORD:
                # Too large to leave the VM: the reference interpreter re-runs the call and stops at the `ret`.
                return self._rerun_on_interpreter(entry, args, record)
            result = export_value(result)
        return _new_tuple(RunOutcome, (result, count))  # RunOutcome's own __new__ is a Python function

    def _callers(self, tb: types.TracebackType | None) -> tuple[list[tuple[int, int]], int]:
        """(function, instruction) of every generated frame on a traceback, outermost first.

        Also gives the instructions charged ahead of the innermost frame's
        failing one (its segment was paid for in advance), so the failure's
        exact count is `max_instructions - fuel - pending`.
        """
        frames: list[tuple[int, int]] = []
        pending = beyond = last = 0
        codes = self._codes
        while tb is not None:
            info = codes.get(tb.tb_frame.f_code)
            if info is not None:
                frames.append((info.fidx, info.line_pcs[tb.tb_lineno - 1]))
                pending = info.line_pending[tb.tb_lineno - 1]
                last = info.line_beyond[tb.tb_lineno - 1]
                beyond += last
            tb = tb.tb_next
        # The callers' segments that ran on past their calls charged instructions they have still to run.
        return frames, pending + beyond - last

    def _prepaid_above(self) -> int:
        """Instructions the frames on the current Python stack have charged and still to run after their calls.

        Only segments that run on past a call to a function that makes no capability call charge beyond the
        call, so this is 0 wherever a capability call or a handler runs; the fuel-exhaustion and extra-charge
        failure paths read it to keep their counts exact.
        """
        total = 0
        codes = self._codes
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None:
            info = codes.get(frame.f_code)
            if info is not None:
                total += info.line_beyond[frame.f_lineno - 1]
            frame = frame.f_back
        return total

    def _rerun_on_interpreter(
        self, entry: str, args: Sequence[object], record: list[Value | None], stop_at: int = 0
    ) -> RunOutcome:
        """Re-execute on the fused interpreter; capability calls already made are answered from `record`."""
        handlers = _replaying(self.handlers, list(record))
        control = self._control
        if control is not None and stop_at:
            control = _StopFrom(control, stop_at)
        return _interpreter()(self.verified, self.limits, handlers).call(entry, args, control=control)

    def location(self, function: int, index: int) -> dict[str, Any]:
        """JSON-safe location of instruction `index` of function `function` (as `Interpreter.location`)."""
        return locate(self.module, function, index)

    # -- the generated code's world -----------------------------------------------------------------------------------

    def _make_globals(self) -> dict[str, Any]:
        """The globals every translated function of this engine runs with: limits, helpers and failure paths."""
        limits = self.limits
        max_string = limits.max_string_len
        max_alloc = limits.max_allocation

        def fault(failure: faults.Failure, f: int, p: int) -> NoReturn:
            error, code, message, details = failure
            raise _Fault(error, code, message, f, p, details)

        fuel_helpers = self._fuel_helpers(fault)

        out: dict[str, Any] = {
            "__builtins__": {},
            "len": len,
            "IndexError": IndexError,
            "KeyError": KeyError,
            "str": str,
            "type": type,
            "list": list,
            "CS": CallSite,
            "_tnew": tuple.__new__,
            "MAXI": limits.max_instructions,
            "MAXA": max_alloc // WORD,  # allocation is counted in words (chronicle_vm.engines.costs)
            "MAXS": max_string,
            "MAXR": limits.max_array_len,
            "I64MAX": I64_MAX,
            "I64MIN": I64_MIN,
            "_wrap": wrap_i64,
            **_FLOAT_GLOBALS,
            "_vwords": value_words,
            "_VMap": VMap,
            "_copy": export_value,
            "_upper": fixed_upper,
            "_lower": fixed_lower,
            "_trim": fixed_trim,
            "CUTS": min(max_string, _FREE),
            "_xwork": export_work_of,
            "_sx": string_extra,
            "REC": self._record.append,
            **fuel_helpers,
            **self._piece_helpers(fault, fuel_helpers["_payx"]),
            **self._failure_helpers(fault),
            **self._string_helpers(fault),
        }
        return out

    def _fuel_helpers(self, fault: Callable[[faults.Failure, int, int], NoReturn]) -> dict[str, Any]:
        """Cost model 2 and the fuel slices: refill a slice, top it up, pay an extra charge."""
        limits = self.limits
        fuel_cell = self._fuel
        max_string = limits.max_string_len

        def nofuel(f: int, p: int) -> None:
            control = self._control
            if self._issued < limits.max_instructions:
                # A fuel slice is used up: go on with the next one unless the deadline or a cancel stops here (without
                # a control, the next grant of compact fuel, see `_FUEL_GRANT`).
                stop = None if control is None else control.check(self._issued - fuel_cell.cell_contents)
                if stop is not None:
                    if self._prepaid_above():
                        # Callers charged instructions ahead that must run before this slice end: the interpreter
                        # re-executes the call and stops at the slice end (a stop is always at one).
                        raise _Bail(self._issued)
                    fault(stop, f, p)
                grant = min(_FUEL_GRANT if control is None else FUEL_SLICE, limits.max_instructions - self._issued)
                self._issued += grant
                self._globals["MAXI"] = self._issued  # the generated code's call sites count from it
                fuel_cell.cell_contents += grant
                return
            if self._prepaid_above():
                raise _Bail  # callers charged instructions ahead that the interpreter would still run
            failure = faults.instructions(limits.max_instructions)
            failure[3]["instructions"] = limits.max_instructions - fuel_cell.cell_contents
            fault(failure, f, p)

        def short(f: int, p: int, extra: int, pending: int) -> None:
            if self._issued < limits.max_instructions:
                # FUEL is one slice (or grant): top it up from the run's total, with no deadline check in the
                # middle of an instruction (the next slice end checks), and charge as if it had been there.
                grant = min(max(extra - fuel_cell.cell_contents, FUEL_SLICE), limits.max_instructions - self._issued)
                self._issued += grant
                self._globals["MAXI"] = self._issued
                fuel_cell.cell_contents += grant
                if extra <= fuel_cell.cell_contents:
                    return
            # After this instruction's base cost, counting what this frame and its callers charged ahead.
            left = fuel_cell.cell_contents + pending + self._prepaid_above()
            if extra <= left:
                raise _Bail  # payable, but an instruction prepaid after it is not: the interpreter stops there
            failure = faults.unpaid(limits.max_instructions, extra + 1, left + 1)
            failure[3]["instructions"] = self._issued - left - 1
            fault(failure, f, p)

        def pay(f: int, p: int, chars: int, pending: int) -> None:
            extra = chars >> _SHIFT
            if extra > fuel_cell.cell_contents:
                short(f, p, extra, pending)
            fuel_cell.cell_contents -= extra

        def pay_extra(f: int, p: int, extra: int, pending: int) -> None:
            """Pay `extra` units (a sized operation's charge, already computed) as `pay` pays for characters."""
            if extra > fuel_cell.cell_contents:
                short(f, p, extra, pending)
            fuel_cell.cell_contents -= extra

        def big_concat(f: int, p: int, size: int, pending: int) -> None:
            # The interpreter's order: the extra charge, then max_string_len.
            if size > _FREE:
                pay(f, p, size, pending)
            if size > max_string:
                fault(faults.string_too_long(size, max_string), f, p)

        return {
            "_nofuel": nofuel,
            "_short": short,
            "_pay": pay,
            "_payx": pay_extra,
            "_bigcat": big_concat,
        }

    def _piece_helpers(
        self, fault: Callable[[faults.Failure, int, int], NoReturn], pay_extra: Callable[[int, int, int, int], None]
    ) -> dict[str, Any]:
        """Private strings kept in pieces (costs.private_strings): join, double, a comparison's charge."""
        limits = self.limits
        max_string = limits.max_string_len
        alloc_cell = self._alloc
        max_words = limits.max_allocation // WORD

        def join_pieces(f: int, p: int, value: _Pieces) -> str:
            """Join a private register's pieces (paid already): counted as a new string against max_allocation."""
            alloc_cell.cell_contents += joined_words(value)
            if alloc_cell.cell_contents > max_words:
                fault(faults.allocation(limits.max_allocation), f, p)
            return "".join(value.parts)

        def double(f: int, p: int, value: str | _Pieces, pending: int) -> str | _Pieces:
            """`s = s + s` on a private local: semantics._append's order (one charge, the length, the words)."""
            length = piece_length(value)
            extra = joined_extra(value) + (length >> _SHIFT)
            if extra:
                pay_extra(f, p, extra, pending)
            if 2 * length > max_string:
                fault(faults.string_too_long(2 * length, max_string), f, p)
            alloc_cell.cell_contents += joined_words(value) + length
            if alloc_cell.cell_contents > max_words:
                fault(faults.allocation(limits.max_allocation), f, p)
            text = "".join(value.parts) if type(value) is _Pieces else value
            return append_piece(text, text, 2 * length)  # type: ignore[arg-type]

        def compare_joins(op: int, left: Any, right: Any, left_pieces: int, right_pieces: int) -> int:
            """The extra fuel of a comparison of private strings: its own, from the lengths, and the joins."""
            extra = compare_extra(
                op,
                left.n if type(left) is _Pieces else len(left),
                right.n if type(right) is _Pieces else len(right),
            )
            return extra + (joined_extra(left) if left_pieces else 0) + (joined_extra(right) if right_pieces else 0)

        return {
            "_pjoin": join_pieces,
            "_pdouble": double,
            "_pcx": compare_joins,
            "_piece": append_piece,
            "_Pieces": _Pieces,
        }

    def _failure_helpers(self, fault: Callable[[faults.Failure, int, int], NoReturn]) -> dict[str, Any]:
        """The traps and limit errors the generated code raises, located at (function, instruction)."""
        limits = self.limits
        module = self.module
        max_array = limits.max_array_len
        max_string = limits.max_string_len
        max_alloc = limits.max_allocation
        constants = module.constants

        def value_of(f: int, p: int, op: int, left: Any, right: Any) -> Any:
            """A plain operation of the semantics table (a row with `value`), located where it fails."""
            try:
                return VALUES[op](left, right)
            except OperandFault as exc:
                fault(exc.failure, f, p)

        def divzero(f: int, p: int) -> NoReturn:
            fault(faults.division_by_zero(modulo=False), f, p)

        def modzero(f: int, p: int) -> NoReturn:
            fault(faults.division_by_zero(modulo=True), f, p)

        def index_array(f: int, p: int, index: int, length: int) -> NoReturn:
            fault(faults.index_out_of_range(index, length, "array"), f, p)

        def index_string(f: int, p: int, index: int, length: int) -> NoReturn:
            fault(faults.index_out_of_range(index, length, "string"), f, p)

        def pop_empty(f: int, p: int) -> NoReturn:
            fault(faults.pop_empty(), f, p)

        def push_full(f: int, p: int) -> NoReturn:
            fault(faults.push_full(max_array), f, p)

        def alloc_fail(f: int, p: int) -> NoReturn:
            fault(faults.allocation(max_alloc), f, p)

        def string_fail(f: int, p: int, size: int) -> NoReturn:
            fault(faults.string_too_long(size, max_string), f, p)

        def trap(f: int, p: int, k: int) -> NoReturn:
            message = constants[k]
            assert isinstance(message, str)  # the verifier admits only a string constant
            fault(faults.trap(message), f, p)

        def capability_none(f: int, p: int, a: int) -> NoReturn:
            fault(faults.capability_unavailable(module.capabilities[a].name), f, p)

        def bail() -> NoReturn:
            raise _Bail

        def deep() -> NoReturn:
            raise _Deep

        def stub_fail(*_args: object) -> NoReturn:
            raise _Bail

        def export_fail(f: int, p: int, size: int) -> NoReturn:
            fault(faults.export_too_large(size * WORD, max_alloc), f, p)

        def work_check(f: int, p: int, op: int, values: tuple[Any, ...]) -> int:
            """A sized operation's checks (chronicle_vm.engines.semantics.Work), located where they fail."""
            try:
                return WORKS[op].check(values, max_string, max_array)
            except OperandFault as exc:
                fault(exc.failure, f, p)

        return {
            "_value": value_of,
            "_wcheck": work_check,
            "_wfuel": lambda op, values, max_s: WORKS[op].fuel(values, max_s),
            "_wact": lambda op, values: WORKS[op].act(values),
            "_chr": chr,
            "_divzero": divzero,
            "_modzero": modzero,
            "_idxa": index_array,
            "_idxs": index_string,
            "_popempty": pop_empty,
            "_pushfull": push_full,
            "_allocfail": alloc_fail,
            "_strfail": string_fail,
            "_trap": trap,
            "_capnone": capability_none,
            "_bail": bail,
            "_deep": deep,
            "_stubfail": stub_fail,
            "_exportfail": export_fail,
        }

    def _string_helpers(self, fault: Callable[[faults.Failure, int, int], NoReturn]) -> dict[str, Any]:
        """The string instructions whose work is a call, checked against the limits where they fail."""
        limits = self.limits
        max_array = limits.max_array_len
        max_string = limits.max_string_len

        def array_fail(f: int, p: int, size: int) -> NoReturn:
            fault(faults.array_too_long(size, max_array), f, p)

        def parse_int(text: str, f: int, p: int) -> int:
            if not (isinstance(text, str) and _INT_TEXT.fullmatch(text)):
                fault(faults.not_decimal(_quote(text)), f, p)
            number = int(text)
            if not I64_MIN <= number <= I64_MAX:
                fault(faults.outside_64_bits(_quote(text)), f, p)
            return number

        def split(text: str, separator: str, f: int, p: int) -> list[str]:
            if not separator:
                fault(faults.empty_separator(), f, p)
            pieces = text.count(separator) + 1
            if pieces > max_array:
                array_fail(f, p, pieces)
            return text.split(separator)

        def join(items: list[str], separator: str, f: int, p: int) -> str:
            size = sum(len(item) for item in items) + len(separator) * max(len(items) - 1, 0)
            if size > max_string:
                fault(faults.string_too_long(size, max_string), f, p)
            return separator.join(items)

        def repeat(text: str, times: int, f: int, p: int) -> str:
            size = len(text) * times if times > 0 else 0
            if size > max_string:
                fault(faults.string_too_long(size, max_string), f, p)
            return text * times if times > 0 else ""

        def checked(result: str, f: int, p: int) -> str:
            if len(result) > max_string:
                fault(faults.string_too_long(len(result), max_string), f, p)
            return result

        def slice_(text: str, lo: int, hi: int) -> str:
            length = len(text)
            lo = min(max(lo, 0), length)
            hi = min(max(hi, 0), length)
            return text[lo:hi] if lo < hi else ""

        return {
            "_parseint": parse_int,
            "_split": split,
            "_join": join,
            "_repeat": repeat,
            "_checked": checked,
            "_slice": slice_,
        }

    def _stub(self, index: int, prepaid: bool = False) -> Callable[..., Any]:
        def stub(*args: Any) -> Any:
            return self._function(index, prepaid)(*args)

        return stub

    def _function(self, index: int, prepaid: bool = False) -> Callable[..., Any]:
        """The translated function `index` (now in the globals), or a stand-in that abandons the fast run.

        `prepaid`: its variant for callers that paid its entry segment (`P3`; see `_entry_segment`).
        """
        key = -1 - index if prepaid else index
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._bind(index, prepaid)
            self._compiled[key] = compiled
            self._globals[f"{'P' if prepaid else 'F'}{index}"] = compiled
        return compiled

    def _bind(self, index: int, prepaid: bool) -> Callable[..., Any]:
        """Bind function `index`'s translation (shared by engines over the same module) to this engine."""
        translation = _translation(self, index, prepaid)
        if translation is None:
            self._uncompilable.add(index)
            stand_in: Callable[..., Any] = self._globals["_stubfail"]
            return stand_in
        names = self._globals
        constants = self.module.constants
        for k in translation.constants:
            names.setdefault(f"k{k}", constants[k])
        for a in translation.capabilities:
            names.setdefault(f"H{a}", self.handlers[a])
        for callee in translation.callees:
            if f"F{callee}" not in names:
                names[f"F{callee}"] = self._stub(callee)
        for callee in translation.prepaid_callees:
            if f"P{callee}" not in names:
                names[f"P{callee}"] = self._stub(callee, prepaid=True)
        code = translation.code
        cells = {"FUEL": self._fuel, "A": self._alloc, "B": self._bound}
        closure = tuple(cells[name] for name in code.co_freevars)
        self._codes[code] = translation.info
        return types.FunctionType(code, names, f"{'p' if prepaid else 'f'}{index}", None, closure)

    def translated_source(self, index: int, prepaid: bool = False) -> str:
        """The Python source function `index` translates to (for inspection and tests); `prepaid`: the variant
        that prepaid call sites call (without its entry segment's charge)."""
        return _Translator(self.module, self.verified.block_leaders[index], index, self, prepaid).source()[0]

    def capless(self) -> frozenset[int]:
        """The module's functions that make no capability call, directly or through their callees."""
        if self._capless is None:
            self._capless = _capless(self.module)
        return self._capless


@dataclass(frozen=True, slots=True)
class _Translation:
    """One function's compiled code and what it needs bound in an engine's globals."""

    code: types.CodeType
    info: _CodeInfo
    constants: tuple[int, ...]
    callees: tuple[int, ...]
    capabilities: tuple[int, ...]
    prepaid_callees: tuple[int, ...]  # callees called by their prepaid variant (`P3`) from some call site


# Translations are shared by every engine over the same VerifiedModule (a host may build an engine per call).
# Keyed by the module object's identity, which the entry keeps alive; bounded, least recently used first out.
_CACHE: OrderedDict[int, tuple[VerifiedModule, dict[tuple[Any, ...], _Translation | None]]] = OrderedDict()
_CACHE_MODULES = 16


def _translation(engine: CompiledEngine, index: int, prepaid: bool) -> _Translation | None:
    """Function `index` of the engine's module translated for the engine's static facts, or None if it cannot be.

    `prepaid`: the variant prepaid call sites call, whose entry segment its callers have paid for.
    """
    verified = engine.verified
    limits = engine.limits
    # What the generated code decides once: which callees exceed max_registers, which constants exceed
    # max_string_len, which capabilities have no handler.
    key = (index, prepaid, limits.max_registers, limits.max_string_len, tuple(h is None for h in engine.handlers))
    entry = _CACHE.get(id(verified))
    if entry is None or entry[0] is not verified:
        entry = (verified, {})
        _CACHE[id(verified)] = entry
        while len(_CACHE) > _CACHE_MODULES:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(id(verified))
    translations = entry[1]
    if key in translations:
        return translations[key]
    engine._charge_translation(len(verified.module.functions[index].code))
    translations[key] = result = _translate(engine, index, prepaid)
    return result


def _translate(engine: CompiledEngine, index: int, prepaid: bool = False) -> _Translation | None:
    module = engine.module
    function = module.functions[index]
    if len(function.code) > MAX_TRANSLATED_INSTRUCTIONS or len(function.registers) > MAX_TRANSLATED_REGISTERS:
        return None
    translator = _Translator(module, engine.verified.block_leaders[index], index, engine, prepaid)
    try:
        source, line_pcs, line_pending, line_beyond = translator.source()
        factory = compile(source, f"<chronicle {'p' if prepaid else 'f'}{index}>", "exec")
    except (RecursionError, SyntaxError, MemoryError, ValueError, OverflowError, _SourceTooLarge):
        return None
    code = next(c for c in factory.co_consts if isinstance(c, types.CodeType))
    code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    constants = sorted({b for op, _a, b, _c in function.code if op == Op.LOADK})
    callees = sorted({a for op, a, _b, _c in function.code if op == Op.CALL})
    capabilities = sorted({a for op, a, _b, _c in function.code if op == Op.CAPCALL})
    return _Translation(
        code,
        _CodeInfo(index, line_pcs, line_pending, line_beyond),
        tuple(constants),
        tuple(callees),
        tuple(capabilities),
        tuple(sorted(translator.prepaid_calls)),
    )


def _entry_segment(function: Function) -> int:
    """Length of the first segment of `function` when a caller may pay for it (0: pc 0 is a jump target).

    A caller whose call ends a segment charges the callee's first segment
    with its own and calls the callee's prepaid variant, which skips that charge.
    One fuel check per call saved, exactly the same counts.
    """
    code = function.code
    size = len(code)
    for op, a, b, _c in code:
        if (op == Op.JMP and a == 0) or ((op == Op.JMPIF or op == Op.JMPIFNOT) and b == 0):
            return 0
    targets = {a for op, a, _b, _c in code if op == Op.JMP}
    targets |= {b for op, _a, b, _c in code if op == Op.JMPIF or op == Op.JMPIFNOT}
    end = 0
    while end < size:
        op = code[end].op
        end += 1
        if op in _SEGMENT_ENDS or end in targets:
            break
    return end


def _capless(module: Module) -> frozenset[int]:
    """Functions from which no capability call is reachable (a fixpoint over the call graph)."""
    functions = module.functions
    calls = [{a for op, a, _b, _c in f.code if op == Op.CALL} for f in functions]
    reaching = {i for i, f in enumerate(functions) if any(op == Op.CAPCALL for op, _a, _b, _c in f.code)}
    changed = True
    while changed:
        changed = False
        for i, callees in enumerate(calls):
            if i not in reaching and not callees.isdisjoint(reaching):
                reaching.add(i)
                changed = True
    return frozenset(range(len(functions))) - reaching


@dataclass(frozen=True, slots=True)
class _At:
    """One instruction being translated: its opcode, operands and place, and where its lines go."""

    op: int
    a: int
    b: int
    c: int
    pc: int
    indent: int
    pending: int  # instructions after it that the segment has already charged (refunded on a side exit)
    prepaid: bool  # a call whose callee's first segment is paid by the caller
    w: str  # "function, instruction", as the generated code passes it to the failure helpers
    emit: Callable[[int, str, int], None]

    def line(self, text: str, extra: int = 0) -> None:
        self.emit(self.indent + extra, text, self.pc)


class _Translator:
    """Builds the source of one function: ints and fixed templates only."""

    def __init__(
        self, module: Module, leaders: tuple[int, ...], fidx: int, engine: CompiledEngine, prepaid: bool = False
    ) -> None:
        self.module = module
        self.function = module.functions[fidx]
        self.code = self.function.code
        self.leaders = leaders
        self.leader_set = frozenset(leaders)
        self.fidx = _int(fidx)
        self.engine = engine
        self.lines: list[str] = []
        self.size = 0  # characters emitted so far
        budget = SOURCE_CHARS_PER_INSTRUCTION * len(self.code) + SOURCE_CHARS_PER_REGISTER * len(
            self.function.registers
        )
        self.budget = min(budget + 16_384, MAX_SOURCE_CHARS)
        self.pcs: list[int] = []
        self.pending: list[int] = []
        self.beyond: list[int] = []
        self.charged = 0  # instructions charged ahead of the one being emitted
        self.after_call = 0  # of those, the ones still to run when the call being emitted returns
        self.capless = engine.capless()
        self.loop_start = -1  # start of the arm whose inner `while` we are in, or -1
        self.breakable = False  # inside an arm's breakable `while True` block (linear dispatch)
        # Registers known to hold an int constant at this point of the current segment (by register number).
        # Only the constant's sign and zero-ness choose a template; the value never enters the source.
        self.known: dict[int, int] = {}
        # Registers known to be >= an int (range analysis: facts from a guard that every way into an arm passed,
        # see `_guard_bounds`); a write drops the register's fact.  Only chooses templates (drops overflow checks).
        self.bounds = self._guard_bounds()
        self.lower: dict[int, int] = {}
        self.depth_checked = False  # the fast copy of the current segment tested `d` once, before its calls
        # Folding: a value used once by the next instruction and dead after it is not stored; `alias` gives the
        # text the next instruction reads for that register (`k3`, `r0 < k3`; see `_fold`).
        self.live_after = self._liveness()
        self.alias: dict[int, str] = {}
        # Deferred refunds: an arm entered by one forward side exit alone, and no fall-through, is entered with
        # that exit's refund (`deferred[target]` instructions) not yet given back; the arm's first charge nets
        # it (one fuel operation saved on the way in: fib's recursive arm).  See `segment` and `jump`.
        jumps: dict[int, list[int]] = {}
        for pc, (op, a, b, _c) in enumerate(self.code):
            if op == Op.JMP or op == Op.JMPIF or op == Op.JMPIFNOT:
                jumps.setdefault(a if op == Op.JMP else b, []).append(pc)
        self.sole_jump = {
            t: pcs[0]
            for t, pcs in jumps.items()
            if len(pcs) == 1 and pcs[0] < t < len(self.code) and self.code[t - 1].op in _TERMINAL
        }
        self.deferred: dict[int, int] = {}
        self.implicit_next = -1  # the arm that runs right after the block being emitted, with no `blk` guard
        # Private string registers (costs.private_strings): their appends, and the `len`, comparisons and `ret` that
        # read them, get the piece-aware templates; no other instruction can see a costs.Pieces.
        self.private = private_strings(self.function, module)
        # The variant for prepaid call sites (`p3`): its entry segment is already paid, so it charges nothing.
        self.entry_charged = _entry_segment(self.function) > 0
        self.skip_entry = prepaid and self.entry_charged
        self.prepaid_calls: set[int] = set()  # callees some fast copy calls by their prepaid variant

    def emit(self, indent: int, text: str, pc: int = -1) -> None:
        self.size += 4 * indent + len(text) + 1
        if self.size > self.budget:
            raise _SourceTooLarge
        self.lines.append("    " * indent + text)
        self.pcs.append(pc)
        self.pending.append(self.charged)
        self.beyond.append(self.after_call)

    def source(self) -> tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        function = self.function
        code = self.code
        fidx = self.fidx
        size = len(code)
        targets = {0}
        for op, a, b, _c in code:
            if op == Op.JMP:
                targets.add(_int(a))
            elif op == Op.JMPIF or op == Op.JMPIFNOT:
                targets.add(_int(b))
        starts = sorted(t for t in targets if 0 <= t < size)
        arms = [(s, starts[i + 1] if i + 1 < len(starts) else size) for i, s in enumerate(starts)]
        params = ", ".join(f"r{_int(i)}" for i in range(function.param_count))
        self.emit(0, "def factory():")
        self.emit(1, "FUEL = A = B = None")
        name = f"{'p' if self.skip_entry else 'f'}{fidx}"
        self.emit(1, f"def {name}(d{', ' if params else ''}{params}):")
        self.emit(2, "nonlocal FUEL, A")
        for register in sorted(self._uninitialised_reads()):
            if register < function.param_count:
                continue
            vtype = function.registers[register]
            self.emit(2, f"r{_int(register)} = {_zero_source(vtype, _structs(self.module))}")
        if len(arms) == 1:
            self.arm(arms[0], 2, after="", outer=False)
        elif len(arms) <= _LINEAR_DISPATCH:
            self.linear(arms, targets - {0} if not self._jumps_to(0) else targets)
        else:
            self.emit(2, "blk = 0")
            self.emit(2, "while True:")
            self.tree(arms, 3)
        self.emit(1, f"return {name}")
        return "\n".join(self.lines) + "\n", tuple(self.pcs), tuple(self.pending), tuple(self.beyond)

    def _liveness(self) -> list[int] | None:
        """Per instruction: the registers (a bit mask) some path may read after it before writing them.

        A backward may-analysis over the verifier's basic blocks, bounded like `_uninitialised_reads`; None
        past the bound (then nothing is folded).
        """
        blocks = self._blocks()
        if blocks is None:
            return None
        uses, defs, successors = blocks
        count = len(uses)
        live_in = [0] * count
        live_out = [0] * count
        visits = _ANALYSIS_VISITS * count
        changed = True
        while changed:
            changed = False
            for block in reversed(range(count)):
                visits -= 1
                if visits < 0:
                    return None
                out = 0
                for successor in successors[block]:
                    out |= live_in[successor]
                live_out[block] = out
                new = uses[block] | (out & ~defs[block])
                if new != live_in[block]:
                    live_in[block] = new
                    changed = True
        code = self.code
        size = len(code)
        leaders = [leader for leader in self.leaders if 0 <= leader < size] or [0]
        ends = [*leaders[1:], size]
        after = [0] * size
        for block, (start, end) in enumerate(zip(leaders, ends, strict=True)):
            live = live_out[block]
            for pc in reversed(range(start, end)):
                after[pc] = live
                reads, writes = self._uses_defs(*code[pc])
                for r in writes:
                    live &= ~(1 << r)
                for r in reads:
                    live |= 1 << r
        return after

    def _fold(self, pc: int) -> str | None:
        """The text the next instruction may read instead of instruction `pc`'s result, which then is not stored.

        Only where nothing can tell: `pc + 1` is reached from `pc` alone, reads the result once and no path reads
        it after (or `pc + 1` overwrites it).  An int `loadk` read as the right operand of an int `add sub mul div
        mod` or comparison folds into it (`r1 = r0 - 1`); an int comparison read by the branch after it folds into
        the branch (`if not (r0 < k0)`).
        """
        live = self.live_after
        code = self.code
        nxt = pc + 1
        if live is None or nxt >= len(code) or nxt in self.leader_set:
            return None
        op, a, b, _c = code[pc]
        use_op, ua, ub, uc = code[nxt]
        registers = self.function.registers
        if live[nxt] >> a & 1 and a not in self._uses_defs(use_op, ua, ub, uc)[1]:
            return None  # read after the next instruction (unless that one writes it anew)
        if op == Op.LOADK and type(self.module.constants[b]) is int:
            consumers = (Op.ADD.value, Op.SUB.value, Op.MUL.value, Op.DIV.value, Op.MOD.value, *_COMPARE)
            if use_op in consumers and uc == a and ub != a and registers[ub].kind is TypeKind.INT:
                return _literal(self.module.constants[b])
        elif op in (Op.ADD.value, Op.SUB.value) and use_op == Op.CALL and self._exact(op, b, _c):
            window = range(ub, ub + self.module.functions[ua].param_count)
            if a in window and b != a and _c != a:  # an argument computed in the call: `P0(e, (r0 - 1))`
                return f"({self.operand(b)} {'+' if op == Op.ADD else '-'} {self.operand(_c)})"
        elif op in _COMPARE and (use_op == Op.JMPIF or use_op == Op.JMPIFNOT) and ua == a:
            left, right = code[pc].b, code[pc].c
            if registers[left].kind is TypeKind.INT and registers[right].kind is TypeKind.INT:
                return f"({self.operand(left)} {_COMPARE[op]} {self.operand(right)})"
        return None

    def _exact(self, op: int, b: int, c: int) -> bool:
        """`b + c` (`b - c`) needs no overflow check: c a known constant, b bounded by range analysis."""
        k = self.known.get(c)
        low = self.lower.get(b)
        if k is None or low is None:
            return False
        k = -k if op == Op.SUB else k
        return k < 0 and low + k >= I64_MIN

    def operand(self, register: int) -> str:
        """What the instruction being emitted reads for `register`: its local, or a folded value."""
        return self.alias.get(register) or f"r{_int(register)}"

    def _guard_bounds(self) -> dict[int, dict[int, int]]:
        """Per jump target: int registers with a lower bound every way into it guarantees (range analysis).

        A target qualifies only when control cannot fall into it (the instruction before it returns, traps or
        jumps) and every jump to it is a `jmpifnot` (`jmpif`) right after `lt`/`le` (`gt`/`ge`) of an int register
        x against a register loaded with an int constant k right before, with no way into the middle of those
        three instructions: then x >= k (x > k) there.  A register bounded on every incoming jump keeps the
        smallest bound.
        """
        code = self.code
        size = len(code)
        registers = self.function.registers
        leaders = self.leader_set
        constants = self.module.constants
        found: dict[int, dict[int, int] | None] = {}
        for pc, (op, a, b, _c) in enumerate(code):
            target = a if op == Op.JMP else b if op == Op.JMPIF or op == Op.JMPIFNOT else -1
            if target < 0:
                continue
            fact: dict[int, int] | None = None
            if pc >= 2 and pc not in leaders and pc - 1 not in leaders:
                cmp_op, ca, cb, cc = code[pc - 1]
                k_op, ka, kb, _kc = code[pc - 2]
                constant = constants[kb] if k_op == Op.LOADK and 0 <= kb < len(constants) else None
                falls = {Op.JMPIFNOT.value: (Op.LT.value, Op.LE.value), Op.JMPIF.value: (Op.GE.value, Op.GT.value)}
                pair = falls.get(op)
                if (
                    pair is not None
                    and cmp_op in pair
                    and ca == a
                    and cc == ka
                    and type(constant) is int
                    and len({ca, cb, cc}) == 3
                    and registers[cb].kind is TypeKind.INT
                ):
                    # jmpifnot after lt / jmpif after ge: x >= k; after le / gt: x > k.
                    fact = {cb: constant if cmp_op == pair[0] else constant + 1}
            if target in found:
                previous = found[target]
                if previous is None or fact is None:
                    found[target] = None
                else:
                    found[target] = {r: min(v, fact[r]) for r, v in previous.items() if r in fact}
            else:
                found[target] = fact
        return {t: f for t, f in found.items() if f and 0 < t < size and code[t - 1].op in _TERMINAL}

    def _jumps_to(self, target: int) -> bool:
        return any(
            (op == Op.JMP and a == target) or ((op == Op.JMPIF or op == Op.JMPIFNOT) and b == target)
            for op, a, b, _c in self.code
        )

    def linear(self, arms: list[tuple[int, int]], targets: set[int]) -> None:
        """Few arms: each is a breakable `while True` block behind an `if blk ==` guard, in order.

        A forward jump sets `blk` and breaks out to the guards below it; only
        arms with a backward exit send control round an outer loop.  An arm 0
        that nothing jumps to runs once, before any guard.
        """
        backward: set[int] = set()
        for position, (start, end) in enumerate(arms):
            for op, a, b, _c in self.code[start:end]:
                target = a if op == Op.JMP else b if op == Op.JMPIF or op == Op.JMPIFNOT else None
                if target is not None and target < start:
                    backward.add(position)
        rest = list(enumerate(arms))
        if 0 not in targets:
            implicit = not backward and self._exits(arms[0]) == {arms[1][0]}
            # Every way out of the first arm that does not return leads to the second: no guard, and no `blk`.
            self.implicit_next = arms[1][0] if implicit else -1
            self.block_arm(arms[0], 2, backward=False)
            self.implicit_next = -1
            rest = rest[1:]
            if implicit:
                self.emit(2, "if True:")
                self.block_arm(arms[1], 3, backward=False)
                rest = rest[1:]
        else:
            self.emit(2, "blk = 0")
        base = 2
        if backward:
            self.emit(2, "while True:")
            base = 3
        for position, arm in rest:
            self.emit(base, f"if blk == {_int(arm[0])}:")
            self.block_arm(arm, base + 1, backward=position in backward)

    def _exits(self, arm: tuple[int, int]) -> set[int]:
        """The instruction indexes control can reach when it leaves `arm` other than by returning or trapping."""
        start, end = arm
        exits: set[int] = set()
        for op, a, b, _c in self.code[start:end]:
            if op == Op.JMP:
                exits.add(a)
            elif op == Op.JMPIF or op == Op.JMPIFNOT:
                exits.add(b)
        if self.code[end - 1].op not in _TERMINAL:
            exits.add(end)
        return exits

    def block_arm(self, arm: tuple[int, int], indent: int, backward: bool) -> None:
        start, end = arm
        code = self.code
        loops = any(
            (op == Op.JMP and a == start) or ((op == Op.JMPIF or op == Op.JMPIFNOT) and b == start)
            for op, a, b, _c in code[start:end]
        )
        self.emit(indent, "while True:")
        self.loop_start = start if loops else -1
        self.breakable = True
        pc = start
        self.lower = dict(self.bounds.get(start, {}))
        while pc < end:
            segment_end = self.segment_end(pc, end)
            self.segment(pc, segment_end, indent + 1)
            pc = segment_end
        if code[end - 1].op not in _TERMINAL and end != self.implicit_next:
            self.emit(indent + 1, f"blk = {_int(end)}")
        self.emit(indent + 1, "break")
        self.loop_start = -1
        self.breakable = False
        if backward:
            self.emit(indent, f"if blk <= {_int(start)}: continue")

    def tree(self, arms: list[tuple[int, int]], indent: int) -> None:
        if len(arms) == 1:
            self.arm(arms[0], indent, after="continue")
            return
        middle = len(arms) // 2
        self.emit(indent, f"if blk < {_int(arms[middle][0])}:")
        self.tree(arms[:middle], indent + 1)
        self.emit(indent, "else:")
        self.tree(arms[middle:], indent + 1)

    def _uses_defs(self, op: int, a: int, b: int, c: int) -> tuple[list[int], list[int]]:
        """Registers an instruction reads, then writes."""
        module = self.module
        info = OPCODES[op]
        reads: list[int] = []
        writes: list[int] = []
        for operand, value in zip(info.operands, (a, b, c), strict=True):
            if operand.kind is OperandKind.REG:
                (writes if operand.write else reads).append(value)
            elif operand.kind is OperandKind.PAIR:
                reads.extend((value, value + 1))
        if op == Op.CALL:
            callee = module.functions[a]
            reads.extend(range(b, b + callee.param_count))
            writes = [c] if callee.result is not None else []
        elif op == Op.CAPCALL:
            capability = module.capabilities[a]
            reads.extend(range(b, b + len(capability.params)))
            writes = [c] if capability.result is not None else []
        elif op == Op.LOADK:
            writes = [a]
        elif op == Op.MAPGETD:
            reads.append(a)  # an absent key leaves a as it was (the default)
        elif op == Op.STRUCTNEW:
            reads.extend(range(b, b + len(struct_fields(self.function.registers[a], _structs(module)))))
        return reads, writes

    def _blocks(self) -> tuple[list[int], list[int], list[list[int]]] | None:
        """Per basic block: the registers it reads before writing, those it writes, its successors.

        None when the scan's bound is reached (see `_uninitialised_reads`).
        """
        code = self.code
        size = len(code)
        leaders = [leader for leader in self.leaders if 0 <= leader < size] or [0]
        ends = [*leaders[1:], size]
        block_of = {leader: i for i, leader in enumerate(leaders)}
        uses: list[int] = []
        defs: list[int] = []
        successors: list[list[int]] = []
        # Reads and writes scanned, bounded like the worklist below: calls passing thousands of arguments would
        # make this pass quadratic; past the bound every register but the parameters gets its zero value.
        operands = _ANALYSIS_VISITS * (size + len(self.function.registers))
        for start, end in zip(leaders, ends, strict=True):
            used = defined = 0
            for op, a, b, c in code[start:end]:
                reads, writes = self._uses_defs(op, a, b, c)
                operands -= len(reads) + len(writes)
                if operands < 0:
                    return None
                for r in reads:
                    if not defined >> r & 1:
                        used |= 1 << r
                for r in writes:
                    defined |= 1 << r
            uses.append(used)
            defs.append(defined)
            last = code[end - 1]
            following = [block_of[end]] if end < size else []
            if last.op == Op.JMP:
                successors.append([block_of[last.a]])
            elif last.op == Op.JMPIF or last.op == Op.JMPIFNOT:
                successors.append([block_of[last.b], *following])
            elif last.op in _TERMINAL:
                successors.append([])
            else:
                successors.append(following)
        return uses, defs, successors

    def _uninitialised_reads(self) -> set[int]:
        """Registers some path may read before writing them: only these need their zero value at entry.

        A forward must-analysis over the verifier's basic blocks, with
        register sets as int bit masks; unreachable blocks never need any.
        """
        blocks = self._blocks()
        if blocks is None:
            return set(range(self.function.param_count, len(self.function.registers)))
        uses, defs, successors = blocks
        every = (1 << len(self.function.registers)) - 1
        entry = (1 << self.function.param_count) - 1
        assigned = [every] * len(uses)  # on entry to each block; "every" until a path says otherwise
        assigned[0] = entry
        reached = [False] * len(uses)
        reached[0] = True
        # A worklist: a block is revisited only when what reaches it shrank.  Its work is bounded by
        # _ANALYSIS_VISITS per block; past that (a long chain of backward jumps, say) the answer is the sound
        # over-approximation below, every register some block reads before writing it, so that translation
        # time stays linear in the code whatever its shape.
        pending = [0]
        queued = [False] * len(uses)
        queued[0] = True
        visits = _ANALYSIS_VISITS * len(uses)
        while pending:
            visits -= 1
            if visits < 0:
                needed = 0
                for used in uses:
                    needed |= used
                needed &= ~entry
                return {r for r in range(len(self.function.registers)) if needed >> r & 1}
            block = pending.pop()
            queued[block] = False
            out = assigned[block] | defs[block]
            for successor in successors[block]:
                # Block 0 starts reached with `entry`, and a merge only shrinks a set: it stays within `entry`.
                merged = assigned[successor] & out if reached[successor] else out
                if not reached[successor] or merged != assigned[successor]:
                    reached[successor] = True
                    assigned[successor] = merged
                    if not queued[successor]:
                        queued[successor] = True
                        pending.append(successor)
        needed = 0
        for block in range(len(uses)):
            if reached[block]:
                needed |= uses[block] & ~assigned[block]
        return {r for r in range(len(self.function.registers)) if needed >> r & 1}

    def arm(self, arm: tuple[int, int], indent: int, after: str, outer: bool = True) -> None:
        """One arm; `after` is what follows a fall-through into the next arm ("" or "continue")."""
        start, end = arm
        code = self.code
        loops = any(
            (op == Op.JMP and a == start) or ((op == Op.JMPIF or op == Op.JMPIFNOT) and b == start)
            for op, a, b, _c in code[start:end]
        )
        body = indent
        if loops:
            self.emit(indent, "while True:")
            body = indent + 1
            self.loop_start = start
        pc = start
        self.lower = dict(self.bounds.get(start, {}))
        while pc < end:
            segment_end = self.segment_end(pc, end)
            self.segment(pc, segment_end, body)
            pc = segment_end
        if code[end - 1].op not in _TERMINAL:
            self.emit(body, f"blk = {_int(end)}")
            if loops:
                self.emit(body, "break")
            elif after:
                self.emit(body, after)
        if loops:
            self.loop_start = -1
            if outer:
                self.emit(indent, "continue")

    def segment_end(self, pc: int, end: int) -> int:
        """Where the segment starting at `pc` of an arm ending at `end` ends.

        At a call, a jump, a return or a trap, except that a segment runs on
        past a call of a function from which no capability call is reachable
        (the caller then charges what follows the call with what precedes it:
        one fuel test instead of one per call).  Only capability calls read
        the fuel as an instruction count on the fast path, so no count can see
        the instructions charged ahead; the paths that can (running out of
        fuel, an extra charge that does not fit, a failure) add them up from
        the callers' frames (`_CodeInfo.line_beyond`).  A function's entry
        segment still ends at its first call: callers prepay exactly it.
        """
        code = self.code
        chain = pc != 0 or not self.entry_charged
        while pc < end:
            op, a = code[pc].op, code[pc].a
            pc += 1
            if op in _SEGMENT_ENDS and not (chain and op == Op.CALL and a in self.capless and pc < end):
                break
        return pc

    def segment(self, start: int, end: int, indent: int) -> None:
        """Instructions start..end-1 with one fuel charge (the slow copy charges one at a time).

        The entry segment of a function whose callers may pay for it is not
        charged in the variant those callers call (`skip_entry`).  Every call
        of the segment whose callee accepts it also pays for the callee's
        entry segment.
        """
        last = end - 1
        code = self.code
        functions = self.module.functions
        self.known = {}
        self.alias = {}
        lower = dict(self.lower)  # every copy of the segment starts from the same facts
        # Each call's prepaid callee entry segment, by position in the segment.
        entries = {pc: _entry_segment(functions[code[pc].a]) for pc in range(start, end) if code[pc].op == Op.CALL}
        extra = sum(entries.values())
        if start == 0 and self.skip_entry:  # the prepaid variant: the caller paid for these instructions
            self._defer_exits(start, end, {})  # (its calls are not prepaid: it owes nothing to its callees)
            shared = not entries.get(last, 0)
            for pc in range(start, last if shared else end):
                self.instruction(pc, indent, pending=last - pc)
            if shared:
                self.instruction(last, indent, pending=0)
            return
        length = _int(end - start + extra)
        owed = self._defer_exits(start, end, entries)  # this arm's entry did not give back `owed` instructions yet
        if owed and length == 1:
            self.emit(indent, f"FUEL += {_int(owed)}", start)
        if length == 1:
            self.emit(indent, "if True:", last)
            self.emit(indent + 1, f"if FUEL <= 0: _nofuel({self.fidx}, {_int(last)})", last)
            self.emit(indent + 1, "FUEL -= 1", last)
            self.instruction(last, indent, pending=0)
            return
        shared = not entries.get(last, 0)  # a pre-paying call differs between the paths: emitted in each
        # A fast copy making two calls or more tests `d` (constant in a frame) once with the fuel; d = 0 takes the
        # slow copy, which stops at the call like the fast one would (a _Deep re-runs the call from the start).
        fast = range(start, last if shared else end)
        checked = sum(1 for pc in fast if code[pc].op == Op.CALL) >= 2
        depth = " and d" if checked else ""
        if owed and length != 1:  # FUEL + owed >= length, then take the difference (which may be negative)
            self.emit(indent, f"if FUEL >= {_int(length - owed)}{depth}:", start)
        else:
            self.emit(indent, f"if FUEL >= {length}{depth}:", start)
        net = _int(length - owed)
        self.emit(indent + 1, f"FUEL -= {net}" if net >= 0 else f"FUEL += {-net}", start)
        if checked:  # the callees' depth once (an int above 256 is a new object each time it is computed)
            self.emit(indent + 1, "e = d - 1", start)
        ahead = extra  # callee entry segments charged at or after the instruction being emitted
        self.depth_checked = checked
        for pc in fast:
            self.instruction(pc, indent + 1, pending=last - pc + ahead, prepaid=entries.get(pc, 0) > 0)
            ahead -= entries.get(pc, 0)
        self.depth_checked = False
        self.emit(indent, "else:", start)
        if owed:
            self.emit(indent + 1, f"FUEL += {_int(owed)}", start)
        self.known = {}
        self.alias = {}
        self.lower = dict(lower)
        self.slow_copy(start, end, indent, shared)

    def slow_copy(self, start: int, end: int, indent: int, shared: bool) -> None:
        """The segment's instructions one at a time, each after its own fuel check (then the shared last one)."""
        last = end - 1
        for pc in range(start, end):
            self.emit(indent + 1, f"if FUEL <= 0: _nofuel({self.fidx}, {_int(pc)})", pc)
            self.emit(indent + 1, "FUEL -= 1", pc)
            if pc < last or not shared:
                self.instruction(pc, indent + 1, pending=0)
        if shared:
            self.instruction(last, indent, pending=0)

    def _defer_exits(self, start: int, end: int, entries: dict[int, int]) -> int:
        """Record the refunds the segment's side exits leave to their targets; give the one this segment owes.

        A side exit to an arm that nothing else enters (`sole_jump`) gives back only the difference to the
        refund of the segment's fast copy (`jump`); that arm's first charge then takes that many instructions
        less, and its slow copy gives them back first.
        """
        code = self.code
        last = end - 1
        ahead = 0  # callee entry segments prepaid at or after pc (as the fast copy counts them)
        for pc in reversed(range(start, end)):
            ahead += entries.get(pc, 0)
            op, _a, b, _c = code[pc]
            if pc < last and (op == Op.JMPIF or op == Op.JMPIFNOT) and self.sole_jump.get(b) == pc:
                self.deferred[b] = last - pc + ahead
        return self.deferred.get(start, 0)

    def jump(self, target: int, indent: int, pc: int, refund: int) -> None:
        refund -= self.deferred.get(target, 0)  # the target arm's first charge gives back the deferred part
        if refund > 0:
            self.emit(indent, f"FUEL += {_int(refund)}", pc)
        elif refund < 0:
            self.emit(indent, f"FUEL -= {_int(-refund)}", pc)
        if target == self.loop_start:
            self.emit(indent, "continue", pc)
        elif target == self.implicit_next:  # the next arm runs right after this block: nothing reads `blk`
            self.emit(indent, "break", pc)
        else:
            self.emit(indent, f"blk = {_int(target)}", pc)
            self.emit(indent, "break" if self.loop_start >= 0 or self.breakable else "continue", pc)

    def instruction(self, pc: int, indent: int, pending: int, prepaid: bool = False) -> None:
        """Instruction `pc`; `pending` instructions after it are already charged (refunded on a side exit)."""
        self.charged = pending
        op, a, b, c = self.code[pc]
        a, b, c = _int(a), _int(b), _int(c)
        if op == Op.CALL:  # what stays charged ahead in this frame while the callee runs (its prepaid entry is its)
            self.after_call = pending - (_entry_segment(self.module.functions[a]) if prepaid else 0)
        folded = self._fold(pc)
        if folded is not None:  # not stored: the next instruction reads `folded` instead
            self.alias = {a: folded}
            self.charged = self.after_call = 0
            self.track(op, a, b, c)
            return
        at = _At(op, a, b, c, pc, indent, pending, prepaid, f"{self.fidx}, {_int(pc)}", self.emit)
        done = _TEMPLATES[op](self, at) is True
        self.alias = {}
        self.charged = self.after_call = 0
        if not done:
            self.track(op, a, b, c)

    def _op_value(self, at: _At) -> bool | None:
        """A plain operation: a = the row's `value` of registers b and c (None for an operand that is no register)."""
        operands = OPCODES[at.op].operands
        left, right = (
            f"r{r}" if o.kind is OperandKind.REG else "None" for o, r in zip(operands[1:], (at.b, at.c), strict=True)
        )
        at.line(f"r{at.a} = _value({at.w}, {_int(at.op)}, {left}, {right})")
        return None

    def _op_bitwise(self, at: _At) -> bool | None:
        """`band bor bxor bnot`: inline (their results stay in signed 64 bits, so nothing wraps)."""
        op, a, b, c, line = at.op, at.a, at.b, at.c, at.line
        if op == Op.BNOT:
            line(f"r{a} = ~r{b}")
        else:
            line(f"r{a} = r{b} {_BITWISE[op]} r{c}")
        return None

    def _op_shift(self, at: _At) -> bool | None:
        """`shl shr`: inline when the count is in 0..63 (known from a constant, else tested), else the row traps."""
        op, a, b, c, w, line = at.op, at.a, at.b, at.c, at.w, at.line
        known = self.known.get(c)
        if known is None or not 0 <= known <= 63:
            line(f"if r{c} < 0 or r{c} > 63: _value({w}, {_int(op)}, r{b}, r{c})")
        if op == Op.SHR:
            line(f"r{a} = r{b} >> r{c}")
        else:
            line(f"r{a} = r{b} << r{c}")
            line(f"if r{a} > 9223372036854775807 or r{a} < -9223372036854775808: r{a} = _wrap(r{a})")
        return None

    def _op_work(self, at: _At) -> bool | None:
        """A sized operation: its row's fuel, checks and effect (chronicle_vm.engines.semantics.Work), in that order."""
        op, a, b, c, w, pending, line = at.op, at.a, at.b, at.c, at.w, at.pending, at.line
        registers = operand_values(op)(list(range(max(a, b, c) + 2)), a, b, c)  # the registers it reads, in order
        line(f"_v = ({''.join(f'r{_int(r)}, ' for r in registers)})")
        if op == Op.CHR:  # bounded work, no charge: inline on the common path (base64 and tokenizers call it a lot)
            line(f"if r{b} < 0 or r{b} > 1114111 or 55296 <= r{b} <= 57343 or MAXS < 1: _wcheck({w}, {_int(op)}, _v)")
            line(f"A += {_int(STR_WORDS + 1)}")
            line(f"if A > MAXA: _allocfail({w})")
            line(f"r{a} = _chr(r{b})")
            return None
        # Compact (a sized row's template is written three times per segment, within the source budget).
        line(f"_x = _wfuel({_int(op)}, _v, MAXS)")
        line(f"if _x: _payx({w}, _x, {_int(pending)})")
        line(f"A += _wcheck({w}, {_int(op)}, _v)")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"{f'r{a} = ' if writes_a(op) else ''}_wact({_int(op)}, _v)")
        return None

    def _op_float(self, at: _At) -> bool | None:
        """A float operation inline: the common path is Python's own float arithmetic, one test for the finite rule.

        Any operand the row refuses (a zero divisor, a result that is not finite, a float outside the int range, a
        negative square root) goes to the row's own `value` through `_value`, which raises its trap: the check here
        only decides that the row must be asked, so every message and code comes from the semantics table.
        """
        op, a, b, c, w, line = at.op, at.a, at.b, at.c, at.w, at.line
        ask = f"_value({w}, {_int(op)}, r{b}, {f'r{c}' if op in _FLOAT_BINARY else 'None'})"
        if op in _FLOAT_ARITHMETIC:  # inf - inf and nan - nan are nan (true); x - x is 0.0 for every finite x
            line(f"_t = r{b} {_FLOAT_ARITHMETIC[op]} r{c}")
            line(f"if _t - _t: {ask}")
            line(f"r{a} = _t")
        elif op == Op.FDIV:
            line(f"if not r{c}: {ask}")  # 0.0 and -0.0
            line(f"_t = r{b} / r{c}")
            line(f"if _t - _t: {ask}")
            line(f"r{a} = _t")
        elif op == Op.FMOD:  # Python's floor remainder is always finite
            line(f"if not r{c}: {ask}")
            line(f"r{a} = r{b} % r{c}")
        elif op in _FLOAT_TO_INT:
            line(f"if not -9223372036854775808.0 <= r{b} < 9223372036854775808.0: {ask}")
            line(f"r{a} = {_FLOAT_TO_INT[op]}(r{b})")
        elif op == Op.SQRT:
            line(f"if r{b} < 0.0: {ask}")
            line(f"r{a} = _fsqrt(r{b})")
        elif op == Op.FNEG:
            line(f"r{a} = -r{b}")
        elif op == Op.FABS:
            line(f"r{a} = _fabs(r{b})")
        elif op == Op.ITOF:
            line(f"r{a} = _ffloat(r{b})")
        else:  # FMIN, FMAX: only two equal operands (0.0 and -0.0) need the row's sign rule
            less = "<" if op == Op.FMIN else ">"
            line(f"r{a} = r{b} if r{b} {less} r{c} else r{c} if r{c} {less} r{b} else {ask}")
        return None

    def _op_nop(self, at: _At) -> bool | None:
        line = at.line
        line("pass")
        return None

    def _op_mov(self, at: _At) -> bool | None:
        a, b, line = at.a, at.b, at.line
        line(f"r{a} = r{b}")
        return None

    def _op_loadk(self, at: _At) -> bool | None:
        a, b, w, line = at.a, at.b, at.w, at.line
        constant = self.module.constants[b]
        if type(constant) is str and len(constant) > self.engine.limits.max_string_len:
            # Loading a constant over max_string_len is what the limit stops (the interpreter's rule).
            line(f"_strfail({w}, len(k{b}))")
        elif type(constant) is int:  # an int enters the source as a literal (LOAD_CONST, not a global)
            line(f"r{a} = {_literal(constant)}")
        else:
            line(f"r{a} = k{b}")
        return None

    def _op_loadb(self, at: _At) -> bool | None:
        a, b, line = at.a, at.b, at.line
        line(f"r{a} = {'True' if b == 1 else 'False'}")
        return None

    def _op_arithmetic(self, at: _At) -> bool | None:
        op, a, b, c, line = at.op, at.a, at.b, at.c, at.line
        sign = "+" if op == Op.ADD else "-" if op == Op.SUB else "*"
        line(f"r{a} = r{b} {sign} {self.operand(c)}")
        # Adding a known positive constant can only overflow upwards, and so on: one comparison, not two.
        k = self.known.get(c) if op != Op.MUL else None
        if k is not None and op == Op.SUB:
            k = -k
        # CPython compares ints fast (specialised, fused with the jump) only when both are one 30-bit digit, which
        # the 64-bit bounds are not: a one-sided check (a counter's `i + 1`) first tests against a one-digit bound
        # (`_SMALL`), one fast comparison for a small result.  (A two-sided test first would cost two more
        # comparisons wherever results are large, as sum's `s + i * i`: measured slower there, no faster on fib.)
        r = f"r{a}"
        if k is None or op == Op.MUL:
            line(f"if {r} > 9223372036854775807 or {r} < -9223372036854775808: {r} = _wrap({r})")
        elif self._exact(op, b, c):
            pass  # range analysis: b >= low, so b + k cannot go below the 64-bit range (nor above it, k < 0)
        elif k > 0:
            line(f"if {r} > {_SMALL} and {r} > 9223372036854775807: {r} = _wrap({r})")
        elif k < 0:
            line(f"if {r} < -{_SMALL} and {r} < -9223372036854775808: {r} = _wrap({r})")
        return None

    def _op_div(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        divisor = self.operand(c)
        if self.known.get(c, 0) == 0:
            line(f"if {divisor} == 0: _divzero({w})")
        line(f"r{a} = r{b} // {divisor}")
        if self.known.get(c, -1) == -1:
            line(f"if r{a} > 9223372036854775807: r{a} = -9223372036854775808")
        return None

    def _op_mod(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        divisor = self.operand(c)
        if self.known.get(c, 0) == 0:
            line(f"if {divisor} == 0: _modzero({w})")
        line(f"r{a} = r{b} % {divisor}")
        return None

    def _op_neg(self, at: _At) -> bool | None:
        a, b, line = at.a, at.b, at.line
        line(f"r{a} = -r{b}")
        line(f"if r{a} > 9223372036854775807: r{a} = -9223372036854775808")
        return None

    def _op_compare(self, at: _At) -> bool | None:
        op, a, b, c, w, pc, indent, pending, line = at.op, at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        if pc in self.private.reads:  # a private string, maybe in pieces: the joins and the comparison in one charge
            joins = [r for r in dict.fromkeys((b, c)) if r in self.private.registers]
            flags = f"{1 if b in joins else 0}, {1 if c in joins and c != b else 0}"  # `s == s` joins once
            line(f"_x = _pcx({_int(op)}, r{b}, r{c}, {flags})")
            line(f"if _x: _payx({w}, _x, {_int(pending)})")
            for r in joins:
                line(f"if type(r{_int(r)}) is _Pieces: r{_int(r)} = _pjoin({w}, r{_int(r)})")
            line(f"r{a} = r{b} {_COMPARE[op]} r{c}")
            return None
        operand = self.function.registers[b]
        if operand.kind is TypeKind.STR and op in (Op.EQ, Op.NE):
            self.pay(f"len(r{b})", indent, pc, pending, w, f"len(r{b}) > {_FREE} and len(r{b}) == len(r{c})")
        elif operand.kind is TypeKind.STR:  # code point order: the shorter string's length
            shorter = f"(len(r{b}) if len(r{b}) < len(r{c}) else len(r{c}))"  # the generated code has no builtins
            self.pay(shorter, indent, pc, pending, w)
        line(f"r{a} = r{b} {_COMPARE[op]} {self.operand(c)}")
        return None

    def _op_not(self, at: _At) -> bool | None:
        a, b, line = at.a, at.b, at.line
        line(f"r{a} = not r{b}")
        return None

    def _op_jmp(self, at: _At) -> bool | None:
        a, pc, indent, pending = at.a, at.pc, at.indent, at.pending
        self.jump(a, indent, pc, pending)
        return None

    def _op_branch(self, at: _At) -> bool | None:
        op, a, b, pc, indent, pending, line = at.op, at.a, at.b, at.pc, at.indent, at.pending, at.line
        line(f"if {'' if op == Op.JMPIF else 'not '}{self.operand(a)}:")
        self.jump(b, indent + 1, pc, pending)
        return None

    def _op_call(self, at: _At) -> bool | None:
        a, b, c, prepaid, line = at.a, at.b, at.c, at.prepaid, at.line
        callee = self.module.functions[a]
        args = "".join(f", {self.operand(r)}" for r in range(b, b + callee.param_count))
        if not self.depth_checked:
            line("if not d: _deep()")
        if len(callee.registers) > self.engine.limits.max_registers:
            line("_bail()")
        extra, words = self.engine.frame_work[a]
        if words:  # the callee's fresh arrays, maps and structs, paid for before they are made (costs.frame_work)
            # Before the call itself: these lines are no call site, so `pending` counts what this frame charged
            # ahead and nothing of it is left to `line_beyond` (that would count it twice).
            after_call, self.after_call = self.after_call, 0
            if extra:
                line(f"_payx({at.w}, {_int(extra)}, {_int(at.pending)})")
            line(f"A += {_int(words)}")
            line(f"if A > MAXA: _allocfail({at.w})")
            self.after_call = after_call
        target = f"r{c} = " if callee.result is not None else ""
        if prepaid:  # the caller's segment paid for the callee's entry segment: the variant that skips it
            self.prepaid_calls.add(a)
        line(f"{target}{'P' if prepaid else 'F'}{a}({'e' if self.depth_checked else 'd - 1'}{args})")
        return None

    def _op_capcall(self, at: _At) -> bool | None:
        a, b, c, w, pc, indent, pending, line = at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        capability = self.module.capabilities[a]
        if self.engine.handlers[a] is None:
            line(f"_capnone({w}, {a})")
            self.charged = 0
            return True  # not tracked: the instruction always fails
        args = ", ".join(f"r{_int(r)}" for r in range(b, b + len(capability.params)))
        if any(is_sized(t) for t in capability.params):
            line(f"_x, _y = _xwork([{args}])")
            line(f"if _y > MAXA: _exportfail({w}, _y)")
            self.pay("_x", indent, pc, pending, w)
        count = f"MAXI - FUEL - {_int(pending)}" if pending else "MAXI - FUEL"
        # tuple.__new__ builds the same CallSite without the NamedTuple's Python-level __new__.
        line(f"_t = H{a}([{args}], _tnew(CS, ({a}, {w}, {count})))")
        line("REC(_t if type(_t) is not list and type(_t) is not _VMap else _copy(_t))")
        if capability.result is not None:
            line("if type(_t) is str or type(_t) is list or type(_t) is _VMap:")
            line("A += _vwords(_t)", 1)
            line(f"if A > MAXA: _allocfail({w})", 1)
            line(f"r{c} = _t")
        return None

    def _op_ret(self, at: _At) -> bool | None:
        a, line = at.a, at.line
        if at.pc in self.private.reads:  # a private string, maybe in pieces: joined (and paid) first
            line(f"if type(r{a}) is _Pieces:")
            line(f"_payx({at.w}, r{a}.n >> {_int(_SHIFT)}, {_int(at.pending)})", 1)
            line(f"r{a} = _pjoin({at.w}, r{a})", 1)
        line(f"return r{a}")
        return None

    def _op_retv(self, at: _At) -> bool | None:
        line = at.line
        line("return None")
        return None

    def _op_trap(self, at: _At) -> bool | None:
        a, w, line = at.a, at.w, at.line
        line(f"_trap({w}, {a})")
        return None

    def _op_concat(self, at: _At) -> bool | None:
        a, b, c, w, pending, line = at.a, at.b, at.c, at.w, at.pending, at.line
        if at.pc in self.private.appends:
            self._append(at)
            return None
        line(f"_t = len(r{b}) + len(r{c})")
        # One test for both the extra charge (16 characters or more) and max_string_len.
        line(f"if _t > CUTS: _bigcat({w}, _t, {_int(pending)})")
        line(f"A += _t + {_int(_STR)}")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a} = r{b} + r{c}")
        return None

    def _append(self, at: _At) -> None:
        """`s = s + x` on a private local (costs.private_strings): it pays what it appends, pieces kept.

        Fuel len(x) // n, then max_string_len on the new length, then len(x) words; `s = s + s` (the helper)
        joins s first in the same charge.  The order is semantics._append's.
        """
        a, c, w, pending, line = at.a, at.c, at.w, _int(at.pending), at.line
        if c == a:
            line(f"r{a} = _pdouble({w}, r{a}, {pending})")
            return
        line(f"_t = len(r{c})")
        line(f"if _t > {_int(_FREE)}: _pay({w}, _t, {pending})")
        line(f"_n = (r{a}.n if type(r{a}) is _Pieces else len(r{a})) + _t")
        line(f"if _n > MAXS: _strfail({w}, _n)")
        line("A += _t")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"if type(r{a}) is not _Pieces: r{a} = _piece(r{a}, r{c}, _n)")
        line(f"elif _t: r{a}.parts.append(r{c}); r{a}.n = _n")  # an empty part is not pushed (costs.append_piece)

    def _op_tostr(self, at: _At) -> bool | None:
        a, b, w, line = at.a, at.b, at.w, at.line
        base = self.function.registers[b]
        if base.kind is TypeKind.STR:
            line(f"r{a} = r{b}")
        else:
            if base.kind is TypeKind.INT or base.kind is TypeKind.FLOAT:  # str of a float is its repr
                line(f"_t = str(r{b})")
            else:
                line(f'_t = "true" if r{b} else "false"')
            line(f"if len(_t) > MAXS: _strfail({w}, len(_t))")
            line(f"A += len(_t) + {_int(_STR)}")
            line(f"if A > MAXA: _allocfail({w})")
            line(f"r{a} = _t")
        return None

    def _op_len(self, at: _At) -> bool | None:
        a, b, line = at.a, at.b, at.line
        if at.pc in self.private.reads:  # pieces: their total length, no join
            line(f"r{a} = r{b}.n if type(r{b}) is _Pieces else len(r{b})")
            return None
        line(f"r{a} = len(r{b})")
        return None

    def _op_slice(self, at: _At) -> bool | None:
        a, b, c, w, pc, indent, pending, line = at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        line(f"_t = _slice(r{b}, r{c}, r{c + 1})")
        self.pay("len(_t)", indent, pc, pending, w)
        self.charge_string(a, indent, pc, w)
        return None

    def _op_contains(self, at: _At) -> bool | None:
        a, b, c, w, pc, indent, pending, line = at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        self.pay(f"len(r{b}) + len(r{c})", indent, pc, pending, w)
        line(f"r{a} = r{c} in r{b}")
        return None

    def _op_find(self, at: _At) -> bool | None:
        a, b, c, w, pc, indent, pending, line = at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        self.pay(f"len(r{b}) + len(r{c})", indent, pc, pending, w)
        line(f"r{a} = r{b}.find(r{c})")
        return None

    def _op_parseint(self, at: _At) -> bool | None:
        a, b, w, pc, indent, pending, line = at.a, at.b, at.w, at.pc, at.indent, at.pending, at.line
        self.pay(f"len(r{b})", indent, pc, pending, w)
        line(f"r{a} = _parseint(r{b}, {w})")
        return None

    def _op_casemap(self, at: _At) -> bool | None:
        op, a, b, w, pc, indent, pending, line = at.op, at.a, at.b, at.w, at.pc, at.indent, at.pending, at.line
        self.pay(f"len(r{b})", indent, pc, pending, w)
        method = {Op.UPPER: "_upper", Op.LOWER: "_lower", Op.TRIM: "_trim"}[Op(op)]  # chronicle_vm.core.casemap
        line(f"_t = _checked({method}(r{b}), {w})")
        self.charge_string(a, indent, pc, w)
        return None

    def _op_split(self, at: _At) -> bool | None:
        op, a, b, c, w, pc, indent, pending, line = at.op, at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        self.extra(f"_sx({_int(op)}, r{b}, r{c}, MAXS)", indent, pc, pending, w)
        line(f"_t = _split(r{b}, r{c}, {w})")
        line(f"A += {_int(LIST_WORDS)} + {_int(ITEM_WORDS + STR_WORDS)} * len(_t) + len(r{b})")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a} = _t")
        return None

    def _op_join(self, at: _At) -> bool | None:
        op, a, b, c, w, pc, indent, pending, line = at.op, at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        self.extra(f"_sx({_int(op)}, r{b}, r{c}, MAXS)", indent, pc, pending, w)
        line(f"_t = _join(r{b}, r{c}, {w})")
        self.charge_string(a, indent, pc, w)
        return None

    def _op_repeat(self, at: _At) -> bool | None:
        op, a, b, c, w, pc, indent, pending, line = at.op, at.a, at.b, at.c, at.w, at.pc, at.indent, at.pending, at.line
        self.extra(f"_sx({_int(op)}, r{b}, r{c}, MAXS)", indent, pc, pending, w)
        line(f"_t = _repeat(r{b}, r{c}, {w})")
        self.charge_string(a, indent, pc, w)
        return None

    def _op_charat(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        # Python's own IndexError checks the upper bound; a negative index must not wrap around.
        line(f"if r{c} < 0: _idxs({w}, r{c}, len(r{b}))")
        line("try:")
        line(f"_t = r{b}[r{c}]", 1)
        line("except IndexError:")
        line(f"_idxs({w}, r{c}, len(r{b}))", 1)
        line(f"if MAXS < 1: _strfail({w}, 1)")
        line(f"A += {_int(_STR + 1)}")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a} = _t")
        return None

    def _op_newarr(self, at: _At) -> bool | None:
        a, w, line = at.a, at.w, at.line
        line(f"A += {_int(LIST_WORDS)}")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a} = []")
        return None

    def _op_push(self, at: _At) -> bool | None:
        a, b, w, line = at.a, at.b, at.w, at.line
        line(f"if len(r{a}) >= MAXR: _pushfull({w})")
        line(f"A += {_int(ITEM_WORDS)}")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a}.append(r{b})")
        return None

    def _op_pop(self, at: _At) -> bool | None:
        a, b, w, line = at.a, at.b, at.w, at.line
        line(f"if not r{b}: _popempty({w})")
        line(f"r{a} = r{b}.pop()")
        return None

    def _op_getidx(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        line(f"if r{c} < 0: _idxa({w}, r{c}, len(r{b}))")
        line("try:")
        line(f"r{a} = r{b}[r{c}]", 1)
        line("except IndexError:")
        line(f"_idxa({w}, r{c}, len(r{b}))", 1)
        return None

    def _op_setidx(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        line(f"if r{b} < 0: _idxa({w}, r{b}, len(r{a}))")
        line("try:")
        line(f"r{a}[r{b}] = r{c}", 1)
        line("except IndexError:")
        line(f"_idxa({w}, r{b}, len(r{a}))", 1)
        return None

    # -- maps and structs (#17): inline forms of their semantics rows, in the rows' order (fuel, checks, act) --

    def _key_fuel(self, at: _At, key: int) -> None:
        if self.function.registers[key].kind is TypeKind.STR:
            self.pay(f"len(r{_int(key)})", at.indent, at.pc, at.pending, at.w)

    def _op_mapget(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        self._key_fuel(at, c)
        line("try:")
        line(f"r{a} = r{b}[r{c}]", 1)
        line("except KeyError:")
        line(f"_wcheck({w}, {_int(at.op)}, (r{b}, r{c}))", 1)
        return None

    def _op_mapgetd(self, at: _At) -> bool | None:
        a, b, c, line = at.a, at.b, at.c, at.line
        self._key_fuel(at, c)
        line(f"r{a} = r{b}.get(r{c}, r{a})")
        return None

    def _op_mapset(self, at: _At) -> bool | None:
        a, b, c, w, line = at.a, at.b, at.c, at.w, at.line
        self._key_fuel(at, b)
        line(f"if r{b} not in r{a}:")
        line(f"if len(r{a}) >= MAXR: _wcheck({w}, {_int(at.op)}, (r{a}, r{b}, r{c}))", 1)
        line(f"A += {_int(ENTRY_WORDS)}", 1)
        line(f"if A > MAXA: _allocfail({w})", 1)
        line(f"r{a}.keyset += 1", 1)
        line(f"r{a}[r{b}] = r{c}")
        return None

    def _op_maphas(self, at: _At) -> bool | None:
        a, b, c, line = at.a, at.b, at.c, at.line
        self._key_fuel(at, c)
        line(f"r{a} = r{c} in r{b}")
        return None

    def _op_maplen(self, at: _At) -> bool | None:
        at.line(f"r{at.a} = len(r{at.b})")
        return None

    def _op_mapstamp(self, at: _At) -> bool | None:
        at.line(f"r{at.a} = r{at.b}.keyset")
        return None

    def _op_mapcheck(self, at: _At) -> bool | None:
        a, b, w = at.a, at.b, at.w
        at.line(f"if r{a}.keyset != r{b}: _wcheck({w}, {_int(at.op)}, (r{a}, r{b}))")
        return None

    def _op_structnew(self, at: _At) -> bool | None:
        a, b, w, line = at.a, at.b, at.w, at.line
        size = len(struct_fields(self.function.registers[a], _structs(self.module)))
        self.pay(str(size), at.indent, at.pc, at.pending, w)
        line(f"A += {_int(LIST_WORDS + ITEM_WORDS * size)}")
        line(f"if A > MAXA: _allocfail({w})")
        line(f"r{a} = [{''.join(f'r{_int(r)}, ' for r in range(b, b + size))}]")
        return None

    def _op_getfield(self, at: _At) -> bool | None:
        at.line(f"r{at.a} = r{at.b}[{_int(at.c)}]")
        return None

    def _op_setfield(self, at: _At) -> bool | None:
        at.line(f"r{at.a}[{_int(at.b)}] = r{at.c}")
        return None

    def track(self, op: int, a: int, b: int, c: int) -> None:
        """Update the known int constants after instruction (op, a, b, c)."""
        _reads, writes = self._uses_defs(op, a, b, c)
        for register in writes:
            self.known.pop(register, None)
            self.lower.pop(register, None)
        if op == Op.LOADK:
            constant = self.module.constants[b]
            if type(constant) is int:
                self.known[a] = constant
        elif op == Op.MOV and b in self.known:
            self.known[a] = self.known[b]

    def extra(self, work: str, indent: int, pc: int, pending: int, where: str) -> None:
        """Cost model 2's extra fuel `work` (a fixed template over registers), paid before the work or stop.

        The segment has prepaid this instruction's base cost and `pending`
        instructions after it.  When `FUEL` covers the charge, every prepaid
        instruction stays funded.  Otherwise `_short` decides: the run stops
        before this instruction when even `FUEL + pending` cannot pay, and
        else (the charge fits but a later prepaid instruction would not) the
        fast run is abandoned for the reference interpreter, which stops there.
        """
        self.emit(indent, f"_x = {work}", pc)
        self.emit(indent, "if _x:", pc)
        self.emit(indent + 1, f"if _x > FUEL: _short({where}, _x, {_int(pending)})", pc)
        self.emit(indent + 1, "FUEL -= _x", pc)

    def pay(self, chars: str, indent: int, pc: int, pending: int, where: str, guard: str = "") -> None:
        """Cost model 2's extra fuel for `chars` characters of work, in one test on the common path.

        Work under 16 characters costs nothing extra, so only longer work
        calls `_pay` (which charges `chars >> 4` as `extra` would, through the
        shared fuel cell).  `guard` replaces the default test.
        """
        test = guard or f"{chars} > {_FREE}"
        self.emit(indent, f"if {test}: _pay({where}, {chars}, {_int(pending)})", pc)

    def charge_string(self, a: int, indent: int, pc: int, where: str) -> None:
        self.emit(indent, f"A += len(_t) + {_int(_STR)}", pc)
        self.emit(indent, f"if A > MAXA: _allocfail({where})", pc)
        self.emit(indent, f"r{a} = _t", pc)


def _zero_source(vtype: ValueType, structs: Sequence[StructDef]) -> str:
    """Python source of a fresh register's zero value (a new map or struct each time it runs)."""
    if vtype.kind is TypeKind.MAP:
        return "_VMap()"
    if vtype.kind is TypeKind.STRUCT:
        return "[" + "".join(f"{_zero_source(item.type, structs)}, " for item in struct_fields(vtype, structs)) + "]"
    return repr(zero_value(vtype, structs))


_COMPARE = {
    Op.LT.value: "<",
    Op.LE.value: "<=",
    Op.GT.value: ">",
    Op.GE.value: ">=",
    Op.EQ.value: "==",
    Op.NE.value: "!=",
}

_BITWISE = {Op.BAND.value: "&", Op.BOR.value: "|", Op.BXOR.value: "^"}

_FLOAT_ARITHMETIC = {Op.FADD.value: "+", Op.FSUB.value: "-", Op.FMUL.value: "*"}
_FLOAT_BINARY = frozenset((*_FLOAT_ARITHMETIC, Op.FDIV.value, Op.FMOD.value, Op.FMIN.value, Op.FMAX.value))
_FLOAT_TO_INT = {Op.FTOI.value: "_ftoi", Op.FLOOR.value: "_ffloor", Op.CEIL.value: "_fceil", Op.ROUND.value: "_fround"}
#: The functions the float templates call by name (the generated code has no builtins).
_FLOAT_GLOBALS: dict[str, Any] = {
    "_ftoi": int,
    "_ffloor": math.floor,
    "_fceil": math.ceil,
    "_fround": round,
    "_fsqrt": math.sqrt,
    "_fabs": math.fabs,
    "_ffloat": float,
}
_FLOAT_OPS = (Op.FADD, Op.FSUB, Op.FMUL, Op.FDIV, Op.FMOD, Op.FNEG, Op.ITOF, Op.FTOI, Op.FLOOR, Op.CEIL, Op.ROUND)

#: The compiled engine's template for each opcode of chronicle_vm.engines.semantics (checked complete at import):
#: its own for every opcode below, and for a plain operation (a row with `value`) a call of that function.
_TEMPLATES: dict[int, Callable[[_Translator, _At], bool | None]] = {
    **dict.fromkeys(VALUES, _Translator._op_value),
    Op.NOP.value: _Translator._op_nop,
    Op.MOV.value: _Translator._op_mov,
    Op.LOADK.value: _Translator._op_loadk,
    Op.LOADB.value: _Translator._op_loadb,
    Op.ADD.value: _Translator._op_arithmetic,
    Op.SUB.value: _Translator._op_arithmetic,
    Op.MUL.value: _Translator._op_arithmetic,
    Op.DIV.value: _Translator._op_div,
    Op.MOD.value: _Translator._op_mod,
    Op.NEG.value: _Translator._op_neg,
    Op.LT.value: _Translator._op_compare,
    Op.LE.value: _Translator._op_compare,
    Op.GT.value: _Translator._op_compare,
    Op.GE.value: _Translator._op_compare,
    Op.EQ.value: _Translator._op_compare,
    Op.NE.value: _Translator._op_compare,
    Op.NOT.value: _Translator._op_not,
    Op.JMP.value: _Translator._op_jmp,
    Op.JMPIF.value: _Translator._op_branch,
    Op.JMPIFNOT.value: _Translator._op_branch,
    Op.CALL.value: _Translator._op_call,
    Op.CAPCALL.value: _Translator._op_capcall,
    Op.RET.value: _Translator._op_ret,
    Op.RETV.value: _Translator._op_retv,
    Op.TRAP.value: _Translator._op_trap,
    Op.CONCAT.value: _Translator._op_concat,
    Op.TOSTR.value: _Translator._op_tostr,
    Op.LEN.value: _Translator._op_len,
    Op.SLICE.value: _Translator._op_slice,
    Op.CONTAINS.value: _Translator._op_contains,
    Op.FIND.value: _Translator._op_find,
    Op.PARSEINT.value: _Translator._op_parseint,
    Op.UPPER.value: _Translator._op_casemap,
    Op.LOWER.value: _Translator._op_casemap,
    Op.TRIM.value: _Translator._op_casemap,
    Op.SPLIT.value: _Translator._op_split,
    Op.JOIN.value: _Translator._op_join,
    Op.REPEAT.value: _Translator._op_repeat,
    Op.CHARAT.value: _Translator._op_charat,
    Op.NEWARR.value: _Translator._op_newarr,
    Op.PUSH.value: _Translator._op_push,
    Op.POP.value: _Translator._op_pop,
    Op.GETIDX.value: _Translator._op_getidx,
    Op.SETIDX.value: _Translator._op_setidx,
    Op.BAND.value: _Translator._op_bitwise,
    Op.BOR.value: _Translator._op_bitwise,
    Op.BXOR.value: _Translator._op_bitwise,
    Op.BNOT.value: _Translator._op_bitwise,
    Op.SHL.value: _Translator._op_shift,
    Op.SHR.value: _Translator._op_shift,
    **dict.fromkeys(WORKS, _Translator._op_work),
    **{op.value: _Translator._op_float for op in (*_FLOAT_OPS, Op.SQRT, Op.FABS, Op.FMIN, Op.FMAX)},
    Op.MAPGET.value: _Translator._op_mapget,
    Op.MAPGETD.value: _Translator._op_mapgetd,
    Op.MAPSET.value: _Translator._op_mapset,
    Op.MAPHAS.value: _Translator._op_maphas,
    Op.MAPLEN.value: _Translator._op_maplen,
    Op.MAPSTAMP.value: _Translator._op_mapstamp,
    Op.MAPCHECK.value: _Translator._op_mapcheck,
    Op.STRUCTNEW.value: _Translator._op_structnew,
    Op.GETFIELD.value: _Translator._op_getfield,
    Op.SETFIELD.value: _Translator._op_setfield,
}
require_complete("the compiled engine", _TEMPLATES)
