"""Deep recursion stays on the compiled engine up to max_call_depth (issue 20), exact to the instruction.

A run that needs more Python frames than the caller's thread has left is
run again from the start on the deep-stack thread (chronicle_vm.engines.deep)
instead of on the reference interpreter.  Each test compares every engine:
value, instruction count, errors with their full stacks, capability calls.
"""

from __future__ import annotations

import contextvars
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.core.values import Value
from chronicle_vm.engines import compiled, deep
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

Handler = Callable[[Sequence[Value], CallSite], "Value | None"]


def down_module(divide_at_bottom: bool = False) -> Module:
    """down(n): n <= 0 -> 0 (or 1 // n: a division by zero at the bottom), else down(n - 1) + clock()."""
    bottom = (ins("div", 1, 1, 0), ins("ret", 1)) if divide_at_bottom else (ins("ret", 1), ins("nop"))
    code = (
        ins("loadk", 1, 0),
        ins("le", 2, 0, 1),
        ins("jmpifnot", 2, 5),
        *bottom,
        ins("loadk", 1, 1),  # 5
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 4),
        ins("capcall", 0, 0, 5),
        ins("add", 4, 4, 5),
        ins("ret", 4),
    )
    main = fn("main", code, registers=(INT, INT, BOOL, INT, INT, INT), params=1, result=INT, exported=True)
    return module(main, constants=(0, 1), capabilities=(Capability("clock.now", (), INT),))


def clock(log: list[int]) -> Handler:
    def now(args: Sequence[Value], site: CallSite) -> int:
        log.append(site.instructions)
        return site.instructions % 7

    return now


def outcome(engine: Interpreter | CompiledEngine, n: int) -> tuple[str, Any]:
    try:
        return "ok", engine.call("main", [n])
    except ChronicleError as exc:
        return "error", (exc.code, exc.message, exc.details)


def agree(mod: Module, n: int, limits: Limits) -> tuple[str, Any]:
    verified = verify(mod)
    reference_log: list[int] = []
    compiled_log: list[int] = []
    expected = outcome(Interpreter(verified, limits, (clock(reference_log),)), n)
    engine = CompiledEngine(verified, limits, (clock(compiled_log),))
    assert outcome(engine, n) == expected
    assert compiled_log == reference_log
    compiled_log.clear()
    assert outcome(engine, n) == expected  # a second call (now straight to the deep thread) agrees too
    assert compiled_log == reference_log
    return expected


class _NoInterpreter:
    def __init__(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the compiled engine fell back to the reference interpreter")


def test_depth_10000_runs_on_the_compiled_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    verified = verify(down_module())
    log: list[int] = []
    engine = CompiledEngine(verified, Limits(max_call_depth=100_000), (clock(log),))
    deep_runs: list[int] = []
    real = compiled.run_deep

    def counting(job: Callable[[], Any], frames: int) -> Any:
        deep_runs.append(frames)
        return real(job, frames)

    monkeypatch.setattr(compiled, "_interpreter", lambda: _NoInterpreter)
    monkeypatch.setattr(compiled, "run_deep", counting)
    limit = sys.getrecursionlimit()
    result = engine.call("main", [10_000])
    assert len(deep_runs) == 1
    assert sys.getrecursionlimit() == limit  # raised for the deep run only
    monkeypatch.undo()
    assert result == Interpreter(verified, Limits(max_call_depth=100_000), (clock([]),)).call("main", [10_000])
    assert len(log) == 10_000 and len(set(log)) == 10_000  # each live call once, none repeated by the re-run


@pytest.mark.parametrize("depth", [20, 999, 1_000, 5_000])
def test_recursion_exactly_at_max_call_depth(depth: int) -> None:
    # main(n) nests n + 1 frames: n = depth - 1 fits exactly, n = depth is one frame too many.
    limits = Limits(max_call_depth=depth, max_instructions=10**8)
    kind, _result = agree(down_module(), depth - 1, limits)
    assert kind == "ok"
    kind, error = agree(down_module(), depth, limits)
    assert kind == "error" and error[0] == "limit.call-depth"


def test_a_trap_at_depth_3000_reports_the_whole_stack() -> None:
    kind, error = agree(down_module(divide_at_bottom=True), 3_000, Limits(max_call_depth=10_000))
    assert kind == "error" and error[0] == "runtime.division-by-zero"
    assert len(error[2]["stack"]) == 3_001


@pytest.mark.parametrize("limit", [1, 2, 1_000, 20_000, 27_003, 27_004])
def test_instruction_limits_in_a_deep_run(limit: int) -> None:
    agree(down_module(), 3_000, Limits(max_call_depth=10_000, max_instructions=limit))


def test_a_deep_run_sees_the_callers_context_variables() -> None:
    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant")
    seen: set[str] = set()

    def now(args: Sequence[Value], site: CallSite) -> int:
        seen.add(tenant.get("unset"))
        return 1

    engine = CompiledEngine(verify(down_module()), Limits(max_call_depth=100_000), (now,))
    tenant.set("acme")
    assert engine.call("main", [5_000]).value == 5_000
    assert seen == {"acme"}


def test_no_worker_thread_falls_back_to_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(job: Callable[[], Any], frames: int) -> Any:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(compiled, "run_deep", refuse)
    agree(down_module(), 4_000, Limits(max_call_depth=10_000))


def test_a_host_exception_from_the_deep_thread_reaches_the_caller() -> None:
    def broken(args: Sequence[Value], site: CallSite) -> int:
        raise KeyError("host bug")

    engine = CompiledEngine(verify(down_module()), Limits(max_call_depth=100_000), (broken,))
    with pytest.raises(KeyError):
        engine.call("main", [5_000])
    assert deep._LIMIT.active == 0
