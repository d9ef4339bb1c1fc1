"""VM workloads: takes nothing, gives each `.chr` benchmark with its entry, arguments and the same algorithm in Python.

Each Python function below is the `.chr` program next to it written line
for line in plain Python, so the ratio of the two timings, taken in the same
process, is the VM's slowdown against CPython itself.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["HERE", "WORKLOADS", "Workload"]

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class Workload:
    """One VM benchmark: a `.chr` file, its entry and argument, and the equivalent plain Python."""

    name: str
    source: str  # file name in this folder: a `.chr` program, or `.casm` for what `.chr` cannot say yet
    entry: str
    argument: int
    python: Callable[[int], int | float]
    description: str
    target: float | None = None  # the ratio target, if any
    capability: bool = False  # the plugin calls `num.next(i) -> int`

    def path(self) -> Path:
        return HERE / self.source


def fib(n: int) -> int:
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def sum_squares(n: int) -> int:
    s = 0
    i = 0
    while i < n:
        s = (s + i * i) % 1000003
        i = i + 1
    return s


def sieve(n: int) -> int:
    flags: list[bool] = []
    i = 0
    while i <= n:
        flags.append(True)
        i = i + 1
    count = 0
    p = 2
    while p <= n:
        if flags[p]:
            count = count + 1
            m = p * p
            while m <= n:
                flags[m] = False
                m = m + p
        p = p + 1
    return count


def build(n: int) -> int:
    parts: list[str] = []
    i = 0
    while i < n:
        line = "item " + str(i) + ": " + str(i * i % 97)
        parts.append(line)
        i = i + 1
    return len("\n".join(parts))


def arrays(n: int) -> int:
    a: list[int] = []
    i = 0
    while i < n:
        a.append(i * 7 % 1000)
        i = i + 1
    i = 1
    while i < n:
        a[i] = (a[i] + a[i - 1]) % 1000003
        i = i + 1
    total = 0
    while len(a) > 0:
        total = (total + a.pop()) % 1000003
    return total


def ack(m: int, n: int) -> int:
    if m == 0:
        return n + 1
    if n == 0:
        return ack(m - 1, 1)
    return ack(m - 1, ack(m, n - 1))


def ack37(x: int) -> int:
    # Python's default recursion limit is too low for A(3, 7); raised only while it runs (the VM runs under it).
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 5_000))
    try:
        return ack(3, x)
    finally:
        sys.setrecursionlimit(old)


def num_next(i: int) -> int:
    """The host side of `num.next`."""
    return i + 1


def calls(n: int) -> int:
    total = 0
    i = 0
    while i < n:
        total = total + num_next(i)
        i = i + 1
    return total


def crc32(n: int) -> int:
    table: list[int] = []
    k = 0
    while k < 256:
        c = k
        bit = 0
        while bit < 8:
            if c & 1 == 1:
                c = 0xEDB88320 ^ (c >> 1)
            else:
                c = c >> 1
            bit = bit + 1
        table.append(c)
        k = k + 1
    crc = 0xFFFFFFFF
    i = 0
    while i < n:
        byte = (i * 7 + 3) & 0xFF
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        i = i + 1
    return crc ^ 0xFFFFFFFF


def dot(n: int) -> float:
    xs: list[float] = []
    ys: list[float] = []
    i = 0
    while i < n:
        xs.append(float(i % 1000) * 0.25)
        ys.append(float(i % 777) - 3.5)
        i = i + 1
    s = 0.0
    i = 0
    while i < n:
        s = s + xs[i] * ys[i]
        i = i + 1
    return s


def _load_structured() -> Any:
    """workloads/structured.py, by its path (this file is also loaded alone, by path, in chronicle-vm's tests)."""
    name = "bench_structured"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "structured.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def _structured() -> tuple[Workload, ...]:
    """Issue 18's bar: programs written plainly with structs, maps and floats (each has `main` with the
    published answer, checked by chronicle-lang's tests, and `bench(n)`, timed here against `structured.py`)."""
    py = _load_structured()
    return (
        Workload("base64", "base64.chr", "bench", 300_000, py.base64_bench, "base64 encoder over 300,000 bytes", 4.0),
        Workload(
            "wordfreq",
            "wordfreq.chr",
            "bench",
            200_000,
            py.wordfreq_bench,
            "word counts of 200,000 words in a map",
            4.0,
        ),
        Workload(
            "json_tokens",
            "json_tokens.chr",
            "bench",
            5_000,
            py.json_tokens_bench,
            "JSON tokenizer (tokens as structs) over 5,000 objects",
            4.0,
        ),
        Workload(
            "spectral_norm",
            "spectral_norm.chr",
            "bench",
            100,
            py.spectral_norm_bench,
            "spectral-norm N = 100 (floats)",
            4.0,
        ),
        Workload(
            "binary_trees",
            "binary_trees.chr",
            "bench",
            12,
            py.binary_trees_bench,
            "binary-trees depth 12 (structs)",
            4.0,
        ),
    )


WORKLOADS: tuple[Workload, ...] = (
    Workload("fib", "fib.chr", "fib", 25, fib, "fib(25), recursive", 3.0),
    Workload("sum", "sum.chr", "sum", 2_000_000, sum_squares, "sum of i*i mod 1000003, i < 2,000,000", 2.5),
    Workload("sieve", "sieve.chr", "sieve", 200_000, sieve, "sieve of Eratosthenes to 200,000", 3.0),
    Workload("ackermann", "ackermann.chr", "ack37", 7, ack37, "Ackermann(3, 7), recursive, ~1,000 frames deep", 3.0),
    Workload(
        "strings",
        "strings.chr",
        "build",
        100_000,
        build,
        "string building: 100,000 lines of concat and str(), joined",
        4.0,
    ),
    Workload(
        "crc32",
        "crc32.chr",
        "crc32",
        200_000,
        crc32,
        "CRC-32 with bitwise operators, table-driven, over 200,000 bytes",
        3.0,
    ),
    Workload(
        "dot",
        "dot.chr",
        "dot",
        200_000,
        dot,
        "float dot product of two 200,000-item arrays (built first)",
        3.0,
    ),
    Workload("arrays", "arrays.chr", "arrays", 100_000, arrays, "arrays: push, prefix sums, pop; 100,000 items"),
    Workload(
        "capcalls",
        "capcalls.chr",
        "calls",
        100_000,
        calls,
        "100,000 capability calls, untraced (raw handler)",
        capability=True,
    ),
    *_structured(),
)
