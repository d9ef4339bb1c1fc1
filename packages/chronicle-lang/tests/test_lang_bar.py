"""Issue 18's bar programs (the benchmark suite's structured workloads): each `main` gives the published answer
on every engine, and each `bench(n)` agrees with the same algorithm in plain Python."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from chronicle_testing.lang_run import check_program, run_chr, skip_unless_the_vm_has_its_instructions

WORKLOADS = Path(__file__).resolve().parents[2] / "chronicle-cli" / "benchmarks" / "workloads"
BAR = ("base64", "wordfreq", "json_tokens", "spectral_norm", "binary_trees", "crc32")


def _structured() -> Any:
    name = "bench_structured"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, WORKLOADS / "structured.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_lang_bar_programs_exist() -> None:
    assert all((WORKLOADS / f"{name}.chr").exists() for name in BAR)


@pytest.mark.parametrize("name", [n for n in BAR if n != "crc32"])
def test_lang_bar_program_gives_the_published_answer(name: str) -> None:
    path = WORKLOADS / f"{name}.chr"
    check_program(path.read_text(encoding="utf-8"), path.name)


@pytest.mark.parametrize(
    ("name", "n"),
    [("base64", 1_001), ("wordfreq", 2_000), ("json_tokens", 40), ("spectral_norm", 9), ("binary_trees", 6)],
)
def test_lang_bar_bench_agrees_with_python(name: str, n: int) -> None:
    python = getattr(_structured(), f"{name}_bench")
    path = WORKLOADS / f"{name}.chr"
    skip_unless_the_vm_has_its_instructions(path.read_text(encoding="utf-8"), path.name)
    for engine in ("fused", "compiled"):
        report = run_chr(path.read_text(encoding="utf-8"), "bench", [n], path=path.name, engine=engine)
        assert report.error is None, str(report.error)
        assert report.value == python(n)
