"""chronicle-vm verify, negotiate and run end to end: summaries, decisions, values, limits, traps and the CLI host."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from chronicle_vm.limits import DEFAULT_LIMITS, Limits


def test_verify_summarises_the_module(cli: Any) -> None:
    result = cli("chronicle-vm", "verify", "greet.cmod", "--json")
    assert result.returncode == 0, result.stderr
    module = result.json()["module"]
    assert module["entry_points"] == [{"name": "main", "signature": "(str) -> int"}]
    assert [cap["name"] for cap in module["capabilities"]] == [
        "log.info",
        "clock.now",
        "random.int",
        "kv.get",
        "kv.set",
    ]
    assert len(module["sha256"]) == 64


def test_verify_human_output_has_tables(cli: Any) -> None:
    result = cli("chronicle-vm", "verify", "greet.cmod")
    assert result.returncode == 0
    assert result.stdout.startswith("verified greet.cmod")
    assert "random.int" in result.stdout
    assert "(int, int) -> int" in result.stdout


def test_verify_refuses_an_unverifiable_module_with_12(cli: Any) -> None:
    result = cli("chronicle-vm", "verify", "unverifiable.cmod", "--json")
    assert result.returncode == 12
    error = result.json()["error"]
    assert error["category"] == "verify"
    assert error["code"] == "verify.register-type"


def test_verify_refuses_truncated_bytes_with_11(cli: Any, workdir: Path) -> None:
    data = (workdir / "pure.cmod").read_bytes()
    (workdir / "truncated.cmod").write_bytes(data[: len(data) // 2])
    result = cli("chronicle-vm", "verify", "truncated.cmod", "--json")
    assert result.returncode == 11
    error = result.json()["error"]
    assert error["category"] == "decode"
    assert error["message"].startswith("truncated.cmod: ")


def test_run_without_policy_is_refused_with_every_capability_listed(cli: Any) -> None:
    result = cli("chronicle-vm", "run", "greet.cmod", "--arg", "ann", "--json")
    assert result.returncode == 13
    error = result.json()["error"]
    assert error["code"] == "policy.refused"
    assert error["refused"] == ["log.info", "clock.now", "random.int", "kv.get", "kv.set"]
    assert {d["decision"] for d in error["decisions"]} == {"missing"}
    assert "--policy" in error["hint"]


def test_negotiate_lists_each_decision(cli: Any) -> None:
    granted = cli("chronicle-vm", "negotiate", "greet.cmod", "--policy", "greet.toml", "--json")
    assert granted.returncode == 0
    decisions = granted.json()["negotiation"]["decisions"]
    assert [d["decision"] for d in decisions] == ["granted"] * 5
    partial = cli("chronicle-vm", "negotiate", "greet.cmod", "--policy", "partial.toml")
    assert partial.returncode == 13
    assert "error[policy.refused]: the module was refused 4 capabilities:" in partial.stderr
    for expected in ("granted", "denied", "missing"):
        assert expected in partial.stderr


def test_run_with_policy_gives_value_logs_on_stderr_and_persists_kv(cli: Any, workdir: Path) -> None:
    first = cli("chronicle-vm", "run", "greet.cmod", "--policy", "greet.toml", "--arg", "ann", "--json")
    assert first.returncode == 0, first.stderr
    payload = first.json()
    assert payload["status"] == "ok"
    assert payload["value"] == 1
    assert payload["instructions"] > 0
    assert payload["limits"] == DEFAULT_LIMITS.to_dict()
    assert first.stderr.startswith("[info] hello ann, visit 1, lucky ")
    second = cli("chronicle-vm", "run", "greet.cmod", "--policy", "greet.toml", "--arg", "ann")
    assert second.returncode == 0
    assert "[info] hello ann, visit 2, lucky " in second.stdout
    assert "result: 2" in second.stdout
    # A real SQLite file next to the policy holds the count.
    with closing(sqlite3.connect(workdir / "greet-kv.sqlite")) as db:
        assert db.execute("SELECT value FROM kv WHERE key = 'visits:ann'").fetchone() == ("2",)


def test_kv_at_an_unwritable_place_is_a_capability_failure(cli: Any, workdir: Path) -> None:
    policy = (workdir / "greet.toml").read_text().replace('"greet-kv.sqlite"', '"no-such-dir/deeper/kv.sqlite"')
    (workdir / "nowhere.toml").write_text(policy)
    result = cli("chronicle-vm", "run", "greet.cmod", "--policy", "nowhere.toml", "--arg", "ann", "--json")
    assert result.returncode == 1
    error = result.json()["error"]
    assert error["code"] == "runtime.capability-failed"
    assert error["capability"] == "kv.get"


def test_a_trap_exits_1_with_its_location(cli: Any) -> None:
    result = cli("chronicle-vm", "run", "divide.cmod", "--arg", "7", "--arg", "0")
    assert result.returncode == 1
    assert result.stderr.startswith("error[runtime.division-by-zero]: ")
    assert "divide.chr:3:14" in result.stderr
    # The source map names a file, but no file a module names is opened without --source.
    assert "3 |" not in result.stderr
    quoted = cli("chronicle-vm", "run", "divide.cmod", "--arg", "7", "--arg", "0", "--source", ".")
    assert quoted.returncode == 1
    # Under --source DIR the line is read from DIR and shown with a caret.
    assert "3 |     return n / d;" in quoted.stderr


def test_a_runaway_plugin_stops_at_the_instruction_limit(cli: Any) -> None:
    result = cli("chronicle-vm", "run", "spin.cmod", "--max-instructions", "5000", "--json")
    assert result.returncode == 14
    payload = result.json()
    assert payload["error"]["code"] == "limit.instructions"
    assert payload["error"]["location"]["file"] == "spin.chr"
    assert payload["limits"]["max_instructions"] == 5000


def test_flags_only_lower_and_unbounded_lifts_only_the_defaults(cli: Any, workdir: Path) -> None:
    higher = cli("chronicle-vm", "run", "pure.cmod", "--arg", "1", "--arg", "2", "--max-call-depth", "999999", "--json")
    assert higher.json()["limits"]["max_call_depth"] == DEFAULT_LIMITS.max_call_depth
    (workdir / "ceiling.toml").write_text("version = 1\n[limits]\nmax_instructions = 2_000\n")
    capped = cli(
        "chronicle-vm", "run", "spin.cmod", "--policy", "ceiling.toml", "--unbounded", "--max-registers", "64", "--json"
    )
    assert capped.returncode == 14
    limits = capped.json()["limits"]
    assert limits["max_instructions"] == 2_000  # the policy's ceiling holds under --unbounded
    assert limits["max_registers"] == 64
    assert limits["max_call_depth"] > DEFAULT_LIMITS.max_call_depth  # lifted


def test_quota_exhaustion_is_a_limit_error(cli: Any) -> None:
    result = cli("chronicle-vm", "run", "chatty.cmod", "--policy", "quota.toml", "--arg", "5", "--json")
    assert result.returncode == 14
    assert result.json()["error"]["code"] == "limit.capability-quota"
    assert result.stderr.splitlines() == ["[info] line 0", "[info] line 1"]


def test_args_are_read_by_the_declared_types(cli: Any) -> None:
    good = cli(
        "chronicle-vm",
        "run",
        "types.cmod",
        "--arg",
        "0x10",
        "--arg",
        "true",
        "--arg",
        "a b",
        "--arg",
        "[1, 2]",
        "--json",
    )
    assert good.returncode == 0, good.stderr
    assert good.json()["value"] == "a b:19"
    bad_bool = cli("chronicle-vm", "run", "types.cmod", "--arg", "1", "--arg", "yes", "--arg", "x", "--arg", "[]")
    assert bad_bool.returncode == 2
    assert bad_bool.stderr.strip() == (
        "error[usage.bad-argument]: --arg 'yes': argument 2 of `main` is bool; write true or false"
    )
    bad_array = cli(
        "chronicle-vm", "run", "types.cmod", "--arg", "1", "--arg", "true", "--arg", "x", "--arg", "[1,", "--json"
    )
    assert bad_array.returncode == 2
    assert bad_array.json()["error"]["code"] == "usage.bad-argument"
    wrong_items = cli(
        "chronicle-vm", "run", "types.cmod", "--arg", "1", "--arg", "true", "--arg", "x", "--arg", '["a"]', "--json"
    )
    assert wrong_items.returncode == 2
    assert wrong_items.json()["error"]["code"] == "usage.bad-arguments"


def test_unknown_entry_and_argument_count_are_usage_errors(cli: Any) -> None:
    unknown = cli("chronicle-vm", "run", "pure.cmod", "--entry", "nope", "--json")
    assert unknown.returncode == 2
    assert unknown.json()["error"]["code"] == "usage.unknown-entry"
    count = cli("chronicle-vm", "run", "pure.cmod", "--arg", "1", "--json")
    assert count.returncode == 2
    assert count.json()["error"]["code"] == "usage.bad-arguments"


def test_help_prints_the_safe_default_limits(cli: Any) -> None:
    result = cli("chronicle-vm", "run", "--help")
    assert result.returncode == 0
    for name in Limits.names():
        assert f"--{name.replace('_', '-')} N" in result.stdout
    assert "safe default limits" in result.stdout
    table = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.startswith("  max_")}
    assert table == {name: f"{getattr(DEFAULT_LIMITS, name):,}" for name in Limits.names()}
    assert "--unbounded" in result.stdout
