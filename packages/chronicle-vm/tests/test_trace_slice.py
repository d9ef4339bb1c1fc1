"""Slices (inspection-only, refused by replay) and diffs (where two traces part ways)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest

from chronicle_testing.trace_programs import make_host, plugin_module, policy, steps_module
from chronicle_vm.errors import ReplayError, UsageError
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace.document import Trace, canonical_json, diff_traces, load_trace, slice_trace
from chronicle_vm.trace.replay import replay

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text(encoding="utf-8"))
MODULE = plugin_module().to_bytes()


def traced(entry: str, *args: object, module: bytes = MODULE, **host: object) -> Trace:
    trace = instantiate(module, host=make_host(**host), policy=policy()).call(entry, *args, trace=True).trace  # type: ignore[arg-type]
    assert trace is not None
    return trace


FULL = traced("main", 5)  # 5 num.next calls and a log.info: 6 events


def test_slice_keeps_the_range_and_names_the_full_trace() -> None:
    data = slice_trace(FULL.to_json(), 2, 5)
    doc = json.loads(data)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert data == canonical_json(doc)
    assert doc["slice"] == {
        "range": [2, 5],
        "full_digest": hashlib.sha256(FULL.to_json()).hexdigest(),
        "full_events": 6,
    }
    assert [event["seq"] for event in doc["events"]] == [2, 3, 4]
    assert doc["events"] == FULL.to_dict()["events"][2:5]
    for key in ("provenance", "entry", "outcome", "format", "version"):
        assert doc[key] == FULL.to_dict()[key]
    sliced = load_trace(data)
    assert sliced.slice == doc["slice"]


def test_the_last_events_and_empty_slices() -> None:
    assert [e["seq"] for e in load_trace(slice_trace(FULL, 5, 6)).events] == [5]
    assert load_trace(slice_trace(FULL, 3, 3)).events == []


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (2, 1), (0, 7), (True, 2)])
def test_slice_range_must_be_within_the_events(start: int, end: int) -> None:
    with pytest.raises(UsageError) as caught:
        slice_trace(FULL.to_json(), start, end)
    assert caught.value.code == "usage.slice-range"


def test_a_slice_is_not_sliced_again_nor_replayed() -> None:
    data = slice_trace(FULL.to_json(), 0, 6)
    with pytest.raises(ReplayError) as caught:
        slice_trace(data, 0, 1)
    assert caught.value.code == "replay.sliced"
    with pytest.raises(ReplayError) as refused:
        replay(data, MODULE)
    assert refused.value.code == "replay.sliced"


def test_a_slice_whose_events_do_not_match_its_range_is_malformed() -> None:
    doc = json.loads(slice_trace(FULL.to_json(), 1, 3))
    doc["slice"]["range"] = [1, 4]
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert (caught.value.code, caught.value.details["path"]) == ("replay.schema", "$.events")
    doc = json.loads(slice_trace(FULL.to_json(), 1, 3))
    doc["events"][0]["seq"] = 0
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert caught.value.details["path"] == "$.events[0].seq"
    doc = json.loads(slice_trace(FULL.to_json(), 1, 3))
    doc["slice"]["full_digest"] = "xyz"
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert caught.value.details["path"] == "$.slice.full_digest"


def test_diff_of_equal_traces() -> None:
    result = diff_traces(FULL.to_json(), traced("main", 5).to_json())
    assert result["equal"] is True and result["same_module"] is True and result["where"] is None


def test_diff_names_the_first_event_where_results_differ() -> None:
    other = traced("main", 5, next_value=lambda i: 7 if i == 2 else i * 10)
    result = diff_traces(FULL, other)
    assert (result["equal"], result["where"], result["seq"], result["fields"]) == (False, "events", 2, ["result"])
    assert (result["a"]["result"], result["b"]["result"]) == (20, 7)


def test_diff_when_one_trace_has_more_events() -> None:
    # the entry arguments differ too, and they are compared first: the cause, not its first consequence
    result = diff_traces(traced("main", 5).to_json(), traced("main", 6).to_json())
    assert (result["where"], result["seq"], result["fields"]) == ("entry", None, ["args"])
    shorter = diff_traces(traced("main", 1), FULL)
    assert shorter["where"] == "entry"
    quiet = diff_traces(traced("quiet"), traced("quiet"))
    assert quiet["equal"] is True


def test_diff_of_outcome_entry_and_module() -> None:
    zero = traced("main", 0)  # no num.next calls; only log.info("0")
    result = diff_traces(zero, traced("main", 0, rows=lambda xs: []))
    assert result["equal"] is True
    steps = steps_module([("add", 1)]).to_bytes()
    a = traced("main", 1, module=steps)
    b = traced("main", 2, module=steps)
    result = diff_traces(a, b)
    assert (result["where"], result["fields"]) == ("entry", ["args"])
    assert diff_traces(a, FULL)["same_module"] is False


def test_diff_refuses_malformed_input() -> None:
    with pytest.raises(ReplayError):
        diff_traces(b"{", FULL.to_json())
