"""Resource attacks (testing/attacks.py) end in their expected outcome under a memory cap and a time budget."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))

import attacks

# The slowest attacks are marked slow: deselected by default, run by `nox -s fuzz`.
SLOW = {"functions-100k-chr", "policy-100k-capabilities", "trace-million-events", "trace-real-300k-events"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in attacks.ATTACKS],
)
def test_attack_is_bounded(name: str) -> None:
    result = attacks.run_isolated(name)
    assert attacks.expected_outcome(name, result["outcome"]), result
