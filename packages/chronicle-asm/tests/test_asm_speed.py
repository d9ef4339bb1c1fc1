"""Assembly speed stays linear and fast: a guard against regressions, measured in CPU time (the machine may be busy).

The full figure (100,000 instructions, about 1.5-2 s of CPU) comes from
packages/chronicle-cli/benchmarks/bench_assemble.py; this runs a fifth of it.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType

from chronicle_asm import assemble_text

BENCH = Path(__file__).resolve().parents[2] / "chronicle-cli" / "benchmarks" / "bench_assemble.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_assemble", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_assembling_20k_instructions_takes_under_two_cpu_seconds() -> None:
    text = _bench().program(instructions=20_000)
    start = time.process_time()
    module = assemble_text(text, "bench.casm")
    spent = time.process_time() - start
    assert sum(len(f.code) for f in module.functions) == 20_000
    assert spent < 2.0, f"assembling 20,000 instructions took {spent:.2f} s of CPU"
