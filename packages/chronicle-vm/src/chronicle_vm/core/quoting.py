"""Plugin text quoted in messages: takes a string, gives a quoted form that is the same on every Python.

Trap messages are recorded in traces, and `repr()` escapes whatever the
running Python's Unicode database calls non-printable, which changes
between versions (a character assigned in Unicode 14 prints raw on 3.11
and as `\\U…` on 3.10), so the same run gave different trace bytes.  This
quoting keeps repr's look for ordinary text (single quotes unless the text
holds one and no double quote; `\\\\`, `\\n`, `\\r`, `\\t`) but escapes a fixed
set: C0 and C1 controls and DEL (`\\xNN`), lone surrogates (`\\uNNNN`), and
the characters that reorder or break lines on terminals: bidirectional
marks, overrides and isolates, U+061C, U+2028, U+2029 and U+FEFF.
"""

from __future__ import annotations

__all__ = ["quote_text"]


def _escapes() -> dict[int, str]:
    table = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)]}
    table.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x5C: "\\\\"})
    fixed = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029, 0xFEFF)
    table.update({code: f"\\u{code:04x}" for code in fixed})
    table.update({code: f"\\u{code:04x}" for code in range(0xD800, 0xE000)})
    return table


#: The escape table, built at the first quote: its 2,300 entries cost start-up half a millisecond, and most
#: runs quote nothing (only traps, faults and messages about plugin text do).
_ESCAPES: list[dict[int, str]] = []


def quote_text(text: str) -> str:
    """`text` quoted like `repr(text)` for printable text, with a fixed set of escapes (see the module)."""
    if not _ESCAPES:
        _ESCAPES.append(_escapes())
    quote = '"' if "'" in text and '"' not in text else "'"
    body = text.translate(_ESCAPES[0])
    if quote == "'":
        body = body.replace("'", "\\'")
    return quote + body + quote
