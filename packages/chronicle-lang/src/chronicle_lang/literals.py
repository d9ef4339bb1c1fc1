"""Float literals of `.chr`: takes a FLOAT token's text, gives its value and a problem, if any.

`1.0`, `2.5e-3`, `1e9`, `1_000.5`: digits with `_` between them, a point
with a digit on both sides or an exponent.  The value is the nearest binary64
(Python's `float`, correctly rounded, linear in the length of the text, so a
literal of a thousand digits is fine); a literal whose value is not finite
(`1e999`) is a source error, since a `.chr` float is always finite.
"""

from __future__ import annotations

import math
import re

__all__ = ["FLOAT_HINT", "read_float"]

FLOAT_HINT = "a float is finite: its magnitude is below about 1.8e308"

_UNDERSCORES = re.compile(r"_(?![0-9])|(?<![0-9])_")


def read_float(text: str) -> tuple[float, str | None]:
    """The value of float literal `text` (0.0 when it has a problem) and the problem, or None."""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if _UNDERSCORES.search(text):
        return 0.0, f"malformed float literal {shown!r}: '_' goes between digits"
    value = float(text.replace("_", ""))
    if not math.isfinite(value):
        return 0.0, f"float literal {shown} is not finite"
    return value, None
