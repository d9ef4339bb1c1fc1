"""Replay's fast paths give the precise path's answers: one `==` for arguments load_trace found to be ints and
strings only, a result answered as it is when load_trace found all of them of the declared type, and no
meters charged call by call when no call of the run can pass them.

Each fast path is compared with the path it stands for on forged traces: the same divergence (code, message,
details) or the same report, at the same event, on both engines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.errors import ChronicleError, ReplayError
from chronicle_vm.limits import Limits
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace import replay as replay_module
from chronicle_vm.trace.document import Trace, canonical_json, error_trace, load_trace
from chronicle_vm.trace.replay import ReplayReport, replay

ENGINES = ("reference", "auto")
CALLS = 6


def fixed_cost_module() -> Module:
    """`main(n) -> int`: for i in 0..n, total += num.next(i) and flag = bit.toggle(i < n); returns total.

    Two capabilities of different fixed costs (their names differ in length), neither with a text or array
    value: a run of it is replayed without meters."""
    code = (
        Instruction(Op.LOADK, 1, 0),  # i = 0
        Instruction(Op.LOADK, 2, 0),  # total = 0
        Instruction(Op.LOADK, 3, 1),  # one = 1
        Instruction(Op.LT, 4, 1, 0),  # loop: i < n
        Instruction(Op.JMPIFNOT, 4, 10),
        Instruction(Op.CAPCALL, 0, 1, 5),  # got = num.next(i)
        Instruction(Op.CAPCALL, 1, 4, 6),  # flag = bit.toggle(true)
        Instruction(Op.ADD, 2, 2, 5),
        Instruction(Op.ADD, 1, 1, 3),
        Instruction(Op.JMP, 3),
        Instruction(Op.RET, 2),
    )
    main = Function("main", True, 1, INT, (INT, INT, INT, INT, BOOL, INT, BOOL), code)
    return Module(
        constants=(0, 1),
        capabilities=(Capability("num.next", (INT,), INT), Capability("bit.toggle", (BOOL,), BOOL)),
        functions=(main,),
        source_map=SourceMap(("fast.chr",), (tuple(SourcePos(0, 3 + i, 5) for i in range(len(code))),)),
    )


MODULE = fixed_cost_module().to_bytes()
POLICY = 'version = 1\n[capabilities."num.next"]\nallow = true\n[capabilities."bit.toggle"]\nallow = true\n'


def record(limits: Limits | None = None) -> Trace:
    host = Host()

    @host.capability("num.next")
    def num_next(i: int) -> int:
        return i + 1

    @host.capability("bit.toggle")
    def bit_flip(flag: bool) -> bool:
        return not flag

    instance = instantiate(MODULE, host=host, policy=Policy.from_toml(POLICY), limits=limits or Limits())
    try:
        trace = instance.call("main", CALLS, trace=True).trace
    except ChronicleError as exc:
        trace = error_trace(exc)
    assert trace is not None
    return trace


TRACE = record()


def edit(change: Callable[[dict[str, Any]], object], trace: Trace = TRACE) -> bytes:
    doc = trace.to_dict()
    change(doc)
    return canonical_json(doc)


def outcome_of(data: bytes, engine: str) -> ReplayReport | tuple[str, str, dict[str, Any]]:
    """The report, or the error's code, message and details."""
    try:
        return replay(data, MODULE, engine=engine)  # type: ignore[arg-type]
    except ReplayError as exc:
        return exc.code, exc.message, exc.details


