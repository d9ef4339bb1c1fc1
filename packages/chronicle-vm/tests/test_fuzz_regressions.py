"""Every saved fuzz input (testing/fuzz/regressions/<target>/) still ends in a result or a ChronicleError.

The saved inputs are findings once fixed, and `corpus-<code>` inputs: the smallest input of the
campaign's corpus for each outcome it reached, so a regression in any of those paths shows here.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def _seeds(name: str) -> list[bytes]:
    """Valid inputs of one kind for hypothesis to mutate (the atheris corpus is not in the repository)."""
    if name == "chr":
        return [p.read_bytes() for p in sorted(ROOT.glob("examples/*.chr"))] + [targets.SAMPLE_CHR.encode()]
    if name == "casm":
        return [p.read_bytes() for p in sorted(ROOT.glob("packages/chronicle-asm/tests/golden/*.casm"))]
    if name == "policy":
        return [p.read_bytes() for p in sorted(ROOT.glob("examples/*.toml"))] + [targets.SAMPLE_POLICY.encode()]
    if name == "module":  # a compiled version-1 module and a version-2 one (structs, floats, maps)
        v2 = ROOT / "testing" / "fuzz" / "regressions" / "module" / "corpus-v2-handled"
        return [targets.sample_module_bytes(), v2.read_bytes()]
    if name == "trace-v2":
        return [targets.sample_v2_trace_bytes()]
    return [targets.sample_trace_bytes()]


@st.composite
def _mutated(draw: st.DrawFn, name: str) -> bytes:
    data = bytearray(draw(st.sampled_from(_seeds(name))))
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


# Hypothesis side of the campaign: mutations of valid inputs, with the persistent example
# database keeping any failure found; slow, so run by `nox -s fuzz` with the fuzz profile.
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(targets.TARGETS))
@given(data=st.data())
def test_mutated_valid_input_is_handled(name: str, data: st.DataObject) -> None:
    targets.TARGETS[name](data.draw(_mutated(name)))
