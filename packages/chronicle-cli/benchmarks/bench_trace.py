"""Trace benchmark: takes nothing, gives the cost of recording and replaying 100,000 capability calls.

Run it with `python packages/chronicle-cli/benchmarks/bench_trace.py`.
The plugin loops `for i in 0..n { total = total + num.next(i) }`; the host's
`num.next` is trivial, so the figures are the runtime's own cost per call.
Targets (issue 7): traced <= 1.30 x untraced; the replay run of a loaded
trace no slower than the traced run.

Method, chosen because single timings on a shared 2-core machine vary by
a factor of 1.5 or more:

- process time (time.process_time), so other processes' CPU time is not
  counted (their effect on caches and memory bandwidth still is);
- one untimed warm-up of every variant first (it also caches the loaded
  trace's canonical bytes, whose sha256 the replay report names);
- ROUNDS rounds of the run variants (untraced, traced, replay run), in an
  order rotated every round and with both engines in the same round, so a
  change of load hits every variant alike; a ratio is taken within each
  round (traced / untraced of the same round) and the figure is the median
  of those ratios, with the min and max as its spread; `_best` figures are
  the ratio of the two variants' fastest runs, the least disturbed ones;
- HEAVY_ROUNDS rounds of the costly variants (to_json, load_trace, replay
  from bytes), each about a second;
- gc.collect() before every timed run and every result dropped outside the
  timed region, so no run pays for freeing the previous run's trace (the
  fixtures, alive throughout, are frozen out of the collector's view).  The
  cyclic collector stays enabled during the runs: its passes are part of
  what a run costs (it does not run at all during the untraced, traced or
  replay run of this plugin: recording keeps no GC-tracked object per call,
  and replay pauses the collector).
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.runtime import Instance, instantiate
from chronicle_vm.trace.document import Trace, load_trace
from chronicle_vm.trace.replay import ReplayReport, replay

CALLS = 100_000
ROUNDS = 11
HEAVY_ROUNDS = 3
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


def _timed(action: Callable[[], object]) -> tuple[float, object]:
    """Process seconds of one run of `action` (after a full collection), and its result."""
    gc.collect()
    start = time.process_time()
    result = action()
    return time.process_time() - start, result


def _seconds(action: Callable[[], object]) -> float:
    seconds, result = _timed(action)
    del result  # freed here, outside the timed region
    return seconds


def _spread(figures: dict[str, float], name: str, values: list[float]) -> None:
    figures[name] = statistics.median(values)
    figures[f"{name}_min"] = min(values)
    figures[f"{name}_max"] = max(values)


class _Engine:
    """The variants timed on one engine, and their timings."""

    def __init__(self, data: bytes, engine: str) -> None:
        self.data = data
        self.engine = engine
        self.instance = _instance(data, engine)
        self.raw = self.traced().to_json()
        self.loaded = load_trace(self.raw)
        self.times: dict[str, list[float]] = {}

    def untraced(self) -> object:
        return self.instance.call("main", CALLS)

    def traced(self) -> Trace:
        trace = self.instance.call("main", CALLS, trace=True).trace
        assert trace is not None
        return trace

    def replay_run(self) -> ReplayReport:
        report = replay(self.loaded, self.data, engine=self.engine)  # type: ignore[arg-type]
        assert report.exact
        return report

    def load(self) -> Trace:
        return load_trace(self.raw)

    def replay_bytes(self) -> ReplayReport:
        report = replay(self.raw, self.data, engine=self.engine)  # type: ignore[arg-type]
        assert report.exact
        return report

    def time(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def heavy_round(self) -> None:
        """A fresh trace's to_json, load_trace of the bytes, replay from the bytes."""
        traced_seconds, trace = _timed(self.traced)
        assert isinstance(trace, Trace)
        to_json = _seconds(trace.to_json)
        del trace
        self.time("traced_with_json", traced_seconds + to_json)
        self.time("to_json", to_json)
        self.time("load_trace", _seconds(self.load))
        self.time("replay_bytes", _seconds(self.replay_bytes))


def run() -> dict[str, float]:
    """Untraced, traced, to_json, load and replay times per engine, with the ratios the targets name."""
    data = build_module().to_bytes()
    engines = [_Engine(data, engine) for engine in ENGINES]
    variants = ("untraced", "traced", "replay_run")
    for bench in engines:  # warm-up, untimed: translation caches, the loaded trace's canonical bytes
        for name in variants:
            getattr(bench, name)()
    # The fixtures (two loaded traces, about a million objects) live through every run: frozen, they
    # are left out of the gc.collect() before each timed run, which would otherwise walk them each time.
    gc.collect()
    gc.freeze()
    try:
        for round_index in range(ROUNDS):
            shift = round_index % len(variants)
            for bench in engines if round_index % 2 == 0 else engines[::-1]:
                for name in variants[shift:] + variants[:shift]:
                    bench.time(name, _seconds(getattr(bench, name)))
        for _ in range(HEAVY_ROUNDS):
            for bench in engines:
                bench.heavy_round()
    finally:
        gc.unfreeze()
    figures: dict[str, float] = {"calls": float(CALLS), "rounds": float(ROUNDS)}
    for bench in engines:
        engine, times = bench.engine, bench.times
        figures[f"{engine}_untraced_seconds"] = statistics.median(times["untraced"])
        figures[f"{engine}_traced_seconds"] = statistics.median(times["traced"])
        figures[f"{engine}_to_json_seconds"] = statistics.median(times["to_json"])
        figures[f"{engine}_load_trace_seconds"] = statistics.median(times["load_trace"])
        figures[f"{engine}_replay_run_seconds"] = statistics.median(times["replay_run"])
        figures[f"{engine}_replay_seconds"] = statistics.median(times["replay_bytes"])
        pairs = zip(times["untraced"], times["traced"], times["replay_run"], strict=True)
        overheads, replay_ratios = [], []
        for untraced, traced, replay_run in pairs:
            overheads.append(traced / untraced - 1)
            replay_ratios.append(replay_run / traced)
        _spread(figures, f"{engine}_trace_overhead", overheads)
        figures[f"{engine}_trace_overhead_best"] = min(times["traced"]) / min(times["untraced"]) - 1
        _spread(figures, f"{engine}_replay_run_vs_traced", replay_ratios)
        figures[f"{engine}_replay_run_vs_traced_best"] = min(times["replay_run"]) / min(times["traced"])
        _spread(
            figures,
            f"{engine}_replay_vs_traced_with_json",
            [b / a for a, b in zip(times["traced_with_json"], times["replay_bytes"], strict=True)],
        )
    figures["trace_mib"] = len(engines[0].raw) / (1 << 20)
    return figures


if __name__ == "__main__":
    started = time.perf_counter()
    for name, value in run().items():
        print(f"{name:40} {value:12.4f}")
    print(f"{'(benchmark wall seconds)':40} {time.perf_counter() - started:12.1f}")
