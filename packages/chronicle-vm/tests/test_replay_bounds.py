"""Replay is bounded by the replayer's ceilings, compares every event's location, and checks quotas on failed calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from chronicle_testing.trace_programs import make_host, plugin_module, policy
from chronicle_vm.errors import ChronicleError, ReplayError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.document import Trace, canonical_json, error_trace
from chronicle_vm.trace.replay import replay

MODULE = plugin_module().to_bytes()


def record(entry: str, *args: object, quota: int | None = None, max_instructions: int = 10_000, **host: Any) -> Trace:
    limits = Limits(max_instructions=max_instructions)
    inst = instantiate(load_module(MODULE), host=make_host(**host), policy=policy(quota), limits=limits)
    try:
        trace = inst.call(entry, *args, trace=True).trace
    except ChronicleError as exc:
        trace = error_trace(exc)
    assert trace is not None
    return trace


def edit(trace: Trace, change: Callable[[dict[str, Any]], object]) -> bytes:
    doc = trace.to_dict()
    change(doc)
    return canonical_json(doc)


def refused(data: bytes, **options: Any) -> ReplayError:
    with pytest.raises(ReplayError) as caught:
        replay(data, MODULE, engine="reference", **options)
    return caught.value


def _broken(i: int) -> int:
    raise RuntimeError("disk on fire")


# -- the replayer's ceilings ------------------------------------------------------------------------------------


def test_a_forged_limit_stop_beyond_the_ceilings_is_refused_before_running() -> None:
    spin = record("spin", 1, max_instructions=77)  # a runaway loop, stopped by its limit

    def forge(doc: dict[str, Any]) -> None:
        doc["provenance"]["limits"]["max_instructions"] = HARD_LIMITS.max_instructions
        doc["outcome"]["instructions"] = HARD_LIMITS.max_instructions
        doc["events"][-1]["instructions"] = HARD_LIMITS.max_instructions

    started = time.monotonic()
    error = refused(edit(spin, forge))
    assert error.code == "replay.limits"
    assert error.details["limit"] == "max_instructions"
    assert error.details["ceiling"] == Limits().max_instructions
    assert time.monotonic() - started < 5  # before: ~10^11 s of replay


def test_a_forged_short_count_stops_at_the_ceiling_not_beyond() -> None:
    main = record("main", 3)
    needed = main.outcome["instructions"]

    def forge(doc: dict[str, Any]) -> None:  # the record claims a short run under huge limits
        doc["provenance"]["limits"]["max_instructions"] = HARD_LIMITS.max_instructions
        doc["outcome"]["instructions"] = 5

    error = refused(edit(main, forge), limits=Limits(max_instructions=needed - 1))
    assert error.code == "replay.limits"
    assert (error.details["needed"], error.details["ceiling"]) == (HARD_LIMITS.max_instructions, needed - 1)


def test_a_limit_stop_at_a_lowered_limit_is_refused_not_replayed_elsewhere() -> None:
    spin = record("spin", 1, max_instructions=5_000)
    error = refused(spin.to_json(), limits=Limits(max_instructions=1_000))
    assert error.code == "replay.limits"
    assert (error.details["needed"], error.details["ceiling"]) == (5_000, 1_000)


def test_ceilings_above_what_the_run_needs_replay_exactly() -> None:
    main = record("main", 3, max_instructions=10_000)
    needed = main.outcome["instructions"]
    report = replay(main.to_json(), MODULE, engine="reference", limits=Limits(max_instructions=needed))
    assert report.exact
    with pytest.raises(ReplayError) as caught:
        replay(main.to_json(), MODULE, engine="reference", limits=Limits(max_instructions=needed - 1))
    assert caught.value.code == "replay.limits"


def test_no_ceilings_means_the_recorded_limits() -> None:
    spin = record("spin", 1, max_instructions=20_000_000 // 1000)
    assert replay(spin.to_json(), MODULE, engine="reference", limits=None).exact


# -- locations ----------------------------------------------------------------------------------------------------

MAIN = record("main", 3)  # num.next(0), num.next(1), num.next(2), log.info("30"); returns 30


@pytest.mark.parametrize(
    ("field", "value"), [("line", 999), ("col", 1), ("file", "elsewhere.chr"), ("index", 0), ("function", "rows")]
)
def test_an_edited_call_location_is_caught(field: str, value: object) -> None:
    def change(doc: dict[str, Any]) -> None:
        location = doc["events"][1]["location"]
        assert location[field] != value
        location[field] = value

    error = refused(edit(MAIN, change))
    assert (error.code, error.details["seq"]) == ("replay.location", 1)
    assert error.details["expected"][field] == value
    assert error.details["actual"] == MAIN.events[1]["location"]


def test_a_dropped_source_position_is_caught() -> None:
    def change(doc: dict[str, Any]) -> None:
        for key in ("file", "line", "col"):
            del doc["events"][0]["location"][key]

    assert refused(edit(MAIN, change)).code == "replay.location"


# -- quotas against recorded failures ------------------------------------------------------------------------------


def test_an_edited_quota_against_a_recorded_host_failure_is_caught() -> None:
    failed = record("boom", 2, next_value=_broken)
    assert failed.events[-1]["error"]["code"] == "runtime.capability-failed"
    assert replay(failed.to_json(), MODULE, engine="reference").exact
    calls = sum(1 for event in failed.events if event.get("capability") == "num.next")

    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["capabilities"][0]["max_calls"] = calls - 1  # the failing call would never have run

    error = refused(edit(failed, change))
    assert error.code == "replay.divergence"
    assert "quota" in error.message


@pytest.mark.parametrize("max_calls", [None, 6, 4])
def test_a_recorded_quota_stop_must_follow_the_recorded_quota(max_calls: int | None) -> None:
    stopped = record("spin", 1, quota=5)
    assert stopped.events[-1]["error"]["code"] == "limit.capability-quota"
    assert replay(stopped.to_json(), MODULE, engine="reference").exact

    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["capabilities"][0]["max_calls"] = max_calls

    error = refused(edit(stopped, change))
    assert error.code == "replay.divergence"
    assert "quota" in error.message
