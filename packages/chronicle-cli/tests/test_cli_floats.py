"""Floats on the command line (#17): `--arg` reads a float, `"value"` is its repr, traps exit 1, in process."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

import pytest

from chronicle_asm import assemble_text
from chronicle_cli import vm
from chronicle_vm.core.model import fitting_version

SOURCE = """
.func scale export (float, [float]) -> [float]
  .regs int, int, bool, float, [float], int
    newarr r6
    len r3, r1
    loadk r2, 0
    loadk r7, 1
loop:
    lt r4, r2, r3
    jmpifnot r4, done
    getidx r5, r1, r2
    fmul r5, r5, r0
    push r6, r5
    add r2, r2, r7
    jmp loop
done:
    ret r6
.end
.func root export (float) -> float
  .regs float
    sqrt r1, r0
    ret r1
.end
"""


@pytest.fixture()
def module_file(tmp_path: Path) -> Path:
    module = assemble_text(SOURCE, "floats.casm")
    path = tmp_path / "floats.cmod"
    path.write_bytes(dataclasses.replace(module, version=fitting_version(module)).to_bytes())
    return path


def _run(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    code = vm.main(argv)
    return code, stdout.getvalue(), stderr.getvalue()


def test_float_arguments_and_results(module_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["run", str(module_file), "--entry", "scale", "--arg", "0.1", "--arg", "[3, 0.5, -0.0]", "--json"]
    code, out, _ = _run(argv, monkeypatch)
    assert code == 0, out
    assert '"value":[0.30000000000000004,0.05,-0.0]' in out.replace(" ", "")
    assert json.loads(out)["value"] == [0.30000000000000004, 0.05, -0.0]


def test_human_output_writes_the_repr(module_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(["run", str(module_file), "--entry", "root", "--arg", "2"], monkeypatch)
    assert code == 0 and "1.4142135623730951" in out


def test_a_float_trap_exits_1(module_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(["run", str(module_file), "--entry", "root", "--arg", "-1.0", "--json"], monkeypatch)
    assert code == 1
    assert json.loads(out)["error"]["code"] == "runtime.float-nonfinite"


@pytest.mark.parametrize("text", ["nan", "inf", "1e999", "1,5"])
def test_a_bad_float_argument_is_a_usage_error(text: str, module_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(["run", str(module_file), "--entry", "root", "--arg", text, "--json"], monkeypatch)
    assert code == 2
    assert json.loads(out)["error"]["code"] == "usage.bad-argument"
