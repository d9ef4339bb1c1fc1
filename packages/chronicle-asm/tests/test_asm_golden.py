"""Golden files: each tests/golden/NAME.casm assembles, and its disassembly is NAME.expected.casm.

Set CHRONICLE_BLESS=1 (or run `nox -s bless`) to rewrite the expected
files from the current disassembler; read the diff before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chronicle_asm import assemble, assemble_text, disassemble, parse_casm

GOLDEN = Path(__file__).parent / "golden"
SOURCES = sorted(p for p in GOLDEN.glob("*.casm") if not p.name.endswith(".expected.casm"))
BLESS = os.environ.get("CHRONICLE_BLESS") == "1"


def test_golden_sources_exist() -> None:
    assert len(SOURCES) >= 5


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_golden_disassembly(source: Path) -> None:
    module = assemble_text(source.read_text(encoding="utf-8"), source.name)
    listing = disassemble(module)
    expected = source.with_name(source.stem + ".expected.casm")
    if BLESS:
        expected.write_text(listing, encoding="utf-8")
    assert expected.exists(), f"{expected.name} is missing: run with CHRONICLE_BLESS=1"
    assert listing == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_golden_expected_reassembles_to_the_same_bytes(source: Path) -> None:
    module = assemble_text(source.read_text(encoding="utf-8"), source.name)
    expected = source.with_name(source.stem + ".expected.casm")
    again = assemble(parse_casm(expected.read_text(encoding="utf-8"), expected.name))
    assert again == module
    assert again.to_bytes() == module.to_bytes()