def slow_outcome(data: bytes, engine: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The same replay with the fast paths off: the meters charged on every call, the argument types checked."""
    with monkeypatch.context() as patch:
        patch.setattr(replay_module._Replayer, "_unmetered", lambda self: False)
        patch.setattr(Trace, "exact_args", lambda self: frozenset())
        patch.setattr(Trace, "result_types", lambda self: {})
        return outcome_of(data, engine)


@pytest.fixture
def unmetered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every `_unmetered` decision the replays under test take."""
    seen: list[bool] = []
    decide = replay_module._Replayer._unmetered

    def spy(self: Any) -> bool:
        seen.append(decide(self))
        return seen[-1]

    monkeypatch.setattr(replay_module._Replayer, "_unmetered", spy)
    return seen


def test_load_trace_learns_which_capabilities_record_only_ints_and_strings() -> None:
    loaded = load_trace(TRACE.to_json())
    assert loaded.exact_args() == {"num.next"}  # bit.toggle's arguments are bools
    assert TRACE.exact_args() == frozenset()  # a recorded trace's events were never read

    def one_bool(doc: dict[str, Any]) -> None:
        doc["events"][-2]["args"] = [True]  # the last num.next call

    assert load_trace(edit(one_bool)).exact_args() == frozenset()


@pytest.mark.parametrize("engine", ENGINES)
def test_an_unedited_trace_replays_on_the_fast_paths(engine: str, unmetered: list[bool]) -> None:
    report = replay(TRACE.to_json(), MODULE, engine=engine)  # type: ignore[arg-type]
    assert report.exact and report.events == 2 * CALLS
    assert unmetered == [True]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("seq", "recorded"),
    [
        (2, [True]),  # num.next(1): True == 1 in Python, but it is a bool
        (0, [False]),  # num.next(0)
        (2, [1.0]),  # equal to the int too
        (0, [-0.0]),
        (0, [0.0]),
        (2 * CALLS - 2, [CALLS]),  # off by one, at the last num.next call only
        (2 * CALLS - 2, [float(CALLS - 1)]),
        (2 * CALLS - 2, [str(CALLS - 1)]),
        (2 * CALLS - 2, [CALLS - 1, 0]),
        (2 * CALLS - 2, []),
    ],
)
def test_an_argument_edited_to_an_equal_looking_value_diverges_there(
    engine: str, seq: int, recorded: list[object], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert TRACE.events[seq]["capability"] == "num.next"
    live = TRACE.events[seq]["args"]

    def change(doc: dict[str, Any]) -> None:
        doc["events"][seq]["args"] = recorded

    data = edit(change)
    try:
        fast = replay(data, MODULE, engine=engine)  # type: ignore[arg-type]
    except ReplayError as exc:
        assert exc.code in ("replay.divergence", "replay.bad-value", "replay.schema")
        if exc.code == "replay.divergence":
            assert (exc.details["seq"], exc.details["actual"]["args"], exc.details["expected"]["args"]) == (
                seq,
                live,
                recorded,
            )
    else:
        pytest.fail(f"the edited trace replayed: {fast}")
    assert outcome_of(data, engine) == slow_outcome(data, engine, monkeypatch)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("every", [False, True])
def test_an_int_recorded_for_a_bool_diverges(engine: str, every: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the last bit.toggle call (its argument is true), or at every one: then load_trace finds its recorded
    arguments all ints, and only its declared bool parameter tells `1` from `true`."""
    first = 1 if every else 2 * CALLS - 1

    def change(doc: dict[str, Any]) -> None:
        for event in doc["events"][first::2]:
            assert event["capability"] == "bit.toggle"
            event["args"] = [1]

    data = edit(change)
    assert ("bit.toggle" in load_trace(data).exact_args()) is every
    got = outcome_of(data, engine)
    assert isinstance(got, tuple) and got[0] == "replay.divergence" and got[2]["seq"] == first
    assert got == slow_outcome(data, engine, monkeypatch)


def _stop(code: str, category: str = "limit") -> dict[str, Any]:
    return {"category": category, "code": code, "message": f"forged {code}"}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("at", [0, 5, 2 * CALLS - 1])
@pytest.mark.parametrize(
    "error",
    [
        _stop("limit.output-bytes"),  # a bytes-out stop within the bound: the message gives the bytes sent
        _stop("limit.trace-bytes"),  # a budget stop within it: the message gives the bytes charged
        _stop("limit.capability-quota"),  # a quota stop without a quota: the message gives the call count
        _stop("runtime.capability-failed", "runtime"),  # a host failure: the run ends there
    ],
)
def test_a_forged_stop_is_judged_as_the_meters_would(
    engine: str, at: int, error: dict[str, Any], monkeypatch: pytest.MonkeyPatch, unmetered: list[bool]
) -> None:
    def change(doc: dict[str, Any]) -> None:
        event = doc["events"][at]
        del event["result"]
        event["error"] = error
        del doc["events"][at + 1 :]
        doc["outcome"] = {
            "status": "error",
            "error": {**{k: error[k] for k in ("category", "code", "message")}, "location": event["location"]},
            "instructions": event["instructions"],
        }

    data = edit(change)
    fast = outcome_of(data, engine)
    assert unmetered == [True]  # the fast path was taken
    assert fast == slow_outcome(data, engine, monkeypatch)
    if error["code"] in ("limit.output-bytes", "limit.trace-bytes", "limit.capability-quota"):
        assert isinstance(fast, tuple) and fast[0] == "replay.divergence" and fast[2]["seq"] == at
    if error["code"] == "limit.capability-quota":  # the call count, worked out here: events alternate
        name = TRACE.events[at]["capability"]
        assert f"a quota stop at call {at // 2 + 1} of {name}, which has no quota" in fast[1]


@pytest.mark.parametrize("engine", ENGINES)
def test_the_bytes_sent_and_charged_at_a_forged_stop_are_the_runs(engine: str) -> None:
    """The figures `_settle` gives, worked out here from the recorder's own charges (one call of each
    capability, then num.next again: three calls)."""
    at = 2
    totals: dict[str, int] = {}
    for code, detail in (("limit.output-bytes", "sent"), ("limit.trace-bytes", "spent")):

        def change(doc: dict[str, Any], code: str = code) -> None:
            event = doc["events"][at]
            del event["result"]
            event["error"] = _stop(code)
            del doc["events"][at + 1 :]

        with pytest.raises(ReplayError) as caught:
            replay(edit(change), MODULE, engine=engine)  # type: ignore[arg-type]
        totals[detail] = caught.value.details[detail]
    budget = replay_module.TraceBudget(fixed_cost_module(), 1, Limits().max_instructions)
    assert totals["spent"] == 2 * budget.per_call[0] + budget.per_call[1]
    fixed = [replay_module.call_plan(c.params)[0] for c in fixed_cost_module().capabilities]
    assert totals["sent"] == 2 * fixed[0] + fixed[1] > 0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("field", ["max_trace_bytes", "max_output_bytes"])
def test_a_run_that_can_pass_a_meter_is_metered_and_stops_at_the_recorded_call(
    engine: str, field: str, unmetered: list[bool]
) -> None:
    budget = replay_module.TraceBudget(fixed_cost_module(), 1, Limits().max_instructions)
    costs = budget.per_call if field == "max_trace_bytes" else [20, 5]  # an int's bytes out, a bool's
    assert [replay_module.call_plan(c.params)[0] for c in fixed_cost_module().capabilities] == [20, 5]
    bound = 3 * costs[0] + 2 * costs[1]  # room for five calls: the sixth, of bit.toggle, passes the bound
    trace = record(Limits(**{field: bound}))
    stop = "limit.trace-bytes" if field == "max_trace_bytes" else "limit.output-bytes"
    assert (len(trace.events), trace.events[5]["error"]["code"]) == (6, stop)
    report = replay(trace.to_json(), MODULE, engine=engine)  # type: ignore[arg-type]
    assert report.exact and report.reproduced == "limit" and report.events == 6
    assert unmetered == [False]

    def within(doc: dict[str, Any]) -> None:  # the same trace with room for the sixth call: no stop due there
        doc["provenance"]["limits"][field] = bound + costs[1]

    with pytest.raises(ReplayError) as caught:
        replay(edit(within, trace), MODULE, engine=engine)  # type: ignore[arg-type]
    assert (caught.value.code, caught.value.details["seq"]) == ("replay.divergence", 5)


def test_load_trace_learns_the_one_type_of_each_capabilitys_results() -> None:
    assert load_trace(TRACE.to_json()).result_types() == {"num.next": int, "bit.toggle": bool}
    assert TRACE.result_types() == {}

    def one_failure(doc: dict[str, Any]) -> None:
        event = doc["events"][4]
        del event["result"]
        event["error"] = _stop("runtime.capability-failed", "runtime")
        del doc["events"][5:]  # a failed call ends the run

    assert load_trace(edit(one_failure)).result_types() == {"bit.toggle": bool}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("capability", "recorded"),
    [
        ("num.next", True),  # every num.next result a bool: one type, not the declared one
        ("num.next", "7"),
        ("num.next", None),
        ("bit.toggle", 1),  # every bit.toggle result an int, equal to True
        ("bit.toggle", 0),
    ],
)
def test_results_all_of_another_type_are_refused(
    engine: str, capability: str, recorded: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    def change(doc: dict[str, Any]) -> None:
        for event in doc["events"]:
            if event["capability"] == capability:
                event["result"] = recorded

    data = edit(change)
    assert load_trace(data).result_types()[capability] is type(recorded)
    got = outcome_of(data, engine)
    assert isinstance(got, tuple) and got[0] == "replay.bad-value"
    assert got[2]["seq"] == (0 if capability == "num.next" else 1)
    assert got == slow_outcome(data, engine, monkeypatch)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seq", [0, 2 * CALLS - 4])
def test_one_result_of_another_type_among_many_is_refused(
    engine: str, seq: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"][seq]["result"] = True  # a num.next result; the others are ints

    data = edit(change)
    assert "num.next" not in load_trace(data).result_types()
    got = outcome_of(data, engine)
    assert isinstance(got, tuple) and (got[0], got[2]["seq"]) == ("replay.bad-value", seq)
    assert got == slow_outcome(data, engine, monkeypatch)
