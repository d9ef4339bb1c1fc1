"""Trace benchmark: takes nothing, gives the cost of recording and replaying 100,000 capability calls.

Run it with `python packages/chronicle-cli/benchmarks/bench_trace.py`.
The plugin loops `for i in 0..n { total = total + num.next(i) }`; the host's
`num.next` is trivial, so the figures are the runtime's own cost per call.
For each engine it times (median of REPEATS, process time, so other load on
the machine counts less): the untraced call, the traced call (the trace's
JSON shape is built lazily, after the call), the canonical bytes
(`to_json`), loading those bytes (`load_trace`: parse and check), the replay
run of an already loaded trace, and replay from the bytes (load + run).
Targets (issue 7): traced <= 1.30 x untraced; replay no slower than the
traced run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from chronicle_vm.host import Host
from chronicle_vm.isa import Op
from chronicle_vm.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.policy import Policy
from chronicle_vm.replay import ReplayReport, replay
from chronicle_vm.runtime import Instance, instantiate
from chronicle_vm.trace import Trace, load_trace
from chronicle_vm.types import BOOL, INT

CALLS = 100_000
REPEATS = 3
ENGINES = ("auto", "reference")


def build_module() -> Module:
    """`main(n) -> int`: the sum of num.next(i) for i in 0..n (6 instructions per iteration)."""
    code = (
        Instruction(Op.LOADK, 1, 0),  # i = 0
        Instruction(Op.LOADK, 2, 0),  # total = 0
        Instruction(Op.LOADK, 3, 1),  # one = 1
        Instruction(Op.LT, 4, 1, 0),  # loop: i < n
        Instruction(Op.JMPIFNOT, 4, 9),
        Instruction(Op.CAPCALL, 0, 1, 5),  # got = num.next(i)
        Instruction(Op.ADD, 2, 2, 5),
        Instruction(Op.ADD, 1, 1, 3),
        Instruction(Op.JMP, 3),
        Instruction(Op.RET, 2),
    )
    main = Function("main", True, 1, INT, (INT, INT, INT, INT, BOOL, INT), code)
    return Module(
        constants=(0, 1),
        capabilities=(Capability("num.next", (INT,), INT),),
        functions=(main,),
        source_map=SourceMap(("bench.chr",), (tuple(SourcePos(0, 3 + i, 5) for i in range(len(code))),)),
    )


def _instance(data: bytes, engine: str) -> Instance:
    host = Host()

    @host.capability("num.next")
    def num_next(i: int) -> int:
        return i + 1

    policy = Policy.from_toml('version = 1\n[capabilities."num.next"]\nallow = true\n')
    return instantiate(data, host=host, policy=policy, engine=engine)  # type: ignore[arg-type]


def _median(action: Callable[[], object]) -> tuple[float, object]:
    times: list[float] = []
    result: object = None
    for _ in range(REPEATS):
        start = time.process_time()
        result = action()
        times.append(time.process_time() - start)
    return statistics.median(times), result


def run() -> dict[str, float]:
    """Untraced, traced, to_json, load and replay times per engine, with the ratios the targets name."""
    data = build_module().to_bytes()
    figures: dict[str, float] = {"calls": float(CALLS)}
    for engine in ENGINES:
        instance = _instance(data, engine)

        def untraced_call(instance: Instance = instance) -> object:
            return instance.call("main", CALLS)

        def traced_call(instance: Instance = instance) -> Trace:
            trace = instance.call("main", CALLS, trace=True).trace
            assert trace is not None
            return trace

        def traced_json(instance: Instance = instance) -> bytes:
            return traced_call(instance).to_json()

        untraced, _ = _median(untraced_call)
        traced, _ = _median(traced_call)
        traced_with_json, raw = _median(traced_json)
        assert isinstance(raw, bytes)

        def load(raw: bytes = raw) -> Trace:
            return load_trace(raw)

        loaded_seconds, loaded = _median(load)
        assert isinstance(loaded, Trace)

        def replay_loaded(loaded: Trace = loaded, engine: str = engine) -> ReplayReport:
            return replay(loaded, data, engine=engine)  # type: ignore[arg-type]

        def replay_bytes(raw: bytes = raw, engine: str = engine) -> ReplayReport:
            return replay(raw, data, engine=engine)  # type: ignore[arg-type]

        run_seconds, report = _median(replay_loaded)
        assert isinstance(report, ReplayReport) and report.exact
        replayed, _ = _median(replay_bytes)
        figures[f"{engine}_untraced_seconds"] = untraced
        figures[f"{engine}_traced_seconds"] = traced
        figures[f"{engine}_to_json_seconds"] = traced_with_json - traced
        figures[f"{engine}_load_trace_seconds"] = loaded_seconds
        figures[f"{engine}_replay_run_seconds"] = run_seconds
        figures[f"{engine}_replay_seconds"] = replayed
        figures[f"{engine}_trace_overhead"] = traced / untraced - 1
        figures[f"{engine}_replay_run_vs_traced"] = run_seconds / traced
        figures[f"{engine}_replay_vs_traced_with_json"] = replayed / traced_with_json
        figures["trace_mib"] = len(raw) / (1 << 20)
    return figures


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:36} {value:12.4f}")
