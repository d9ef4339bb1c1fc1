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
from typing import NamedTuple

from .values import Value

__all__ = ["CallSite", "CapabilityHandler"]


class CallSite(NamedTuple):
    """Where a capability call happens."""

    capability: int  # index into Module.capabilities
    function: int  # index into Module.functions
    pc: int  # instruction index of the capcall in that function
    instructions: int  # instructions executed so far, the capcall included


CapabilityHandler = Callable[[Sequence[Value], CallSite], "Value | None"]
