"""Call stacks in CLI output: takes an error's stack (up to 100,000 frames), gives a bounded one and folded lines.

A `limit.call-depth` error carries every live frame.  Under `--json` the stack
keeps its outermost and innermost `KEPT_FRAMES` frames with `stack_omitted`
counting the frames between; human output also folds runs of identical frames
(a recursion's repeated call site) into one line with a count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = ["KEPT_FRAMES", "bounded_stack", "folded_frames"]

#: Frames kept at each end of a long stack in JSON output.
KEPT_FRAMES = 25


def bounded_stack(error: Mapping[str, Any]) -> dict[str, Any]:
    """`error` with a stack of at most 2 * KEPT_FRAMES frames and `stack_omitted` counting the rest."""
    out = dict(error)
    stack = out.get("stack")
    if isinstance(stack, list) and len(stack) > 2 * KEPT_FRAMES:
        out["stack"] = stack[:KEPT_FRAMES] + stack[-KEPT_FRAMES:]
        out["stack_omitted"] = len(stack) - 2 * KEPT_FRAMES + int(out.get("stack_omitted", 0) or 0)
    return out


def folded_frames(stack: list[Any], place: Callable[[Mapping[str, Any]], str], omitted: int = 0) -> Iterator[str]:
    """One line per run of identical frames, outermost first; `omitted` frames were cut from the middle."""
    frames = [frame for frame in stack if isinstance(frame, Mapping)]
    middle = len(frames) // 2 if omitted else -1
    index = 0
    while index < len(frames):
        if index == middle:
            yield f"... {omitted:,} more frames ..."
        end = index + 1
        while end < len(frames) and end != middle and frames[end] == frames[index]:
            end += 1
        run = end - index
        yield place(frames[index]) + (f"  (x{run:,})" if run > 1 else "")
        index = end
