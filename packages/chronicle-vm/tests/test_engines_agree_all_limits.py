"""Both engines agree under random combinations of every limit, on functions of different frame sizes.

test_compiled_props.py draws programs whose functions all have the same
frame; the compiled engine's call-depth bug (issue 16) only showed when
max_stack_registers was smaller than the largest frame, so here each function
has its own padding of registers, every field of Limits is drawn (the stack
and register limits around the frame sizes), and strings are long enough
that cost model 2's extra charges run out of fuel mid-segment.  The engines
must agree on the result or the error (code, message, location, stack,
instruction count) and make the same capability calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Instruction, Module
from chronicle_vm.core.types import BOOL, INT, STR, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

INT_ARRAY = array_type(INT.base, 1)
STR_ARRAY = array_type(STR.base, 1)
# r0..r3 int (r0, r1 parameters), r4..r5 bool, r6..r8 str, r9 [int], r10 [str]; then per-function int padding
BASE = (INT,) * 4 + (BOOL,) * 2 + (STR,) * 3 + (INT_ARRAY, STR_ARRAY)
INTS, BOOLS, STRS = st.integers(0, 3), st.integers(4, 5), st.integers(6, 8)
CONSTANTS: tuple[int | str, ...] = (0, 1, 2, 40, -1, "x" * 40, "ab" * 30, ",", "a,b" * 12, "b" * 17, " " * 33)
INT_K = st.sampled_from([i for i, k in enumerate(CONSTANTS) if type(k) is int])
STR_K = st.sampled_from([i for i, k in enumerate(CONSTANTS) if type(k) is str])


KINDS = ("int", "int", "compare", "jump", "jump", "const", "const", "call", "call", "cap", "str")


@st.composite
def instruction(draw: st.DrawFn, length: int, functions: int) -> Instruction:
    kind = draw(st.sampled_from(KINDS))
    if kind == "int":
        return ins(draw(st.sampled_from(["add", "sub", "mul", "mod"])), draw(INTS), draw(INTS), draw(INTS))
    if kind == "compare":
        if draw(st.booleans()):
            return ins(draw(st.sampled_from(["eq", "ne"])), draw(BOOLS), draw(STRS), draw(STRS))
        return ins(draw(st.sampled_from(["lt", "eq"])), draw(BOOLS), draw(INTS), draw(INTS))
    if kind == "jump":
        target = draw(st.integers(0, length - 1))
        if draw(st.booleans()):
            return ins("jmp", target)
        return ins(draw(st.sampled_from(["jmpif", "jmpifnot"])), draw(BOOLS), target)
    if kind == "const":
        if draw(st.booleans()):
            return ins("loadk", draw(INTS), draw(INT_K))
        return ins("loadk", draw(STRS), draw(STR_K))
    if kind == "call":
        return ins("call", draw(st.integers(0, functions - 1)), draw(st.integers(0, 2)), draw(INTS))
    if kind == "cap":
        return ins("capcall", 0, draw(STRS), draw(INTS))
    return _string_instruction(draw)


def _string_instruction(draw: st.DrawFn) -> Instruction:
    op = draw(st.sampled_from(["concat", "find", "contains", "upper", "trim", "split", "join", "repeat", "slice"]))
    s, t = draw(STRS), draw(STRS)
    if op == "concat":
        return ins(op, s, t, draw(STRS))
    if op == "find":
        return ins(op, draw(INTS), s, t)
    if op == "contains":
        return ins(op, draw(BOOLS), s, t)
    if op in ("upper", "trim"):
        return ins(op, s, t)
    if op == "split":
        return ins(op, 10, s, t)
    if op == "join":
        return ins(op, s, 10, t)
    if op == "repeat":
        return ins(op, s, t, draw(INTS))
    return ins(op, s, t, draw(st.integers(0, 2)))  # slice, bounds in an int pair


@st.composite
def programs(draw: st.DrawFn) -> Module:
    count = draw(st.integers(1, 3))
    functions = []
    for index in range(count):
        length = draw(st.integers(1, 25))
        code = [draw(instruction(length + 1, count)) for _ in range(length)]
        if draw(st.booleans()):  # a call first, so that the stack limits are reached often
            code[0] = ins("call", draw(st.integers(0, count - 1)), 0, draw(INTS))
        code.append(ins("ret", draw(INTS)))
        padding = draw(st.sampled_from([0, 20]))
        registers = BASE + (INT,) * padding
        name = "main" if index == 0 else f"f{index}"
        functions.append(fn(name, code, registers=registers, params=2, result=INT, exported=index == 0))
    caps = (Capability("host.measure", (STR,), INT),)
    return module(*functions, constants=CONSTANTS, capabilities=caps)


LIMITS = st.builds(
    Limits,
    max_instructions=st.one_of(st.integers(0, 80), st.integers(80, 4000)),
    max_call_depth=st.integers(0, 10),
    max_registers=st.sampled_from([10, 11, 31, 100]),
    max_stack_registers=st.sampled_from([5, 11, 22, 31, 42, 1000]),
    max_array_len=st.integers(0, 30),
    max_string_len=st.sampled_from([0, 20, 60, 200, 2000]),
    max_allocation=st.one_of(st.integers(0, 200), st.just(100_000)),
)


def handlers(log: list[tuple[Any, ...]]) -> tuple[Any]:
    def measure(args: Sequence[Value], site: CallSite) -> int:
        log.append((list(args), site))
        text = args[0]
        assert isinstance(text, str)
        return len(text) + site.instructions % 7

    return (measure,)


def run(engine: Oracle | Interpreter | CompiledEngine, args: list[int]) -> tuple[str, Any]:
    try:
        return "ok", engine.call("main", args)
    except ChronicleError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)


@settings(deadline=None, max_examples=200)
@given(programs(), LIMITS, st.integers(-3, 5), st.integers(-3, 40))
def test_both_engines_agree_under_every_limit(mod: Module, limits: Limits, x: int, y: int) -> None:
    verified = verify(mod)
    reference_log: list[tuple[Any, ...]] = []
    compiled_log: list[tuple[Any, ...]] = []
    fused_log: list[tuple[Any, ...]] = []
    expected = run(Oracle(verified, limits, handlers(reference_log)), [x, y])
    assert run(Interpreter(verified, limits, handlers(fused_log)), [x, y]) == expected
    got = run(CompiledEngine(verified, limits, handlers(compiled_log)), [x, y])
    assert got == expected
    assert compiled_log == reference_log
    assert fused_log == reference_log
