"""Float literals of `.chr`: takes a FLOAT token's text, gives its value and a problem, if any.

The syntax and the value come from the literal lexer shared with `.casm`
(`chronicle_asm.source.parse_float_literal`): digits with `_` between them,
a point with a digit on both sides or an exponent, the nearest binary64.  A
literal whose value is not finite (`1e999`) is a source error, since a `.chr`
float is always finite; so is a literal longer than the lexer reads.
"""

from __future__ import annotations

from chronicle_asm.source import parse_float_literal

__all__ = ["FLOAT_HINT", "read_float"]

FLOAT_HINT = "a float is finite: its magnitude is below about 1.8e308"


def read_float(text: str) -> tuple[float, str | None]:
    """The value of float literal `text` (0.0 when it has a problem) and the problem, or None."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    value, why = parse_float_literal(text)
    if value is not None:
        return value, None
    if why is not None:
        return 0.0, f"float literal {why}"
    if len(text) > 400:
        return 0.0, f"float literal {shown} is longer than 400 characters"
    return 0.0, f"malformed float literal {shown!r}: '_' goes between digits"
