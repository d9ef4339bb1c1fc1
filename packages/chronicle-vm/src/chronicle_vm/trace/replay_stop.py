"""Replaying a deadline or a cancel: takes a trace's final stop event, gives the clock-free way to stop there.

A run stopped by its deadline or its cancel handle (control.py) stopped at
one of two kinds of point, and its final event says which by its location:

- at a fuel-slice end: the location is the instruction that did not run,
  exactly where `max_instructions` would have stopped.  Replay runs under an
  instruction ceiling at the recorded count and reads the resulting
  `limit.instructions` there as the recorded stop;
- right after a capability call returned: the location is that call.  The
  replayed call is answered from the trace, then stops the run the same way.

Nothing here reads a clock, so replay stops at the same instruction however
fast or slow the replaying machine is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.model import Module
from chronicle_vm.core.values import Value
from chronicle_vm.engines.control import STOP_CODES
from chronicle_vm.errors import ChronicleError, ResourceLimitError
from chronicle_vm.limits import Limits

__all__ = ["as_recorded_stop", "recorded_stop", "stop_ceiling", "stopping_handlers"]


def recorded_stop(events: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The trace's final event when it is a deadline or cancel stop, else None."""
    if not events:
        return None
    last = events[-1]
    # An untrusted trace may give no count (null): then there is no stop to reproduce, and the run's
    # own end is compared with the record as usual (a replay.outcome error).
    if last.get("kind") == "limit" and last.get("code") in STOP_CODES and type(last.get("instructions")) is int:
        return last
    return None


def stop_ceiling(limits: Limits, stop: Mapping[str, Any]) -> Limits:
    """The recorded limits with max_instructions lowered to the stop's count."""
    return replace(limits, max_instructions=min(limits.max_instructions, int(stop["instructions"])))


def stopping_handlers(
    handlers: Sequence[CapabilityHandler], stop: Mapping[str, Any], module: Module
) -> tuple[CapabilityHandler, ...]:
    """`handlers` that stop the run right after the call the stop event is located at (if it is at a call)."""
    location = stop.get("location")
    if not isinstance(location, Mapping):
        return tuple(handlers)
    count = stop["instructions"]
    names = [function.name for function in module.functions]

    def wrap(handler: CapabilityHandler) -> CapabilityHandler:
        def answer(args: Sequence[Value], site: CallSite) -> Value | None:
            result = handler(args, site)
            if (
                site.instructions == count
                and site.pc == location.get("index")
                and names[site.function] == location.get("function")
            ):
                raise ResourceLimitError(stop["code"], stop["message"], instructions=count)
            return result

        return answer

    return tuple(wrap(handler) for handler in handlers)


def as_recorded_stop(error: ChronicleError, stop: Mapping[str, Any]) -> ChronicleError:
    """The ceiling's `limit.instructions` at the stop's count, read as the recorded stop; other errors unchanged."""
    if error.code != "limit.instructions" or error.details.get("instructions") != stop["instructions"]:
        return error
    details = {key: value for key, value in error.details.items() if key not in ("limit", "value")}
    return ResourceLimitError(stop["code"], stop["message"], **details)
