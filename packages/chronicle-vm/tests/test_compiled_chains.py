"""Segments that run on past calls (issue 20): the compiled engine charges a caller's fuel across its calls of
functions that make no capability call, and stays exact to the instruction.

The instructions a caller charged ahead are invisible on the fast path; the
paths that can see them (running out of fuel inside the callee, an extra
charge of cost model 2 that does not fit, a trap, a deadline or cancel stop)
must count them back from the callers' frames.  Every test here compares the
compiled engine with the one-step oracle and the fused interpreter: value,
instruction count, error (code, message, location, stack, count) and
capability calls.  Also the bad inputs the issue names for the new fast
paths: values that overflow only on a loop's last iteration, a loop whose
trip count changes inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Instruction, Module
from chronicle_vm.core.types import BOOL, INT, STR
from chronicle_vm.core.values import Value
from chronicle_vm.engines import compiled, faults
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.control import FUEL_SLICE, RunControl
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError, ResourceLimitError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

Engine = Oracle | Interpreter | CompiledEngine


def handlers(log: list[tuple[Any, ...]]) -> tuple[Any]:
    def measure(args: Sequence[Value], site: CallSite) -> int:
        log.append((list(args), site))
        return site.instructions % 5

    return (measure,)


def run(engine: Engine, entry: str, args: Sequence[object], control: RunControl | None = None) -> tuple[str, Any]:
    try:
        return "ok", engine.call(entry, args, control=control)
    except ChronicleError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)


def agree(mod: Module, entry: str, args: Sequence[object], limits: Limits, control: Any = None) -> tuple[str, Any]:
    """Every engine gives the same outcome and makes the same capability calls; the oracle's outcome."""
    verified = verify(mod)
    logs: list[list[tuple[Any, ...]]] = [[], [], []]
    engines: list[Engine] = [
        Oracle(verified, limits, handlers(logs[0])),
        Interpreter(verified, limits, handlers(logs[1])),
        CompiledEngine(verified, limits, handlers(logs[2])),
    ]
    outcomes = [run(engine, entry, args, control() if control else None) for engine in engines]
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
    assert logs[1] == logs[0] and logs[2] == logs[0]
    return outcomes[0]


def fib_module(concat: bool = False) -> Module:
    """fib(n) without capability calls (its segments run on past both calls); with `concat`, each leaf joins
    two 40-character strings (an extra charge of cost model 2 inside a callee charged ahead by its caller)."""
    code = (
        ins("loadk", 7, 2),
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),
        ins("jmpifnot", 2, 6),
        ins("concat", 6, 7, 7) if concat else ins("nop"),
        ins("ret", 0),
        ins("loadk", 1, 1),  # 6
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 4),
        ins("loadk", 1, 0),
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 5),
        ins("add", 4, 4, 5),
        ins("ret", 4),
    )
    main = fn("main", code, registers=(INT, INT, BOOL, INT, INT, INT, STR, STR), params=1, result=INT, exported=True)
    return module(main, constants=(2, 1, "y" * 40), capabilities=(Capability("host.measure", (STR,), INT),))


def caller_of_fib() -> Module:
    """main(n) = fib(n) + cap(...) + fib(n): capability calls in the caller, next to calls charged ahead."""
    fib = fib_module().functions[0]
    fib = fn("fib", fib.code, registers=fib.registers, params=1, result=INT)
    code = (
        ins("loadk", 6, 2),
        ins("call", 1, 0, 1),
        ins("capcall", 0, 6, 2),
        ins("call", 1, 0, 3),
        ins("add", 1, 1, 2),
        ins("add", 1, 1, 3),
        ins("ret", 1),
    )
    main = fn("main", code, registers=(INT, INT, INT, INT, BOOL, INT, STR), params=1, result=INT, exported=True)
    caps = (Capability("host.measure", (STR,), INT),)
    return module(main, fib, constants=(2, 1, "abc"), capabilities=caps)


def full_count(mod: Module, entry: str, arg: int) -> int:
    kind, result = agree(mod, entry, [arg], Limits())
    assert kind == "ok"
    count: int = result.instructions
    return count


