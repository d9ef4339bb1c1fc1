"""Bytes out: `Limits.max_output_bytes` bounds the capability arguments of a run, traced or not, at the exact call.

The charge is the per-value estimate of chronicle_vm.core.payload (the one the trace budget uses); the live
handler checks it after the scopes and the quota and before the host sees the arguments, so the stop is the
same call on every engine, with or without a trace, and replay checks the recorded stop is exactly that call.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_lang import compile_to_module
from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.negotiation import negotiate
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.payload import struct_item_bytes, value_bytes
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError, ReplayError, ResourceLimitError
from chronicle_vm.limits import DEFAULT_LIMITS, HARD_LIMITS, RECORDED_BEFORE, Limits
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.document import canonical_json, diff_traces, error_trace, load_trace
from chronicle_vm.trace.replay import replay

_SOURCE = """cap log.info(msg: str);
cap num.next(i: int, flag: bool) -> int;
pub fn main(piece: str, size: int, times: int) -> int {
    let s = repeat(piece, size);
    for i in 0..times { log.info(s); }
    return times;
}
pub fn count(times: int) -> int {
    let t = 0;
    for i in 0..times { t = t + num.next(i, true); }
    return t;
}
"""
_MODULE = compile_to_module(_SOURCE, "out.chr").to_bytes()
_GRANTS = '[capabilities."log.info"]\nallow = true\n[capabilities."num.next"]\nallow = true\n'
_POLICY = Policy.from_toml("version = 1\n" + _GRANTS)
#: A log.info call of a 1M-character ASCII string: its length and its quotes.
_MEGA = 1_000_002


def _host(seen: list[int]) -> Host:
    host = Host()

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        seen.append(len(msg))

    @host.capability("num.next")
    def num_next(i: int, flag: bool) -> int:
        seen.append(i)
        return i

    return host


def _call(
    entry: str, *args: object, engine: str = "auto", limits: Limits | None = None, trace: bool = False
) -> tuple[Any, list[int]]:
    """(the value or the raised error, what the host saw)."""
    seen: list[int] = []
    instance = instantiate(load_module(_MODULE), host=_host(seen), policy=_POLICY, engine=engine, limits=limits)  # type: ignore[arg-type]
    try:
        return instance.call(entry, *args, trace=trace), seen
    except ChronicleError as error:
        return error, seen


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_an_untraced_log_bomb_stops_at_the_first_call_over_the_bound(engine: str) -> None:
    error, seen = _call("main", "x", 1_000_000, 2_000, engine=engine)
    calls = DEFAULT_LIMITS.max_output_bytes // _MEGA  # 33 calls fit in 32 MiB
    assert isinstance(error, ResourceLimitError) and error.code == "limit.output-bytes"
    assert seen == [1_000_000] * calls  # the call over the bound never reached the host
    assert error.details["max_output_bytes"] == DEFAULT_LIMITS.max_output_bytes
    assert error.details["location"]["function"] == "main"


def _engine_outcome(kind: str, limits: Limits) -> tuple[str, int, object, int]:
    loaded = load_module(_MODULE)
    seen: list[int] = []
    negotiation = negotiate(loaded.verified, _POLICY, _host(seen))
    handlers = list(negotiation.handlers(limits))
    engine: Any
    if kind == "reference":
        engine = Oracle(loaded.verified, limits, handlers)
    elif kind == "compiled":
        engine = CompiledEngine(loaded.verified, limits, handlers)
    else:
        engine = Interpreter(loaded.verified, limits, handlers, superinstructions=kind == "fused")
    with pytest.raises(ResourceLimitError) as caught:
        engine.call("main", ["é", 100_000, 1_000])
    details = caught.value.details
    return caught.value.code, details["instructions"], details["location"], len(seen)


def test_every_engine_stops_at_the_same_instruction() -> None:
    limits = Limits(max_output_bytes=5 * 600_002 + 10)  # a non-ASCII string is charged 6 bytes a character
    outcomes = {kind: _engine_outcome(kind, limits) for kind in ("reference", "fused", "unfused", "compiled")}
    assert len(set(map(canonical_json, outcomes.values()))) == 1, outcomes
    code, _instructions, _location, calls = outcomes["reference"]
    assert code == "limit.output-bytes" and calls == 5


def test_the_bound_is_exact_to_the_byte() -> None:
    per_call = value_bytes(5) + value_bytes(True)  # the fixed charge of num.next(int, bool): 20 + 5
    assert per_call == 25
    result, seen = _call("count", 4, limits=Limits(max_output_bytes=4 * per_call))
    assert not isinstance(result, ChronicleError) and result.value == 6 and len(seen) == 4
    error, seen = _call("count", 5, limits=Limits(max_output_bytes=4 * per_call))
    assert isinstance(error, ResourceLimitError) and error.code == "limit.output-bytes" and len(seen) == 4
    error, seen = _call("main", "ab", 3, 2, limits=Limits(max_output_bytes=2 * 8 - 1))  # "ababab": 6 + 2 bytes
    assert isinstance(error, ResourceLimitError) and seen == [6]


def test_traced_and_untraced_runs_stop_at_the_same_call_and_the_trace_replays() -> None:
    untraced, _ = _call("main", "x", 1_000_000, 2_000)
    traced, seen = _call("main", "x", 1_000_000, 2_000, trace=True)
    assert isinstance(untraced, ResourceLimitError) and isinstance(traced, ResourceLimitError)
    assert traced.code == untraced.code == "limit.output-bytes"
    assert traced.details["instructions"] == untraced.details["instructions"]
    trace = error_trace(traced)
    assert trace is not None
    data = trace.to_json()
    assert len(data) < 40_000_000  # every call's argument and the stopping one's, once each
    loaded = load_trace(data)  # what inspect reads
    assert loaded.events[-1]["error"]["code"] == "limit.output-bytes"
    assert len(loaded.events) == len(seen) + 1
    assert diff_traces(data, data)["equal"]
    for engine in ("reference", "compiled"):
        report = replay(data, _MODULE, engine=engine)  # type: ignore[arg-type]
        assert report.exact and report.reproduced == "limit"
        assert report.outcome["error"]["code"] == "limit.output-bytes"


def _edited(data: bytes, **limits: int) -> bytes:
    doc = json.loads(data)
    doc["provenance"]["limits"].update(limits)
    return canonical_json(doc)


def test_replay_refuses_a_stop_the_recorded_bound_does_not_give() -> None:
    error, _ = _call("count", 5, limits=Limits(max_output_bytes=100), trace=True)
    assert isinstance(error, ResourceLimitError)
    trace = error_trace(error)
    assert trace is not None
    data = trace.to_json()
    assert replay(data, _MODULE).exact
    assert replay(_edited(data, max_output_bytes=124), _MODULE).exact  # the same stop: call 5 takes it to 125
    for forged in (125, 99):  # call 5 within the bound (no stop due there); call 4 (at 100) already over it
        with pytest.raises(ReplayError) as caught:
            replay(_edited(data, max_output_bytes=forged), _MODULE)
        assert caught.value.code == "replay.divergence", forged


def test_replay_checks_the_recorded_bound_not_the_replayers_ceiling() -> None:
    limits = Limits(max_output_bytes=HARD_LIMITS.max_output_bytes)
    result, _ = _call("main", "x", 1_000_000, 40, limits=limits, trace=True)  # 40 MB out, above the default
    assert not isinstance(result, ChronicleError) and result.trace is not None
    assert replay(result.trace.to_json(), _MODULE).exact  # replay sends nothing out: the record decides


def test_a_trace_recorded_before_the_bytes_fields_replays_under_the_old_behaviour() -> None:
    result, _ = _call("main", "x", 1_000, 3, trace=True)
    assert not isinstance(result, ChronicleError) and result.trace is not None
    doc = json.loads(result.trace.to_json())
    for name in RECORDED_BEFORE:
        del doc["provenance"]["limits"][name]
    old = canonical_json(doc)
    assert replay(old, _MODULE).exact
    recorded = Limits.from_recorded(load_trace(old).provenance["limits"])
    assert recorded.max_output_bytes == HARD_LIMITS.max_output_bytes  # no bound then
    assert recorded.max_trace_bytes == 56 * 1024 * 1024  # the fixed budget then
    doc["provenance"]["limits"]["max_nonsense"] = 1
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert caught.value.code == "replay.schema"


def test_the_policy_lowers_both_bounds_and_provenance_records_them() -> None:
    policy = Policy.from_toml("version = 1\n[limits]\nmax_output_bytes = 60\nmax_trace_bytes = 100000\n" + _GRANTS)
    seen: list[int] = []
    instance = instantiate(load_module(_MODULE), host=_host(seen), policy=policy)
    assert instance.limits.max_output_bytes == 60 and instance.limits.max_trace_bytes == 100_000
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("count", 10, trace=True)
    assert caught.value.code == "limit.output-bytes" and len(seen) == 2
    trace = error_trace(caught.value)
    assert trace is not None
    assert trace.provenance["limits"]["max_output_bytes"] == 60
    assert trace.provenance["limits"]["max_trace_bytes"] == 100_000


def test_max_trace_bytes_is_the_trace_budget() -> None:
    limits = Limits(max_trace_bytes=50_000)
    error, seen = _call("main", "x", 10_000, 100, limits=limits, trace=True)
    assert isinstance(error, ResourceLimitError) and error.code == "limit.trace-bytes"
    assert 3 <= len(seen) < 5
    result, _ = _call("main", "x", 10_000, 100, limits=limits)  # untraced: no trace, no trace budget
    assert not isinstance(result, ChronicleError) and result.value == 100
    trace = error_trace(error)
    assert trace is not None and replay(trace.to_json(), _MODULE).exact


def test_each_call_of_an_instance_counts_its_own_bytes() -> None:
    seen: list[int] = []
    limits = Limits(max_output_bytes=3 * 25)
    instance = instantiate(load_module(_MODULE), host=_host(seen), policy=_POLICY, limits=limits)
    for _ in range(5):  # the kept engine and its handlers are reused; the meter starts again at 0
        assert instance.call("count", 3).value == 3
    with pytest.raises(ResourceLimitError):
        instance.call("count", 4)
    assert instance.call("count", 3, trace=True).value == 3


def test_a_kv_set_of_1mb_values_stops_at_the_bound() -> None:
    source = (
        "cap kv.set(k: str, v: str);\n"
        'pub fn main() { let v = repeat("v", 1000000); for i in 0..1000 { kv.set("k", v); } }\n'
    )
    module = compile_to_module(source, "kv.chr").to_bytes()
    host = Host()
    stored: list[int] = []

    @host.capability("kv.set")
    def kv_set(k: str, v: str) -> None:
        stored.append(len(v))

    policy = Policy.from_toml('version = 1\n[capabilities."kv.set"]\nallow = true\n')
    instance = instantiate(load_module(module), host=host, policy=policy)
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("main")
    assert caught.value.code == "limit.output-bytes"
    assert len(stored) == DEFAULT_LIMITS.max_output_bytes // (_MEGA + 3)  # each call: the value and "k" (3 bytes)


def test_concurrent_calls_of_one_instance_count_separately() -> None:
    import threading

    barrier = threading.Barrier(2, timeout=10)
    host = Host()

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        pass

    @host.capability("num.next")
    def num_next(i: int, flag: bool) -> int:
        if i == 0:
            barrier.wait()  # both runs are in flight here, each past its first call's charge
        return i

    limits = Limits(max_output_bytes=3 * 25)
    instance = instantiate(load_module(_MODULE), host=host, policy=_POLICY, limits=limits)
    results: list[object] = []

    def run() -> None:
        try:
            results.append(instance.call("count", 3).value)
        except ChronicleError as error:
            results.append(error.code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [3, 3]


@given(
    st.lists(st.text(max_size=30) | st.integers(-(2**63), 2**63 - 1), max_size=12),
    st.integers(0, 400),
)
def test_the_live_handlers_stop_at_the_first_call_past_the_bound(values: list[object], bound: int) -> None:
    """Against plain Python: prefix sums of the documented charge (a str its estimate, num.next 25 bytes)."""
    from chronicle_vm.core.calls import CallSite

    loaded = load_module(_MODULE)
    seen: list[int] = []
    log_info, num_next = negotiate(loaded.verified, _POLICY, _host(seen)).handlers(Limits(max_output_bytes=bound))
    total, expected = 0, 0
    for value in values:
        total += value_bytes(value) if isinstance(value, str) else 25
        if total > bound:
            break
        expected += 1
    made = 0
    try:
        for value in values:
            if isinstance(value, str):
                log_info([value], CallSite(0, 0, 0, made))
            else:
                num_next([value, False], CallSite(1, 0, 0, made))
            made += 1
    except ResourceLimitError as error:
        assert error.code == "limit.output-bytes" and made < len(values)
    assert made == expected == len(seen)


_STRUCT_SOURCE = """struct Wide { a_rather_long_field_name_one: int, a_rather_long_field_name_two: int }
cap sink.put(w: Wide);
pub fn main(times: int) -> int {
    for i in 0..times { sink.put(Wide { a_rather_long_field_name_one: i, a_rather_long_field_name_two: i }); }
    return times;
}
"""
_STRUCT_MODULE = compile_to_module(_STRUCT_SOURCE, "wide.chr").to_bytes()


@dataclasses.dataclass(frozen=True)
class Wide:
    a_rather_long_field_name_one: int
    a_rather_long_field_name_two: int


def _struct_host(seen: list[object]) -> Host:
    host = Host()

    @host.capability("sink.put")
    def put(w: Wide) -> None:
        seen.append(w)

    return host


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_a_struct_argument_charges_its_field_names_and_the_stop_replays(engine: str) -> None:
    """A struct leaves the VM as an object by field name: its names are bytes out, live and in replay alike."""
    module = load_module(_STRUCT_MODULE)
    with_names = value_bytes([0, 0], struct_item_bytes(module.module.structs))
    assert with_names > value_bytes([0, 0]) + 2 * len("a_rather_long_field_name_one")
    policy = Policy.from_toml('version = 1\n[capabilities."sink.put"]\nallow = true\n')
    seen: list[object] = []
    limits = Limits(max_output_bytes=3 * with_names)
    instance = instantiate(module, host=_struct_host(seen), policy=policy, engine=engine, limits=limits)  # type: ignore[arg-type]
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("main", 10, trace=True)
    assert caught.value.code == "limit.output-bytes" and len(seen) == 3  # without the names, all 10 would fit
    trace = error_trace(caught.value)
    assert trace is not None
    report = replay(trace.to_json(), _STRUCT_MODULE, engine=engine)  # type: ignore[arg-type]
    assert report.reproduced == "limit"
