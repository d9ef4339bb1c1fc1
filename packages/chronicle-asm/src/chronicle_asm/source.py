"""The front end shared by `.casm` and `.chr`: takes source bytes or text, gives decoded text, literal values,
diagnostics and their one rendering.

Both source languages read text by the same rule (`decode_source`: strict
UTF-8, no lone surrogates, a leading byte-order mark dropped), read literals
with the same lexer (`unescape`, `parse_int_literal`, `parse_float_literal`:
one escape grammar, one integer syntax, one float syntax), report problems as the same `Diagnostic` (a span, a stable
code, a message, an optional hint) and raise one `SourceError` whose code is
the first problem's (`source_error`).  `render_parts` is the one renderer: it
gives styled segments that the CLI colours and `render_text` joins plainly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chronicle_vm.errors import SourceError, declare_codes

__all__ = [
    "ESCAPE_HINT",
    "MAX_DIAGNOSTICS",
    "MAX_ECHO",
    "Diagnostic",
    "decode_source",
    "echo_line",
    "format_float",
    "format_string",
    "parse_float_literal",
    "parse_int_literal",
    "render_parts",
    "render_text",
    "source_error",
    "unescape",
]

declare_codes(
    "source",
    {
        "invalid-utf8": "the source is not valid UTF-8 (undecodable bytes, or a lone surrogate in text)",
    },
)

#: Diagnostics kept per source; more are counted in the error's `dropped` only.
MAX_DIAGNOSTICS = 100
#: Longest source line echoed in a diagnostic (a 1 MB line is cut to a window around the column).
MAX_ECHO = 160


# -- text ---------------------------------------------------------------------------------------------------------


def decode_source(data: str | bytes | bytearray | memoryview, path: str, *, note: str | None = None) -> str:
    """The text of a source: strict UTF-8, no lone surrogate, a leading BOM dropped.

    Raises `SourceError("source.invalid-utf8")` with one diagnostic at the
    first bad byte or character (line and column count characters, as every
    other diagnostic does); `note` is appended to its message.
    """
    if isinstance(data, str):
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            # Only a lone surrogate cannot be encoded: such text cannot come from any file.
            line, col = _line_col(text, err.start)
            message = f"the text holds a lone surrogate U+{ord(text[err.start]):04X}, which UTF-8 cannot encode"
            line_text = text[text.rfind("\n", 0, err.start) + 1 :].split("\n", 1)[0]
            shown = echo_line(line_text.encode("utf-8", errors="replace").decode("utf-8"), col)
            diag = Diagnostic("invalid-utf8", message, path, line, col, shown, None, line, col + 1)
            raise source_error([diag], path) from None
    else:
        raw = bytes(data)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            before = raw[: err.start].decode("utf-8", errors="replace")
            line, col = _line_col(before, len(before))
            message = f"invalid UTF-8 byte 0x{raw[err.start]:02x}" + (f" {note}" if note else "")
            shown = raw[raw.rfind(b"\n", 0, err.start) + 1 :].split(b"\n", 1)[0].decode("utf-8", errors="replace")
            hint = "save the file as UTF-8"
            diag = Diagnostic("invalid-utf8", message, path, line, col, echo_line(shown, col), hint, line, col + 1)
            raise source_error([diag], path) from None
    return text[1:] if text.startswith("\ufeff") else text


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def echo_line(line: str, col: int) -> str:
    """The source line as a diagnostic quotes it: cut to a window around `col` when it is very long."""
    line = line.rstrip("\r")
    if len(line) <= MAX_ECHO:
        return line
    start = max(0, min(col - 1 - MAX_ECHO // 2, len(line) - MAX_ECHO))
    return line[start : start + MAX_ECHO]


# -- literals -----------------------------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\(u\{([0-9a-fA-F]{1,6})\}|.?)", re.DOTALL)
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_WRITE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
#: What every "unknown escape" diagnostic suggests.
ESCAPE_HINT = "known escapes: \\n \\t \\r \\0 \\\\ \\\" \\' \\u{hex}"
_INT_LITERAL = re.compile(r"-?(0[xX][0-9a-fA-F](_?[0-9a-fA-F])*|[0-9](_?[0-9])*)")
# A float literal: digits on both sides of the point, or an exponent, or both (`1.0`, `2.5e-3`, `1e+16`).
_DIGITS = r"[0-9](?:_?[0-9])*"
_FLOAT_LITERAL = re.compile(rf"-?{_DIGITS}(?:\.{_DIGITS}(?:[eE][+-]?{_DIGITS})?|[eE][+-]?{_DIGITS})")


def unescape(body: str) -> tuple[str, list[tuple[int, int, str]]]:
    """The text of a string literal's body (between the quotes) and its bad escapes.

    Each problem is `(start, end, message)` with offsets into `body`; a bad
    escape stands for nothing in the text.  One grammar for both languages:
    `\\n \\t \\r \\0 \\\\ \\" \\'` and `\\u{hex}` (a Unicode scalar value).
    """
    if "\\" not in body:
        return body, []
    parts: list[str] = []
    problems: list[tuple[int, int, str]] = []
    last = 0
    for match in _ESCAPE.finditer(body):
        parts.append(body[last : match.start()])
        last = match.end()
        escape = match.group(1)
        digits = match.group(2)
        if digits is not None:
            code = int(digits, 16)
            if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                parts.append(chr(code))
                continue
            problems.append((match.start(), match.end(), f"\\u{{{digits}}} is not a Unicode scalar value"))
        elif escape in _SIMPLE_ESCAPES:
            parts.append(_SIMPLE_ESCAPES[escape])
        else:
            shown = escape if escape.isprintable() else repr(escape)
            problems.append((match.start(), match.end(), f"unknown escape sequence '\\{shown}'"))
    parts.append(body[last:])
    return "".join(parts), problems


def format_string(value: str) -> str:
    """A string literal (quotes included) that `unescape` reads back as `value`; non-printable as `\\u{hex}`."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    out: list[str] = []
    for char in value:
        escaped = _WRITE_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'


