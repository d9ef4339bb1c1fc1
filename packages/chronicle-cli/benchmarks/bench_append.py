"""Strings built in a loop (issue 20): takes nothing, gives the fuel and time of a 100,000-character append loop.

Run it with `python packages/chronicle-cli/benchmarks/bench_append.py`.
- `append`: `s = s + "x"` 100,000 times on a private local, under the default limits (a private string is kept
  in pieces: each append pays what it appends, the comparison after the loop joins it once); Python: the same
  loop with `s += "x"`.
- `pushjoin`: the same string from `push(parts, "x")` 100,000 times and one `join`; Python: `parts.append("x")`
  and `"".join(parts)`.
Each is run on the compiled engine (the default) and the fused interpreter, timed as the median of a few runs;
`*_fuel` is the fuel the VM run used (its instruction count), out of the default 10,000,000.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from chronicle_lang import compile_to_module
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

__all__ = ["SOURCE", "measure", "run"]

REPEATS = 7
CHARACTERS = 100_000

SOURCE = """
pub fn append(n: int) -> int {
    let s = "";
    let i = 0;
    while i < n {
        s = s + "x";
        i = i + 1;
    }
    if s == "" { return 0; }
    return len(s);
}
pub fn pushjoin(n: int) -> int {
    let parts: [str] = [];
    let i = 0;
    while i < n {
        push(parts, "x");
        i = i + 1;
    }
    return len(join(parts, ""));
}
"""


def append_python(n: int) -> int:
    s = ""
    i = 0
    while i < n:
        s += "x"
        i += 1
    if s == "":
        return 0
    return len(s)


def pushjoin_python(n: int) -> int:
    parts: list[str] = []
    i = 0
    while i < n:
        parts.append("x")
        i += 1
    return len("".join(parts))


def _median(action: Callable[[], Any]) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure() -> dict[str, float]:
    verified = verify(compile_to_module(SOURCE, "append.chr"))
    figures: dict[str, float] = {}
    engines = {"vm": CompiledEngine(verified, Limits()), "fused": Interpreter(verified, Limits())}
    for entry, python in (("append", append_python), ("pushjoin", pushjoin_python)):
        py_seconds, expected = _median(lambda python=python: python(CHARACTERS))  # type: ignore[misc]
        figures[f"{entry}_python_ms"] = py_seconds * 1e3
        for name, engine in engines.items():
            engine.call(entry, [10])  # translated before timing
            seconds, outcome = _median(lambda engine=engine, entry=entry: engine.call(entry, [CHARACTERS]))  # type: ignore[misc]
            assert outcome.value == expected, f"{entry} on {name}: {outcome.value!r}, Python gives {expected!r}"
            figures[f"{entry}_{name}_ms"] = seconds * 1e3
            figures[f"{entry}_{name}_ratio"] = seconds / py_seconds
            figures[f"{entry}_fuel"] = float(outcome.instructions)
    return figures


def run() -> dict[str, float]:
    return measure()


def main() -> int:
    for name, value in measure().items():
        print(f"{name:32s} {value:12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
