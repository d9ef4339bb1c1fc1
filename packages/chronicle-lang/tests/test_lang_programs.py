"""Runs every tests/programs/*.chr with the expectations written inline, so adding a case is adding a file.

Expectation comments:
    // expect: <JSON>                      the entry's result (null for none)
    // expect runtime error: <code> [at L] a structured trap, optionally at .chr line L
    // expect log: <text>                  one log.info message, in order
    // args: <JSON array>                  the entry's arguments (default none)
    // entry: <name>                       the entry (default main)
    ... // error: <code>                   a compile diagnostic on this very line
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chronicle_testing.lang_run import check_program

PROGRAMS = Path(__file__).parent / "programs"


def _cases() -> list[Path]:
    return sorted(PROGRAMS.glob("*.chr"))


def test_lang_programs_folder_is_not_empty() -> None:
    assert len(_cases()) >= 20


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_lang_program(path: Path) -> None:
    check_program(path.read_text(encoding="utf-8"), path.name)
