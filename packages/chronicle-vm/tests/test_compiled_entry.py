"""The compiled engine's run entry: what it prepares once per entry and how it sizes a run's frames (issue 19).

A call of an entry that cannot recurse takes only the frames its longest
chain of calls needs (`_static_depth`), one that may recurse all that
`max_call_depth` allows, each whenever the thread's stack has room; near a
full stack the frames are counted one by one, as before.  Every case must
agree with the reference interpreter: value, instruction count, errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.model import Function, Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.engines import compiled
from chronicle_vm.engines.compiled import CompiledEngine, _stack_below, _static_depth
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify


def leaf(name: str, exported: bool = False) -> Function:
    """name() = 1."""
    return fn(name, (ins("loadk", 0, 1), ins("ret", 0)), registers=(INT,), result=INT, exported=exported)


def caller(name: str, callees: tuple[int, ...], exported: bool = False) -> Function:
    """name() = the sum of callees()."""
    code = [ins("loadk", 0, 0)]
    for callee in callees:
        code += [ins("call", callee, 0, 1), ins("add", 0, 0, 1)]
    return fn(name, (*code, ins("ret", 0)), registers=(INT, INT), result=INT, exported=exported)


def recursive(name: str, index: int) -> Function:
    """name(n) = 0 if n <= 0 else name(n - 1) + 1."""
    code = (
        ins("loadk", 1, 0),
        ins("le", 2, 0, 1),
        ins("jmpifnot", 2, 4),
        ins("ret", 1),
        ins("loadk", 1, 1),  # 4
        ins("sub", 3, 0, 1),
        ins("call", index, 3, 4),
        ins("add", 4, 4, 1),
        ins("ret", 4),
    )
    return fn(name, code, registers=(INT, INT, BOOL, INT, INT), params=1, result=INT, exported=True)


def chain_module() -> Module:
    """top -> mid (twice) -> low -> leaf, and top -> leaf (a diamond); rec recurses; one() calls nothing."""
    return module(
        caller("top", (1, 3), exported=True),  # 0: 4 frames deep
        caller("mid", (2,)),  # 1
        caller("low", (3,)),  # 2
        leaf("leaf"),  # 3
        recursive("rec", 4),  # 4
        leaf("one", exported=True),  # 5
        constants=(0, 1),
    )


def test_static_depth_counts_the_longest_chain_and_refuses_recursion() -> None:
    mod = chain_module()
    assert [_static_depth(mod, index) for index in range(len(mod.functions))] == [4, 3, 2, 1, 0, 1]
    mutual = module(caller("a", (1,), exported=True), caller("b", (0,)), constants=(0, 1))
    assert _static_depth(mutual, 0) == 0


def test_stack_below_matches_the_frame_count() -> None:
    depth = compiled._python_depth() - 1  # this frame and those above it
    assert _stack_below(depth)
    assert not _stack_below(depth - 1)
    assert not _stack_below(0)


def outcome(engine: Interpreter | CompiledEngine, entry: str, args: list[object]) -> tuple[str, Any]:
    try:
        return "ok", engine.call(entry, args)
    except ChronicleError as exc:
        return "error", (exc.code, exc.message, exc.details)


@pytest.mark.parametrize("max_call_depth", [1, 3, 4, 5, 1_000])
def test_a_chain_agrees_at_every_max_call_depth(max_call_depth: int) -> None:
    verified = verify(chain_module())
    limits = Limits(max_call_depth=max_call_depth)
    engine = CompiledEngine(verified, limits)
    for entry, args in (("top", []), ("one", []), ("rec", [20])):
        expected = outcome(Interpreter(verified, limits), entry, args)
        assert outcome(engine, entry, args) == expected
        assert outcome(engine, entry, args) == expected  # the entry's plan, reused


def at_depth(frames: int, action: Callable[[], object]) -> object:
    """`action()` called from `frames` Python frames deeper than here."""
    if frames <= 0:
        return action()
    return at_depth(frames - 1, action)


@pytest.mark.parametrize("spare", [25, 60, 119, 121, 124, 125, 130, 300])
def test_a_nearly_full_python_stack_gives_the_same_outcomes(spare: int) -> None:
    # Called with only `spare` frames of Python's recursion limit left: the fast run takes fewer frames or
    # goes to the deep-stack thread, and every outcome stays the interpreter's.
    verified = verify(chain_module())
    limits = Limits()
    engine = CompiledEngine(verified, limits)
    room = sys.getrecursionlimit() - compiled._python_depth() - spare
    for entry, args in (("top", []), ("one", []), ("rec", [50])):
        expected = outcome(Interpreter(verified, limits), entry, args)
        assert at_depth(room, lambda entry=entry, args=args: outcome(engine, entry, args)) == expected
        assert outcome(engine, entry, args) == expected
