"""The semantics table covers the ISA exactly, and an opcode without semantics cannot be imported, let alone run.

The refusal tests copy chronicle_vm to a temporary folder, add a fake opcode
`abs = 0x16` to the copy's ISA (once the way a careless change would, with no
semantics row; once with a row), and import the copy in a fresh interpreter.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import chronicle_vm
from chronicle_vm.core.isa import OPCODES
from chronicle_vm.engines import compiled, oracle, reference
from chronicle_vm.engines.semantics import SEMANTICS, IncompleteSemantics, require_complete

SOURCE = Path(chronicle_vm.__file__).resolve().parent

_ISA_ROW = '    OpInfo(Op.NEG, "neg", (_w(_I), _r(_I), _N), "a = -b, wrapping"),\n'
_FAKE_ROW = _ISA_ROW + '    OpInfo(Op.ABS, "abs", (_w(_I), _r(_I), _N), "a = |b|"),\n'
_SEMANTICS_ROW = '    Semantics(Op.NOT, "a = not b",'
_FAKE_SEMANTICS = '    Semantics(Op.ABS, "a = abs(b)", step=_set(lambda m, b, c: abs(m.regs[b]))),\n' + _SEMANTICS_ROW


def _copy_with_abs(tmp_path: Path, *, semantics: bool) -> Path:
    target = tmp_path / "chronicle_vm"
    shutil.copytree(SOURCE, target, ignore=shutil.ignore_patterns("__pycache__"))
    isa = target / "core" / "isa.py"
    text = isa.read_text(encoding="utf-8")
    assert _ISA_ROW in text
    isa.write_text(text.replace("    NEG = 0x15\n", "    NEG = 0x15\n    ABS = 0x16\n").replace(_ISA_ROW, _FAKE_ROW))
    if semantics:
        table = target / "engines" / "semantics.py"
        text = table.read_text(encoding="utf-8")
        assert _SEMANTICS_ROW in text
        table.write_text(text.replace(_SEMANTICS_ROW, _FAKE_SEMANTICS, 1), encoding="utf-8")
    return tmp_path


def _import(root: Path, module: str) -> subprocess.CompletedProcess[str]:
    code = f"import sys; sys.path.insert(0, {str(root)!r}); import {module}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)


def test_every_opcode_has_exactly_one_row_in_the_table_and_in_each_engine() -> None:
    assert set(SEMANTICS) == set(OPCODES)
    assert set(compiled._TEMPLATES) == set(OPCODES)
    assert set(oracle._STEPS) == set(OPCODES)
    assert {op.value for op in reference._NATIVE} | reference.PLAIN | set(reference.WORKS) == set(OPCODES)


def test_require_complete_names_what_is_missing_and_what_is_extra() -> None:
    with pytest.raises(IncompleteSemantics, match=r"engine X: no semantics for opcode\(s\) nop;.*0x99"):
        require_complete("engine X", (set(OPCODES) - {0x00}) | {0x99})


def test_an_opcode_without_a_semantics_row_is_refused_at_import(tmp_path: Path) -> None:
    root = _copy_with_abs(tmp_path, semantics=False)
    result = _import(root, "chronicle_vm.runtime")
    assert result.returncode != 0
    assert "IncompleteSemantics: the semantics table: no semantics for opcode(s) abs" in result.stderr


def test_an_opcode_with_semantics_but_no_engine_code_is_refused_by_that_engine(tmp_path: Path) -> None:
    root = _copy_with_abs(tmp_path, semantics=True)
    assert _import(root, "chronicle_vm.engines.oracle").returncode == 0  # the oracle runs every row's step
    fused = _import(root, "chronicle_vm.engines.reference")
    assert "IncompleteSemantics: the fused interpreter: no semantics for opcode(s) abs" in fused.stderr
