"""Deep runs for the compiled engine: takes a job, gives its result, computed on a thread with a deep Python stack.

The compiled engine makes plugin calls direct Python calls, so a plugin's
call depth is Python's.  The host's thread has the room its recursion limit
leaves (about 850 frames under CPython's default); a run that needs more
(`max_call_depth` allows up to 100,000 frames) runs here instead: on a
worker thread created with a large C stack, once, and reused, under a
recursion limit raised for as long as some deep run needs it.

Costs nothing on shallow runs: the engine comes here only for a run whose
first attempt on the caller's thread ran out of Python stack (or for an
entry that did so before).  The job runs inside a copy of the caller's
`contextvars` context, so a capability handler sees the same context
variables; thread-local state of the caller's thread it does not see.
While a deep run is active the process's recursion limit is raised (CPython
has one limit for all threads); it is put back when the last one ends,
unless someone else changed it meanwhile.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import queue

__all__ = ["STACK_BYTES", "run_deep"]

T = TypeVar("T")

#: C stack of a worker thread.  Python-to-Python calls use hardly any C stack on CPython 3.11+, but the first call
#: of each function goes through a stub (a C-level call); 256 MiB holds 100,000 of those with room to spare.  It
#: is reserved address space, touched only as deep as a run goes.
STACK_BYTES = 256 * 1024 * 1024
#: Frames the worker's own code takes below the job (its loop, the job's wrapper, the context's run).
_WORKER_FRAMES = 16


class _Limit:
    """The recursion limit the deep runs now running share: raised by the first, restored by the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0  # deep runs now running
        self.saved = 0  # the recursion limit before the first of them raised it
        self.raised_to = 0  # the limit they raised it to (0: not raised)

    def enter(self, frames: int) -> None:
        with self.lock:
            current = sys.getrecursionlimit()
            if self.active == 0:
                self.saved = current
                self.raised_to = 0
            self.active += 1
            if current < frames:
                sys.setrecursionlimit(frames)
                self.raised_to = frames

    def leave(self) -> None:
        with self.lock:
            self.active -= 1
            if self.active == 0 and self.raised_to and sys.getrecursionlimit() == self.raised_to:
                sys.setrecursionlimit(self.saved)


_LIMIT = _Limit()
_idle: list[_Worker] = []  # workers waiting for a job, under _LIMIT.lock


class _Worker:
    """One daemon thread running jobs from its queue, one at a time."""

    def __init__(self) -> None:
        import queue  # here: a run that never goes deep does not load it (start-up)

        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        old = threading.stack_size()
        try:
            threading.stack_size(STACK_BYTES)
            self.thread = threading.Thread(target=self.loop, name="chronicle-deep-run", daemon=True)
            self.thread.start()
        finally:
            threading.stack_size(old)

    def loop(self) -> None:
        while True:
            self.jobs.get()()


def run_deep(job: Callable[[], T], frames: int) -> T:
    """`job()` on a worker thread where it may nest `frames` Python frames; its result, or its exception raised here.

    Raises RuntimeError (from `threading`) when no worker thread can be started; the caller then uses its
    fallback.
    """
    with _LIMIT.lock:
        worker = _idle.pop() if _idle else None
    if worker is None:
        worker = _Worker()
    import queue

    context = contextvars.copy_context()
    done: queue.SimpleQueue[tuple[bool, object]] = queue.SimpleQueue()

    def task() -> None:
        try:
            done.put((True, context.run(job)))
        except BaseException as exc:  # handed to the caller's thread, raised there
            done.put((False, exc))

    _LIMIT.enter(frames + _WORKER_FRAMES)
    try:
        worker.jobs.put(task)
        ok, value = done.get()
    finally:
        _LIMIT.leave()
        with _LIMIT.lock:
            _idle.append(worker)
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[return-value]
