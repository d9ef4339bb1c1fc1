"""Version-2 traces through the CLI: a float run traced, inspected (repr floats), diffed and replayed exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SOURCE = """\
; scale(x) = x * 2.5, logged as text first: a version-2 module (floats), so its traces are version 2.
.cap log.info (str)
.func scale export (float) -> float
  .regs float, str, float
    loadk r1, 2.5
    fmul r3, r0, r1
    tostr r2, r3
    capcall log.info, r2, r0
    ret r3
.end
"""


@pytest.fixture(scope="module")
def floats(cli: Any, workdir: Path) -> Path:
    (workdir / "scale.casm").write_text(SOURCE, encoding="utf-8")
    (workdir / "scale.toml").write_text('version = 1\n[capabilities."log.info"]\nallow = true\n', encoding="utf-8")
    built = cli("chrasm", "scale.casm", "-o", "scale.cmod")
    assert built.returncode == 0, built.stderr
    for name, value in (("neg", "-0.0"), ("pos", "0.0"), ("tiny", "5e-324")):
        traced = cli(
            "chronicle-vm",
            "trace",
            "scale.cmod",
            "--policy",
            "scale.toml",
            "--entry",
            "scale",
            "--arg",
            value,
            "-o",
            f"{name}.json",
        )
        assert traced.returncode == 0, traced.stderr
    return workdir


def test_a_float_run_writes_a_version_2_trace_with_repr_floats(floats: Path) -> None:
    doc = json.loads((floats / "neg.json").read_bytes())
    assert doc["version"] == 2
    assert doc["entry"] == {"function": "scale", "args": [-0.0], "signature": "(float) -> float"}
    assert doc["events"][0]["args"] == ["-0.0"]
    assert b'"value":-0.0' in (floats / "neg.json").read_bytes()
    assert json.loads((floats / "tiny.json").read_bytes())["outcome"]["value"] == 5e-324 * 2.5


def test_inspect_diff_and_replay_of_version_2_traces(cli: Any, floats: Path) -> None:
    shown = cli("chronicle-vm", "inspect", "neg.json")
    assert shown.returncode == 0, shown.stderr
    assert "scale(-0.0)" in shown.stdout and "outcome: -0.0" in shown.stdout
    differ = cli("chronicle-vm", "diff", "neg.json", "pos.json")
    assert differ.returncode == 1, differ.stderr
    assert "-0.0" in differ.stdout and "entry" in differ.stdout
    for name in ("neg", "pos", "tiny"):
        replayed = cli("chronicle-vm", "replay", f"{name}.json", "--module", "scale.cmod", "--json")
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.json()["replay"]["exact"] is True
    tampered = json.loads((floats / "neg.json").read_bytes())
    tampered["entry"]["args"] = [0.0]
    (floats / "tampered.json").write_text(json.dumps(tampered), encoding="utf-8")
    refused = cli("chronicle-vm", "replay", "tampered.json", "--module", "scale.cmod", "--json")
    assert refused.returncode == 15
    assert refused.json()["error"]["code"] == "replay.divergence"


PLUGIN = """\
struct Item { sku: str, qty: int, unit: float }
cap log.info(msg: str);
pub fn main(n: int) -> {str: Item} {
    let m: {str: Item} = {};
    m["z"] = Item { sku: "z\\u{1b}[31m", qty: n, unit: -0.0 };
    m["a"] = Item { sku: "a", qty: 2, unit: 0.1 };
    for k, v in m { log.info(k + "=" + str(v.unit)); }
    return m;
}
"""


def test_a_chr_plugin_with_maps_and_structs_traces_inspects_and_replays(cli: Any, workdir: Path) -> None:
    (workdir / "items.chr").write_text(PLUGIN, encoding="utf-8")
    (workdir / "items.toml").write_text('version = 1\n[capabilities."log.info"]\nallow = true\n', encoding="utf-8")
    assert cli("chronc", "items.chr", "-o", "items.cmod").returncode == 0
    traced = cli("chronicle-vm", "trace", "items.cmod", "--policy", "items.toml", "--arg", "7", "-o", "items.json")
    assert traced.returncode == 0, traced.stderr
    doc = json.loads((workdir / "items.json").read_bytes())
    assert doc["version"] == 2
    assert doc["entry"]["signature"] == "(int) -> {str: Item}"
    assert doc["outcome"]["value"] == [
        ["z", {"sku": "z\x1b[31m", "qty": 7, "unit": -0.0}],
        ["a", {"sku": "a", "qty": 2, "unit": 0.1}],
    ]
    shown = cli("chronicle-vm", "inspect", "items.json")
    assert shown.returncode == 0, shown.stderr
    assert 'outcome: {"z": Item { sku: "z\\\\x1b[31m", qty: 7, unit: -0.0 }, "a": Item {' in shown.stdout
    assert "\x1b" not in shown.stdout  # the plugin's escape sequence stays text
    replayed = cli("chronicle-vm", "replay", "items.json", "--module", "items.cmod", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.json()["replay"]["exact"] is True
    doc["outcome"]["value"].reverse()  # the same entries in another order: not the recorded run
    (workdir / "items-swapped.json").write_text(json.dumps(doc), encoding="utf-8")
    swapped = cli("chronicle-vm", "replay", "items-swapped.json", "--module", "items.cmod", "--json")
    assert (swapped.returncode, swapped.json()["error"]["code"]) == (15, "replay.outcome")
