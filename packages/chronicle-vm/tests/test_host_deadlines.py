"""Deadlines and cancellation (control.py): every stop point on both engines, and replay to the same instruction."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

from chronicle_vm import CancelHandle, Host, Policy, ResourceLimitError, UsageError, instantiate, load_module
from chronicle_vm.engines.control import FUEL_SLICE
from chronicle_vm.runtime import Instance
from chronicle_vm.trace.document import Trace, error_trace
from chronicle_vm.trace.replay import replay

chronicle_lang = pytest.importorskip("chronicle_lang")

SOURCE = """
cap slow.wait(ms: int) -> int;
fn deep(n: int) -> int {
    if n == 0 {
        let t = 0;
        while true { t = t + 1; }
        return t;
    }
    return deep(n - 1) + 1;
}
pub fn spin() -> int { let i = 0; while true { i = i + 1; } return i; }
pub fn nest() -> int { return deep(40); }
pub fn waits(ms: int) -> int { let t = 0; for i in 0..50 { t = t + slow.wait(ms); } return t; }
pub fn quick() -> int { return 7; }
"""
MODULE = chronicle_lang.compile_to_module(SOURCE, "deadlines.chr").to_bytes()
POLICY = Policy.from_toml('version = 1\n[capabilities."slow.wait"]\nallow = true\n')
ENGINES = ("reference", "compiled")


def make_instance(engine: str) -> Instance:
    host = Host()

    @host.capability("slow.wait")
    def wait(ms: int) -> int:
        time.sleep(ms / 1000)
        return ms

    return instantiate(load_module(MODULE), host=host, policy=POLICY, engine=engine)  # type: ignore[arg-type]


def stopped(instance: Instance, entry: str, *args: object, **options: Any) -> tuple[ResourceLimitError, Trace]:
    with pytest.raises(ResourceLimitError) as caught:
        instance.call(entry, *args, trace=True, **options)
    trace = error_trace(caught.value)
    assert trace is not None
    return caught.value, trace


def assert_replays_to_the_stop(error: ResourceLimitError, trace: Trace) -> None:
    end = trace.events[-1]
    assert end["kind"] == "limit"
    assert end["code"] == error.code
    assert end["instructions"] == error.details["instructions"] == trace.outcome["instructions"]
    for engine in ENGINES:  # either engine reproduces a stop recorded on either, with no clock involved
        report = replay(trace.to_json(), MODULE, engine=engine)  # type: ignore[arg-type]
        assert report.exact
        assert report.reproduced == "limit"
        assert report.instructions == end["instructions"]
        assert report.outcome["error"]["code"] == error.code
        assert report.outcome["error"]["location"] == end["location"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_deadline_stops_a_loop_at_a_slice_end_and_replays_there(engine: str) -> None:
    started = time.monotonic()
    error, trace = stopped(make_instance(engine), "spin", timeout=0.1)
    assert time.monotonic() - started < 2
    assert error.code == "limit.deadline"
    count = error.details["instructions"]
    assert count % FUEL_SLICE == 0  # stopped where a slice ran out, before the next instruction
    assert error.details["location"]["function"] == "spin"
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_deadline_stops_a_deep_call_with_its_stack(engine: str) -> None:
    error, trace = stopped(make_instance(engine), "nest", timeout=0.1)
    assert error.code == "limit.deadline"
    assert error.details["instructions"] % FUEL_SLICE == 0
    stack = error.details["stack"]
    assert [frame["function"] for frame in stack] == ["nest"] + ["deep"] * 41
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_deadline_is_checked_right_after_a_slow_capability(engine: str) -> None:
    error, trace = stopped(make_instance(engine), "waits", 400, timeout=0.15)
    assert error.code == "limit.deadline"
    # The first call overran the deadline: the call is recorded with its result, then the stop at its count.
    call, end = trace.events
    assert call["kind"] == "call" and call["result"] == 400
    assert end["instructions"] == call["instructions"]
    assert end["location"] == call["location"]
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancel_from_another_thread_stops_the_run(engine: str) -> None:
    handle = CancelHandle()
    timer = threading.Timer(0.03, handle.cancel)
    timer.start()
    try:
        error, trace = stopped(make_instance(engine), "spin", cancel=handle)
    finally:
        timer.cancel()
    assert error.code == "limit.cancelled"
    assert error.details["instructions"] % FUEL_SLICE == 0
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancel_during_a_capability_stops_right_after_it(engine: str) -> None:
    handle = CancelHandle()
    timer = threading.Timer(0.1, handle.cancel)
    timer.start()
    error, trace = stopped(make_instance(engine), "waits", 400, cancel=handle)
    assert error.code == "limit.cancelled"
    assert [event["kind"] for event in trace.events] == ["call", "limit"]
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_handle_cancelled_before_the_call_stops_it_before_its_first_instruction(engine: str) -> None:
    handle = CancelHandle()
    handle.cancel()
    error, trace = stopped(make_instance(engine), "quick", cancel=handle)
    assert error.code == "limit.cancelled"
    assert error.details["instructions"] == 0
    assert error.details["location"]["index"] == 0
    assert_replays_to_the_stop(error, trace)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancel_after_the_run_ended_changes_nothing(engine: str) -> None:
    instance = make_instance(engine)
    handle = CancelHandle()
    result = instance.call("quick", cancel=handle, timeout=5)
    handle.cancel()
    assert result.value == 7
    assert handle.cancelled
    assert instance.call("quick").value == 7  # the handle belongs to the call it was given to


@pytest.mark.parametrize("engine", ENGINES)
def test_a_generous_deadline_gives_the_same_result_and_trace_as_none(engine: str) -> None:
    instance = make_instance(engine)
    plain = instance.call("waits", 0, trace=True)
    timed = instance.call("waits", 0, trace=True, timeout=30, cancel=CancelHandle())
    assert timed.value == plain.value == 0
    assert timed.instructions == plain.instructions
    assert timed.trace is not None and plain.trace is not None
    assert timed.trace.to_json() == plain.trace.to_json()


@pytest.mark.parametrize("engine", ENGINES)
def test_the_instruction_limit_still_holds_under_a_deadline(engine: str) -> None:
    limited = Policy.from_toml(
        'version = 1\n[limits]\nmax_instructions = 40000\n[capabilities."slow.wait"]\nallow = true\n'
    )
    host = make_instance(engine).negotiation.host
    inst = instantiate(load_module(MODULE), host=host, policy=limited, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(ResourceLimitError) as caught:
        inst.call("spin", timeout=30)
    assert caught.value.code == "limit.instructions"
    assert caught.value.details["instructions"] == 40000


@pytest.mark.parametrize("timeout", [0, -1, -0.5, math.nan, math.inf, "1", True])
def test_bad_timeouts_are_usage_errors(timeout: object) -> None:
    with pytest.raises(UsageError) as caught:
        make_instance("reference").call("quick", timeout=timeout)  # type: ignore[arg-type]
    assert caught.value.code == "usage.timeout"


def test_a_cancel_that_is_not_a_handle_is_a_usage_error() -> None:
    with pytest.raises(UsageError) as caught:
        make_instance("reference").call("quick", cancel=threading.Event())  # type: ignore[arg-type]
    assert caught.value.code == "usage.timeout"


def test_stop_traces_and_meta_follow_the_published_schema() -> None:
    import json
    from pathlib import Path

    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads((Path(__file__).resolve().parents[3] / "docs" / "trace.schema.json").read_text("utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    _error, trace = stopped(make_instance("compiled"), "spin", timeout=0.01, meta={"order": "A-1", "n": [1, 2.5]})
    validator.validate(json.loads(trace.to_json()))
    assert trace.meta == {"order": "A-1", "n": [1, 2.5]}


@pytest.mark.parametrize(
    "edit",
    [
        {"instructions": None},
        {"instructions": 5},
        {"location": None},
        {"location": {"function": "spin", "index": 0}},
        {"code": "limit.cancelled"},
    ],
)
def test_an_edited_stop_event_does_not_replay(edit: dict[str, Any]) -> None:
    import json

    from chronicle_vm import ReplayError

    _error, trace = stopped(make_instance("compiled"), "spin", timeout=0.01)
    doc = json.loads(trace.to_json())
    doc["events"][-1].update(edit)
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), MODULE)
    assert caught.value.code in {"replay.outcome", "replay.schema"}