@pytest.mark.parametrize(("mod", "arg"), [(fib_module(), 7), (fib_module(concat=True), 6), (caller_of_fib(), 5)])
def test_every_instruction_limit_stops_exactly(mod: Module, arg: int) -> None:
    count = full_count(mod, "main", arg)
    for limit in range(count + 2):
        kind, result = agree(mod, "main", [arg], Limits(max_instructions=limit))
        if limit >= count:
            assert kind == "ok"
        else:
            assert result[1].startswith("limit.")
            assert result[3]["instructions"] <= limit


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
def test_call_depth_limits_inside_a_charged_ahead_call(depth: int) -> None:
    agree(fib_module(), "main", [8], Limits(max_call_depth=depth))


def test_allocation_and_string_limits_inside_a_charged_ahead_call() -> None:
    for allocation in (0, 100, 500, 2_000):
        agree(fib_module(concat=True), "main", [6], Limits(max_allocation=allocation))
    agree(fib_module(concat=True), "main", [6], Limits(max_string_len=50))


class _StopAtCount(RunControl):
    """A deadline that falls due after `after` instructions, without a clock (deterministic)."""

    __slots__ = ("after",)

    def __init__(self, after: int) -> None:
        super().__init__(None, None)
        self.after = after

    def check(self, instructions: int) -> faults.Failure | None:
        if instructions < self.after:
            return None
        message = f"the call's timeout of 1 s passed after {instructions} instructions"
        return ResourceLimitError, "limit.deadline", message, {"timeout": 1.0, "instructions": instructions}


@pytest.mark.parametrize("after", [1, FUEL_SLICE - 3, FUEL_SLICE, 3 * FUEL_SLICE + 7])
def test_a_stop_falling_due_inside_a_charged_ahead_call_is_at_a_slice_end(after: int) -> None:
    kind, error = agree(fib_module(), "main", [20], Limits(), control=lambda: _StopAtCount(after))
    assert kind == "error" and error[1] == "limit.deadline"
    assert error[3]["instructions"] % FUEL_SLICE == 0
    assert error[3]["instructions"] >= after


@pytest.mark.parametrize("grant", [1, 2, 5, 13])
@pytest.mark.parametrize(("mod", "arg"), [(fib_module(), 6), (fib_module(concat=True), 5), (caller_of_fib(), 4)])
def test_fuel_granted_in_small_pieces_keeps_every_count(
    monkeypatch: pytest.MonkeyPatch, grant: int, mod: Module, arg: int
) -> None:
    # Without a deadline the fuel comes in grants that stay one-digit ints (compiled._FUEL_GRANT, 2**29): a grant
    # ending anywhere (inside a segment charged ahead, at a capability call that reads the count, at an extra
    # charge that tops it up) must not change a count, a stop or a capability call site.
    monkeypatch.setattr(compiled, "_FUEL_GRANT", grant)
    count = full_count(mod, "main", arg)
    for limit in (*range(40), count - 1, count, count + 1, 10**12):
        agree(mod, "main", [arg], Limits(max_instructions=limit))


# -- random programs without capability calls outside main: segments run on past most calls ----------------------

KINDS = ("int", "int", "compare", "jump", "const", "call", "call", "call", "str")
CONSTANTS: tuple[int | str, ...] = (0, 1, 2, 40, -1, "x" * 40, "ab" * 30, 9223372036854775806)


@st.composite
def instruction(draw: st.DrawFn, length: int, functions: int, with_caps: bool) -> Instruction:
    kind = draw(st.sampled_from((*KINDS, "cap") if with_caps else KINDS))
    ints, bools, strs = st.integers(0, 3), st.integers(4, 5), st.integers(6, 7)
    if kind == "int":
        return ins(draw(st.sampled_from(["add", "sub", "mul", "mod"])), draw(ints), draw(ints), draw(ints))
    if kind == "compare":
        return ins(draw(st.sampled_from(["lt", "eq"])), draw(bools), draw(ints), draw(ints))
    if kind == "jump":
        target = draw(st.integers(0, length - 1))
        if draw(st.booleans()):
            return ins("jmp", target)
        return ins(draw(st.sampled_from(["jmpif", "jmpifnot"])), draw(bools), target)
    if kind == "const":
        if draw(st.booleans()):
            return ins("loadk", draw(ints), draw(st.sampled_from([0, 1, 2, 3, 4, 7])))
        return ins("loadk", draw(strs), draw(st.sampled_from([5, 6])))
    if kind == "call":
        return ins("call", draw(st.integers(0, functions - 1)), draw(st.integers(0, 2)), draw(ints))
    if kind == "cap":
        return ins("capcall", 0, draw(strs), draw(ints))
    return ins("concat", draw(strs), draw(strs), draw(strs))


