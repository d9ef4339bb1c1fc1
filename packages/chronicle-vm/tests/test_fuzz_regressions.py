"""Every saved fuzz finding (testing/fuzz/regressions/<target>/) still ends in a result or a ChronicleError."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "testing" / "fuzz"))

import targets  # noqa: E402

CASES = sorted(
    (path.parent.name, path)
    for path in (ROOT / "testing" / "fuzz" / "regressions").glob("*/*")
    if not path.name.startswith(".")
)


@pytest.mark.parametrize(("target", "path"), CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_regression_input_is_handled(target: str, path: Path) -> None:
    targets.TARGETS[target](path.read_bytes())


def test_every_target_handles_garbage_and_empty_input() -> None:
    for _name, target in targets.TARGETS.items():
        for data in (b"", b"\x00\xff" * 8, b"version = 1\n", b"CHRM\x00\x01"):
            target(data)
