"""Exact replay: record-then-replay for every way a run ends, each divergence kind, and a property over programs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.trace_programs import STEP_KINDS, cycle, make_host, plugin_module, policy, steps_module
from chronicle_vm.errors import ChronicleError, ReplayError
from chronicle_vm.limits import Limits
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.document import Trace, canonical_json, error_trace, slice_trace
from chronicle_vm.trace.replay import replay

MODULE = plugin_module().to_bytes()
SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(
    json.loads((Path(__file__).resolve().parents[3] / "docs" / "trace.schema.json").read_text(encoding="utf-8"))
)
ENGINES = ("reference", "auto")


def record(
    entry: str,
    *args: object,
    quota: int | None = None,
    max_instructions: int = 10_000,
    engine: str = "reference",
    module: bytes = MODULE,
    **host: Any,
) -> Trace:
    inst = instantiate(
        load_module(module),
        host=make_host(**host),
        policy=policy(quota),
        limits=Limits(max_instructions=max_instructions),
        engine=engine,  # type: ignore[arg-type]
    )
    try:
        trace = inst.call(entry, *args, trace=True).trace
    except ChronicleError as exc:
        trace = error_trace(exc)
    assert trace is not None
    return trace


def _broken(i: int) -> int:
    raise RuntimeError("disk on fire")


CASES: list[tuple[str, tuple[object, ...], dict[str, Any], str]] = [
    ("main", (4,), {}, "returned"),
    ("rows", (3,), {"rows": lambda xs: ["p", "q"]}, "returned"),
    ("quiet", (), {}, "returned"),
    ("boom", (2,), {}, "trap"),
    ("halt", (2,), {}, "trap"),
    ("spin", (1,), {"max_instructions": 77}, "limit"),
    ("spin", (1,), {"quota": 5}, "limit"),  # a quota is a limit (exit 14), not a host failure
    ("boom", (2,), {"next_value": _broken}, "capability-error"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("entry", "args", "options", "reproduced"), CASES)
def test_record_then_replay_is_exact(
    entry: str, args: tuple[object, ...], options: dict[str, Any], reproduced: str, engine: str
) -> None:
    trace = record(entry, *args, **options)
    report = replay(trace.to_json(), MODULE, engine=engine)  # type: ignore[arg-type]
    assert report.exact
    assert report.reproduced == reproduced
    assert report.events == len(trace.events)
    assert json.loads(canonical_json(report.outcome)) == json.loads(canonical_json(trace.outcome))
    assert report.instructions == trace.outcome["instructions"]
    assert report.trace_sha256 == trace.digest()
    assert report.to_dict()["exact"] is True


def test_limit_replays_to_the_same_instruction() -> None:
    trace = record("spin", 1, max_instructions=77)
    assert trace.events[-1]["kind"] == "limit"
    report = replay(trace.to_json(), MODULE)
    assert (report.reproduced, report.instructions, report.outcome["error"]["code"]) == (
        "limit",
        77,
        "limit.instructions",
    )


def test_replay_never_calls_the_host() -> None:
    calls: list[int] = []

    def counted(i: int) -> int:
        calls.append(i)
        return i + 1

    trace = record("main", 5, next_value=counted)
    assert len(calls) == 5
    replay(trace.to_json(), MODULE)
    replay(trace, MODULE, engine="reference")
    assert len(calls) == 5


def edit(trace: Trace, change: Callable[[dict[str, Any]], object]) -> bytes:
    doc = trace.to_dict()
    change(doc)
    return canonical_json(doc)


def replay_error(data: bytes, module: bytes = MODULE) -> ReplayError:
    with pytest.raises(ReplayError) as caught:
        replay(data, module, engine="reference")
    return caught.value


MAIN = record("main", 3)  # num.next(0), num.next(1), num.next(2), log.info("30"); returns 30


def test_divergence_on_a_different_capability() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"][1]["capability"] = "grid.rows"

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.divergence"
    assert error.details["seq"] == 1
    assert error.details["expected"] == {"capability": "grid.rows", "args": [1], "instructions": 12}
    assert error.details["actual"] == {"capability": "num.next", "args": [1], "instructions": 12}
    assert error.details["location"] == {"function": "main", "index": 5, "file": "plugin.chr", "line": 6, "col": 5}
    assert "event 1" in error.message and "plugin.chr:6:5" in error.message


@pytest.mark.parametrize("recorded_args", [[7], [True], ["1"], [], [1, 1]])
def test_divergence_on_different_arguments(recorded_args: list[object]) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"][1]["args"] = recorded_args

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.divergence"
    assert (error.details["seq"], error.details["actual"]["args"]) == (1, [1])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("entry", "arg", "seq", "recorded_args"),
    [
        ("main", 3, 1, [True]),  # a bool never stands for an int, though True == 1
        ("main", 3, 0, [False]),
        ("main", 3, 3, [30]),  # an int never stands for a str
        ("rows", 1, 0, [[True]]),  # nor inside an array
        ("rows", 1, 0, [[1, 1]]),
        ("rows", 1, 0, [[]]),
        ("rows", 1, 0, [1]),
    ],
)
def test_equal_looking_arguments_of_another_type_diverge_on_both_engines(
    engine: str, entry: str, arg: int, seq: int, recorded_args: list[object]
) -> None:
    trace = record(entry, arg, rows=lambda xs: ["a"])

    def change(doc: dict[str, Any]) -> None:
        doc["events"][seq]["args"] = recorded_args

    with pytest.raises(ReplayError) as caught:
        replay(edit(trace, change), MODULE, engine=engine)  # type: ignore[arg-type]
    error = caught.value
    assert (error.code, error.details["seq"]) == ("replay.divergence", seq)
    assert error.details["expected"]["args"] == recorded_args
    assert error.details["actual"]["args"] == trace.events[seq]["args"]


def test_divergence_on_a_different_instruction_count() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"][2]["instructions"] = 17

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.divergence"
    assert (
        error.details["seq"],
        error.details["expected"]["instructions"],
        error.details["actual"]["instructions"],
    ) == (
        2,
        17,
        18,
    )


def test_a_different_recorded_result_shows_where_the_run_parts_ways() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"][0]["result"] = 5  # the sum changes, so the log call's argument does

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.divergence"
    assert error.details["seq"] == 3
    assert (error.details["expected"]["args"], error.details["actual"]["args"]) == (["30"], ["35"])


def test_fewer_events_is_a_missing_event() -> None:
    def change(doc: dict[str, Any]) -> None:
        del doc["events"][3]

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.missing-event"
    assert error.details["seq"] == 3
    assert error.details["actual"] == {"capability": "log.info", "args": ["30"], "instructions": 25}


def test_more_events_are_leftover_events() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"].append(dict(doc["events"][0], seq=4))

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.leftover-events"
    assert (error.details["seq"], error.details["remaining"]) == (4, 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("value", 31), ("value", "30"), ("value", None), ("instructions", 25)],
)
def test_a_different_returned_outcome(field: str, value: object) -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["outcome"][field] = value

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.outcome"
    assert error.details["actual"] == {"status": "returned", "value": 30, "instructions": 26}


def test_a_different_trap_code_location_or_count() -> None:
    trace = record("boom", 2)
    for field, value in (("code", "runtime.trap"), ("instructions", 4), ("location", None)):

        def change(doc: dict[str, Any], field: str = field, value: object = value) -> None:
            doc["events"][-1][field] = value

        error = replay_error(edit(trace, change))
        assert error.code == "replay.outcome", field
        assert error.details["actual"]["code"] == "runtime.division-by-zero"
    # the outcome alone edited
    error = replay_error(edit(trace, lambda doc: doc["outcome"].update(instructions=2)))
    assert error.code == "replay.outcome"


def test_a_limit_at_another_instruction_is_not_reproduced() -> None:
    trace = record("spin", 1, max_instructions=77)

    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["limits"]["max_instructions"] = 79

    error = replay_error(edit(trace, change))
    assert error.code == "replay.divergence"  # with more fuel the run makes a call where the limit was recorded
    assert error.details["seq"] == len(trace.events) - 1
    assert error.details["expected"] == {"kind": "limit", "code": "limit.instructions", "instructions": 77}


def test_a_recorded_trap_the_run_does_not_reach() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["events"].append(
            {"seq": 4, "kind": "trap", "code": "runtime.trap", "message": "m", "instructions": 26, "location": None}
        )

    error = replay_error(edit(MAIN, change))
    assert error.code == "replay.outcome"
    assert error.details["expected"]["code"] == "runtime.trap"


def test_a_trap_the_trace_does_not_record() -> None:
    trace = record("boom", 2)

    def change(doc: dict[str, Any]) -> None:
        doc["events"].pop()

    error = replay_error(edit(trace, change))
    assert error.code == "replay.outcome"
    assert error.details["actual"]["code"] == "runtime.division-by-zero"


def test_module_digest() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["module_sha256"] = "0" * 64

    error = replay_error(edit(MAIN, change))
    assert (error.code, error.details["expected"]) == ("replay.module-digest", "0" * 64)
    other = steps_module([("call", 0)]).to_bytes()
    error = replay_error(MAIN.to_json(), other)
    assert error.code == "replay.module-digest"
    assert error.details["expected"] == MAIN.provenance["module_sha256"]


def test_recorded_values_are_checked_against_declared_types() -> None:
    for bad in ("ten", True, [1], 2**63 - 1 + 0):

        def change(doc: dict[str, Any], bad: object = bad) -> None:
            doc["events"][0]["result"] = bad

        data = edit(MAIN, change)
        if bad == 2**63 - 1:
            assert replay_error(data).code == "replay.divergence"  # a valid int: the sum changes
            continue
        error = replay_error(data)
        assert (error.code, error.details["seq"]) == ("replay.bad-value", 0)
    # a void capability that records a result
    error = replay_error(edit(MAIN, lambda doc: doc["events"][3].update(result=1)))
    assert error.code == "replay.bad-value"
    # an array longer than the recorded max_array_len
    rows = record("rows", 1, rows=lambda xs: ["a"])

    def longer(doc: dict[str, Any]) -> None:
        doc["provenance"]["limits"]["max_array_len"] = 2
        doc["events"][0]["result"] = ["a", "b", "c"]

    assert replay_error(edit(rows, longer)).code == "replay.bad-value"


def test_recorded_quota_bounds_the_recorded_calls() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["capabilities"][0]["max_calls"] = 2

    error = replay_error(edit(MAIN, change))
    assert (error.code, error.details["seq"]) == ("replay.divergence", 2)
    assert "quota" in error.message


def test_provenance_must_match_the_module() -> None:
    def change(doc: dict[str, Any]) -> None:
        doc["provenance"]["capabilities"][0]["signature"] = "(str) -> int"

    assert replay_error(edit(MAIN, change)).code == "replay.provenance"

    def refused(doc: dict[str, Any]) -> None:
        doc["provenance"]["capabilities"][1]["decision"] = "denied"

    assert replay_error(edit(MAIN, refused)).code == "replay.provenance"


def test_entry_must_exist_and_fit() -> None:
    error = replay_error(edit(MAIN, lambda doc: doc["entry"].update(function="nope")))
    assert error.code == "replay.entry"
    error = replay_error(edit(MAIN, lambda doc: doc["entry"].update(args=["three"])))
    assert error.code == "replay.entry"


def test_missing_limits() -> None:
    error = replay_error(edit(MAIN, lambda doc: doc["provenance"].pop("limits")))
    assert error.code == "replay.missing-limits"


def test_slices_are_refused() -> None:
    for start, end in ((0, 4), (1, 2), (0, 0)):
        error = replay_error(slice_trace(MAIN.to_json(), start, end))
        assert error.code == "replay.sliced"
        assert error.details["range"] == [start, end]


def test_module_must_be_bytes() -> None:
    with pytest.raises(ChronicleError) as caught:
        replay(MAIN.to_json(), "not bytes")  # type: ignore[arg-type]
    assert caught.value.code == "usage.bad-arguments"


_STEPS = st.lists(st.tuples(st.sampled_from(STEP_KINDS), st.integers(-(2**63), 2**63 - 1)), max_size=14)
_RESULTS = st.lists(st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, 1, -1]), max_size=6)


@given(
    steps=_STEPS,
    results=_RESULTS,
    start=st.integers(-(2**63), 2**63 - 1),
    max_instructions=st.integers(0, 40),
    quota=st.none() | st.integers(0, 4),
    engine=st.sampled_from(ENGINES),
)
def test_record_then_replay_always_succeeds(
    steps: list[tuple[str, int]],
    results: list[int],
    start: int,
    max_instructions: int,
    quota: int | None,
    engine: str,
) -> None:
    module = steps_module(steps).to_bytes()
    trace = record(
        "main",
        start,
        quota=quota,
        max_instructions=max_instructions,
        engine=engine,
        module=module,
        next_value=cycle(results),
        rows=lambda xs: [str(x) for x in xs] * (len(results) % 3),
    )
    assert trace.to_json() == canonical_json(trace.doc)  # the recorder's direct writer is canonical
    SCHEMA_VALIDATOR.validate(json.loads(trace.to_json()))
    report = replay(trace.to_json(), module, engine=engine)  # type: ignore[arg-type]
    assert report.exact
    assert canonical_json(report.outcome) == canonical_json(trace.outcome)
    other = "reference" if engine == "auto" else "auto"
    assert replay(trace, module, engine=other).exact  # type: ignore[arg-type]


def test_hand_built_trace_objects_are_checked_before_use() -> None:
    doc = MAIN.to_dict()
    doc["events"][0]["args"] = (0,)  # a tuple is not JSON's array
    with pytest.raises(ReplayError) as caught:
        replay(Trace(doc), MODULE)
    assert (caught.value.code, caught.value.details["path"]) == ("replay.schema", "$.events[0].args")
    with pytest.raises(ReplayError):
        slice_trace(Trace({"format": "nope"}), 0, 0)
    assert replay(Trace(MAIN.to_dict()), MODULE).exact


def test_report_dict_and_engine_names() -> None:
    report = replay(MAIN.to_json(), MODULE, engine="reference")
    assert report.to_dict() == {
        "exact": True,
        "reproduced": "returned",
        "outcome": {"status": "returned", "value": 30, "instructions": 26},
        "events": 4,
        "instructions": 26,
        "module_sha256": MAIN.provenance["module_sha256"],
        "trace_sha256": MAIN.digest(),
    }
    with pytest.raises(ChronicleError) as caught:
        replay(MAIN.to_json(), MODULE, engine="jit")  # type: ignore[arg-type]
    assert caught.value.code == "usage.engine"
