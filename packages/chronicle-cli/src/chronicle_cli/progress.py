"""Progress on long commands: takes a label and a block of work, shows a rich spinner on stderr once it runs long.

Loading or replaying a big trace can take seconds; a silent terminal looks
hung.  `long_task` shows a transient spinner with the elapsed time, only
when the work has run for `CHRONICLE_PROGRESS_DELAY` seconds (default 1),
only on a terminal (or with `CHRONICLE_PROGRESS=always`; `never` turns it
off), never under `--json`, and it leaves nothing behind on the screen.
Short commands never import rich for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .colors import enabled

if TYPE_CHECKING:
    from .common import Output

__all__ = ["long_task"]

_DEFAULT_DELAY = 1.0


def _wanted(out: Output) -> bool:
    if out.json:
        return False
    setting = os.environ.get("CHRONICLE_PROGRESS", "auto")
    if setting == "never":
        return False
    if setting == "always":
        return True
    try:
        return bool(out.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _delay() -> float:
    try:
        return max(0.0, float(os.environ.get("CHRONICLE_PROGRESS_DELAY", _DEFAULT_DELAY)))
    except ValueError:
        return _DEFAULT_DELAY


@contextlib.contextmanager
def long_task(out: Output, label: str) -> Iterator[None]:
    """Run the block; if it lasts longer than the delay, show `label` with a spinner until it ends."""
    if not _wanted(out):
        yield
        return
    lock = threading.Lock()
    shown: list[Any] = []
    finished = False

    def start() -> None:
        with lock:
            if finished:
                return
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            styled = enabled(out.stderr)
            console = Console(
                file=out.stderr, force_terminal=True, color_system="standard" if styled else None, no_color=not styled
            )
            progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
            )
            progress.add_task(label, total=None)
            progress.start()
            shown.append(progress)

    timer = threading.Timer(_delay(), start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        with lock:
            finished = True
            for progress in shown:
                progress.stop()
