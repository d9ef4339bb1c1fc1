"""The benchmark suite: takes nothing, gives a timing table (and docs/performance.md with --write-docs).

Usage:
    python packages/chronicle-cli/benchmarks/run.py                 run everything, print the tables
    python packages/chronicle-cli/benchmarks/run.py --collect-only  list the workloads without running them
    python packages/chronicle-cli/benchmarks/run.py --write-docs    run everything and rewrite docs/performance.md
    python packages/chronicle-cli/benchmarks/run.py -k fib -k sum   run only workloads whose name contains a word

Two kinds of workloads:
- VM workloads (workloads/*.chr, listed in workloads/programs.py): each is
  compiled from `.chr`, verified, then run on the reference interpreter and
  on the compiled engine, and the same algorithm runs in plain Python in
  the same process; the table gives median-of-5 seconds, the ratio to plain
  Python and VM instructions per second.  Metering is always exact (both
  engines count every instruction against max_instructions).
- Stage benchmarks (bench_*.py next to this file, each with
  `run() -> dict[str, float]`): decoding, verifying, assembling, compiling,
  tracing and replay; their figures are reported as they come.

Ratios, not absolute times, are the comparable figures: they are taken in
one process on one machine, against the same CPython.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
DOCS = ROOT / "docs" / "performance.md"
REPEATS = 5
STARTUP_FUNCTIONS = 1_000

sys.path.insert(0, str(HERE))

from workloads.programs import WORKLOADS, Workload  # noqa: E402


@dataclass(frozen=True, slots=True)
class VmResult:
    workload: Workload
    python_seconds: float
    reference_seconds: float
    compiled_seconds: float
    instructions: int
    peers: dict[str, float | None]  # peer name -> its seconds in the same run (None: it cannot run this workload)

    @property
    def reference_ratio(self) -> float:
        return self.reference_seconds / self.python_seconds

    @property
    def compiled_ratio(self) -> float:
        return self.compiled_seconds / self.python_seconds


def median_seconds(action: Callable[[], object], repeats: int = REPEATS) -> tuple[float, object]:
    times: list[float] = []
    result: object = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def stage_files() -> list[Path]:
    return sorted(HERE.glob("bench_*.py"))


def first_line(path: Path) -> str:
    """The first docstring line of a bench file, read without importing it."""
    try:
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    except SyntaxError:
        return "(does not parse)"
    return doc.splitlines()[0] if doc else ""


def collect(selected: Callable[[str], bool]) -> list[tuple[str, str]]:
    rows = [(f"vm:{w.name}", w.description) for w in WORKLOADS if selected(w.name)]
    if selected("startup"):
        rows.append(("vm:startup", f"compiled engine set-up and first runs of a {STARTUP_FUNCTIONS:,}-function module"))
    for path in stage_files():
        name = path.stem.removeprefix("bench_")
        if selected(name):
            rows.append((f"stage:{name}", first_line(path)))
    return rows


# -- VM workloads -----------------------------------------------------------------------------------------------------


def run_workload(workload: Workload) -> VmResult:
    from workloads.programs import num_next

    from chronicle_lang import compile_to_module
    from chronicle_vm.core.calls import CallSite
    from chronicle_vm.core.values import Value
    from chronicle_vm.engines.compiled import CompiledEngine
    from chronicle_vm.engines.reference import Interpreter, RunOutcome
    from chronicle_vm.limits import HARD_LIMITS
    from chronicle_vm.verifier.rules import verify

    text = workload.path().read_text(encoding="utf-8")
    if workload.source.endswith(".casm"):
        from chronicle_asm import assemble_text
        from chronicle_vm.core.model import fitting_version

        module = assemble_text(text, workload.source)
        verified = verify(replace(module, version=fitting_version(module)))  # floats: format version 2
    else:
        verified = verify(compile_to_module(text, workload.source))
    # Generous limits, but every limit is still checked: metering stays exact.
    limits = replace(HARD_LIMITS, max_instructions=10**12, max_call_depth=10_000)

    def next_number(args: Sequence[Value], site: CallSite) -> Value:
        value = args[0]
        assert isinstance(value, int)
        return num_next(value)

    handlers = (next_number,) if workload.capability else ()
    argument = workload.argument
    engines: dict[str, Interpreter | CompiledEngine] = {
        "reference": Interpreter(verified, limits, handlers),
        "compiled": CompiledEngine(verified, limits, handlers),
    }
    expected = workload.python(argument)
    peers = _working_peers(workload, expected)
    # Interleaved repetitions, CPU time of this process: the ratios hold up when the machine is busy.
    times: dict[str, list[float]] = {"python": [], "reference": [], "compiled": [], **{p: [] for p in peers}}
    outcomes: dict[str, RunOutcome] = {}
    for _ in range(REPEATS):
        start = time.process_time()
        workload.python(argument)
        times["python"].append(time.process_time() - start)
        for name, peer in peers.items():
            start = time.process_time()
            peer(argument)
            times[name].append(time.process_time() - start)
        for name, engine in engines.items():
            start = time.process_time()
            outcome = engine.call(workload.entry, [argument])
            times[name].append(time.process_time() - start)
            if outcome.value != expected:
                raise AssertionError(f"{workload.name} on {name}: {outcome.value!r}, plain Python gives {expected!r}")
            outcomes[name] = outcome
    if outcomes["reference"] != outcomes["compiled"]:
        raise AssertionError(f"{workload.name}: the engines disagree: {outcomes}")
    python_seconds = statistics.median(times["python"])
    results = {name: (statistics.median(times[name]), outcomes[name]) for name in engines}
    return VmResult(
        workload,
        python_seconds,
        results["reference"][0],
        results["compiled"][0],
        results["compiled"][1].instructions,
        {name: statistics.median(times[name]) if name in peers else None for name in MEASURED_PEERS},
    )


#: The peers timed in the same process when they import (installed by the `bench` nox session only).
MEASURED_PEERS = ("lupa", "starlark-pyo3")


def _working_peers(workload: Workload, expected: int) -> dict[str, Callable[[int], object]]:
    """The peers that import, have this workload and give the right answer (starlark overflows on Ackermann)."""
    from workloads.peers import peer_runners

    working: dict[str, Callable[[int], object]] = {}
    for name, runner in peer_runners(workload.name).items():
        try:
            value = runner(workload.argument)
        except Exception:  # a peer's own limit (call stack) is its answer: no figure
            continue
        if value == expected:
            working[name] = runner
    return working


def startup_module(functions: int = STARTUP_FUNCTIONS) -> Any:
    """`main` calls f0..f(N-1) once each; every f has a loop, a branch and arithmetic (about 12 instructions)."""
    from chronicle_vm.core.isa import Op
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import BOOL, INT

    def ins(op: Op, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
        return Instruction(op.value, a, b, c)

    body = (
        ins(Op.LOADK, 1, 0),
        ins(Op.LOADK, 2, 1),
        ins(Op.LT, 3, 1, 0),  # 2
        ins(Op.JMPIFNOT, 3, 8),
        ins(Op.MUL, 4, 1, 1),
        ins(Op.ADD, 5, 5, 4),
        ins(Op.ADD, 1, 1, 2),
        ins(Op.JMP, 2),
        ins(Op.RET, 5),  # 8
    )
    regs = (INT, INT, INT, BOOL, INT, INT)
    leaves = tuple(Function(f"f{i}", False, 1, INT, regs, body) for i in range(functions))
    main_code = [ins(Op.LOADK, 0, 2)]
    for i in range(functions):
        main_code.append(ins(Op.CALL, i + 1, 0, 1))
        main_code.append(ins(Op.ADD, 2, 2, 1))
    main_code.append(ins(Op.RET, 2))
    main = Function("main", True, 0, INT, (INT, INT, INT), tuple(main_code))
    return Module(
        constants=(0, 1, 3),
        functions=(main, *leaves),
        source_map=SourceMap(functions=((),) * (functions + 1)),
    )


def run_startup() -> dict[str, float]:
    from chronicle_vm.engines.compiled import CompiledEngine
    from chronicle_vm.engines.reference import Interpreter
    from chronicle_vm.limits import Limits
    from chronicle_vm.verifier.rules import verify

    verified = verify(startup_module())
    limits = Limits()
    clock = time.process_time
    start = clock()
    engine = CompiledEngine(verified, limits)
    construct = clock() - start
    start = clock()
    first = engine.call("main", [])
    first_run = clock() - start
    start = clock()
    second = CompiledEngine(verified, limits).call("main", [])
    cached_run = clock() - start
    start = clock()
    reference = Interpreter(verified, limits).call("main", [])
    reference_run = clock() - start
    if not first == second == reference:
        raise AssertionError("startup module: the engines disagree")
    return {
        "functions": float(STARTUP_FUNCTIONS + 1),  # CPU seconds below
        "construct_seconds": construct,
        "first_run_seconds": first_run,
        "second_engine_run_seconds": cached_run,
        "reference_construct_and_run_seconds": reference_run,
    }


# -- stage benchmarks -------------------------------------------------------------------------------------------------


def load_stage(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"chronicle_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # a stage's dataclasses look their module up while they are made
    spec.loader.exec_module(module)
    return module


def run_stage(path: Path) -> dict[str, float] | str:
    """A stage benchmark's figures, or why it could not run."""
    try:
        module = load_stage(path)
        figures = module.run()
    except Exception as exc:  # a stage whose package is not there yet is reported, not fatal
        return f"not run: {type(exc).__name__}: {exc}"
    return {str(k): float(v) for k, v in figures.items()}


