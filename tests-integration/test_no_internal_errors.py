"""Schema-valid but unusual traces never end in exit 70 (`internal.unexpected`) through inspect, replay or diff."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def limit_trace(cli: Any, workdir: Path) -> dict[str, Any]:
    result = cli("chronicle-vm", "trace", "spin.cmod", "--max-instructions", "100", "-o", "spin-trace.json")
    assert result.returncode == 14, result.stderr
    document: dict[str, Any] = json.loads((workdir / "spin-trace.json").read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_inspect_shows_an_error_outcome_without_an_instruction_count(
    cli: Any, workdir: Path, limit_trace: dict[str, Any], json_flag: tuple[str, ...]
) -> None:
    document = json.loads(json.dumps(limit_trace))
    document["outcome"]["instructions"] = None  # the schema allows it: a stop before any instruction
    (workdir / "null-count.json").write_text(json.dumps(document), encoding="utf-8")
    result = cli("chronicle-vm", "inspect", "null-count.json", *json_flag)
    assert result.returncode == 0, result.stderr
    assert "internal" not in result.stdout + result.stderr
    replayed = cli("chronicle-vm", "replay", "null-count.json", "--module", "spin.cmod", "--json")
    assert replayed.returncode == 15
    assert replayed.json()["error"]["category"] == "replay"


def test_replay_runs_under_the_cli_defaults_unless_unbounded(cli: Any) -> None:
    # Recorded under one instruction more than the CLI's default limit: the replayer's ceiling is lower.
    limits = ("--unbounded", "--max-instructions", "10000001")
    recorded = cli("chronicle-vm", "trace", "spin.cmod", *limits, "-o", "big.json")
    assert recorded.returncode == 14, recorded.stderr
    refused = cli("chronicle-vm", "replay", "big.json", "--module", "spin.cmod", "--json")
    assert refused.returncode == 15
    error = refused.json()["error"]
    assert (error["code"], error["limit"], error["ceiling"]) == ("replay.limits", "max_instructions", 10_000_000)
    trusted = cli("chronicle-vm", "replay", "big.json", "--module", "spin.cmod", "--unbounded", "--json")
    assert trusted.returncode == 0, trusted.stdout
    assert trusted.json()["replay"]["exact"] is True
