"""Untrusted trace JSON: every defect is a ReplayError with a stable code, in bounded time; nothing else escapes."""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.trace_programs import make_host, plugin_module, policy
from chronicle_vm.errors import ReplayError
from chronicle_vm.limits import Limits
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace.document import MAX_TRACE_BYTES, canonical_json, error_trace, load_trace
from chronicle_vm.trace.replay import replay

MODULE = plugin_module().to_bytes()


def recorded(entry: str = "main", *args: object, quota: int | None = None) -> dict[str, Any]:
    """A fresh copy of the trace of one run (cached: many tests edit the same recording)."""
    doc: dict[str, Any] = json.loads(_recorded(entry, args, quota))
    return doc


@functools.cache
def _recorded(entry: str, args: tuple[object, ...], quota: int | None) -> bytes:
    inst = instantiate(MODULE, host=make_host(), policy=policy(quota), limits=Limits(max_instructions=500))
    if entry == "main" and not args:
        args = (2,)
    try:
        trace = inst.call(entry, *args, trace=True).trace
    except Exception as exc:
        trace = error_trace(exc)
    assert trace is not None
    return trace.to_json()


def code_of(data: bytes | str) -> str:
    with pytest.raises(ReplayError) as caught:
        load_trace(data)
    return caught.value.code


def edited(change: Callable[[dict[str, Any]], object], entry: str = "main", *args: object) -> bytes:
    doc = recorded(entry, *(args or (2,)))
    change(doc)
    return canonical_json(doc)


def test_recorded_traces_load() -> None:
    for entry, args in (("main", (3,)), ("boom", (1,)), ("spin", (1,)), ("rows", (2,)), ("quiet", ())):
        doc = recorded(entry, *args)
        assert load_trace(canonical_json(doc)).to_dict() == doc
        assert load_trace(json.dumps(doc, indent=2)).to_dict() == doc  # pretty-printed text is read too


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "replay.malformed-json"),
        (b"{", "replay.malformed-json"),
        (b"\xff\xfe{}", "replay.malformed-json"),
        (b'{"a": NaN}', "replay.malformed-json"),
        (b'{"a": Infinity}', "replay.malformed-json"),
        (b'{"a": "\\ud800"}', "replay.malformed-json"),
        (b"1" * 5000, "replay.malformed-json"),
        (b"[]", "replay.format"),
        (b"null", "replay.format"),
        (b'{"format": "other"}', "replay.format"),
        (b'{"format": "chronicle-trace", "version": 3}', "replay.version"),
        (b'{"format": "chronicle-trace", "version": true}', "replay.version"),
        (b'{"format": "chronicle-trace", "version": 1}', "replay.schema"),
    ],
)
def test_malformed_documents(data: bytes, code: str) -> None:
    assert code_of(data) == code


def test_not_bytes_or_text() -> None:
    assert code_of(12345) == "replay.malformed-json"  # type: ignore[arg-type]
    assert code_of("{\ud800}") == "replay.malformed-json"


def test_deep_nesting_is_refused_quickly() -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        start = time.perf_counter()
        assert code_of(opener * 100_000 + closer * 100_000) == "replay.too-deep"
        assert time.perf_counter() - start < 2
    # nesting the reader accepts but values may not have: arrays deeper than MAX_ARRAY_DEPTH
    assert code_of(edited(lambda d: d["entry"].update(args=[[[[[[[[[[1]]]]]]]]]]))) == "replay.schema"


def test_a_200_mb_string_claim_is_refused_before_parsing() -> None:
    data = bytearray(b"a" * 200_000_000)
    data[:46] = b'{"format":"chronicle-trace","version":1,"x":"a'
    data[-2:] = b'"}'
    start = time.perf_counter()
    with pytest.raises(ReplayError) as caught:
        load_trace(data)
    assert caught.value.code == "replay.too-large"
    assert caught.value.details["max_bytes"] == MAX_TRACE_BYTES
    assert time.perf_counter() - start < 2
    assert code_of("x" * (MAX_TRACE_BYTES + 1)) == "replay.too-large"
    with pytest.raises(ReplayError) as small:
        load_trace(canonical_json(recorded()), max_bytes=100)
    assert small.value.code == "replay.too-large"


def test_too_many_containers() -> None:
    assert code_of(b"[" + b"[]," * 4_000_000 + b"[]]") == "replay.too-large"


