"""The capability call boundary: takes nothing, gives the handler protocol the interpreter calls.

The interpreter knows nothing of hosts, policies or traces.  For each
capability the module declares it is handed one handler, by capability index;
negotiation builds live handlers (type conversion, quotas, host errors),
the recorder wraps them, and replay builds handlers that answer from a trace.
A handler gets the argument values (already of the declared types, guaranteed
by the verifier) and the call site, and returns a value of the declared result
type (or None for a capability without result), or raises a ChronicleError.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, NoReturn

from .values import Value

__all__ = ["CallSite", "CapabilityHandler", "RecordTape"]


class CallSite(NamedTuple):
    """Where a capability call happens."""

    capability: int  # index into Module.capabilities
    function: int  # index into Module.functions
    pc: int  # instruction index of the capcall in that function
    instructions: int  # instructions executed so far, the capcall included


CapabilityHandler = Callable[[Sequence[Value], CallSite], "Value | None"]


class RecordTape(NamedTuple):
    """What a traced run's recorder gives a live handler that records its own calls (one Python call per call,
    one measure of its text shared by the trace's budget and the bytes-out meter).

    The handler charges `per_call` plus its sized arguments (`sized`, each `value_bytes(arg, per_item)`) to
    `meter[0]` before anything else and calls `stop(site)` past `max_bytes`, then its sized result
    (`sized_result`) after the host returns; a finished call appends its result, the site's four fields and
    its arguments to `calls`; a ChronicleError on the way goes to `fail(error, args, site)` before it is raised.
    """

    calls: list[Any]
    meter: list[int]
    max_bytes: int
    per_call: int
    per_item: int
    sized: tuple[int, ...]
    sized_result: bool
    stop: Callable[[CallSite], NoReturn]
    fail: Callable[[Any, Sequence[Value], CallSite], None]
