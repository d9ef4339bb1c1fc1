"""Deadlines and cost model 2 together: fuel slices are invisible to charges by work, and a stop replays exactly.

Charges by work (long strings) can cross a fuel-slice end; the count of fuel spent must be the same with and
without a deadline, on every engine, and a run stopped by its deadline must replay to the same count.
"""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_vm import CancelHandle, Host, Policy, ResourceLimitError, instantiate, load_module
from chronicle_vm.limits import Limits
from chronicle_vm.trace.document import error_trace
from chronicle_vm.trace.replay import replay

chronicle_lang = pytest.importorskip("chronicle_lang")

SOURCE = """
pub fn work(n: int) -> int {
    let s = repeat("abcdefgh", 4000);
    let total = 0;
    for i in 0..n {
        let t = s + str(i);
        total = total + find(t, "zz") + len(trim(t));
    }
    return total;
}
pub fn forever() -> int {
    let s = repeat("abcdefgh", 4000);
    let total = 0;
    while true { total = total + find(s, "zz") + 1; }
    return total;
}
"""
MODULE = chronicle_lang.compile_to_module(SOURCE, "costs.chr").to_bytes()
ENGINES = ("reference", "compiled")


def _instance(engine: str, limits: Limits | None = None) -> Any:
    return instantiate(load_module(MODULE), host=Host(), policy=Policy.deny_all(), engine=engine, limits=limits)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_slices_do_not_change_the_fuel_spent(engine: str) -> None:
    plain = _instance(engine).call("work", 300)
    sliced = _instance(engine).call("work", 300, timeout=3600.0)
    handle = _instance(engine).call("work", 300, cancel=CancelHandle())
    assert plain.instructions > 100_000  # many slices, and most charges are far from 1
    assert (sliced.value, sliced.instructions) == (plain.value, plain.instructions)
    assert (handle.value, handle.instructions) == (plain.value, plain.instructions)


@pytest.mark.parametrize("engine", ENGINES)
def test_the_instruction_limit_is_exact_inside_slices(engine: str) -> None:
    full = _instance(engine).call("work", 300).instructions
    for budget in (full - 1, full // 2 + 7, 20_000):
        limits = Limits(max_instructions=budget)
        with pytest.raises(ResourceLimitError) as plain:
            _instance(engine, limits).call("work", 300)
        with pytest.raises(ResourceLimitError) as sliced:
            _instance(engine, limits).call("work", 300, timeout=3600.0)
        assert plain.value.code == sliced.value.code
        assert plain.value.details["instructions"] == sliced.value.details["instructions"]
        assert plain.value.details["location"] == sliced.value.details["location"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("replayer", ENGINES)
def test_a_deadline_stop_among_charges_replays_to_the_same_count(engine: str, replayer: str) -> None:
    with pytest.raises(ResourceLimitError) as caught:
        _instance(engine, Limits(max_instructions=2**40)).call("forever", trace=True, timeout=0.2)
    assert caught.value.code == "limit.deadline"
    trace = error_trace(caught.value)
    assert trace is not None
    report = replay(trace.to_json(), MODULE, engine=replayer, limits=None)  # type: ignore[arg-type]
    assert report.exact
    assert report.instructions == caught.value.details["instructions"]
