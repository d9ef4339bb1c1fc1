"""Every example plugin, run traced under its own policy with a deterministic stand-in host, replays exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.errors import ChronicleError
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace.document import Trace, error_trace
from chronicle_vm.trace.replay import replay

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PLUGINS = sorted(path for path in EXAMPLES.glob("*.chr") if path.with_suffix(".toml").exists())


def sample(vtype: ValueType, seed: int, structs: Sequence[StructDef] = (), depth: int = 0) -> Any:
    """A host value of `vtype` that varies with `seed`: ints, floats and digit strings (so parse_int succeeds),
    arrays of two, maps of one entry, structs as dicts by field name (empty arrays below depth 3, so recursive
    structs end)."""
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        element = vtype.element()
        return (
            []
            if depth >= 3
            else [sample(element, seed, structs, depth + 1), sample(element, seed + 1, structs, depth + 1)]
        )
    if kind is TypeKind.MAP:
        key, value = vtype.args
        return {} if depth >= 3 else {sample(key, seed, structs, depth + 1): sample(value, seed, structs, depth + 1)}
    if kind is TypeKind.STRUCT:
        fields = structs[vtype.ref].fields
        return {f.name: sample(f.type, seed + i, structs, depth + 1) for i, f in enumerate(fields)}
    if kind is TypeKind.INT:
        return seed % 5 + 1
    if kind is TypeKind.FLOAT:
        return seed % 5 + 0.5
    if kind is TypeKind.BOOL:
        return seed % 2 == 0
    return str(seed % 9)


def stand_in(
    params: tuple[ValueType, ...], result: ValueType | None, structs: Sequence[StructDef] = ()
) -> Callable[..., Any]:
    calls = [0]

    def answer(*args: Any) -> Any:
        calls[0] += 1
        return None if result is None else sample(result, calls[0] + len(args), structs)

    return answer


@pytest.mark.skipif(not PLUGINS, reason="no examples/*.chr with a policy")
@pytest.mark.parametrize("path", PLUGINS, ids=lambda path: path.stem)
def test_example_records_and_replays_exactly(path: Path) -> None:
    chronicle_lang = pytest.importorskip("chronicle_lang")
    module = chronicle_lang.compile_to_module(path.read_text(encoding="utf-8"), path.name)
    data = module.to_bytes()
    policy = Policy.from_file(path.with_suffix(".toml"))
    host = Host(settings={name: type(value) for name, value in policy.host.items()})
    for capability in module.capabilities:
        host.register(
            capability.name,
            stand_in(capability.params, capability.result, module.structs),
            params=capability.params,
            result=capability.result,
            structs=module.structs,
        )
    instance = instantiate(data, host=host, policy=policy, engine="reference")
    for function in module.functions:
        if not function.exported:
            continue
        args = [sample(vtype, index, module.structs) for index, vtype in enumerate(function.params)]
        trace: Trace | None
        try:
            trace = instance.call(function.name, *args, trace=True).trace
        except ChronicleError as exc:
            trace = error_trace(exc)
        assert trace is not None
        for engine in ("reference", "auto"):
            report = replay(trace.to_json(), data, engine=engine)
            assert report.exact
            assert report.events == len(trace.events)
            assert report.outcome["status"] == trace.outcome["status"]
