"""Deep recursion: takes nothing, gives the compiled engine's ratio to plain Python at depth 100 and at 10,000.

Issue 20's bar: no cliff with depth.  The same total work (about 1,000,000
frames) is done as recursions of depth 100 and of depth 10,000, on the
compiled engine with exact metering, against the same recursion in plain
Python (whose recursion limit is raised for the deep case only while it
runs); `depth_10000_vs_100` is the ratio of the two ratios (target: at most
1.5).  Best of ROUNDS interleaved runs, CPU seconds of this process.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace

ROUNDS = 5
FRAMES = 1_000_000
SOURCE = """
fn down(n: int) -> int {
    if n <= 0 { return 0; }
    return down(n - 1) + 1;
}
pub fn run(depth: int) -> int {
    let reps = 1000000 / depth;
    let total = 0;
    let i = 0;
    while i < reps {
        total = total + down(depth);
        i = i + 1;
    }
    return total;
}
"""


def down(n: int) -> int:
    if n <= 0:
        return 0
    return down(n - 1) + 1


def python_run(depth: int) -> int:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, depth + 1_000))
    try:
        total = 0
        i = 0
        while i < FRAMES // depth:
            total = total + down(depth)
            i = i + 1
        return total
    finally:
        sys.setrecursionlimit(old)


def run() -> dict[str, float]:
    from chronicle_lang import compile_to_module
    from chronicle_vm.engines.compiled import CompiledEngine
    from chronicle_vm.limits import HARD_LIMITS
    from chronicle_vm.verifier.rules import verify

    verified = verify(compile_to_module(SOURCE, "deep.chr"))
    engine = CompiledEngine(verified, replace(HARD_LIMITS, max_instructions=10**12))
    figures: dict[str, float] = {}
    for depth in (100, 10_000):
        best_vm = best_py = float("inf")
        for _ in range(ROUNDS):
            start = time.process_time()
            value = engine.call("run", [depth]).value
            best_vm = min(best_vm, time.process_time() - start)
            start = time.process_time()
            expected = python_run(depth)
            best_py = min(best_py, time.process_time() - start)
            if value != expected:
                raise AssertionError(f"depth {depth}: the VM gives {value!r}, plain Python {expected!r}")
        figures[f"depth_{depth}_python_s"] = best_py
        figures[f"depth_{depth}_compiled_s"] = best_vm
        figures[f"depth_{depth}_x_python"] = best_vm / best_py
    figures["depth_10000_vs_100"] = figures["depth_10000_x_python"] / figures["depth_100_x_python"]
    return figures


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key}: {value:.4g}")
