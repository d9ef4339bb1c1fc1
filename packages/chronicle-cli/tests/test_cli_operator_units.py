"""The operator modules alone: the colour decision, policy suggestion at scale, and the report's bounds."""

from __future__ import annotations

import copy
import io
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from chronicle_cli.colors import color_mode_from_args, enabled
from chronicle_cli.report import MAX_ROWS, TIMELINE_BINS, render_report
from chronicle_cli.suggest import suggest_policy
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.errors import UsageError
from chronicle_vm.trace.document import Trace


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("mode", "env", "tty", "expected"),
    [
        ("auto", {}, False, False),
        ("auto", {}, True, True),
        ("auto", {"NO_COLOR": "1"}, True, False),
        ("auto", {"NO_COLOR": ""}, True, True),  # set but empty: no-color.org says it does not count
        ("auto", {"FORCE_COLOR": "1"}, False, True),
        ("auto", {"FORCE_COLOR": "0"}, False, False),
        ("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
        ("always", {"NO_COLOR": "1"}, False, True),
        ("never", {"FORCE_COLOR": "1"}, True, False),
    ],
)
def test_the_colour_decision(mode: Any, env: dict[str, str], tty: bool, expected: bool) -> None:
    stream = Tty() if tty else io.StringIO()
    assert enabled(stream, env, mode) is expected


def test_color_mode_is_read_from_raw_argv() -> None:
    assert color_mode_from_args(["verify", "m.cmod"]) == "auto"
    assert color_mode_from_args(["--color", "never", "verify", "--color=always"]) == "always"
    assert color_mode_from_args(["--", "--color", "never"]) == "auto"
    assert color_mode_from_args(["--color", "purple"]) == "auto"


def base_trace() -> dict[str, Any]:
    location = {"file": "p.chr", "function": "main", "index": 2, "line": 3, "col": 5}
    return {
        "format": "chronicle-trace",
        "version": 1,
        "provenance": {
            "runtime": {"name": "chronicle-vm", "version": "0.1.0"},
            "module_sha256": "a" * 64,
            "policy_sha256": None,
            "cost_model": 1,
            "limits": {"max_instructions": 1000, "max_call_depth": 10},
            "capabilities": [
                {"name": "kv.get", "signature": "(str) -> str", "decision": "granted", "reason": "", "max_calls": None},
                {"name": "log.info", "signature": "(str)", "decision": "granted", "reason": "", "max_calls": None},
            ],
        },
        "entry": {"function": "main", "args": []},
        "events": [
            {
                "seq": 0,
                "kind": "call",
                "capability": "kv.get",
                "args": ["price:apple"],
                "instructions": 4,
                "location": location,
                "result": "",
            },
        ],
        "outcome": {"status": "returned", "value": 1, "instructions": 9},
    }


def many_traces(count: int) -> Iterator[tuple[str, Trace]]:
    """`count` distinct traces, made one at a time (the consumer must not keep them)."""
    template = base_trace()
    for index in range(count):
        doc = copy.deepcopy(template)
        doc["events"][0]["args"] = [f"price:item{index}"]
        doc["outcome"]["instructions"] = 9 + index % 7
        yield f"t{index}.json", Trace(doc)


def test_suggest_over_ten_thousand_traces_is_bounded_and_right() -> None:
    tracemalloc.start()
    try:
        suggestion = suggest_policy(many_traces(10_000), margin=1.5, limit_margin=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000  # one trace at a time and a few values per parameter, not 10,000 traces
    policy = Policy.from_toml(suggestion.text)
    rule = policy.rule("kv.get")
    assert rule is not None and rule.max_calls == 2  # ceil(1 x 1.5)
    assert [(r.param, r.prefix) for r in rule.args] == [("1", ("price:",))]
    assert policy.rule("log.info") is not None and policy.rule("log.info").max_calls == 0  # type: ignore[union-attr]
    assert policy.limits["max_instructions"] == 30  # largest use 15 x 2
    assert policy.limits["max_call_depth"] == 10
    assert suggestion.summary["traces"] == 10_000


def test_suggest_keeps_an_exhausted_quota_and_a_reached_instruction_limit() -> None:
    doc = base_trace()
    doc["provenance"]["capabilities"][0]["max_calls"] = 1
    call = doc["events"][0]
    doc["events"].append({**call, "seq": 1, "instructions": 6, "error": {"category": "limit",
                          "code": "limit.capability-quota", "message": "quota"}})  # fmt: skip
    del doc["events"][1]["result"]
    doc["outcome"] = {
        "status": "error",
        "error": {"category": "limit", "code": "limit.capability-quota", "message": "quota", "location": None},
        "instructions": 6,
    }
    spun = base_trace()
    spun["outcome"] = {
        "status": "error",
        "error": {"category": "limit", "code": "limit.instructions", "message": "out", "location": None},
        "instructions": 1000,
    }
    suggestion = suggest_policy([("q.json", Trace(doc)), ("s.json", Trace(spun))], margin=3.0)
    policy = Policy.from_toml(suggestion.text)
    assert policy.rule("kv.get").max_calls == 1  # type: ignore[union-attr]
    assert policy.limits["max_instructions"] == 1000  # the limit the run stopped on, not 2 x its use
    assert "the quota q.json ran into" in suggestion.text


def test_suggest_needs_traces_and_sane_margins() -> None:
    with pytest.raises(UsageError):
        suggest_policy([])
    with pytest.raises(UsageError):
        suggest_policy(many_traces(1), margin=float("nan"))


def test_the_report_of_a_million_events_stays_bounded() -> None:
    doc = base_trace()
    location = doc["events"][0]["location"]
    kinds = [
        {"seq": 0, "kind": "call", "capability": name, "args": ["<script>x</script>" * 3], "instructions": 0,
         "location": location, "result": ""}
        for name in ("kv.get", "log.info")
    ]  # fmt: skip
    total = 1_000_000
    events = []
    for index in range(total):  # a few thousand distinct dicts, shared: the list is what is large
        event = kinds[index % 2]
        if index < MAX_ROWS + 10:
            event = {**event, "seq": index, "instructions": index * 3}
        events.append(event)
    doc["events"] = events
    doc["outcome"]["instructions"] = total * 3
    page = render_report(doc, title="big.json")
    assert len(page) < 1_500_000
    assert f"Showing the first {MAX_ROWS:,} of {total:,} events" in page
    assert page.count("<tr><td class=num>") == MAX_ROWS
    assert page.count("<rect") <= 2 * (TIMELINE_BINS + 1)
    assert "<script>" not in page
    assert "1,000,000 events" in page
