"""Recording: the trace of each way a run ends, provenance, canonical bytes, the JSON Schema, determinism."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from chronicle_testing.trace_programs import make_host, plugin_module, policy
from chronicle_vm import __version__
from chronicle_vm.errors import ExecutionError, ResourceLimitError, UsageError
from chronicle_vm.limits import Limits
from chronicle_vm.runtime import Instance, instantiate, load_module
from chronicle_vm.trace.document import Trace, canonical_json, error_trace, load_trace

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text(encoding="utf-8"))
MODULE = plugin_module().to_bytes()


def validate(trace: Trace) -> None:
    """Every trace this runtime writes satisfies docs/trace.schema.json and reads back through load_trace."""
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(trace.to_json()))
    assert load_trace(trace.to_json()).to_json() == trace.to_json()


def instance(
    quota: int | None = None, limits: Limits | None = None, engine: str = "reference", **host: Any
) -> Instance:
    return instantiate(
        load_module(MODULE),
        host=make_host(**host),
        policy=policy(quota),
        limits=limits,
        engine=engine,  # type: ignore[arg-type]
    )


def failing(inst: Instance, entry: str, *args: object) -> tuple[Exception, Trace]:
    with pytest.raises((ExecutionError, ResourceLimitError)) as caught:
        inst.call(entry, *args, trace=True)
    trace = error_trace(caught.value)
    assert trace is not None
    validate(trace)
    return caught.value, trace


def test_returned_run_records_each_call_with_location_and_count() -> None:
    result = instance().call("main", 3, trace=True)
    assert (result.value, result.instructions) == (30, 26)
    trace = result.trace
    assert trace is not None
    validate(trace)
    doc = trace.to_dict()
    assert doc["format"] == "chronicle-trace" and doc["version"] == 1
    assert doc["entry"] == {"function": "main", "args": [3]}
    assert [(e["seq"], e["capability"], e["args"], e["result"], e["instructions"]) for e in doc["events"]] == [
        (0, "num.next", [0], 0, 6),
        (1, "num.next", [1], 10, 12),
        (2, "num.next", [2], 20, 18),
        (3, "log.info", ["30"], None, 25),
    ]
    assert doc["events"][0]["location"] == {"function": "main", "index": 5, "file": "plugin.chr", "line": 6, "col": 5}
    assert doc["events"][3]["location"]["index"] == 10
    assert doc["outcome"] == {"status": "returned", "value": 30, "instructions": 26}


def test_provenance_names_runtime_digests_limits_cost_model_and_decisions() -> None:
    limits = Limits(max_instructions=5000, max_array_len=77)
    inst = instance(quota=9, limits=limits)
    trace = inst.call("main", 1, trace=True).trace
    assert trace is not None
    provenance = trace.to_dict()["provenance"]
    assert provenance["runtime"] == {"name": "chronicle-vm", "version": __version__}
    assert provenance["module_sha256"] == load_module(MODULE).digest
    assert provenance["policy_sha256"] == policy(9).digest
    assert provenance["limits"] == inst.limits.to_dict()
    assert provenance["limits"]["max_instructions"] == 5000 and provenance["limits"]["max_array_len"] == 77
    assert set(provenance["limits"]) == set(Limits.names())
    assert provenance["cost_model"] == 2
    assert provenance["capabilities"] == [
        {
            "name": "num.next",
            "signature": "(int) -> int",
            "decision": "granted",
            "reason": "allowed by the policy, at most 9 calls per run",
            "max_calls": 9,
        },
        {
            "name": "log.info",
            "signature": "(str)",
            "decision": "granted",
            "reason": "allowed by the policy",
            "max_calls": None,
        },
        {
            "name": "grid.rows",
            "signature": "([int]) -> [str]",
            "decision": "granted",
            "reason": "allowed by the policy",
            "max_calls": None,
        },
    ]


def test_deny_all_policy_has_null_digest() -> None:
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT

    bare = Module(
        constants=(7,),
        functions=(Function("main", True, 0, INT, (INT,), (Instruction(0x02, 0, 0), Instruction(0x25, 0))),),
        source_map=SourceMap(functions=((),)),
    ).to_bytes()
    trace = instantiate(bare).call("main", trace=True).trace
    assert trace is not None
    validate(trace)
    assert trace.provenance["policy_sha256"] is None
    assert trace.provenance["capabilities"] == []
    assert trace.events == []
    assert trace.outcome == {"status": "returned", "value": 7, "instructions": 2}


def test_trap_records_a_final_trap_event_at_the_instruction() -> None:
    error, trace = failing(instance(), "boom", 4)
    assert error.code == "runtime.division-by-zero"  # type: ignore[attr-defined]
    events = trace.to_dict()["events"]
    assert [e["kind"] for e in events] == ["call", "trap"]
    location = {"function": "boom", "index": 2, "file": "plugin.chr", "line": 13, "col": 5}
    end = events[1]
    assert (end["seq"], end["code"], end["instructions"], end["location"]) == (
        1,
        "runtime.division-by-zero",
        3,
        location,
    )
    assert trace.outcome == {
        "status": "error",
        "error": {
            "category": "runtime",
            "code": "runtime.division-by-zero",
            "message": error.message,  # type: ignore[attr-defined]
            "location": location,
        },
        "instructions": 3,
    }


def test_instruction_limit_records_a_final_limit_event() -> None:
    _error, trace = failing(instance(limits=Limits(max_instructions=101)), "spin", 1)
    events = trace.events
    assert len(events) == 52  # 51 calls (instructions 1, 3, ..., 101), then the limit before instruction 102
    assert events[-2]["instructions"] == 101
    end = events[-1]
    assert (end["kind"], end["code"], end["instructions"], end["location"]["index"]) == (
        "limit",
        "limit.instructions",
        101,
        1,
    )
    assert trace.outcome["instructions"] == 101


def test_host_failure_is_the_failed_call_event_and_no_extra_end_event() -> None:
    def broken(i: int) -> int:
        raise KeyError("no such row")

    error, trace = failing(instance(next_value=broken), "boom", 2)
    assert error.code == "runtime.capability-failed"  # type: ignore[attr-defined]
    events = trace.to_dict()["events"]
    assert len(events) == 1
    assert events[0]["error"] == {
        "category": "runtime",
        "code": "runtime.capability-failed",
        "message": "capability num.next failed: KeyError: 'no such row'",
    }
    assert "result" not in events[0]
    assert trace.outcome["error"]["code"] == "runtime.capability-failed"
    assert trace.outcome["error"]["location"]["index"] == 0
    assert trace.outcome["instructions"] == 1


def test_quota_is_recorded_on_the_refused_call() -> None:
    _error, trace = failing(instance(quota=3), "spin", 1)
    events = trace.events
    assert len(events) == 4
    assert [("result" in e) for e in events] == [True, True, True, False]
    assert events[3]["error"]["code"] == "limit.capability-quota"
    assert trace.outcome["error"]["category"] == "limit"
    assert trace.outcome["instructions"] == 7


def test_array_values_are_copied_before_the_plugin_mutates_them() -> None:
    result = instance(rows=lambda xs: ["a", "b"]).call("rows", 5, trace=True)
    assert result.value == ["a", "b", "x"]
    assert result.trace is not None
    validate(result.trace)
    event = result.trace.events[0]
    assert (event["args"], event["result"]) == ([[5]], ["a", "b"])
    assert event["instructions"] == 3
    assert event["location"] == {"function": "rows", "index": 2, "file": "plugin.chr", "line": 33, "col": 5}
    assert result.trace.outcome["value"] == ["a", "b", "x"]


def test_untraced_calls_have_no_trace_and_the_instance_default_applies() -> None:
    inst = instance()
    assert inst.call("main", 2).trace is None
    traced = instantiate(load_module(MODULE), host=make_host(), policy=policy(), trace=True)
    assert traced.call("main", 2).trace is not None
    assert traced.call("main", 2, trace=False).trace is None


def test_tracing_does_not_change_results() -> None:
    inst = instance()
    plain = inst.call("main", 7)
    traced = inst.call("main", 7, trace=True)
    assert (plain.value, plain.instructions) == (traced.value, traced.instructions)


def test_usage_errors_carry_no_trace() -> None:
    with pytest.raises(UsageError) as caught:
        instance().call("main", "seven", trace=True)
    assert caught.value.code == "usage.bad-arguments"
    assert error_trace(caught.value) is None
    with pytest.raises(UsageError):
        instance().call("nope", trace=True)


def test_canonical_bytes_are_sorted_compact_utf8() -> None:
    assert canonical_json({"b": "é", "a": [1, True, None]}) == '{"a":[1,true,null],"b":"é"}'.encode()
    trace = instance(rows=lambda xs: ["größe ✓"]).call("rows", 1, trace=True).trace
    assert trace is not None
    data = trace.to_json()
    assert "größe ✓".encode() in data
    assert data == canonical_json(json.loads(data))


_CHILD = """
import sys
sys.path.insert(0, {testing!r})
from chronicle_testing.trace_programs import make_host, plugin_module, policy
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace.document import error_trace
inst = instantiate(plugin_module().to_bytes(), host=make_host(rows=lambda xs: ["ä", "b"]), policy=policy(5))
out = sys.stdout.buffer
out.write(inst.call("main", 4, trace=True).trace.to_json())
out.write(inst.call("rows", 9, trace=True).trace.to_json())
try:
    inst.call("spin", 1, trace=True)
