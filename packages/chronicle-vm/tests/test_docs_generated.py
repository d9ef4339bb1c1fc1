"""The generated parts of docs/ match the code, and every error code raised in the source is declared."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "testing"))

import gen_docs  # noqa: E402

CODE_LITERAL = re.compile(
    r"""["']((?:decode|verify|policy|runtime|limit|replay|source|usage)\.[a-z0-9]+(?:-[a-z0-9]+)*)["']"""
)


def test_generated_docs_are_fresh() -> None:
    assert gen_docs.stale() == [], "run: python testing/gen_docs.py"


def test_every_code_literal_in_the_source_is_declared() -> None:
    gen_docs.error_list()  # imports every stage module, filling the registry
    from chronicle_vm.errors import declared_codes

    declared = declared_codes()
    undeclared: dict[str, str] = {}
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        for code in CODE_LITERAL.findall(path.read_text(encoding="utf-8")):
            if code not in declared:
                undeclared.setdefault(code, str(path.relative_to(ROOT)))
    assert undeclared == {}


def test_isa_doc_names_every_mnemonic() -> None:
    from chronicle_vm.core.isa import OPCODES

    text = (ROOT / "docs" / "isa.md").read_text(encoding="utf-8")
    missing = [row.name for row in OPCODES.values() if f"`{row.name}`" not in text]
    assert missing == []
