"""Compiler diagnostics: takes problems with spans, gives the front end's `Diagnostic`s and one SourceError.

Every problem becomes a `chronicle_asm.source.Diagnostic` (the one kind
shared with `.casm`), and `raise_if_any` raises `source_error` of them all:
the error's code is the first problem's, `details["diagnostics"]` lists each
as a JSON-safe dict (`code`, `message`, `file`, `line`, `col`, `end_line`,
`end_col`, `source_line`, and optionally `hint`, `expected`, `found`).
Guarantees: every code is declared under `source.`, lines and columns are
1-based, and `render_diagnostic` never fails on any dict.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from chronicle_asm.source import MAX_DIAGNOSTICS, Diagnostic, echo_line, render_text, source_error
from chronicle_vm.errors import declare_codes

from .syntax import Span

__all__ = ["MAX_DIAGNOSTICS", "Diagnostics", "nearest_name", "render_diagnostic"]

#: The front end's one renderer: `file:line:col: error: message [code]`, the source line, a caret, the hint.
render_diagnostic = render_text

declare_codes(
    "source",
    {
        "unexpected-character": "a character that starts no token",
        "unterminated-string": "a string literal without its closing quote on the same line",
        "syntax": "a token the grammar does not allow there (expected and found are given)",
        "too-deep": "nesting of blocks or expressions deeper than the compiler accepts",
        "invalid-escape": "an unknown escape sequence in a string literal",
        "int-out-of-range": "an integer literal outside the signed 64-bit range",
        "unknown-type": "a type name other than int, float, bool, str, a declared struct, [T] or {K: V}",
        "type-too-deep": "an array type nested deeper than the VM allows",
        "unknown-name": "a variable that is not in scope",
        "unknown-function": "a call of a function that is neither defined nor a builtin",
        "unknown-capability": "a call of a capability the plugin did not declare",
        "duplicate-name": "a function, capability, parameter or variable declared twice",
        "reserved-name": "a function named like a builtin",
        "type-mismatch": "an expression whose type is not the one required there",
        "argument-count": "a call with the wrong number of arguments",
        "no-value": "a call of a function without result used as a value",
        "not-assignable": "an assignment to something that is not a variable or array element",
        "cannot-infer": "an empty array or map literal whose type no context gives",
        "missing-return": "a function with a result type whose end can be reached",
        "return-value": "a return whose value does not fit the function's result",
        "loop-control": "break or continue outside a loop",
        "too-many-registers": "a function needing more registers than the configured maximum",
        "bad-capability-name": "a capability name that is not dotted lower-case words (like log.info)",
        "method-call": "a method call on a variable (`s.len()`): values have no methods, builtins take them",
        "not-constant": "a `const` whose value is not a constant expression (literals, earlier constants, operators)",
        "const-fold": "a constant expression that would trap when folded (division by zero, a bad shift count)",
        "assign-to-const": "an assignment to a module-level constant",
        "float-literal": "a float literal that is malformed or not finite (`1e999`)",
        "unknown-field": "a field that the struct does not have, read, written or given in a literal",
        "missing-field": "a struct literal that does not give every field",
        "duplicate-field": "a field declared twice in a struct, or given twice in a literal",
        "bad-map-key": "a map key type other than int, str or bool",
        "recursive-struct": "a struct that contains itself by value (through fields that are not arrays or maps)",
        "mixed-numbers": "an int and a float in one operation without a conversion (`float(i)`, `int(f)`)",
        "unsupported": "a construct this VM build has no instruction for",
    },
)


_STRUCT_REF = re.compile(r"struct#([0-9]{1,9})")


def nearest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name`, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class Diagnostics:
    """Collects the diagnostics of one source file."""

    __slots__ = ("_lines", "_text", "dropped", "items", "path", "struct_names")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self._text = text
        self._lines: list[str] | None = None
        self.items: list[Diagnostic] = []
        self.dropped = 0
        # The module's struct names by index: a message's `struct#i` (a struct type's text) shows the name.
        self.struct_names: tuple[str, ...] = ()

    def source_line(self, line: int) -> str:
        if self._lines is None:
            self._lines = self._text.split("\n")
        if 1 <= line <= len(self._lines):
            return self._lines[line - 1].rstrip("\r")
        return ""

    def error(self, code: str, message: str, span: Span, hint: str | None = None, **extra: Any) -> None:
        """Record one problem at `span`."""
        if len(self.items) >= MAX_DIAGNOSTICS:
            self.dropped += 1
            return
        source = echo_line(self.source_line(span.line), span.col)
        if self.struct_names:
            message = self._named(message)
            hint = None if hint is None else self._named(hint)
        self.items.append(
            Diagnostic(code, message, self.path, span.line, span.col, source, hint, span.end_line, span.end_col, extra)
        )

    def _named(self, text: str) -> str:
        if "struct#" not in text:
            return text
        names = self.struct_names
        return _STRUCT_REF.sub(lambda m: names[int(m[1])] if int(m[1]) < len(names) else m[0], text)

    def codes(self) -> list[str]:
        """The codes recorded so far, in order."""
        return [d.full_code for d in self.items]

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise one `SourceError` carrying every diagnostic (its code: the first problem's), if there is any."""
        if self.items:
            raise source_error(self.items, self.path, dropped=self.dropped)
