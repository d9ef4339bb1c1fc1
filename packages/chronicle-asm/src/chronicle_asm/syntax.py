"""Lexical rules of `.casm`: takes one line of text or a value, gives tokens, literals and quoted names.

Shared by the parser and the disassembler so that whatever the
disassembler writes (strings with any code point, names that are not plain
identifiers, numbers at the edges of their ranges) the parser reads back
to the same value.  Nothing here raises on bad input: readers return a
value or an error message with a column.
"""

from __future__ import annotations

import re

__all__ = [
    "I64_MAX",
    "I64_MIN",
    "NAME_RE",
    "U32_MAX",
    "Token",
    "format_name",
    "format_string",
    "is_plain_name",
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

_INT_RE = re.compile(r"(-?)(?:0[xX]([0-9a-fA-F](?:_?[0-9a-fA-F])*)|([0-9](?:_?[0-9])*))")
_ESCAPE_RE = re.compile(r"\\(u\{([0-9a-fA-F]{1,6})\}|.?)", re.DOTALL)
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r", "0": "\0"}
_WRITE_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


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
    if len(text) > 200:  # far beyond 64 bits; also keeps int() away from its digit limit
        return None
    match = _INT_RE.fullmatch(text)
    if match is None:
        return None
    sign, hexa, dec = match.groups()
    value = int(hexa.replace("_", ""), 16) if hexa is not None else int(dec.replace("_", ""))
    return -value if sign else value


def parse_string(token: str) -> tuple[str, None] | tuple[None, tuple[str, int]]:
    """Decode a complete quoted string token: (value, None) or (None, (message, offset in token))."""
    body = token[1:-1]
    if "\\" not in body:
        return body, None
    parts: list[str] = []
    last = 0
    for match in _ESCAPE_RE.finditer(body):
        parts.append(body[last : match.start()])
        last = match.end()
        escape = match.group(1)
        hexa = match.group(2)
        if hexa is not None:
            code = int(hexa, 16)
            if code > 0x10FFFF:
                return None, (f"\\u{{{hexa}}} is beyond the last code point U+10FFFF", match.start() + 1)
            if 0xD800 <= code <= 0xDFFF:
                return None, (f"\\u{{{hexa}}} is a surrogate, which UTF-8 cannot hold", match.start() + 1)
            parts.append(chr(code))
        elif escape in _SIMPLE_ESCAPES:
            parts.append(_SIMPLE_ESCAPES[escape])
        else:
            shown = escape if escape.isprintable() else repr(escape)
            return None, (
                f'unknown escape \\{shown} (known: \\\\ \\" \\n \\t \\r \\0 \\u{{hex}})',
                match.start() + 1,
            )
    parts.append(body[last:])
    return "".join(parts), None


def format_string(value: str) -> str:
    """The quoted literal `parse_string` reads back as `value` (printable text kept as is)."""
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


def is_plain_name(name: str) -> bool:
    """Whether `name` can be written bare: an identifier (dots allowed), not a register or keyword."""
    return NAME_RE.fullmatch(name) is not None and name not in _RESERVED and _REGISTER_RE.fullmatch(name) is None


def is_register(word: str) -> bool:
    return _REGISTER_RE.fullmatch(word) is not None


def format_name(name: str) -> str:
    """`name` bare when it is plain, quoted otherwise."""
    return name if is_plain_name(name) else format_string(name)
