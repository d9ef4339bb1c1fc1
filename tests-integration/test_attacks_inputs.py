"""Issue 16's input-side attacks (testing/attacks_inputs.py) end in their outcome within 30 s and 512 MB each."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testing"))

import attacks_inputs


@pytest.mark.parametrize("name", list(attacks_inputs.ATTACKS))
def test_input_attack_is_bounded(name: str) -> None:
    result = attacks_inputs.run_isolated(name)
    assert attacks_inputs.within_bounds(name, result), result
