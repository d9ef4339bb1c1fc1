"""The host API on the command line: --host, host manifests, chronc --host-manifest/--source-name, --timeout, stacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def test_run_against_a_products_own_host(cli: Any) -> None:
    result = cli(
        "chronicle-vm", "run", "pricing.cmod", "--policy", "pricing.toml", "--host", "pricing_host:host",
        "--arg", "abc", "--arg", "3", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.json()["value"] == 27


def test_a_host_factory_in_a_file_serves_context_and_settings(cli: Any) -> None:
    result = cli(
        "chronicle-vm", "run", "pricing.cmod", "--policy", "pricing.toml", "--host", "pricing_host.py:make_host",
        "--entry", "who", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.json()["value"] == "tenant@eu"  # the [host] setting reached the capability through its context


def test_negotiate_and_trace_take_the_host_too(cli: Any, workdir: Path) -> None:
    negotiated = cli(
        "chronicle-vm", "negotiate", "pricing.cmod", "--policy", "pricing.toml", "--host", "pricing_host:host", "--json"
    )
    assert negotiated.returncode == 0, negotiated.stderr
    assert [d["decision"] for d in negotiated.json()["negotiation"]["decisions"]] == ["granted", "granted"]
    # Against the CLI's own host the same plugin is refused: the host offers neither capability.
    refused = cli("chronicle-vm", "negotiate", "pricing.cmod", "--policy", "pricing.toml", "--json")
    assert refused.returncode == 13
    traced = cli(
        "chronicle-vm", "trace", "pricing.cmod", "--policy", "pricing.toml", "--host", "pricing_host:host",
        "--arg", "ab", "--arg", "2", "-o", "pricing.trace.json", "--json",
    )  # fmt: skip
    assert traced.returncode == 0, traced.stderr
    replayed = cli("chronicle-vm", "replay", "pricing.trace.json", "--module", "pricing.cmod", "--json")
    assert replayed.returncode == 0, replayed.stdout
    assert replayed.json()["replay"]["reproduced"] == "returned"


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ("no_such_module_here:host", "no module named"),
        ("pricing_host:missing", "has no attribute"),
        ("pricing_host:not_a_host", "not a chronicle_vm.host.Host"),
        ("broken_host:host", "RuntimeError: the service configuration is missing"),
        ("pricing_host", "expected MODULE:ATTR"),
        ("nowhere/host.py:host", "no such file"),
    ],
)
def test_a_bad_host_spec_is_a_usage_error_naming_it(cli: Any, spec: str, needle: str) -> None:
    result = cli("chronicle-vm", "run", "pricing.cmod", "--policy", "pricing.toml", "--host", spec, "--json")
    assert result.returncode == 2
    error = result.json()["error"]
    assert error["code"] == "usage.host-spec"
    assert spec in error["message"] and needle in error["message"]
    assert "Traceback" not in result.stderr


def test_a_host_manifest_checks_cap_declarations_at_compile_time(cli: Any, workdir: Path) -> None:
    written = cli("chronicle-vm", "host-manifest", "--host", "pricing_host:host", "-o", "host.json")
    assert written.returncode == 0, written.stderr
    manifest = json.loads((workdir / "host.json").read_text(encoding="utf-8"))
    assert manifest["capabilities"] == [
        {"name": "price.of", "signature": "(str) -> int"},
        {"name": "tenant.name", "signature": "() -> str"},
    ]
    fits = cli("chronc", "pricing.chr", "--host-manifest", "host.json", "-o", "checked.cmod", "--json")
    assert fits.returncode == 0, fits.stdout
    (workdir / "wrong.chr").write_text(
        "cap price.of(sku: str, n: int) -> int;\ncap clock.now() -> int;\n"
        'pub fn main() -> int { return price.of("a", 1) + clock.now(); }\n',
        encoding="utf-8",
    )
    wrong = cli("chronc", "wrong.chr", "--host-manifest", "host.json", "--json")
    assert wrong.returncode == 10
    diagnostics = wrong.json()["error"]["diagnostics"]
    assert [(d["line"], d["decision"]) for d in diagnostics] == [(1, "type-invalid"), (2, "unknown")]
    # the same words negotiation uses for the same decisions
    assert "the module declares (str, int) -> int, the host provides (str) -> int" in diagnostics[0]["message"]
    assert "the host offers no capability named clock.now" in diagnostics[1]["message"]
    assert not (workdir / "wrong.cmod").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": "chronicle-host-manifest", "version": 1, "capabilities": {"price.of": "(str) -> int"}}',
        b'{"format": "chronicle-host-manifest", "version": 1, "capabilities": [{"name": 5, "signature": "()"}]}',
        b'{"format": "something-else", "version": 1, "capabilities": []}',
        b" " * (2 << 20) + b"{}",
    ],
)
def test_a_malformed_or_hostile_manifest_is_a_clear_usage_error(cli: Any, workdir: Path, content: bytes) -> None:
    (workdir / "bad-host.json").write_bytes(content)
    result = cli("chronc", "pricing.chr", "--host-manifest", "bad-host.json", "-o", "unused.cmod", "--json")
    assert result.returncode == 2, result.stdout
    error = result.json()["error"]
    assert error["code"] == "usage.host-manifest"
    assert "bad-host.json" in error["message"]


def test_the_source_name_is_relative_and_settable(cli: Any, workdir: Path) -> None:
    absolute = cli("chronc", str(workdir / "spin.chr"), "-o", "abs.cmod")
    relative = cli("chronc", "spin.chr", "-o", "rel.cmod")
    named = cli("chronc", "spin.chr", "--source-name", "plugins/spin.chr", "-o", "named.cmod")
    assert absolute.returncode == relative.returncode == named.returncode == 0
    assert (workdir / "abs.cmod").read_bytes() == (workdir / "rel.cmod").read_bytes()
    assert str(workdir).encode() not in (workdir / "abs.cmod").read_bytes()
    assert b"plugins/spin.chr" in (workdir / "named.cmod").read_bytes()


def test_a_timeout_stops_the_run_and_the_trace_replays_to_the_same_instruction(cli: Any) -> None:
    traced = cli("chronicle-vm", "trace", "spin.cmod", "--unbounded", "--timeout", "0.2", "-o", "spin.t.json", "--json")
    assert traced.returncode == 14, traced.stdout
    error = traced.json()["error"]
    assert error["code"] == "limit.deadline"
    # Recorded --unbounded, the run may have gone past the safe default ceilings: replay it --unbounded too.
    replayed = cli("chronicle-vm", "replay", "spin.t.json", "--module", "spin.cmod", "--unbounded", "--json")
    assert replayed.returncode == 0, replayed.stdout
    report = replayed.json()["replay"]
    assert report["reproduced"] == "limit"
    assert report["instructions"] == error["instructions"]
    assert report["outcome"]["error"]["code"] == "limit.deadline"


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_a_bad_timeout_is_a_usage_error(cli: Any, value: str) -> None:
    result = cli("chronicle-vm", "run", "spin.cmod", f"--timeout={value}", "--json")
    assert result.returncode == 2
    assert result.json()["error"]["code"] == "usage.timeout"


def test_a_deep_call_stack_is_folded_for_people_and_bounded_for_machines(cli: Any) -> None:
    human = cli("chronicle-vm", "run", "deep.cmod")
    assert human.returncode == 14
    assert human.stderr.count("\n") < 30
    assert "more frames" in human.stderr and "(x" in human.stderr
    machine = cli("chronicle-vm", "run", "deep.cmod", "--json")
    error = machine.json()["error"]
    assert error["code"] == "limit.call-depth"
    assert len(error["stack"]) == 50
    assert error["stack_omitted"] == 1000 - 50
    assert error["stack"][0]["function"] == "main"


def test_an_arg_may_start_with_a_dash(cli: Any) -> None:
    result = cli(
        "chronicle-vm", "run", "pricing.cmod", "--policy", "pricing.toml", "--host", "pricing_host:host",
        "--arg", "-abc", "--arg", "2", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    assert result.json()["value"] == 24


def test_inspect_shows_the_trace_meta(cli: Any, workdir: Path) -> None:
    from chronicle_vm import CancelHandle, ResourceLimitError, instantiate
    from chronicle_vm.trace.document import error_trace

    handle = CancelHandle()
    handle.cancel()
    instance = instantiate((workdir / "spin.cmod").read_bytes())
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("main", trace=True, cancel=handle, meta={"order": "A-17", "tenant": "acme"})
    trace = error_trace(caught.value)
    assert trace is not None
    (workdir / "meta.trace.json").write_bytes(trace.to_json())
    human = cli("chronicle-vm", "inspect", "meta.trace.json")
    assert human.returncode == 0, human.stderr
    assert 'meta: {"order": "A-17", "tenant": "acme"}' in human.stdout
    machine = cli("chronicle-vm", "inspect", "meta.trace.json", "--json")
    assert machine.json()["trace"]["meta"] == {"order": "A-17", "tenant": "acme"}
    replayed = cli("chronicle-vm", "replay", "meta.trace.json", "--module", "spin.cmod", "--json")
    assert replayed.returncode == 0, replayed.stdout
    assert replayed.json()["replay"]["outcome"]["error"]["code"] == "limit.cancelled"
