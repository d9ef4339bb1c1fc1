"""Assembler diagnostics: takes problems found in `.casm` text or IR, gives one `SourceError` listing them all.

Every problem is a `chronicle_asm.source.Diagnostic` (the front end's one
kind, shared with `.chr`) with a stable code under `source.`; the parser
and the assembler collect them instead of stopping at the first, and
`raise_if_any` turns the collection into a single `SourceError` (code: the
first problem's) whose `details["diagnostics"]` holds each one as a
JSON-safe dict with the file, line, column and the offending line.
"""

from __future__ import annotations

from collections.abc import Sequence

from chronicle_vm.errors import declare_codes

from .source import Diagnostic, source_error

__all__ = ["CODES", "Diagnostic", "raise_if_any", "show", "source_error"]

#: Every code this package raises, without the `source.` prefix.
CODES: dict[str, str] = {
    "assembly": "the IR or .casm text could not be assembled (several problems; see diagnostics)",
    "asm-syntax": "a .casm line is not well formed",
    "asm-unknown-directive": "a .casm directive that does not exist",
    "asm-unknown-opcode": "an instruction mnemonic that is not in the opcode table",
    "asm-operand-count": "an instruction has the wrong number of operands",
    "asm-operand-kind": "an operand of the wrong kind (a register where a label is expected, ...)",
    "asm-bad-literal": "a malformed literal: bad escape, unterminated string, unreadable number",
    "asm-int-range": "a number outside its range (constants: signed 64-bit; operands, positions: unsigned 32-bit)",
    "asm-bool-constant": "a bool (or other non-int, non-str value) used as a pool constant",
    "asm-bad-type": "a value type that is not int, bool, str, float, an array, a map or a declared struct (depth <= 8)",
    "asm-unknown-label": "a jump to a label not defined in the same function",
    "asm-duplicate-label": "a label defined twice in one function",
    "asm-undefined-function": "a call to a function the module does not define",
    "asm-undefined-constant": "a constant name not declared with .const",
    "asm-undefined-capability": "a capability call to a capability not declared with .cap",
    "asm-ambiguous-name": "a reference by name to a function or capability whose name is duplicated",
    "asm-duplicate-function": "two functions with the same name",
    "asm-duplicate-capability": "two capabilities with the same name",
    "asm-duplicate-constant": "two constants with the same name",
    "asm-duplicate-definition": "a directive given twice where only one is allowed",
    "asm-outside-function": "an instruction, label or register outside .func ... .end",
    "asm-missing-end": "a .func without its .end",
    "asm-bad-position": "a malformed @file:line:col position or an unknown file",
    "asm-invalid-ir": "an IR object of the wrong Python type (a bug in the IR's producer)",
}

declare_codes("source", CODES)


def show(value: object) -> str:
    """`repr(value)` cut short for a message: names and literals in input can be megabytes long."""
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "..." + text[-1]


def raise_if_any(diagnostics: Sequence[Diagnostic]) -> None:
    """Raise `source_error(diagnostics)` unless the list is empty."""
    if diagnostics:
        raise source_error(diagnostics)
