"""The CLI host bounds what a plugin makes it write: log messages and kv values, per call and per run ([host])."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from chronicle_lang import compile_to_module

_LOG_BOMB = """cap log.info(msg: str);
pub fn main(size: int, times: int) {
    let s = repeat("x", size);
    for i in 0..times { log.info(s); }
}
"""
_KV_BOMB = """cap kv.set(key: str, value: str);
pub fn main(size: int, times: int) {
    let s = repeat("v", size);
    for i in 0..times { kv.set(str(i), s); }
}
"""


def _setup(folder: Path, source: str, capability: str, host: str = "") -> None:
    (folder / "bomb.cmod").write_bytes(compile_to_module(source, "bomb.chr").to_bytes())
    (folder / "bomb.toml").write_text(
        f'version = 1\n[host]\nkv_path = "kv.sqlite"\n{host}\n[capabilities."{capability}"]\nallow = true\n',
        encoding="utf-8",
    )


def test_a_log_bomb_stops_at_the_first_oversized_message(cli_at: Any, tmp_path: Path) -> None:
    _setup(tmp_path, _LOG_BOMB, "log.info")
    started = time.monotonic()
    args = ("--arg", "1000000", "--arg", "1000", "--policy", "bomb.toml")
    result = cli_at(tmp_path, "chronicle-vm", "trace", "bomb.cmod", *args, "-o", "t.json", "--json")
    assert time.monotonic() - started < 20  # before: 18 s, 1.0 GB of trace, 2.96 GB RSS
    assert result.returncode == 1
    error = result.json()["error"]
    assert error["code"] == "runtime.capability-failed"
    assert "log_max_chars" in error["host_message"]
    assert result.stderr.count("[info]") == 0  # nothing was logged
    assert (tmp_path / "t.json").stat().st_size < 2_000_000
    replayed = cli_at(tmp_path, "chronicle-vm", "replay", "t.json", "--module", "bomb.cmod", "--json")
    assert replayed.returncode == 0, replayed.stdout
    inspected = cli_at(tmp_path, "chronicle-vm", "inspect", "t.json")
    assert inspected.returncode == 0


def test_the_policy_sets_the_bounds_and_the_run_total_holds(cli_at: Any, tmp_path: Path) -> None:
    _setup(tmp_path, _LOG_BOMB, "log.info", "log_max_chars = 1000\nlog_max_total_chars = 2500")
    args = ("--arg", "1000", "--arg", "5", "--policy", "bomb.toml")
    result = cli_at(tmp_path, "chronicle-vm", "run", "bomb.cmod", *args)
    assert result.returncode == 1
    assert result.stdout.count("[info]") == 2  # the third message would pass 2,500 characters
    assert "log_max_total_chars" in result.stderr


def test_kv_values_and_run_writes_are_bounded(cli_at: Any, tmp_path: Path) -> None:
    _setup(tmp_path, _KV_BOMB, "kv.set")
    big = cli_at(tmp_path, "chronicle-vm", "run", "bomb.cmod", "--arg", "100000", "--arg", "1", "--policy", "bomb.toml")
    assert big.returncode == 1 and "kv_max_value_chars" in big.stderr
    _setup(tmp_path, _KV_BOMB, "kv.set", "kv_max_total_chars = 50000")
    args = ("--arg", "10000", "--arg", "100", "--policy", "bomb.toml", "--json")
    many = cli_at(tmp_path, "chronicle-vm", "run", "bomb.cmod", *args)
    assert many.returncode == 1
    error = many.json()["error"]
    assert "kv_max_total_chars" in error["host_message"]
    assert json.dumps(error).count("kv.set") >= 1


def test_an_unknown_or_mistyped_bound_is_a_policy_error(cli_at: Any, tmp_path: Path) -> None:
    _setup(tmp_path, _LOG_BOMB, "log.info", 'log_max_chars = "many"')
    result = cli_at(tmp_path, "chronicle-vm", "run", "bomb.cmod", "--arg", "1", "--arg", "1", "--policy", "bomb.toml")
    assert result.returncode == 13
    assert "policy.host-setting-type" in result.stderr


def test_the_vm_bounds_bytes_out_under_the_host_bounds_by_flag_and_by_policy(cli_at: Any, tmp_path: Path) -> None:
    """`--max-output-bytes` and `[limits] max_output_bytes`: each 1,000-character message costs 1,002 bytes out."""
    _setup(tmp_path, _LOG_BOMB, "log.info")
    args = ("--arg", "1000", "--arg", "10", "--policy", "bomb.toml")
    flagged = cli_at(
        tmp_path, "chronicle-vm", "trace", "bomb.cmod", *args, "--max-output-bytes", "3010", "-o", "t.json"
    )
    assert flagged.returncode == 14
    assert flagged.stdout.count("[info]") == 3  # the fourth would pass 3,010 bytes
    assert "limit.output-bytes" in flagged.stderr
    replayed = cli_at(tmp_path, "chronicle-vm", "replay", "t.json", "--module", "bomb.cmod", "--json")
    assert replayed.returncode == 0 and replayed.json()["replay"]["reproduced"] == "limit"
    assert cli_at(tmp_path, "chronicle-vm", "diff", "t.json", "t.json").returncode == 0
    doc = json.loads((tmp_path / "t.json").read_text(encoding="utf-8"))
    assert doc["provenance"]["limits"]["max_output_bytes"] == 3010
    big = ("--arg", "10000", "--arg", "100", "--policy", "bomb.toml")
    budget = cli_at(tmp_path, "chronicle-vm", "trace", "bomb.cmod", *big, "--max-trace-bytes", "30000", "-o", "u.json")
    assert budget.returncode == 14 and "limit.trace-bytes" in budget.stderr
    assert budget.stdout.count("[info]") == 2  # about 10,200 bytes of trace a call
    replayed = cli_at(tmp_path, "chronicle-vm", "replay", "u.json", "--module", "bomb.cmod", "--json")
    assert replayed.returncode == 0 and replayed.json()["replay"]["reproduced"] == "limit"
    (tmp_path / "bomb.toml").write_text(
        'version = 1\n[limits]\nmax_output_bytes = 2004\nmax_trace_bytes = 100000\n[capabilities."log.info"]\n'
        "allow = true\n",
        encoding="utf-8",
    )
    capped = cli_at(tmp_path, "chronicle-vm", "run", "bomb.cmod", *args, "--unbounded", "--json")
    assert capped.returncode == 14  # the policy's limits hold under --unbounded
    payload = capped.json()
    assert payload["error"]["code"] == "limit.output-bytes"
    assert payload["limits"]["max_output_bytes"] == 2004 and payload["limits"]["max_trace_bytes"] == 100_000