def parse_int_literal(text: str) -> int | None:
    """An integer literal's value: decimal or `0x` hex, `_` between digits, an optional `-`; None otherwise.

    The value is not range-checked: each language says what range it takes.
    """
    if len(text) > 200 or not _INT_LITERAL.fullmatch(text):
        return None
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    digits = digits.lstrip("-")
    return sign * (int(digits[2:], 16) if digits[:2] in ("0x", "0X") else int(digits, 10))


def parse_float_literal(text: str) -> tuple[float | None, str | None]:
    """A float literal's value: `(value, None)`; `(None, None)` when `text` is not a float literal; `(None, why)`
    when it is one whose value is not a finite float (`1e999`).

    One syntax for both languages: an optional `-`, digits (with `_` between them), then a point and digits,
    an exponent (`e`/`E`, an optional sign, digits), or both.  `1.` and `.5` are not literals.  The value
    is the nearest binary64 (as Python's `float`); `-0.0` keeps its sign.
    """
    if len(text) > 400 or not _FLOAT_LITERAL.fullmatch(text):
        return None, None
    value = float(text.replace("_", ""))
    if not math.isfinite(value):
        return None, f"{text[:40]} is outside the range of a float (floats are finite, at most about 1.8e308)"
    return value, None


def format_float(value: float) -> str:
    """The literal `parse_float_literal` reads back as exactly `value` (Python's shortest `repr`)."""
    return repr(value)


