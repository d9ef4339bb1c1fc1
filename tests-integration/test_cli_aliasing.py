"""An array holding the same array many times, returned through the CLI: a limit error, bounded, and replayable.

Under cost model 1 the result was copied item by item on its way out (n =
10,000: 39 s, 2.5 GB, 589 MB of stdout; n = 100,000: a MemoryError, exit
70).  A value leaving the VM is now measured as a tree first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ALIASED = """
pub fn main(n: int) -> [[int]] {
    let inner: [int] = [];
    let i = 0;
    while i < n { push(inner, i); i = i + 1; }
    let outer: [[int]] = [];
    i = 0;
    while i < n { push(outer, inner); i = i + 1; }
    return outer;
}
"""


def test_an_aliased_result_is_a_limit_error_and_its_trace_replays(cli: Any, workdir: Path) -> None:
    (workdir / "aliased.chr").write_text(ALIASED, encoding="utf-8")
    assert cli("chronc", "aliased.chr").returncode == 0
    for n in ("10000", "100000"):
        result = cli("chronicle-vm", "run", "aliased.cmod", "--arg", n, "--json", timeout=120)
        assert result.returncode == 14, result.stderr
        assert result.json()["error"]["code"] == "limit.allocation"
        assert len(result.stdout) < 10_000
    traced = cli("chronicle-vm", "trace", "aliased.cmod", "--arg", "10000", "-o", "aliased.json", timeout=120)
    assert traced.returncode == 14, traced.stderr
    assert (workdir / "aliased.json").stat().st_size < 100_000
    replayed = cli("chronicle-vm", "replay", "aliased.json", "--module", "aliased.cmod", timeout=120)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr


def test_a_small_aliased_result_is_printed_in_full(cli: Any, workdir: Path) -> None:
    (workdir / "aliased_small.chr").write_text(ALIASED, encoding="utf-8")
    assert cli("chronc", "aliased_small.chr").returncode == 0
    result = cli("chronicle-vm", "run", "aliased_small.cmod", "--arg", "3")
    assert result.returncode == 0, result.stderr
    assert "[[0, 1, 2], [0, 1, 2], [0, 1, 2]]" in result.stdout
