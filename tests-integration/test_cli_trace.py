"""chronicle-vm trace, run --trace-out, replay, inspect and diff end to end; Ctrl-C; replay touches nothing live."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def traces(cli: Any, workdir: Path) -> Path:
    """greet.json (a returned run with every kind of capability) and spin.json (a run stopped by a limit)."""
    greet = cli("chronicle-vm", "trace", "greet.cmod", "--policy", "greet.toml", "--arg", "zoe", "-o", "greet.json")
    assert greet.returncode == 0, greet.stderr
    assert "trace written to greet.json" in greet.stdout
    spin = cli("chronicle-vm", "run", "spin.cmod", "--max-instructions", "3000", "--trace-out", "spin.json", "--json")
    assert spin.returncode == 14
    assert spin.json()["trace"] == "spin.json"
    return workdir


def test_trace_records_every_capability_call(traces: Path) -> None:
    doc = json.loads((traces / "greet.json").read_bytes())
    assert doc["format"] == "chronicle-trace"
    assert [event["capability"] for event in doc["events"]] == [
        "kv.get",
        "kv.set",
        "random.int",
        "clock.now",
        "log.info",
    ]
    assert doc["entry"] == {"args": ["zoe"], "function": "main"}
    assert doc["outcome"]["status"] == "returned"
    # Canonical bytes: sorted keys, no spaces.
    assert (traces / "greet.json").read_bytes() == json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_a_run_stopped_by_a_limit_still_writes_its_trace(traces: Path) -> None:
    doc = json.loads((traces / "spin.json").read_bytes())
    assert doc["events"][-1]["kind"] == "limit"
    assert doc["outcome"]["error"]["code"] == "limit.instructions"


def test_replay_is_exact_for_a_returned_run_and_for_a_limit(cli: Any, traces: Path) -> None:
    returned = cli("chronicle-vm", "replay", "greet.json", "--module", "greet.cmod", "--json")
    assert returned.returncode == 0, returned.stderr
    report = returned.json()["replay"]
    assert report["exact"] is True
    assert report["reproduced"] == "returned"
    assert returned.stderr == ""  # the recorded log.info is not printed again: nothing live runs
    limited = cli("chronicle-vm", "replay", "spin.json", "--module", "spin.cmod", "--engine", "reference")
    assert limited.returncode == 0, limited.stderr
    assert limited.stdout.startswith("exact replay")
    assert "reproduced: limit" in limited.stdout


def test_replay_divergence_is_15(cli: Any, traces: Path) -> None:
    doc = json.loads((traces / "greet.json").read_bytes())
    doc["events"][0]["result"] = "41"  # kv.get answered differently: the plugin now counts 42
    (traces / "forged.json").write_text(json.dumps(doc))
    result = cli("chronicle-vm", "replay", "forged.json", "--module", "greet.cmod", "--json")
    assert result.returncode == 15
    error = result.json()["error"]
    assert error["category"] == "replay"
    assert error["code"].startswith("replay.")
    wrong_module = cli("chronicle-vm", "replay", "greet.json", "--module", "spin.cmod", "--json")
    assert wrong_module.returncode == 15
    assert wrong_module.json()["error"]["code"] == "replay.module-digest"


def test_inspect_shows_tables_and_cuts_slices_replay_refuses(cli: Any, traces: Path) -> None:
    shown = cli("chronicle-vm", "inspect", "greet.json")
    assert shown.returncode == 0, shown.stderr
    for expected in ("provenance", "events (5)", "random.int", "greet.chr:", "outcome: 1"):
        assert expected in shown.stdout
    cut = cli("chronicle-vm", "inspect", "greet.json", "--slice", "1..3", "-o", "part.json", "--json")
    assert cut.returncode == 0, cut.stderr
    sliced = json.loads((traces / "part.json").read_bytes())
    assert [event["seq"] for event in sliced["events"]] == [1, 2]
    assert sliced["slice"]["range"] == [1, 3]
    refused = cli("chronicle-vm", "replay", "part.json", "--module", "greet.cmod", "--json")
    assert refused.returncode == 15
    assert refused.json()["error"]["code"] == "replay.sliced"
    bad_range = cli("chronicle-vm", "inspect", "greet.json", "--slice", "3..99", "--json")
    assert bad_range.returncode == 2


def test_diff_names_where_two_traces_part_ways(cli: Any, traces: Path) -> None:
    other = cli("chronicle-vm", "trace", "greet.cmod", "--policy", "greet.toml", "--arg", "zoe", "-o", "greet2.json")
    assert other.returncode == 0
    result = cli("chronicle-vm", "diff", "greet.json", "greet2.json", "--json")
    assert result.returncode == 1  # like diff(1): the traces differ
    diff = result.json()["diff"]
    assert diff["equal"] is False
    assert diff["where"] == "events"
    assert diff["seq"] == 0  # kv.get: the second visit reads the first one's count
    same = cli("chronicle-vm", "diff", "greet.json", "greet.json", "--json")
    assert same.json()["diff"]["equal"] is True


def test_replay_never_touches_the_clock_randomness_or_the_database(traces: Path, cli_env: dict[str, str]) -> None:
    # Any live call would raise here: the clock, the random source and SQLite are all poisoned.
    script = textwrap.dedent(
        """
        import random, sqlite3, sys, time

        def poisoned(*args, **kwargs):
            raise AssertionError("replay touched the live world")

        time.time = time.time_ns = poisoned
        sqlite3.connect = poisoned
        random.SystemRandom.randint = poisoned
        random.randint = poisoned
        from chronicle_cli.vm import main

        sys.exit(main(["replay", "greet.json", "--module", "greet.cmod", "--json"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=traces, env=cli_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["replay"]["exact"] is True


def test_ctrl_c_exits_130_and_leaves_no_output_file(workdir: Path, cli_command: Any, cli_env: dict[str, str]) -> None:
    (workdir / "slow.chr").write_text(
        'cap log.info(msg: str);\npub fn main() -> int {\n    log.info("started");\n'
        "    let i = 0;\n    while true { i = i + 1; }\n    return i;\n}\n"
    )
    (workdir / "slow.toml").write_text('version = 1\n[capabilities."log.info"]\nallow = true\n')
    compiled = subprocess.run(cli_command("chronc", "slow.chr"), cwd=workdir, env=cli_env, check=False)
    assert compiled.returncode == 0
    proc = subprocess.Popen(
        cli_command("chronicle-vm", "trace", "slow.cmod", "--policy", "slow.toml", "--unbounded", "-o", "slow.json"),
        cwd=workdir,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "[info] started\n"  # the plugin is running now
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert err.strip() == "interrupted"
    assert not (workdir / "slow.json").exists()
    assert not list(workdir.glob(".~slow.json*"))


def test_a_trap_is_recorded_and_replays_exactly(cli: Any, workdir: Path) -> None:
    trapped = cli("chronicle-vm", "run", "divide.cmod", "--arg", "7", "--arg", "0", "--trace-out", "div.json")
    assert trapped.returncode == 1
    assert "trace written to div.json" in trapped.stderr
    doc = json.loads((workdir / "div.json").read_bytes())
    assert doc["events"][-1]["kind"] == "trap"
    assert doc["outcome"]["error"]["code"] == "runtime.division-by-zero"
    replayed = cli("chronicle-vm", "replay", "div.json", "--module", "divide.cmod", "--json")
    assert replayed.returncode == 0, replayed.stdout
    assert replayed.json()["replay"]["reproduced"] == "trap"