@st.composite
def programs(draw: st.DrawFn) -> Module:
    count = draw(st.integers(2, 3))
    functions = []
    for index in range(count):
        length = draw(st.integers(1, 20))
        code = [draw(instruction(length + 1, count, with_caps=index == 0)) for _ in range(length)]
        code.append(ins("ret", draw(st.integers(0, 3))))
        registers = (INT,) * 4 + (BOOL,) * 2 + (STR,) * 2
        name = "main" if index == 0 else f"f{index}"
        functions.append(fn(name, code, registers=registers, params=2, result=INT, exported=index == 0))
    return module(*functions, constants=CONSTANTS, capabilities=(Capability("host.measure", (STR,), INT),))


LIMITS = st.builds(
    Limits,
    max_instructions=st.one_of(st.integers(0, 100), st.integers(100, 5000)),
    max_call_depth=st.integers(0, 12),
    max_stack_registers=st.sampled_from([8, 17, 40, 1000]),
    max_string_len=st.sampled_from([0, 60, 200, 2000]),
    max_allocation=st.one_of(st.integers(0, 300), st.just(100_000)),
)


@settings(deadline=None, max_examples=150)
@given(programs(), LIMITS, st.integers(-3, 5), st.integers(-3, 40))
def test_engines_agree_on_programs_charged_across_calls(mod: Module, limits: Limits, x: int, y: int) -> None:
    agree(mod, "main", [x, y], limits)


# -- bad input for the arithmetic and loop fast paths -----------------------------------------------------------


def overflow_on_the_last_iteration() -> Module:
    """main(n): x starts at I64_MAX - n and gains 1 per iteration for n + 1 iterations: only the last wraps."""
    code = (
        ins("loadk", 1, 0),  # x = I64_MAX
        ins("sub", 1, 1, 0),  # x = I64_MAX - n
        ins("loadk", 2, 1),  # one
        ins("loadk", 3, 2),  # i = 0
        ins("le", 4, 3, 0),  # 4: i <= n
        ins("jmpifnot", 4, 9),
        ins("add", 1, 1, 2),
        ins("add", 3, 3, 2),
        ins("jmp", 4),
        ins("ret", 1),  # 9
    )
    main = fn("main", code, registers=(INT, INT, INT, INT, BOOL), params=1, result=INT, exported=True)
    return module(main, constants=(9223372036854775807, 1, 0))


def trip_count_changed_inside() -> Module:
    """main(n): for i in 0..n, but the body doubles n while i < 5 and calls a helper: the bound moves."""
    code = (
        ins("loadk", 1, 0),  # i = 0
        ins("loadk", 2, 1),  # one
        ins("loadk", 5, 2),  # five
        ins("lt", 3, 1, 0),  # 3: i < n
        ins("jmpifnot", 3, 12),
        ins("lt", 3, 1, 5),
        ins("jmpifnot", 3, 9),
        ins("add", 0, 0, 0),  # n = n + n
        ins("call", 1, 1, 6),
        ins("add", 1, 1, 2),  # 9
        ins("add", 6, 6, 1),
        ins("jmp", 3),
        ins("ret", 6),  # 12
    )
    main = fn("main", code, registers=(INT, INT, INT, BOOL, INT, INT, INT), params=1, result=INT, exported=True)
    helper = fn("twice", (ins("add", 1, 0, 0), ins("ret", 1)), registers=(INT, INT), params=1, result=INT)
    return module(main, helper, constants=(0, 1, 5))


@pytest.mark.parametrize("n", [0, 1, 2, 10, 1000])
def test_a_value_that_overflows_only_on_the_last_iteration(n: int) -> None:
    kind, result = agree(overflow_on_the_last_iteration(), "main", [n], Limits())
    assert kind == "ok" and result.value == -9223372036854775808
    count = result.instructions
    for limit in (count - 3, count - 1, count):
        agree(overflow_on_the_last_iteration(), "main", [n], Limits(max_instructions=limit))


@pytest.mark.parametrize("n", [0, 1, 3, 7, 40])
def test_a_loop_whose_trip_count_changes_inside_it(n: int) -> None:
    kind, _result = agree(trip_count_changed_inside(), "main", [n], Limits())
    assert kind == "ok"
    count = full_count(trip_count_changed_inside(), "main", n)
    for limit in range(0, count + 1, max(1, count // 40)):
        agree(trip_count_changed_inside(), "main", [n], Limits(max_instructions=limit))
