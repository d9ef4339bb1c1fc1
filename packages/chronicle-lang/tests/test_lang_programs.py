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

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chronicle_lang import compile_source
from chronicle_testing.lang_run import run_chr
from chronicle_vm.errors import SourceError

PROGRAMS = Path(__file__).parent / "programs"
_DIRECTIVE = re.compile(r"^//\s*(expect runtime error|expect log|expect|args|entry):\s?(.*)$")
_LINE_ERROR = re.compile(r"//\s*error:\s*(source\.[a-z0-9-]+)\s*$")


def _cases() -> list[Path]:
    return sorted(PROGRAMS.glob("*.chr"))


def _expectations(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {"logs": [], "errors": [], "entry": "main", "args": []}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        m = _DIRECTIVE.match(stripped)
        if m:
            key, value = m.group(1), m.group(2)
            if key == "expect":
                out["value"] = json.loads(value)
            elif key == "expect runtime error":
                code, _, at = value.partition(" at ")
                out["trap"] = (code.strip(), int(at) if at else None)
            elif key == "expect log":
                out["logs"].append(value)
            elif key == "args":
                out["args"] = json.loads(value)
            else:
                out["entry"] = value.strip()
            continue
        e = _LINE_ERROR.search(line)
        if e:
            out["errors"].append((number, e.group(1)))
    return out


def test_lang_programs_folder_is_not_empty() -> None:
    assert len(_cases()) >= 20


@pytest.mark.parametrize("path", _cases(), ids=lambda p: p.stem)
def test_lang_program(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    want = _expectations(text)
    if want["errors"]:
        with pytest.raises(SourceError) as info:
            compile_source(text, path.name)
        got = sorted((d["line"], d["code"]) for d in info.value.details["diagnostics"])
        assert got == sorted(want["errors"])
        return
    assert "value" in want or "trap" in want, f"{path.name} states no expectation"
    report = run_chr(text, want["entry"], want["args"], path=path.name)
    if "trap" in want:
        code, line = want["trap"]
        assert report.error is not None, f"expected {code}, got value {report.value!r}"
        assert report.error.code == code
        if line is not None:
            assert report.error.details["location"]["line"] == line
            assert report.error.details["location"]["file"] == path.name
    else:
        assert report.error is None, str(report.error)
        assert report.value == want["value"]
    assert report.host.logs == want["logs"]
