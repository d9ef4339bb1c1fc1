"""Plain text of a finished run: takes the run's JSON-safe payload, gives the lines people read; no rich import.

Kept apart from `render` so that `chronicle-vm run` does not import rich
for two lines of text (rich's import is most of a small run's start-up); the
wording and the colours (only on a terminal, never with NO_COLOR) are the
same as the rich renderer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from chronicle_vm.core.type_registry import value_text

from .colors import enabled
from .common import visible

__all__ = ["Shown", "print_run", "show_value"]


class Shown(str):
    """A value already written for people by its declared type (trace_view.py): `show_value` prints it as it is."""

    __slots__ = ()


def show_value(value: object) -> str:
    """A result value as the language writes it: 42, true, "text", [1, 2]; `none` for no value."""
    if value is None:
        return "none"
    if type(value) is Shown:
        return str(value)
    return value_text(value)


def _styler(stream: IO[str]) -> Any:
    colour = enabled(stream)  # --color, NO_COLOR, FORCE_COLOR, a terminal (colors.py)

    def style(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if colour else text

    return style


def print_run(stream: IO[str], payload: Mapping[str, Any]) -> None:
    """`result: V`, `instructions: N of max M`, and where the trace went."""
    style = _styler(stream)
    # A result is plugin text: C1 controls, bidi overrides and the like are escaped (json.dumps only does C0).
    lines = [style("result: ", "1") + style(visible(show_value(payload.get("value"))), "1;32")]
    limits = payload.get("limits")
    budget = ""
    if isinstance(limits, Mapping) and isinstance(limits.get("max_instructions"), int):
        budget = f" of max {limits['max_instructions']:,}"
    lines.append(style(f"instructions: {payload.get('instructions', 0):,}{budget}", "2"))
    if payload.get("trace"):
        lines.append(style(f"trace written to {visible(str(payload['trace']))}", "2"))
    stream.write("\n".join(lines) + "\n")
    stream.flush()