# -- diagnostics --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem in a source: a stable code (with or without `source.`), a message, where, and what helps.

    `line`/`col` are 1-based; `end_line`/`end_col` end the span (exclusive
    column).  `extra` holds JSON-safe facts a front end adds (`expected`,
    `found`, ...).
    """

    code: str
    message: str
    file: str | None = None
    line: int | None = None
    col: int | None = None
    source_line: str | None = None
    hint: str | None = None
    end_line: int | None = None
    end_col: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def full_code(self) -> str:
        return self.code if self.code.startswith("source.") else f"source.{self.code}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "code": self.full_code,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "col": self.col,
        }
        if self.end_line is not None:
            out["end_line"] = self.end_line
            out["end_col"] = self.end_col
        if self.source_line is not None:
            out["source_line"] = self.source_line
        if self.hint:
            out["hint"] = self.hint
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out

    def render(self) -> str:
        return render_text(self.to_dict())


def _sort_key(diag: Diagnostic) -> tuple[bool, str, int, int]:
    # Problems without a place (notes, IR without positions) come last.
    return (diag.line is None, diag.file or "", diag.line or 0, diag.col or 0)


def source_error(diagnostics: Sequence[Diagnostic], path: str | None = None, *, dropped: int = 0) -> SourceError:
    """One `SourceError` for all of `diagnostics` (at least one), sorted by place (stable for one place).

    The error's code is the first problem's code, so a single problem keeps
    its specific code; its message says how many there are and the first;
    `details` repeats the first problem's place and lists every diagnostic.
    """
    ordered = sorted(diagnostics, key=_sort_key)
    first = ordered[0]
    total = len(ordered) + dropped
    where = ""
    if first.line is not None:
        where = f"{first.line}:{first.col}: " if first.col is not None else f"{first.line}: "
    message = first.message
    if total > 1:
        message = f"{total} errors in {path or first.file or '<input>'}; first: {where}{first.message}"
    items = [d.to_dict() for d in ordered]
    return SourceError(
        first.full_code,
        message,
        file=first.file,
        line=first.line,
        col=first.col,
        source_line=first.source_line,
        diagnostics=items,
        dropped=dropped,
        rendered="\n".join(render_text(d) for d in items),
    )


def _int_or_none(value: object) -> int | None:
    return value if type(value) is int else None


def render_parts(d: Mapping[str, Any]) -> list[list[tuple[str, str]]]:
    """One diagnostic as lines of `(role, text)` segments: the one rendering, styled by whoever prints it.

    Roles: `place`, `error`, `message`, `code`, `gutter`, `source`, `caret`,
    `hint`.  Never fails on any mapping (fields of the wrong type are
    treated as absent), so it can render diagnostics read back from JSON.
    """
    file = str(d.get("file") or "<input>")
    line = _int_or_none(d.get("line"))
    col = _int_or_none(d.get("col"))
    where = file
    if line is not None:
        where += f":{line}"
        if col is not None:
            where += f":{col}"
    lines: list[list[tuple[str, str]]] = [
        [
            ("place", where),
            ("message", ": "),
            ("error", "error"),
            ("message", f": {d.get('message', '')} "),
            ("code", f"[{d.get('code', 'source')}]"),
        ]
    ]
    source = d.get("source_line")
    if isinstance(source, str) and source and col is not None and col >= 1:
        source = source.replace("\r", "").replace("\n", " ")
        offset = col - 1
        if len(source) == MAX_ECHO and offset >= len(source):  # a long line is echoed as a window around col
            offset = MAX_ECHO // 2
        offset = min(offset, len(source))
        end_line = _int_or_none(d.get("end_line"))
        end_col = _int_or_none(d.get("end_col"))
        width = end_col - col if end_col is not None and end_line in (None, line) and end_col > col else 1
        width = max(1, min(width, max(1, len(source) - offset)))
        gutter = f"{line} | " if line is not None else "  | "
        pad = " " * (len(gutter) - 2) + "| "
        prefix = "".join("\t" if ch == "\t" else " " for ch in source[:offset])
        lines.append([("gutter", gutter), ("source", source)])
        lines.append([("gutter", pad), ("caret", prefix + "^" + "~" * (width - 1))])
    hint = d.get("hint")
    if hint:
        lines.append([("hint", f"    = hint: {hint}")])
    return lines


def render_text(d: Mapping[str, Any]) -> str:
    """`render_parts` joined as plain text."""
    return "\n".join("".join(text for _role, text in segments) for segments in render_parts(d))


def join_diagnostics(items: Iterable[Mapping[str, Any]]) -> str:
    """Several diagnostics rendered as plain text, one after another."""
    return "\n".join(render_text(d) for d in items)
