"""The compiled engine honours max_call_depth and max_stack_registers when the stack cannot hold the largest frame.

Regression (issue 16): with `max_stack_registers` below the largest frame
of the module, the compiled engine's unchecked-call bound computed to 0, the
entry ran with depth -1 and the `if not d` guard never fired, so recursion
ran past both limits (and, deep enough, into Python's RecursionError).
"""

from __future__ import annotations

import pytest

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.model import Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify


def recursion_module() -> Module:
    """main(n) = h(n); h(n) = 0 if n <= 0 else h(n - 1) + 1. main has 2 registers, h has 5 (the largest frame)."""
    main = fn("main", (ins("call", 1, 0, 1), ins("ret", 1)), registers=(INT, INT), params=1, result=INT, exported=True)
    h = fn(
        "h",
        (
            ins("loadk", 1, 0),
            ins("le", 2, 0, 1),
            ins("jmpifnot", 2, 4),
            ins("ret", 1),
            ins("loadk", 1, 1),  # 4
            ins("sub", 3, 0, 1),
            ins("call", 1, 3, 4),
            ins("add", 4, 4, 1),
            ins("ret", 4),
        ),
        registers=(INT, INT, BOOL, INT, INT),
        params=1,
        result=INT,
    )
    return module(main, h, constants=(0, 1))


def outcome(engine: Interpreter | CompiledEngine, n: int) -> tuple[str, object]:
    try:
        return "ok", engine.call("main", [n])
    except ChronicleError as exc:
        return "error", (exc.code, exc.message, exc.details)


@pytest.mark.parametrize(
    ("n", "limits", "code"),
    [
        (5, Limits(max_stack_registers=3), "limit.stack-registers"),
        (5, Limits(max_stack_registers=4, max_call_depth=10), "limit.stack-registers"),
        (100_000, Limits(max_stack_registers=3, max_call_depth=10), "limit.stack-registers"),
        (100_000, Limits(max_stack_registers=16_000_000, max_call_depth=10), "limit.call-depth"),
    ],
)
def test_stack_limits_below_the_largest_frame_hold_on_both_engines(n: int, limits: Limits, code: str) -> None:
    verified = verify(recursion_module())
    expected = outcome(Interpreter(verified, limits), n)
    got = outcome(CompiledEngine(verified, limits), n)
    assert expected[0] == "error"
    assert isinstance(expected[1], tuple) and expected[1][0] == code
    assert got == expected


def test_the_compiled_engine_refuses_the_first_call_that_does_not_fit() -> None:
    verified = verify(recursion_module())
    kind, error = outcome(CompiledEngine(verified, Limits(max_stack_registers=3)), 5)
    assert kind == "error" and isinstance(error, tuple)
    assert error[2]["instructions"] == 1  # main's call is refused: the callee's frame does not fit
