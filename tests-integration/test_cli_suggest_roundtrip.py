"""The suggested-policy round trip over every example plugin.

Each example is compiled and traced by the real CLI under its own policy
(twice per entry point, with different arguments), `chronicle-vm policy
suggest` learns one policy from its traces, and then every trace is run
again under the suggested policy and must come out the same (entry, every
event, outcome):

- for every example, with a host that answers each capability from the
  trace's record (live clocks and dice cannot repeat themselves), through the
  real negotiation, scopes, quotas and limits of the suggested policy;
- for the examples whose capabilities are deterministic given their inputs,
  through the CLI itself, with a fresh copy of the key-value store.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import DEFAULT_LIMITS
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.document import Trace, error_trace, load_trace

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path for path in (REPO / "examples").glob("*.chr") if path.with_suffix(".toml").exists())
#: Examples that call nothing whose answer changes between runs (no clock, no dice).
DETERMINISTIC = {"hello", "runaway", "text_transform"}


def arg_json(vtype: ValueType, seed: int, structs: Sequence[StructDef]) -> Any:
    """A JSON value for a parameter, varied by `seed` (digit strings so that parse_int succeeds)."""
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        return [arg_json(vtype.element(), seed, structs), arg_json(vtype.element(), seed + 1, structs)]
    if kind is TypeKind.MAP:
        return [[arg_json(vtype.args[0], seed, structs), arg_json(vtype.args[1], seed, structs)]]
    if kind is TypeKind.STRUCT:
        fields = structs[vtype.ref].fields
        return {f.name: arg_json(f.type, seed + i, structs) for i, f in enumerate(fields)}
    if kind is TypeKind.INT:
        return seed % 5 + 1
    if kind is TypeKind.FLOAT:
        return seed % 5 + 0.5
    if kind is TypeKind.BOOL:
        return seed % 2 == 0
    return f"item-{seed % 9}"


def arg_text(vtype: ValueType, seed: int, structs: Sequence[StructDef] = ()) -> str:
    """An `--arg` for a parameter: a str as itself, anything else as JSON."""
    value = arg_json(vtype, seed, structs)
    return value if isinstance(value, str) else json.dumps(value)


def recorded_host(trace: Trace, module: Any) -> Host:
    """A host whose capabilities give the trace's recorded results in order (and check the arguments)."""
    calls = iter([event for event in trace.events if event["kind"] == "call"])
    host = Host()

    def answer_for(name: str) -> Any:
        def answer(*args: Any) -> Any:
            event = next(calls)
            assert (event["capability"], event["args"]) == (name, list(args))
            if "error" in event:
                raise RuntimeError(event["error"]["message"])
            return event["result"]

        return answer

    for capability in module.capabilities:
        host.register(
            capability.name,
            answer_for(capability.name),
            params=capability.params,
            result=capability.result,
            structs=module.structs,
        )
    return host


def comparable(trace: Trace) -> dict[str, Any]:
    return {"entry": trace.entry, "events": list(trace.events), "outcome": trace.outcome}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_every_trace_runs_the_same_under_the_suggested_policy(example: Path, cli_at: Any, tmp_path: Path) -> None:
    shutil.copy(example, tmp_path / example.name)
    shutil.copy(example.with_suffix(".toml"), tmp_path / "own.toml")
    assert cli_at(tmp_path, "chronc", example.name, "-o", "plugin.cmod").returncode == 0
    data = (tmp_path / "plugin.cmod").read_bytes()
    module = load_module(data).module
    runs: list[tuple[str, list[str]]] = []
    for function in module.functions:
        if function.exported:
            for seed in (0, 3):
                texts = [arg_text(vtype, seed + i, module.structs) for i, vtype in enumerate(function.params)]
                runs.append((function.name, texts))
    traces: list[str] = []
    for number, (entry, args) in enumerate(runs):
        name = f"t{number}.json"
        argv = [item for arg in args for item in ("--arg", arg)]
        done = cli_at(tmp_path, "chronicle-vm", "trace", "plugin.cmod", "--policy", "own.toml", "--entry", entry, *argv,
                      "-o", name)  # fmt: skip
        assert (tmp_path / name).exists(), done.stderr
        traces.append(name)
    suggested = cli_at(tmp_path, "chronicle-vm", "policy", "suggest", *traces, "-o", "suggested.toml", "--json")
    assert suggested.returncode == 0, suggested.stdout
    policy = Policy.from_file(tmp_path / "suggested.toml")
    assert set(policy.capabilities) == {capability.name for capability in module.capabilities}

    for name in traces:
        original = load_trace((tmp_path / name).read_bytes())
        instance = instantiate(data, host=recorded_host(original, module), policy=policy, limits=DEFAULT_LIMITS)
        try:
            again = instance.call(original.entry["function"], *original.entry["args"], trace=True).trace
        except ChronicleError as exc:
            again = error_trace(exc)
        assert again is not None
        assert comparable(again) == comparable(original), name

    if example.stem not in DETERMINISTIC:
        return
    # the same through the CLI: a fresh key-value store, the runs in their order
    text = (tmp_path / "suggested.toml").read_text(encoding="utf-8")
    (tmp_path / "rerun.toml").write_text(text + '\n[host]\nkv_path = "rerun.sqlite"\n', encoding="utf-8")
    for number, (entry, args) in enumerate(runs):
        argv = [item for arg in args for item in ("--arg", arg)]
        cli_at(tmp_path, "chronicle-vm", "trace", "plugin.cmod", "--policy", "rerun.toml", "--entry", entry, *argv,
               "-o", f"r{number}.json")  # fmt: skip
        original = load_trace((tmp_path / f"t{number}.json").read_bytes())
        again = load_trace((tmp_path / f"r{number}.json").read_bytes())
        assert comparable(again) == comparable(original)
        assert again.provenance["policy_sha256"] == Policy.from_file(tmp_path / "rerun.toml").digest
