"""Regenerate the generated parts of docs/ from the code: the opcode table, the error-code list, the builtins.

    python testing/gen_docs.py           # rewrite docs/isa.md's table, docs/errors.md, docs/language.md's builtins
    python testing/gen_docs.py --check   # exit 1 when they are stale (the tests call check_docs())

Generated regions sit between `<!-- generated:NAME -->` and `<!-- end:NAME -->`.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Every chronicle_vm module that declares codes; importing them fills the registry.
STAGE_MODULES = (
    "chronicle_vm.binary.decode",
    "chronicle_vm.binary.encode",
    "chronicle_vm.verifier.rules",
    "chronicle_vm.capabilities.policy",
    "chronicle_vm.capabilities.host",
    "chronicle_vm.capabilities.negotiation",
    "chronicle_vm.engines.faults",
    "chronicle_vm.engines.reference",
    "chronicle_vm.engines.compiled",
    "chronicle_vm.runtime",
    "chronicle_vm.trace.document",
    "chronicle_vm.trace.replay",
    "chronicle_vm.capabilities.manifest",
    "chronicle_vm.trace.audit",
    "chronicle_asm",
    "chronicle_lang",
    "chronicle_cli",
    "chronicle_cli.custom_host",
    "chronicle_cli.manifest_check",
)

CATEGORY_TITLES = {
    "source": "Source errors (`SourceError`, exit 10)",
    "decode": "Decode errors (`DecodeError`, exit 11)",
    "verify": "Verify errors (`VerifyError`, exit 12)",
    "policy": "Policy errors (`PolicyError`, exit 13)",
    "runtime": "Runtime traps (`ExecutionError`, exit 1)",
    "limit": "Resource limits (`ResourceLimitError`, exit 14)",
    "replay": "Replay errors (`ReplayError`, exit 15)",
    "usage": "Usage errors (`UsageError`, exit 2)",
    "internal": "Internal errors (exit 70)",
}


def opcode_table() -> str:
    from chronicle_vm.core.isa import OPCODES

    lines = [
        "| opcode | mnemonic | a | b | c | effect | traps |",
        "|---|---|---|---|---|---|---|",
    ]
    for number in sorted(OPCODES):
        row = OPCODES[number]
        a, b, c = (str(operand) for operand in row.operands)
        traps = "yes" if row.may_trap else ""
        effect = row.effect.replace("|", "\\|")
        lines.append(f"| 0x{number:02X} | `{row.name}` | {a} | {b} | {c} | {effect} | {traps} |")
    return "\n".join(lines)


def cost_table() -> str:
    from chronicle_vm.core.isa import CHARS_PER_FUEL, COST_MODEL, OPCODES
    from chronicle_vm.engines.semantics import EXTRA_COSTS

    lines = [
        f"Cost model {COST_MODEL}; n = {CHARS_PER_FUEL}. Every other opcode costs 1.",
        "",
        "| opcode | mnemonic | fuel |",
        "|---|---|---|",
    ]
    for number in sorted(EXTRA_COSTS):
        formula = EXTRA_COSTS[number].replace("|", "\\|")
        lines.append(f"| 0x{number:02X} | `{OPCODES[number].name}` | 1 + {formula} |")
    return "\n".join(lines)


def error_list() -> str:
    for name in STAGE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    from chronicle_vm.errors import declared_codes

    codes = declared_codes()
    out: list[str] = []
    for category, title in CATEGORY_TITLES.items():
        names = sorted(code for code in codes if code.split(".", 1)[0] == category)
        if not names:
            continue
        out.append(f"## {title}\n")
        out.append("| code | meaning |")
        out.append("|---|---|")
        out.extend(f"| `{code}` | {_cell(codes[code])} |" for code in names)
        out.append("")
    return "\n".join(out).rstrip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def builtin_table() -> str:
    from chronicle_lang.builtins import builtin_table as table

    return table()


GENERATORS = {
    "opcodes": ("isa.md", opcode_table),
    "costs": ("isa.md", cost_table),
    "errors": ("errors.md", error_list),
    "builtins": ("language.md", builtin_table),
}


def render(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- generated:{name} -->\n)(?:.*?\n)?(<!-- end:{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"docs: no generated:{name} region")
    return pattern.sub(lambda m: m.group(1) + body + "\n" + m.group(2), text)


def stale() -> list[str]:
    """Names of the documents whose generated regions differ from the code."""
    out = []
    for name, (filename, generate) in GENERATORS.items():
        path = DOCS / filename
        text = path.read_text(encoding="utf-8")
        if render(text, name, generate()) != text:
            out.append(filename)
    return out


def main(argv: list[str]) -> int:
    if "--check" in argv:
        names = stale()
        for name in names:
            print(f"docs/{name} is stale: run python testing/gen_docs.py")
        return 1 if names else 0
    for name, (filename, generate) in GENERATORS.items():
        path = DOCS / filename
        path.write_text(render(path.read_text(encoding="utf-8"), name, generate()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
