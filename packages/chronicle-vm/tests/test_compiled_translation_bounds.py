"""Translation is bounded by source size and analysis work; whatever exceeds a bound runs on the reference engine.

Attacks from issue 16: a 4,095-parameter function called K times (4,095
names written per call: gigabytes of compiler memory), and a chain of 6,000
backward jumps (a quadratic fixpoint in the register analysis).  Each must
give the reference interpreter's outcome; testing/attacks.py measures their
time and memory under the default limits.
"""

from __future__ import annotations

import pytest

import attacks
from chronicle_testing.verify_builders import every_opcode_module
from chronicle_vm.core.model import Module
from chronicle_vm.engines import compiled
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import DEFAULT_LIMITS, Limits
from chronicle_vm.verifier.rules import verify


def both(mod: Module, limits: Limits = DEFAULT_LIMITS, args: list[object] | None = None) -> CompiledEngine:
    verified = verify(mod)
    engine = CompiledEngine(verified, limits)
    assert engine.call("main", args or []) == Interpreter(verified, limits).call("main", args or [])
    return engine


def outcome(engine: Interpreter | CompiledEngine, n: int) -> object:
    try:
        return engine.call("main", [n])
    except ChronicleError as exc:
        return exc.to_dict()


def test_wide_calls_outgrow_the_source_budget_and_run_on_the_reference_engine() -> None:
    engine = both(Module.from_bytes(attacks.wide_call_module(500)))
    assert 0 in engine._uncompilable  # main: 500 calls of 4,095 names each, over its budget
    assert 1 not in engine._uncompilable  # the wide function itself: one instruction, within its budget


def test_one_wide_call_still_translates() -> None:
    engine = both(Module.from_bytes(attacks.wide_call_module(1)))
    assert not engine._uncompilable


def test_a_chain_of_backward_jumps_translates_and_agrees() -> None:
    engine = both(Module.from_bytes(attacks.backward_jump_chain_module(2, 6_000)))
    assert not engine._uncompilable


@pytest.mark.parametrize("visits", [0, 1])
def test_the_analysis_over_approximation_is_sound(monkeypatch: pytest.MonkeyPatch, visits: int) -> None:
    # With no worklist budget every register read anywhere before a write gets its zero value: same outcomes.
    monkeypatch.setattr(compiled, "_ANALYSIS_VISITS", visits)
    compiled._CACHE.clear()
    try:
        for n in (5, -3, 100):
            verified = verify(every_opcode_module())
            expected = outcome(Interpreter(verified, Limits()), n)
            assert outcome(CompiledEngine(verified, Limits()), n) == expected
        both(Module.from_bytes(attacks.backward_jump_chain_module(2, 300)))
    finally:
        compiled._CACHE.clear()


def test_a_function_over_its_source_budget_runs_on_the_reference_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "SOURCE_CHARS_PER_INSTRUCTION", 1)
    monkeypatch.setattr(compiled, "SOURCE_CHARS_PER_REGISTER", 0)
    compiled._CACHE.clear()
    try:
        verified = verify(every_opcode_module())
        engine = CompiledEngine(verified, Limits())
        assert outcome(engine, 5) == outcome(Interpreter(verified, Limits()), 5)
        assert 0 in engine._uncompilable
    finally:
        compiled._CACHE.clear()
