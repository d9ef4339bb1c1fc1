"""Lexical rules of `.casm`: takes one line of text or a value, gives tokens, literals and quoted names.

Shared by the parser and the disassembler so that whatever the
disassembler writes (strings with any code point, names that are not plain
identifiers, numbers at the edges of their ranges) the parser reads back
to the same value.  Nothing here raises on bad input: readers return a
value or an error message with a column.
"""

from __future__ import annotations

import re

from .source import ESCAPE_HINT, format_float, format_string, parse_float_literal, parse_int_literal, unescape

__all__ = [
    "I64_MAX",
    "I64_MIN",
    "NAME_RE",
    "U32_MAX",
    "Token",
    "format_float",
    "format_name",
    "format_string",
    "is_plain_name",
    "parse_float",
    "parse_int",
    "parse_string",
    "tokenize",
]

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
U32_MAX = 2**32 - 1

#: A plain name: functions, capabilities (dotted), constants, labels.
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_REGISTER_RE = re.compile(r"r[0-9]+")
#: Words a plain name may not be, because an operand slot would read them otherwise.
_RESERVED = frozenset({"export", "true", "false"})

# One token per match; `u` catches an unterminated string, `o` any stray
# character, so every non-blank character of a line belongs to some token.
_TOKEN_RE = re.compile(
    r"""[^\S\n]*(?:
      (?P<s>"(?:[^"\\]|\\.)*")
    | (?P<u>"(?:[^"\\]|\\.)*\\?)
    | (?P<c>;.*)
    | (?P<p>->|[,:()\[\]@])
    | (?P<w>[^\s,;:()\[\]@">]+)
    | (?P<o>\S)
    )""",
    re.VERBOSE,
)

#: A token: kind (`s` string, `u` unterminated string, `p` punctuation,
#: `w` word, `o` stray character), its text and its 1-based column.
Token = tuple[str, str, int]


def tokenize(line: str) -> list[Token]:
    """The tokens of one line (comments included, as kind `c`)."""
    out: list[Token] = []
    for match in _TOKEN_RE.finditer(line):
        kind = match.lastgroup
        if kind is None:  # only trailing blanks matched
            continue
        out.append((kind, match.group(kind), match.start(kind) + 1))
    return out


def parse_int(text: str) -> int | None:
    """A decimal or `0x` int with optional `-` and `_` separators; None when the text is not one."""
    return parse_int_literal(text)


def parse_float(text: str) -> tuple[float | None, str | None]:
    """A float literal (the shared lexer's `parse_float_literal`): (value, None), (None, None) when the text is
    not one, (None, message) when its value is not a finite float."""
    return parse_float_literal(text)


def parse_string(token: str) -> tuple[str, None] | tuple[None, tuple[str, int]]:
    """Decode a complete quoted string token: (value, None) or (None, (message, offset in token)) for its first
    bad escape (the shared lexer of `chronicle_asm.source`)."""
    value, problems = unescape(token[1:-1])
    if problems:
        start, _end, message = problems[0]
        return None, (f"{message} ({ESCAPE_HINT})", start + 1)
    return value, None


def is_plain_name(name: str) -> bool:
    """Whether `name` can be written bare: an identifier (dots allowed), not a register or keyword."""
    return NAME_RE.fullmatch(name) is not None and name not in _RESERVED and _REGISTER_RE.fullmatch(name) is None


def is_register(word: str) -> bool:
    return _REGISTER_RE.fullmatch(word) is not None


def format_name(name: str) -> str:
    """`name` bare when it is plain, quoted otherwise."""
    return name if is_plain_name(name) else format_string(name)
