"""Batch replay (chronicle_vm.trace.audit): one verdict per trace, in order, whatever each trace or module holds."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest

from chronicle_testing.trace_programs import make_host, plugin_module, policy, steps_module
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.audit import Auditor, audit_trace, audit_traces
from chronicle_vm.trace.document import error_trace, slice_trace
from chronicle_vm.trace.replay import replay

MODULE = plugin_module().to_bytes()
DIGEST = hashlib.sha256(MODULE).hexdigest()
OTHER = steps_module([("call", 1), ("add", 2)]).to_bytes()


def record(entry: str, *args: object, module: bytes = MODULE, max_instructions: int = 10_000) -> bytes:
    inst = instantiate(
        load_module(module), host=make_host(), policy=policy(), limits=Limits(max_instructions=max_instructions)
    )
    try:
        trace = inst.call(entry, *args, trace=True).trace
    except ChronicleError as exc:
        trace = error_trace(exc)
    assert trace is not None
    return trace.to_json()


def edited(trace: bytes, change: dict[str, object]) -> bytes:
    document = json.loads(trace)
    for path, value in change.items():
        target = document
        *parents, last = path.split("/")
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        target[last] = value
    return json.dumps(document).encode()


def test_every_kind_of_trace_gets_its_own_verdict_in_input_order() -> None:
    good = record("main", 3)
    trapped = record("boom", 2)
    limited = record("spin", 1, max_instructions=50)
    garbage = b"CHRM not really a module"
    traces: list[bytes | str] = [
        good,
        edited(good, {"events/1/result": 99}),  # num.next answered differently: the logged sum differs
        good[: len(good) // 2],
        trapped.decode(),
        "not json at all",
        slice_trace(good.decode(), 0, 1),
        record("main", 2, module=OTHER),
        edited(good, {"provenance/module_sha256": hashlib.sha256(garbage).hexdigest()}),
        limited,
    ]
    lookup = {DIGEST: MODULE, hashlib.sha256(garbage).hexdigest(): garbage}
    results = list(audit_traces(traces, lookup, engine="reference"))

    assert [r.index for r in results] == list(range(len(traces)))
    assert [r.status for r in results] == [
        "exact",
        "diverged",
        "malformed",
        "exact",
        "malformed",
        "malformed",
        "module-missing",
        "module-invalid",
        "exact",
    ]
    assert [r.reproduced for r in results if r.exact] == ["returned", "trap", "limit"]
    diverged = results[1]
    assert diverged.error is not None and diverged.error["code"] == "replay.divergence"
    assert diverged.event == 3  # the log.info of the sum, after the three num.next calls
    assert results[2].error is not None and results[2].error["code"] == "replay.malformed-json"
    assert results[5].error is not None and results[5].error["code"] == "replay.sliced"
    assert results[6].error is not None and results[6].error["code"] == "replay.module-missing"
    assert results[6].module_sha256 == hashlib.sha256(OTHER).hexdigest()
    assert results[7].error is not None and results[7].error["category"] == "decode"
    assert results[0].trace_sha256 == hashlib.sha256(good).hexdigest()
    assert results[0].outcome == json.loads(good)["outcome"]  # the recorded outcome, with every verdict
    assert results[1].outcome == json.loads(good)["outcome"] and results[2].outcome is None
    assert results[3].outcome is not None and results[3].outcome["status"] == "error"
    for result in results:
        json.dumps(result.to_dict())  # every verdict is JSON-safe


def test_a_divergence_names_the_event_and_the_code_location() -> None:
    good = record("main", 3)
    changed = edited(good, {"events/1/args": [7]})  # the second num.next call was recorded with another argument
    [result] = audit_traces([changed], {DIGEST: MODULE})
    assert result.status == "diverged"
    assert result.event == 1
    assert result.location is not None and result.location["function"] == "main"
    assert result.error is not None and result.error["code"] == "replay.divergence"
    assert result.to_dict()["event"] == 1


def test_the_lookup_is_asked_once_per_module_and_may_answer_none() -> None:
    asked: list[str] = []

    def lookup(digest: str) -> bytes | None:
        asked.append(digest)
        return MODULE if digest == DIGEST else None

    traces = [record("main", n) for n in range(3)] + [record("main", 1, module=OTHER)] * 2
    results = list(audit_traces(traces, lookup))
    assert [r.status for r in results] == ["exact"] * 3 + ["module-missing"] * 2
    assert asked.count(DIGEST) == 1


def test_a_lookup_that_answers_other_bytes_makes_the_module_invalid() -> None:
    result = audit_trace(record("main", 2), {DIGEST: OTHER}, index=4)
    assert (result.index, result.status) == (4, "module-invalid")
    assert result.error is not None and result.error["code"] == "replay.module-digest"


def test_traces_are_read_lazily_and_indexed_from_start() -> None:
    def traces() -> Iterator[bytes]:
        yield record("main", 1)
        raise AssertionError("read past the first trace")

    first = next(audit_traces(traces(), {DIGEST: MODULE}, start=100))
    assert (first.index, first.status) == (100, "exact")


@pytest.mark.parametrize("engine", ["reference", "auto"])
def test_replay_of_a_loaded_module_reports_what_replay_of_its_bytes_does(engine: str) -> None:
    trace = record("main", 4)
    from_bytes = replay(trace, MODULE, engine=engine)  # type: ignore[arg-type]
    from_loaded = replay(trace, load_module(MODULE), engine=engine)  # type: ignore[arg-type]
    assert from_loaded == from_bytes
    auditor = Auditor({DIGEST: MODULE}, engine=engine)  # type: ignore[arg-type]
    assert [auditor.audit(trace, i).status for i in range(3)] == ["exact"] * 3
