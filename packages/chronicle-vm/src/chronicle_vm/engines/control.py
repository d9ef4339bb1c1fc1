"""Deadlines and cancellation: takes a call's timeout and cancel handle, gives the checks the engines make.

Neither engine looks at a clock per instruction.  A call with a deadline or a
cancel handle hands its instruction fuel to the engine in slices of
`FUEL_SLICE`; when a slice is used up (a point the fuel-exhaustion path
already reaches), the engine asks `RunControl.refill` for the next one, which
first checks the deadline and the cancel flag.  The runtime makes the same
check right after every capability call returns (`RunControl.after_call`),
since a slow host function is the likeliest way to overrun a deadline.
A stop is a `limit.deadline` or `limit.cancelled` error carrying the exact
instruction count; the trace records it as its final event, and replay
reproduces it without any clock by running under an instruction ceiling at
that count (or, for a stop right after a call, by stopping after answering
that call).  A host function that blocks cannot be interrupted: the check
runs when it returns.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from itertools import chain

from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.values import Value
from chronicle_vm.errors import ResourceLimitError, UsageError, declare_codes

from . import faults

__all__ = ["FUEL_SLICE", "STOP_CODES", "CancelHandle", "RunControl", "check_timeout"]

declare_codes(
    "limit",
    {
        "deadline": "the call's timeout passed: the run stopped at a fuel-slice end or after a capability call",
        "cancelled": "the call's cancel handle was used: the run stopped at a slice end or after a capability call",
    },
)
declare_codes(
    "usage",
    {"timeout": "a call's timeout is not a positive finite number of seconds, or its cancel not a CancelHandle"},
)

#: Instructions between two deadline checks: small enough for about a millisecond of latency on the
#: reference interpreter, large enough that the check is invisible next to the instructions.
FUEL_SLICE = 1 << 14

#: The codes of a stop that did not come from the run itself; replay reproduces them by instruction count.
STOP_CODES = frozenset({"limit.deadline", "limit.cancelled"})


class CancelHandle:
    """Cancels the calls it is given to, from any thread: `handle.cancel()`.

    Cancelling is sticky: a call started with an already cancelled handle
    stops before its first instruction; cancelling after a call ended does
    nothing to it.  One handle may serve several calls (all stop).
    """

    __slots__ = ("_event",)

    def __init__(self) -> None:
        import threading  # here, not at import: a run without a handle never loads threading

        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def __repr__(self) -> str:
        return f"CancelHandle(cancelled={self.cancelled})"


def check_timeout(timeout: object) -> float | None:
    """The timeout as float seconds (None for none); 0, negative, NaN, infinite or non-numbers are usage errors."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError("usage.timeout", f"timeout must be a number of seconds, not {type(timeout).__name__}")
    seconds = float(timeout)
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(
            "usage.timeout",
            f"timeout must be a positive finite number of seconds, got {timeout!r} (leave it out for no deadline)",
            timeout=repr(timeout),
        )
    return seconds


class RunControl:
    """One call's deadline (monotonic seconds) and cancel handle; the engines consult it per fuel slice."""

    __slots__ = ("cancel", "deadline", "stopped", "timeout")

    def __init__(self, timeout: float | None, cancel: CancelHandle | None) -> None:
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.cancel = cancel
        #: The stop the interpreter's fuel ran into (None while running or when the real limit was reached).
        self.stopped: faults.Failure | None = None

    @classmethod
    def of(cls, timeout: object, cancel: CancelHandle | None) -> RunControl | None:
        """The control for a call, None when it has neither a deadline nor a cancel handle (the fast path)."""
        seconds = check_timeout(timeout)
        if cancel is not None and not isinstance(cancel, CancelHandle):
            raise UsageError("usage.timeout", f"cancel must be a CancelHandle, not {type(cancel).__name__}")
        if seconds is None and cancel is None:
            return None
        return cls(seconds, cancel)

    def check(self, instructions: int) -> faults.Failure | None:
        """The stop due now, with `instructions` executed, or None to go on."""
        if self.cancel is not None and self.cancel.cancelled:
            message = f"the call was cancelled after {instructions} instructions"
            return ResourceLimitError, "limit.cancelled", message, {"instructions": instructions}
        if self.deadline is not None and time.monotonic() >= self.deadline:
            message = f"the call's timeout of {self.timeout:g} s passed after {instructions} instructions"
            details = {"timeout": self.timeout, "instructions": instructions}
            return ResourceLimitError, "limit.deadline", message, details
        return None

    def after_call(self, instructions: int) -> None:
        """Raise the stop due right after a capability call returned (the call is recorded already)."""
        stop = self.check(instructions)
        if stop is not None:
            error, code, message, details = stop
            raise error(code, message, **details)

    def wrap(self, handlers: Sequence[CapabilityHandler | None]) -> tuple[CapabilityHandler | None, ...]:
        """`handlers` followed by the after-call check (wrap the recording handlers, so a stop follows its call)."""
        return tuple(None if handler is None else self._checking(handler) for handler in handlers)

    def _checking(self, handler: CapabilityHandler) -> CapabilityHandler:
        after_call = self.after_call

        def checked(args: Sequence[Value], site: CallSite) -> Value | None:
            result = handler(args, site)
            after_call(site.instructions)
            return result

        return checked

    def fuel(self, total: int) -> Iterator[int]:
        """The interpreter's fuel: the numbers 0..total-1, handed out a slice at a time with a check before each.

        When a check stops the run, the iterator ends early and `stopped` says why.
        """
        return chain.from_iterable(self._slices(total))

    def _slices(self, total: int) -> Iterator[range]:
        issued = 0
        while issued < total:
            stop = self.check(issued)
            if stop is not None:
                self.stopped = stop
                return
            grant = min(FUEL_SLICE, total - issued)
            yield range(issued, issued + grant)
            issued += grant
