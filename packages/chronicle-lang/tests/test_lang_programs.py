"""Runs every tests/programs/<feature>/*.chr on every engine with the expectations written inline.

Adding a case is adding a file to the folder of its feature.  Each program runs on the fused and the
unfused reference interpreter and on the compiled engine, which must agree exactly.

Expectation comments (on a line of their own they are about the program; after code, about that line):
    // expect: <JSON>                      the entry's result (null for none)
    // expect runtime error: <code> [at L] a structured trap, optionally at .chr line L (after code: this line)
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
    return sorted(PROGRAMS.glob("*/*.chr"))


def test_lang_programs_folder_is_not_empty() -> None:
    assert len(_cases()) >= 20


def test_lang_programs_are_filed_by_feature() -> None:
    assert not list(PROGRAMS.glob("*.chr")), "put each program in the folder of its feature"
    assert len({path.parent.name for path in _cases()}) >= 5


@pytest.mark.parametrize("path", _cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_lang_program(path: Path) -> None:
    check_program(path.read_text(encoding="utf-8"), path.name)
