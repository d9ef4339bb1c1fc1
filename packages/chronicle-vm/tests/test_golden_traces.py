"""Traces recorded before the engines were derived from the semantics table: every engine writes them byte for byte.

tests/golden/ holds, per example plugin, its compiled module (so a change to the
compiler cannot move the goldens) and the canonical trace of each exported
function run with the arguments of test_replay_examples under the example's
policy and a deterministic stand-in host.  Regenerate only for a deliberate
change of the trace format: `python tests/test_golden_traces.py --write`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.model import Module
from chronicle_vm.errors import ChronicleError
from chronicle_vm.runtime import EngineName, instantiate
from chronicle_vm.trace.document import Trace, error_trace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_replay_examples import EXAMPLES, sample, stand_in

GOLDEN = Path(__file__).resolve().parent / "golden"
STEMS = ("bot", "game_mod", "hello", "pricing", "runaway", "text_transform")
ENGINES: tuple[EngineName, ...] = ("reference", "compiled")


def record(stem: str, engine: EngineName) -> dict[str, str]:
    """The canonical trace of each exported function of golden/`stem`.cvm, by function name."""
    data = (GOLDEN / f"{stem}.cvm").read_bytes()
    module = Module.from_bytes(data)
    # The golden module's own policy (byte for byte: traces record its digest) when the example has moved on
    # from it (pricing.toml: the pricing rule before it took an Order struct).
    own = GOLDEN / f"{stem}.toml"
    policy = Policy.from_file(own if own.exists() else EXAMPLES / f"{stem}.toml")
    host = Host(settings={name: type(value) for name, value in policy.host.items()})
    for capability in module.capabilities:
        host.register(
            capability.name,
            stand_in(capability.params, capability.result),
            params=capability.params,
            result=capability.result,
        )
    instance = instantiate(data, host=host, policy=policy, engine=engine)
    traces: dict[str, str] = {}
    for function in module.functions:
        if not function.exported:
            continue
        args = [sample(vtype, index) for index, vtype in enumerate(function.params)]
        trace: Trace | None
        try:
            trace = instance.call(function.name, *args, trace=True).trace
        except ChronicleError as exc:
            trace = error_trace(exc)
        assert trace is not None
        traces[function.name] = trace.to_json().decode("utf-8")
    return traces


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stem", STEMS)
def test_trace_is_byte_identical_to_the_golden(stem: str, engine: EngineName) -> None:
    golden = json.loads((GOLDEN / f"{stem}.traces.json").read_text(encoding="utf-8"))
    assert record(stem, engine) == golden


#: Traces recorded before `max_output_bytes` and `max_trace_bytes` were limits (their provenance lacks both),
#: kept as they were written: they still load and replay exactly, under the behaviour of their runtime.
BEFORE_BYTES = GOLDEN / "before-bytes"


@pytest.mark.parametrize("stem", ["bot", "pricing"])
def test_traces_recorded_before_the_bytes_limits_still_replay(stem: str) -> None:
    from chronicle_vm.limits import RECORDED_BEFORE
    from chronicle_vm.trace.replay import replay

    module = (GOLDEN / f"{stem}.cvm").read_bytes()
    traces = json.loads((BEFORE_BYTES / f"{stem}.traces.json").read_text(encoding="utf-8"))
    assert traces
    for text in traces.values():
        assert not set(RECORDED_BEFORE) & set(json.loads(text)["provenance"]["limits"])
        for engine in ENGINES:
            assert replay(text, module, engine=engine).exact


def _write() -> None:
    import chronicle_lang

    for stem in STEMS:
        path = EXAMPLES / f"{stem}.chr"
        module = chronicle_lang.compile_to_module(path.read_text(encoding="utf-8"), path.name)
        (GOLDEN / f"{stem}.cvm").write_bytes(module.to_bytes())
        traces = record(stem, "reference")
        text = json.dumps(traces, indent=1, sort_keys=True, ensure_ascii=True)
        (GOLDEN / f"{stem}.traces.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    _write()
