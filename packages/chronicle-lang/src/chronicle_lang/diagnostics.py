"""Compiler diagnostics: takes problems with spans, gives JSON-safe dicts, a renderer and one SourceError.

A diagnostic is a plain dict (`code`, `message`, `file`, `line`, `col`,
`end_line`, `end_col`, `source_line`, and optionally `hint`, `expected`,
`found`) so the CLI can print it or put it in `--json` output unchanged.
Guarantees: every code is declared under `source.`, lines and columns are
1-based, and `render_diagnostic` never fails on any dict this module made.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from chronicle_vm.errors import SourceError, declare_codes

from .syntax import Span

__all__ = ["MAX_DIAGNOSTICS", "Diagnostics", "nearest_name", "render_diagnostic"]

#: Diagnostics kept per compile; more are counted in the summary only.
MAX_DIAGNOSTICS = 100
#: Longest source line echoed in a diagnostic (a 1 MB line is cut around the column).
_MAX_ECHO = 160

declare_codes(
    "source",
    {
        "compile": "a .chr file has errors; details['diagnostics'] lists each one",
        "invalid-utf8": "the source is not valid UTF-8 (undecodable bytes, or a lone surrogate in text)",
        "unexpected-character": "a character that starts no token",
        "unterminated-string": "a string literal without its closing quote on the same line",
        "syntax": "a token the grammar does not allow there (expected and found are given)",
        "too-deep": "nesting of blocks or expressions deeper than the compiler accepts",
        "invalid-escape": "an unknown escape sequence in a string literal",
        "int-out-of-range": "an integer literal outside the signed 64-bit range",
        "unknown-type": "a type name other than int, bool, str or [T]",
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
        "cannot-infer": "an empty array literal whose element type no context gives",
        "missing-return": "a function with a result type whose end can be reached",
        "return-value": "a return whose value does not fit the function's result",
        "loop-control": "break or continue outside a loop",
        "too-many-registers": "a function needing more registers than the configured maximum",
        "bad-capability-name": "a capability name that is not dotted lower-case words (like log.info)",
    },
)


def nearest_name(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to `name`, if one is close enough to be a likely typo."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None


class Diagnostics:
    """Collects the diagnostics of one source file."""

    __slots__ = ("_lines", "_text", "dropped", "items", "path")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self._text = text
        self._lines: list[str] | None = None
        self.items: list[dict[str, Any]] = []
        self.dropped = 0

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
        diag: dict[str, Any] = {
            "code": code if code.startswith("source.") else f"source.{code}",
            "message": message,
            "file": self.path,
            "line": span.line,
            "col": span.col,
            "end_line": span.end_line,
            "end_col": span.end_col,
            "source_line": _echo(self.source_line(span.line), span.col),
        }
        if hint:
            diag["hint"] = hint
        diag.update(extra)
        self.items.append(diag)

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        """Raise one `SourceError("source.compile")` carrying every diagnostic, if there is any."""
        if not self.items:
            return
        self.items.sort(key=lambda d: (d["line"], d["col"]))  # stable: same-place problems keep their order
        total = len(self.items) + self.dropped
        first = self.items[0]
        noun = "error" if total == 1 else "errors"
        summary = f"{total} {noun} in {self.path}; first: {first['line']}:{first['col']}: {first['message']}"
        raise SourceError("source.compile", summary, diagnostics=list(self.items), dropped=self.dropped)


def _echo(line: str, col: int) -> str:
    """The source line, cut to a window around `col` when it is very long."""
    if len(line) <= _MAX_ECHO:
        return line
    start = max(0, min(col - 1 - _MAX_ECHO // 2, len(line) - _MAX_ECHO))
    return line[start : start + _MAX_ECHO]


def render_diagnostic(d: dict[str, Any]) -> str:
    """`file:line:col: message [code]`, the source line, a caret under the span, and the hint."""
    file = d.get("file", "<input>")
    line = int(d.get("line", 0) or 0)
    col = int(d.get("col", 0) or 0)
    head = f"{file}:{line}:{col}: error: {d.get('message', '')} [{d.get('code', 'source')}]"
    out = [head]
    source = str(d.get("source_line", ""))
    if source and col >= 1:
        offset = col - 1
        # A very long line is echoed as a window centred on the column.
        if len(source) == _MAX_ECHO and offset >= len(source):
            offset = _MAX_ECHO // 2
        offset = min(offset, len(source))
        end_line = int(d.get("end_line", line) or line)
        end_col = int(d.get("end_col", col + 1) or col + 1)
        width = end_col - col if end_line == line and end_col > col else 1
        width = max(1, min(width, max(1, len(source) - offset)))
        prefix = "".join("\t" if ch == "\t" else " " for ch in source[:offset])
        out.append("    " + source.replace("\r", ""))
        out.append("    " + prefix + "^" + "~" * (width - 1))
    hint = d.get("hint")
    if hint:
        out.append(f"    hint: {hint}")
    return "\n".join(out)