except Exception as exc:
    out.write(error_trace(exc).to_json())
"""


def test_traces_are_byte_identical_across_processes_with_different_hash_seeds() -> None:
    script = _CHILD.format(testing=str(ROOT / "testing"))
    outputs = []
    for seed in ("1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, check=True, timeout=60)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b'"format":"chronicle-trace"') == 3


@pytest.mark.parametrize(
    ("entry", "args", "quota", "max_instructions"),
    [
        ("main", (5,), None, 10_000),
        ("rows", (2,), None, 10_000),
        ("quiet", (), None, 10_000),
        ("boom", (1,), None, 10_000),
        ("halt", (1,), None, 10_000),
        ("spin", (1,), None, 57),
        ("spin", (1,), 4, 10_000),
    ],
)
def test_both_engines_record_byte_identical_traces(
    entry: str, args: tuple[object, ...], quota: int | None, max_instructions: int
) -> None:
    traces = []
    for engine in ("reference", "auto"):
        inst = instance(quota=quota, limits=Limits(max_instructions=max_instructions), engine=engine)
        try:
            trace = inst.call(entry, *args, trace=True).trace
        except (ExecutionError, ResourceLimitError) as exc:
            trace = error_trace(exc)
        assert trace is not None
        traces.append(trace.to_json())
    assert traces[0] == traces[1]


@pytest.mark.parametrize("engine", ["auto", "reference"])
def test_traced_calls_of_one_instance_keep_their_own_records(engine: str) -> None:
    """An instance reuses one recorder per kept engine (issue 19): each trace stays what its run recorded."""

    def wobbly(i: int) -> int:
        if i == 2:
            raise KeyError("two")
        return i * 10

    inst = instance(engine=engine, next_value=wobbly)
    fresh = instance(engine=engine, next_value=wobbly)
    first = inst.call("main", 2, trace=True, meta={"n": 1})
    assert first.trace is not None
    first_bytes = first.trace.to_json()
    error, failed = failing(inst, "boom", 2)
    assert error.code == "runtime.capability-failed"  # type: ignore[attr-defined]
    third = inst.call("main", 1, trace=True)
    untraced = inst.call("main", 2)
    fourth = inst.call("main", 2, trace=True, meta={"n": 4})
    assert first.trace.to_json() == first_bytes  # later runs did not touch the first trace
    assert len(failed.events) == 1 and failed.events[0]["error"]["code"] == "runtime.capability-failed"
    assert third.trace is not None and fourth.trace is not None
    assert [e["args"] for e in third.trace.events if e["kind"] == "call"] == [[0], ["0"]]
    assert untraced.value == fourth.value == first.value
    assert third.trace.to_dict().get("meta") is None and fourth.trace.to_dict()["meta"] == {"n": 4}
    # Byte for byte what a fresh instance records for the same call.
    assert fourth.trace.to_json() == fresh.call("main", 2, trace=True, meta={"n": 4}).trace.to_json()  # type: ignore[union-attr]
    for trace in (first.trace, failed, third.trace, fourth.trace):
        validate(trace)


@pytest.mark.parametrize("engine", ["auto", "reference"])
def test_long_runs_keep_their_calls_while_the_kept_recorder_records_later_runs(engine: str) -> None:
    """The handlers an instance keeps (one recording itself, one around a live handler copying arrays) record
    later runs without touching the calls of a long run's trace, built only after them."""
    inst = instance(engine=engine, limits=Limits(max_instructions=20_000))
    fresh = instance(engine=engine, limits=Limits(max_instructions=20_000))
    long_run = inst.call("main", 600, trace=True)  # 601 calls
    error, stopped = failing(inst, "spin", 1)  # a long run that ends on the instruction limit
    assert error.code == "limit.instructions"  # type: ignore[attr-defined]
    rows = inst.call("rows", 3, trace=True)  # grid.rows: a handler around the live one, copying its array
    short = inst.call("main", 2, trace=True)
    assert long_run.trace is not None and rows.trace is not None and short.trace is not None
    # Each trace is built only now, after the later runs: byte for byte what a fresh instance records.
    assert long_run.trace.to_json() == fresh.call("main", 600, trace=True).trace.to_json()  # type: ignore[union-attr]
    assert len(long_run.trace.events) == 601
    assert stopped.to_json() == failing(fresh, "spin", 1)[1].to_json()
    assert rows.trace.to_json() == fresh.call("rows", 3, trace=True).trace.to_json()  # type: ignore[union-attr]
    assert short.trace.to_json() == fresh.call("main", 2, trace=True).trace.to_json()  # type: ignore[union-attr]
    assert [len(t.events) for t in (rows.trace, short.trace)] == [1, 3]
