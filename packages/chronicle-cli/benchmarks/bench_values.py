"""Maps and structs (#17): takes nothing, gives the VM's time against plain Python for two workloads, same run.

Run it with `python packages/chronicle-cli/benchmarks/bench_values.py`.
- `wordcount`: counting 200,000 words (1,000 distinct) into a `{str: int}`
  map: `mapgetd` of the count with 0 as default, `add`, `mapset`; Python:
  `counts[w] = counts.get(w, 0) + 1` in a while loop over the list.
- `structsum`: building 100,000 records `Rec { id: int, amount: int }`
  (`structnew`, `push`) and summing their `amount` field (`getidx`,
  `getfield`, `add`); Python: the same loops over a slotted dataclass.
Each program is written in the VM's own instructions (in-memory modules,
verified), run on the compiled engine (the default) under limits that do
not bind, and timed as the median of a few runs next to its Python twin;
`*_ratio` is VM seconds over Python seconds (the issue's target is <= 3).
`*_fused_ratio` is the same on the fused interpreter (engines/reference.py,
the engine without translation), whose map and struct instructions have
their own forms in its loop.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import BOOL, INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

REPEATS = 5
WORDS = 200_000
DISTINCT = 1_000
RECORDS = 100_000

__all__ = ["run", "structsum_module", "wordcount_module"]


def _code(*rows: tuple[str, int, int, int]) -> tuple[Instruction, ...]:
    return tuple(Instruction(OPS_BY_NAME[name].op.value, a, b, c) for name, a, b, c in rows)


def wordcount_module() -> Module:
    """`count(words: [str]) -> {str: int}`."""
    counts = map_type(STR, INT)
    # r0 words, r1 counts, r2 n, r3 i, r4 word, r5 count, r6 one, r7 more
    registers = (STR.array_of(), counts, INT, INT, STR, INT, INT, BOOL)
    code = _code(
        ("mapnew", 1, 0, 0),
        ("len", 2, 0, 0),
        ("loadk", 3, 0, 0),
        ("loadk", 6, 1, 0),
        ("lt", 7, 3, 2),  # 4: the loop
        ("jmpifnot", 7, 13, 0),
        ("getidx", 4, 0, 3),
        ("loadk", 5, 0, 0),
        ("mapgetd", 5, 1, 4),
        ("add", 5, 5, 6),
        ("mapset", 1, 4, 5),
        ("add", 3, 3, 6),
        ("jmp", 4, 0, 0),
        ("ret", 1, 0, 0),  # 13
    )
    main = Function("count", True, 1, counts, registers, code)
    return Module(constants=(0, 1), functions=(main,), source_map=SourceMap((), ((),)))


def structsum_module() -> Module:
    """`total(n: int) -> int`: n records Rec { id: i, amount: i % 7 }, then the sum of their amounts."""
    rec = struct_type(0)
    table = (StructDef("Rec", (StructField("id", INT), StructField("amount", INT))),)
    # r0 n, r1 records, r2 i, r3 id, r4 amount, r5 rec, r6 one, r7 seven, r8 more, r9 total, r10 len
    registers = (INT, rec.array_of(), INT, INT, INT, rec, INT, INT, BOOL, INT, INT)
    code = _code(
        ("newarr", 1, 0, 0),
        ("loadk", 2, 0, 0),
        ("loadk", 6, 1, 0),
        ("loadk", 7, 2, 0),
        ("lt", 8, 2, 0),  # 4: build
        ("jmpifnot", 8, 12, 0),
        ("mov", 3, 2, 0),
        ("mod", 4, 2, 7),
        ("structnew", 5, 3, 0),
        ("push", 1, 5, 0),
        ("add", 2, 2, 6),
        ("jmp", 4, 0, 0),
        ("loadk", 2, 0, 0),  # 12: sum
        ("loadk", 9, 0, 0),
        ("len", 10, 1, 0),
        ("lt", 8, 2, 10),  # 15
        ("jmpifnot", 8, 22, 0),
        ("getidx", 5, 1, 2),
        ("getfield", 4, 5, 1),
        ("add", 9, 9, 4),
        ("add", 2, 2, 6),
        ("jmp", 15, 0, 0),
        ("ret", 9, 0, 0),  # 22
    )
    main = Function("total", True, 1, INT, registers, code)
    return Module(constants=(0, 1, 7), functions=(main,), source_map=SourceMap((), ((),)), structs=table)


def wordcount_python(words: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    n = len(words)
    i = 0
    while i < n:
        word = words[i]
        counts[word] = counts.get(word, 0) + 1
        i = i + 1
    return counts


@dataclass(slots=True)
class Rec:
    id: int
    amount: int


def structsum_python(n: int) -> int:
    records: list[Rec] = []
    i = 0
    while i < n:
        records.append(Rec(i, i % 7))
        i = i + 1
    total = 0
    i = 0
    count = len(records)
    while i < count:
        total = total + records[i].amount
        i = i + 1
    return total


def _median(action: Callable[[], Any]) -> tuple[float, Any]:
    times: list[float] = []
    result: Any = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _limits() -> Limits:
    return Limits(max_instructions=10**9, max_allocation=2**40, max_array_len=10**7)


def measure() -> dict[str, float]:
    words = [f"w{(k * 7919) % DISTINCT}" for k in range(WORDS)]
    figures: dict[str, float] = {}
    engine = CompiledEngine(verify(wordcount_module()), _limits())
    engine.call("count", [words[:10]])  # translated before timing
    vm_seconds, vm_result = _median(lambda: engine.call("count", [words]).value)
    py_seconds, py_result = _median(lambda: wordcount_python(words))
    assert list(vm_result.items()) == list(py_result.items()), "the VM and Python disagree"
    figures["values_wordcount_vm_ms"] = vm_seconds * 1e3
    figures["values_wordcount_python_ms"] = py_seconds * 1e3
    figures["values_wordcount_ratio"] = vm_seconds / py_seconds
    fused = Interpreter(verify(wordcount_module()), _limits())
    fused_seconds, fused_result = _median(lambda: fused.call("count", [words]).value)
    assert list(fused_result.items()) == list(py_result.items()), "the fused interpreter and Python disagree"
    figures["values_wordcount_fused_ratio"] = fused_seconds / py_seconds
    engine = CompiledEngine(verify(structsum_module()), _limits())
    engine.call("total", [10])
    vm_seconds, vm_total = _median(lambda: engine.call("total", [RECORDS]).value)
    py_seconds, py_total = _median(lambda: structsum_python(RECORDS))
    assert vm_total == py_total, "the VM and Python disagree"
    figures["values_structsum_vm_ms"] = vm_seconds * 1e3
    figures["values_structsum_python_ms"] = py_seconds * 1e3
    figures["values_structsum_ratio"] = vm_seconds / py_seconds
    fused = Interpreter(verify(structsum_module()), _limits())
    fused_seconds, fused_total = _median(lambda: fused.call("total", [RECORDS]).value)
    assert fused_total == py_total, "the fused interpreter and Python disagree"
    figures["values_structsum_fused_ratio"] = fused_seconds / py_seconds
    return figures


def run() -> dict[str, float]:
    return measure()


def main() -> int:
    for name, value in measure().items():
        print(f"{name:32s} {value:10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