# -- output -----------------------------------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for package in ("chronicle-vm", "chronicle-asm", "chronicle-lang", "chronicle-cli", "construct", "lark"):
        try:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
        except Exception:
            versions.append(f"{package} (not installed)")
    optimized = "--enable-optimizations" in str(_config_args())
    build = "built with --enable-optimizations" if optimized else "built without --enable-optimizations"
    return [
        f"- Date: {datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        f"- Python: {platform.python_implementation()} {platform.python_version()} ({build})",
        f"- Packages: {', '.join(versions)}",
    ]


def _config_args() -> object:
    import sysconfig

    return sysconfig.get_config_var("CONFIG_ARGS")


def vm_table(results: Sequence[VmResult]) -> list[str]:
    lines = [
        "| workload | plain CPython | reference interpreter | compiled engine | target | VM instructions | "
        "reference instr/s | compiled instr/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        target = f"<= {r.workload.target:g}x" if r.workload.target else "-"
        lines.append(
            f"| {r.workload.description} | {r.python_seconds:.4f} s (1x) "
            f"| {r.reference_seconds:.3f} s ({r.reference_ratio:.1f}x) "
            f"| {r.compiled_seconds:.3f} s ({r.compiled_ratio:.2f}x) | {target} | {r.instructions:,} "
            f"| {r.instructions / r.reference_seconds / 1e6:.2f} M "
            f"| {r.instructions / r.compiled_seconds / 1e6:.2f} M |"
        )
    return lines


#: The peers that are not re-run here (pywasm and pure-Python starlark are no dependency of any session): their
#: ratios to plain CPython as measured on this kind of machine (2 cores, CPython 3.11, median of 3 in-process runs)
#: and given in the performance issues.  None where a peer cannot run the workload.
RECORDED_PEERS: dict[str, tuple[float | None, float | None]] = {
    "fib": (333.0, None),
    "sum": (None, 143.0),
    "sieve": (None, 128.0),
}


def peers_table(results: Sequence[VmResult]) -> list[str]:
    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:g}x"

    def measured(r: VmResult, name: str) -> str:
        seconds = r.peers.get(name)
        return "-" if seconds is None else f"{seconds / r.python_seconds:.2f}x"

    lines = [
        "## Against the peers",
        "",
        "Ratios to plain CPython. ChronicleVM's, lupa's (Lua 5.4 with a count hook every "
        "1,000 instructions) and starlark-pyo3's (Rust; `for` loops where the others have `while`) columns are "
        'this run\'s, in the same process (the peers are installed by the `bench` session only; "-" when not '
        "installed or when the peer cannot run the workload: starlark-rust's call stack overflows on Ackermann). "
        "pywasm's and pure-Python starlark's are the figures recorded when the performance work was planned.",
        "",
        "| workload | ChronicleVM compiled | ChronicleVM reference | lupa | starlark-pyo3 | pywasm (pure Python, "
        "recorded) | starlark (pure Python, recorded) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.workload.name not in (*RECORDED_PEERS, "ackermann"):
            continue
        recorded = RECORDED_PEERS.get(r.workload.name, (None, None))
        lines.append(
            f"| {r.workload.description} | {r.compiled_ratio:.2f}x | {r.reference_ratio:.1f}x "
            f"| {measured(r, 'lupa')} | {measured(r, 'starlark-pyo3')} | {ratio(recorded[0])} | {ratio(recorded[1])} |"
        )
    return [*lines, ""]


def figures_table(title: str, figures: dict[str, float] | str) -> list[str]:
    lines = [f"### {title}", ""]
    if isinstance(figures, str):
        return [*lines, figures, ""]
    lines += ["| figure | value |", "|---|---|"]
    lines += [f"| {name} | {value:.4g} |" for name, value in figures.items()]
    return [*lines, ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--collect-only", action="store_true", help="list the workloads without running them")
    parser.add_argument("--write-docs", action="store_true", help="rewrite docs/performance.md with the results")
    parser.add_argument("-k", action="append", default=[], help="run only workloads whose name contains this")
    options = parser.parse_args(argv)

    def selected(name: str) -> bool:
        return not options.k or any(word in name for word in options.k)

    rows = collect(selected)
    if options.collect_only:
        for name, description in rows:
            print(f"{name:24} {description}")
        print(f"{len(rows)} workloads")
        return 0

    results: list[VmResult] = []
    for workload in WORKLOADS:
        if selected(workload.name):
            result = run_workload(workload)
            results.append(result)
            print(
                f"vm:{workload.name:10} python {result.python_seconds:.4f}s  reference {result.reference_ratio:6.1f}x  "
                f"compiled {result.compiled_ratio:5.2f}x"
                + "".join(
                    f"  {name} {seconds / result.python_seconds:.2f}x"
                    for name, seconds in result.peers.items()
                    if seconds is not None
                ),
                flush=True,
            )
    sections: list[tuple[str, dict[str, float] | str]] = []
    if selected("startup"):
        sections.append((f"startup: a {STARTUP_FUNCTIONS:,}-function module on the compiled engine", run_startup()))
    for path in stage_files():
        name = path.stem.removeprefix("bench_")
        if selected(name):
            sections.append((f"stage: {name} ({first_line(path)})", run_stage(path)))
            print(f"stage:{name} done", flush=True)

    out = ["## VM workloads", "", *vm_table(results), "", *peers_table(results)]
    for title, figures in sections:
        out += figures_table(title, figures)
    print("\n".join(out))
    if options.write_docs:
        write_docs(out)
    return 0


#: docs/performance.md keeps what follows this line when it is regenerated (measured comparisons written by hand).
KEPT_MARKER = "<!-- kept: everything below is written by hand and survives --write-docs -->"


def write_docs(body: list[str]) -> None:
    old = DOCS.read_text(encoding="utf-8") if DOCS.exists() else ""
    kept = old[old.index(KEPT_MARKER) :].rstrip().splitlines() if KEPT_MARKER in old else []
    text = [
        "# Performance",
        "",
        "Generated by `python packages/chronicle-cli/benchmarks/run.py --write-docs` (`nox -s bench`); "
        "do not edit by hand.",
        "",
        f"Times are medians of {REPEATS} interleaved runs in one process, in CPU seconds of that process (so that "
        "other load on the machine disturbs them less). Ratios compare the VM with the same algorithm in plain "
        "Python in the same process; they are the figures to compare across machines. Instruction metering is "
        "exact on both engines (every run counts each instruction against `max_instructions`).",
        "",
        *machine(),
        "",
        *body,
        *(["", *kept] if kept else []),
    ]
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    DOCS.write_text("\n".join(text).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    raise SystemExit(main())
