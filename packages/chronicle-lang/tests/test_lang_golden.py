"""Golden tests: `.chr` sources under tests/golden/ against their expected diagnostics (`.txt`) or `.casm`.

`CHRONICLE_BLESS=1 pytest -k golden` rewrites the expected files; read the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chronicle_asm import disassemble
from chronicle_lang import compile_source, compile_to_module, render_diagnostic
from chronicle_vm.errors import SourceError

GOLDEN = Path(__file__).parent / "golden"
BLESS = os.environ.get("CHRONICLE_BLESS") == "1"


def _check(expected_path: Path, actual: str) -> None:
    if BLESS:
        expected_path.write_text(actual, encoding="utf-8")
        return
    assert expected_path.exists(), f"{expected_path.name} is missing: run with CHRONICLE_BLESS=1"
    assert actual == expected_path.read_text(encoding="utf-8")


def _rendered(path: Path) -> str:
    with pytest.raises(SourceError) as info:
        compile_source(path.read_bytes(), path.name)
    parts = [info.value.message, *(render_diagnostic(d) for d in info.value.details["diagnostics"])]
    return "\n".join(parts) + "\n"


@pytest.mark.parametrize("path", sorted((GOLDEN / "diagnostics").glob("*.chr")), ids=lambda p: p.stem)
def test_lang_golden_diagnostics(path: Path) -> None:
    _check(path.with_suffix(".txt"), _rendered(path))


@pytest.mark.parametrize("path", sorted((GOLDEN / "casm").glob("*.chr")), ids=lambda p: p.stem)
def test_lang_golden_casm(path: Path) -> None:
    module = compile_to_module(path.read_bytes(), path.name)
    _check(path.with_suffix(".casm"), disassemble(module))


def test_lang_golden_files_have_sources() -> None:
    for expected in [*GOLDEN.glob("*/*.txt"), *GOLDEN.glob("*/*.casm")]:
        assert expected.with_suffix(".chr").exists(), f"{expected} has no source"
