"""Bytes out: a traced run's capability calls are bounded in trace bytes; the stopped trace replays and loads."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_lang import compile_to_module
from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.errors import ResourceLimitError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.budget import MAX_RECORDED_BYTES, value_bytes
from chronicle_vm.trace.document import MAX_TRACE_BYTES, error_trace, load_trace
from chronicle_vm.trace.replay import replay

_SOURCE = """cap log.info(msg: str);
pub fn main(piece: str, size: int, times: int) -> int {
    let s = repeat(piece, size);
    for i in 0..times { log.info(s); }
    return times;
}
"""
_MODULE = compile_to_module(_SOURCE, "bomb.chr").to_bytes()
_POLICY = Policy.from_toml('version = 1\n[capabilities."log.info"]\nallow = true\n')


#: The bytes-out bound lifted, so that the trace budget is the bound these tests reach (test_output_bytes.py has
#: the other).
_LIMITS = Limits(max_output_bytes=HARD_LIMITS.max_output_bytes)


def _run(piece: str, size: int, times: int, engine: str = "auto", limits: Limits = _LIMITS) -> tuple[object, bytes]:
    host = Host()
    logged: list[int] = []

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        logged.append(len(msg))

    instance = instantiate(load_module(_MODULE), host=host, policy=_POLICY, engine=engine, limits=limits)  # type: ignore[arg-type]
    try:
        result = instance.call("main", piece, size, times, trace=True)
    except ResourceLimitError as error:
        trace = error_trace(error)
        assert trace is not None
        return error, trace.to_json()
    assert result.trace is not None
    return result.value, result.trace.to_json()


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_a_log_bomb_stops_at_the_trace_budget_and_replays(engine: str) -> None:
    started = time.monotonic()
    error, data = _run("x", 1_000_000, 1_000, engine)
    assert time.monotonic() - started < 20  # before: 1.0 GB of trace, 18 s, 2.96 GB RSS
    assert isinstance(error, ResourceLimitError) and error.code == "limit.trace-bytes"
    assert MAX_RECORDED_BYTES < len(data) < MAX_TRACE_BYTES  # one call over, and still under what replay reads
    report = replay(data, _MODULE, engine=engine)  # type: ignore[arg-type]
    assert report.exact and report.reproduced == "limit"  # a limit stop at a call, like a quota (issue 19)
    assert report.outcome["error"]["code"] == "limit.trace-bytes"


def test_both_engines_stop_at_the_same_call() -> None:
    first = _run("é", 300_000, 100, "reference")[1]
    second = _run("é", 300_000, 100, "compiled")[1]
    assert first == second


def test_a_run_under_the_budget_is_untouched() -> None:
    value, data = _run("x", 1_000, 100)
    assert value == 100
    assert replay(data, _MODULE).exact


def test_brackets_inside_strings_are_not_counted_as_containers() -> None:
    value, data = _run("[", 1_000_000, 5)  # 5M `[` characters in strings, a handful of real arrays
    assert value == 5
    assert len(load_trace(data).events) == 5
    assert replay(data, _MODULE).exact


@pytest.mark.parametrize(
    "value",
    ["", "plain", 'quote"back\\slash', "\x00\x1f\x7f", "é☃\U0001f600", 0, -(2**63), True, [], [["a", 1], []]],
)
def test_the_charge_is_an_upper_bound_of_the_canonical_json(value: object) -> None:
    from chronicle_vm.trace.document import canonical_json

    assert value_bytes(value) >= len(canonical_json(value))


_VALUES = st.recursive(
    st.text() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.booleans(),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=12,
)


@given(_VALUES)
def test_the_charge_bounds_the_canonical_json_of_any_value(value: object) -> None:
    from chronicle_vm.trace.document import canonical_json

    assert value_bytes(value) >= len(canonical_json(value))


def test_containers_are_counted_outside_strings_escapes_included(monkeypatch: pytest.MonkeyPatch) -> None:
    import chronicle_vm.trace.document as trace_module
    from chronicle_vm.errors import ReplayError

    value, data = _run('\\"[{\\', 3, 2)  # strings holding `\`, `"`, `[` and `{`, escaped in the JSON
    real = len(load_trace(data).events)
    assert value == 2 and real == 2
    text = data.decode("utf-8")
    containers = text.count("[") + text.count("{")
    inside = 2 * 3 * 2 + 2  # two logged strings of three copies of `[` and `{`, and the entry's one copy
    monkeypatch.setattr(trace_module, "MAX_TRACE_CONTAINERS", containers - inside)
    assert len(load_trace(data).events) == 2  # the real containers fit exactly
    monkeypatch.setattr(trace_module, "MAX_TRACE_CONTAINERS", containers - inside - 1)
    with pytest.raises(ReplayError) as caught:
        load_trace(data)
    assert caught.value.code == "replay.too-large"


def _edited(data: bytes, name: str, value: int) -> bytes:
    import json

    from chronicle_vm.trace.document import canonical_json

    doc = json.loads(data)
    doc["provenance"]["limits"][name] = value
    return canonical_json(doc)


def test_replay_charges_the_trace_budget_again() -> None:
    from chronicle_vm.errors import ReplayError

    error, data = _run("x", 10_000, 100, limits=Limits(max_trace_bytes=50_000))
    assert isinstance(error, ResourceLimitError) and error.code == "limit.trace-bytes"
    assert replay(data, _MODULE).exact
    for forged in (10**9, 20_000):  # a stop within the budget (log.info has no result to blame); a call past it
        with pytest.raises(ReplayError) as caught:
            replay(_edited(data, "max_trace_bytes", forged), _MODULE)
        assert caught.value.code == "replay.divergence", forged


def test_a_stop_caused_by_a_result_replays() -> None:
    source = (
        "cap kv.get(k: str) -> str;\n"
        'pub fn main() -> int { let t = 0; for i in 0..10 { t = t + len(kv.get("k")); } return t; }\n'
    )
    module = compile_to_module(source, "get.chr").to_bytes()
    host = Host()

    @host.capability("kv.get")
    def kv_get(k: str) -> str:
        return "v" * 20_000

    policy = Policy.from_toml('version = 1\n[capabilities."kv.get"]\nallow = true\n')
    instance = instantiate(load_module(module), host=host, policy=policy, limits=Limits(max_trace_bytes=50_000))
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("main", trace=True)
    trace = error_trace(caught.value)
    assert trace is not None and len(trace.events) == 3  # two results kept; the third passes the budget
    assert "result" not in trace.events[-1]
    report = replay(trace.to_json(), module)
    assert report.exact and report.outcome["error"]["code"] == "limit.trace-bytes"


def _charge_per_call(module: bytes, limits: Limits, *values: object) -> int:
    """What one call of the module's first capability with these argument and result values costs the budget."""
    from chronicle_vm.trace.budget import TraceBudget

    effective = Policy.from_toml('version = 1\n[capabilities."log.info"]\nallow = true\n').effective_limits(limits)
    budget = TraceBudget(load_module(module).module, effective.max_trace_bytes, effective.max_instructions)
    return budget.per_call[0] + sum(value_bytes(value) for value in values)


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_a_budget_of_exactly_the_calls_bytes_is_enough_and_one_byte_less_stops_the_last_call(engine: str) -> None:
    charge = _charge_per_call(_MODULE, _LIMITS, "ab" * 50)
    exact = Limits(max_output_bytes=HARD_LIMITS.max_output_bytes, max_trace_bytes=7 * charge)
    value, data = _run("ab", 50, 7, engine, exact)
    assert value == 7 and len(load_trace(data).events) == 7
    short = Limits(max_output_bytes=HARD_LIMITS.max_output_bytes, max_trace_bytes=7 * charge - 1)
    error, stopped = _run("ab", 50, 7, engine, short)
    assert isinstance(error, ResourceLimitError) and error.code == "limit.trace-bytes"
    events = load_trace(stopped).events
    assert len(events) == 7 and events[-1]["error"]["code"] == "limit.trace-bytes"  # the 7th call, recorded failed
    assert [event["args"] for event in events] == [["ab" * 50]] * 7
    assert replay(stopped, _MODULE, engine=engine).exact  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_a_result_that_fills_the_budget_exactly_is_kept_and_one_byte_more_stops_its_call(engine: str) -> None:
    source = (
        "cap kv.get(k: str) -> str;\n"
        'pub fn main() -> int { let t = 0; for i in 0..4 { t = t + len(kv.get("k")); } return t; }\n'
    )
    module = compile_to_module(source, "get.chr").to_bytes()
    host = Host()
    asked: list[str] = []

    @host.capability("kv.get")
    def kv_get(k: str) -> str:
        asked.append(k)
        return "v" * 300

    policy = Policy.from_toml('version = 1\n[capabilities."kv.get"]\nallow = true\n')
    charge = _charge_per_call(module, Limits(), "k", "v" * 300)
    result = value_bytes("v" * 300)
    # (budget, host calls, events): all four results fit exactly; the 4th result passes it by one byte; the 4th
    # call's arguments fill it exactly and its result passes it; its arguments pass it by one byte (no host call).
    cases = (
        (4 * charge, 4, None),
        (4 * charge - 1, 4, 4),
        (4 * charge - result, 4, 4),
        (4 * charge - result - 1, 3, 4),
    )
    for budget, calls, events in cases:
        asked.clear()
        instance = instantiate(
            load_module(module), host=host, policy=policy, limits=Limits(max_trace_bytes=budget), engine=engine
        )  # type: ignore[arg-type]
        if events is None:
            assert instance.call("main", trace=True).value == 1200 and len(asked) == calls
            continue
        with pytest.raises(ResourceLimitError) as caught:
            instance.call("main", trace=True)
        trace = error_trace(caught.value)
        assert caught.value.code == "limit.trace-bytes" and trace is not None
        assert len(asked) == calls, budget
        assert len(trace.events) == events and "result" not in trace.events[-1]
        assert trace.events[-1]["error"]["code"] == "limit.trace-bytes"
        assert replay(trace.to_json(), module, engine=engine).exact  # type: ignore[arg-type]