def _set(path: list[str | int], value: object) -> Callable[[dict[str, Any]], object]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _drop(path: list[str | int]) -> Callable[[dict[str, Any]], object]:
    def change(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (_drop(["outcome"]), "$.outcome"),
        (_set(["extra"], 1), "$.extra"),
        (_drop(["provenance", "module_sha256"]), "$.provenance.module_sha256"),
        (_set(["provenance", "module_sha256"], "ABC"), "$.provenance.module_sha256"),
        (_set(["provenance", "policy_sha256"], 7), "$.provenance.policy_sha256"),
        (_set(["provenance", "runtime"], "0.1"), "$.provenance.runtime"),
        (_set(["provenance", "limits", "max_instructions"], True), "$.provenance.limits.max_instructions"),
        (_set(["provenance", "limits", "max_instructions"], -1), "$.provenance.limits.max_instructions"),
        (_set(["provenance", "limits", "max_call_depth"], 10**6), "$.provenance.limits.max_call_depth"),
        (_drop(["provenance", "limits", "max_allocation"]), "$.provenance.limits.max_allocation"),
        (_set(["provenance", "limits", "max_fun"], 1), "$.provenance.limits.max_fun"),
        (_set(["provenance", "capabilities", 0, "decision"], "maybe"), "$.provenance.capabilities[0].decision"),
        (_set(["provenance", "capabilities", 0, "max_calls"], 1.5), "$.provenance.capabilities[0].max_calls"),
        (_set(["entry", "args"], [2**64]), "$.entry.args[0]"),
        (_set(["entry", "args"], [1.5]), "$.entry.args[0]"),
        (_set(["entry", "args"], [None]), "$.entry.args[0]"),
        (_set(["entry", "args"], [{"a": 1}]), "$.entry.args[0]"),
        (_set(["entry", "function"], 3), "$.entry.function"),
        (_set(["events"], {}), "$.events"),
        (_set(["events", 0, "seq"], 5), "$.events[0].seq"),
        (_set(["events", 0, "seq"], False), "$.events[0].seq"),
        (_set(["events", 0, "instructions"], True), "$.events[0].instructions"),
        (_set(["events", 0, "instructions"], 2**63), "$.events[0].instructions"),
        (_set(["events", 0, "instructions"], "6"), "$.events[0].instructions"),
        (_set(["events", 0, "kind"], "hop"), "$.events[0].kind"),
        (_set(["events", 0, "args"], [-(2**63) - 1]), "$.events[0].args[0]"),
        (_set(["events", 0, "result"], 2**70), "$.events[0].result"),
        (_drop(["events", 0, "location"]), "$.events[0].location"),
        (_drop(["events", 0, "location", "line"]), "$.events[0].location.line"),
        (_set(["events", 0, "location", "index"], -3), "$.events[0].location.index"),
        (_set(["events", 0, "error"], {"category": "runtime", "code": "runtime.x", "message": "m"}), "$.events[0]"),
        (_set(["outcome", "status"], "fine"), "$.outcome.status"),
        (_set(["outcome", "instructions"], None), "$.outcome.instructions"),
        (_set(["outcome", "value"], 0.5), "$.outcome.value"),
    ],
)
def test_schema_errors_name_the_path(change: Callable[[dict[str, Any]], object], path: str) -> None:
    with pytest.raises(ReplayError) as caught:
        load_trace(edited(change))
    assert caught.value.code == "replay.schema"
    assert caught.value.details["path"] == path


def test_end_events_must_be_last_and_failed_calls_too() -> None:
    doc = recorded("boom", 1)
    doc["events"].append(dict(doc["events"][0], seq=2))
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert (caught.value.code, caught.value.details["path"]) == ("replay.schema", "$.events[1]")


def test_error_categories_are_runtime_or_limit() -> None:
    doc = recorded("boom", 1)
    doc["outcome"]["error"]["category"] = "decode"
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert caught.value.details["path"] == "$.outcome.error.category"
    doc = recorded("boom", 1)
    doc["events"][1]["code"] = "limit.instructions"  # a trap event with a limit code
    with pytest.raises(ReplayError) as caught:
        load_trace(canonical_json(doc))
    assert caught.value.details["path"] == "$.events[1].code"


def test_unknown_cost_model() -> None:
    assert code_of(edited(_set(["provenance", "cost_model"], 3))) == "replay.cost-model"


def test_cost_model_1_traces_are_refused() -> None:
    # Cost model 1 counted every instruction as 1: its counts are not this runtime's, so replay refuses it.
    assert code_of(edited(_set(["provenance", "cost_model"], 1))) == "replay.cost-model"


def test_missing_limits_load_but_do_not_replay() -> None:
    data = edited(_drop(["provenance", "limits"]))
    assert load_trace(data).provenance.get("limits") is None
    with pytest.raises(ReplayError) as caught:
        replay(data, MODULE)
    assert caught.value.code == "replay.missing-limits"
    assert "cannot replay exactly without recorded limits" in caught.value.message


@given(st.binary(max_size=300))
def test_random_bytes_give_a_trace_or_a_replay_error(data: bytes) -> None:
    with contextlib.suppress(ReplayError):
        load_trace(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
_KEYS = ["format", "version", "provenance", "entry", "events", "outcome", "slice", "seq", "kind", "args"]


@given(st.data())
def test_random_edits_of_a_real_trace_give_a_trace_or_a_replay_error(data: st.DataObject) -> None:
    doc = recorded("main", 2)
    # walk to a random container and replace or add one member with random JSON
    target: Any = doc
    for _ in range(data.draw(st.integers(0, 4))):
        children = list(target.values()) if isinstance(target, dict) else list(target)
        children = [c for c in children if isinstance(c, (dict, list)) and c]
        if not children:
            break
        target = data.draw(st.sampled_from(children))
    value = data.draw(_JSON)
    if isinstance(target, dict):
        target[data.draw(st.sampled_from(sorted(target) + _KEYS))] = value
    elif target:
        target[data.draw(st.integers(0, len(target) - 1))] = value
    text = json.dumps(doc)
    try:
        trace = load_trace(text)
    except ReplayError:
        return
    with contextlib.suppress(ReplayError):
        replay(trace, MODULE, engine="reference")


@pytest.mark.parametrize("depth", [100, 500, 900, 990, 1_000, 5_000])
def test_deep_documents_near_the_recursion_limit(depth: int) -> None:
    for inner in (b'"\\ud800"', b"1", b'"\\ud83d\\ude00"'):
        data = b"[" * depth + inner + b"]" * depth
        assert code_of(data) in {"replay.too-deep", "replay.malformed-json", "replay.format"}
        wrapped = b'{"format":"chronicle-trace","version":1,"x":' + data + b"}"
        assert code_of(wrapped) in {"replay.too-deep", "replay.malformed-json", "replay.schema"}
