"""Colour conventions: takes `--color`, NO_COLOR, FORCE_COLOR and whether a stream is a terminal, gives yes or no.

One decision for every console script and every writer (rich consoles, the
plain run output, plugin log lines), in this order:

1. `--color always` or `--color never` on the command line decides;
2. `NO_COLOR` set to anything but the empty string turns every style off,
   bold and dim included (https://no-color.org);
3. `FORCE_COLOR` set to anything but the empty string (or `0`) turns styles
   on even off a terminal (https://force-color.org);
4. otherwise styles only on a terminal (`--color auto`, the default).

"Off" means no escape sequence at all: the rich consoles are built without
a colour system, so neither colour nor bold nor dim is written.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from typing import IO, Literal

__all__ = ["COLOR_MODES", "ColorMode", "add_color_option", "color_mode_from_args", "enabled", "set_mode"]

ColorMode = Literal["auto", "always", "never"]
COLOR_MODES: tuple[ColorMode, ...] = ("auto", "always", "never")

#: The command line's choice, fixed once per process by run_main (a one-item list: no `global` needed).
_mode: list[ColorMode] = ["auto"]


def add_color_option(parser: argparse.ArgumentParser) -> None:
    """`--color auto|always|never` (on the main parser and every subcommand, like `--json`)."""
    parser.add_argument(
        "--color",
        choices=COLOR_MODES,
        default=argparse.SUPPRESS,
        help="styles on the terminal: auto (default; honours NO_COLOR and FORCE_COLOR), always, never",
    )


def color_mode_from_args(args: Sequence[str]) -> ColorMode:
    """The `--color` value in raw argv (read before parsing, so argument errors follow it too); last one wins."""
    mode: ColorMode = "auto"
    for position, arg in enumerate(args):
        if arg == "--":
            break
        value = None
        if arg == "--color" and position + 1 < len(args):
            value = args[position + 1]
        elif arg.startswith("--color="):
            value = arg.partition("=")[2]
        if value in COLOR_MODES:
            mode = value
    return mode


def set_mode(mode: ColorMode) -> None:
    """Fix the command line's choice for this process (run_main calls it once)."""
    _mode[0] = mode


def enabled(stream: IO[str] | None, environ: Mapping[str, str] | None = None, mode: ColorMode | None = None) -> bool:
    """Whether to write styles to `stream`."""
    env = os.environ if environ is None else environ
    chosen = _mode[0] if mode is None else mode
    if chosen == "always":
        return True
    if chosen == "never":
        return False
    if env.get("NO_COLOR", ""):
        return False
    if env.get("FORCE_COLOR", "") not in ("", "0"):
        return True
    return _is_tty(stream)


def _is_tty(stream: IO[str] | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):
        return False
