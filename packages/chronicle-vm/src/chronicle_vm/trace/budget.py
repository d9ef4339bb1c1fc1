"""The bytes a traced run may write: takes each recorded call, gives a `limit.trace-bytes` stop before a trace too big.

A run of the default limits may make millions of capability calls with
strings of up to a million characters each: 1,000 `log.info` calls of a
1M-character string made a 1.0 GB trace (18 s, 2.96 GB RSS), and 5 calls
logging 1M `[` made a trace that replay, inspect and diff then refused.
So the recorder charges every call against a per-run budget of trace bytes,
`Limits.max_trace_bytes` (56 MiB by default, a policy `[limits]` key and a
CLI flag like every limit, recorded in provenance), before the host function
runs (the arguments, the call's own fields and its location) and after it
returns (the result); the call that would pass the budget is recorded as
failed with `limit.trace-bytes` and the run ends there.  The trace keeps
that call's arguments (one call over at most: the default budget leaves
room under `MAX_TRACE_BYTES`), so it still replays (the failure is answered
from the record like a quota stop) and inspects.

The charge is an upper bound of the canonical JSON text, cheap to compute
and the same on every Python (values by chronicle_vm.core.payload, the
estimate `max_output_bytes` uses too): each capability's calls cost a fixed part
(the event's fields and numbers, the name, 21 bytes for each int or bool
value), each call site its location's exact length, a string of printable
ASCII its length plus its quotes and escapes, any other string 6 bytes a
character (a `\\u00XX` escape), an array the sum of its items; in a module with
structs every array or struct item also its longest `"field":` text (a struct
is a list of its fields in the VM and an object by field name in the trace).
"""

from __future__ import annotations

import json
from typing import NoReturn

from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Module
from chronicle_vm.core.payload import struct_item_bytes, value_bytes
from chronicle_vm.core.type_registry import is_sized
from chronicle_vm.errors import ResourceLimitError, declare_codes
from chronicle_vm.limits import DEFAULT_LIMITS

__all__ = ["MAX_RECORDED_BYTES", "TraceBudget", "value_bytes"]

declare_codes(
    "limit",
    {"trace-bytes": "a traced run's capability calls would pass its max_trace_bytes (56 MiB by default) of trace"},
)

#: The default `Limits.max_trace_bytes`: 56 MiB, under trace.MAX_TRACE_BYTES (64 MiB), so the stopping call's own
#: arguments (6 MB at most at the default max_string_len) still fit under what replay reads.
MAX_RECORDED_BYTES = DEFAULT_LIMITS.max_trace_bytes
assert MAX_RECORDED_BYTES == 56 * 1024 * 1024

#: Budgets worked out per (module, max_bytes, max_instructions), oldest dropped first (`TraceBudget.for_run`).
_PROTOTYPES: dict[tuple[int, int, int], tuple[Module, TraceBudget]] = {}
_MAX_PROTOTYPES = 64

#: `{"args":[],"capability":,"instructions":,"kind":"call","location":,"result":,"seq":},` without its values.
_EVENT_FIELDS = 85
#: `{"col":,"file":,"function":,"index":,"line":}` and three numbers of up to 10 digits.
_LOCATION_FIELDS = 41 + 30
#: The longest JSON text of an int (-9223372036854775808) or a bool, with its comma.
_SCALAR = 21


class TraceBudget:
    """One traced run's recorded bytes so far, in `meter[0]`, against `max_bytes`.

    The recorder's handlers do the arithmetic inline (a call costs an
    addition and a comparison, plus the size of its text and array values):
    `per_call[k]` is what every call of capability k costs whatever its
    values, `sized_params[k]` the positions of its text and array
    parameters, `sized_result[k]` whether its result is text or an array.
    """

    __slots__ = ("max_bytes", "meter", "per_call", "per_item", "sized_params", "sized_result")

    def __init__(self, module: Module, max_bytes: int = MAX_RECORDED_BYTES, max_instructions: int = 2**62) -> None:
        self.max_bytes = max_bytes
        self.meter = [0]
        #: Added for every array or struct item: a struct is written as an object by field name (0 without structs).
        self.per_item = struct_item_bytes(module.structs)
        digits = len(str(max_instructions))  # the call's instruction count and its seq are no larger
        files = max(
            (len(json.dumps(name, ensure_ascii=False).encode("utf-8")) for name in module.source_map.files), default=0
        )
        functions = max(
            (len(json.dumps(f.name, ensure_ascii=False).encode("utf-8")) for f in module.functions), default=0
        )
        location = _LOCATION_FIELDS + files + functions
        self.per_call: list[int] = []
        self.sized_params: list[tuple[int, ...]] = []
        self.sized_result: list[bool] = []
        for capability in module.capabilities:
            scalars = [p for p in capability.params if not is_sized(p)]
            result = capability.result
            self.per_call.append(
                _EVENT_FIELDS + 2 * digits + len(capability.name) + 2 + location + _SCALAR * (len(scalars) + 1)
            )
            self.sized_params.append(tuple(k for k, p in enumerate(capability.params) if is_sized(p)))
            self.sized_result.append(result is not None and is_sized(result))

    @classmethod
    def for_run(cls, module: Module, max_bytes: int, max_instructions: int) -> TraceBudget:
        """A fresh budget for one run; the per-capability costs are worked out once per module and limits.

        A service traces many short calls of one instance: computing the costs (a JSON text per function and
        file name) on every call was a quarter of a traced trivial call.
        """
        key = (id(module), max_bytes, max_instructions)
        known = _PROTOTYPES.get(key)
        if known is None or known[0] is not module:  # the module object keeps its id while the entry lives
            known = _PROTOTYPES[key] = (module, cls(module, max_bytes, max_instructions))
            while len(_PROTOTYPES) > _MAX_PROTOTYPES:
                del _PROTOTYPES[next(iter(_PROTOTYPES))]
        return known[1].fresh()

    def fresh(self) -> TraceBudget:
        """A budget with the same costs and ceiling and nothing recorded yet."""
        budget = TraceBudget.__new__(TraceBudget)
        budget.max_bytes = self.max_bytes
        budget.meter = [0]
        budget.per_call = self.per_call  # read only after construction: shared by the runs of one module
        budget.per_item = self.per_item
        budget.sized_params = self.sized_params
        budget.sized_result = self.sized_result
        return budget

    def stop(self, site: CallSite) -> NoReturn:
        raise ResourceLimitError(
            "limit.trace-bytes",
            f"the trace of this run would pass {self.max_bytes:,} bytes at this capability call "
            f"(at instruction {site.instructions}); the run stops here",
            max_trace_bytes=self.max_bytes,
            instructions=site.instructions,
        )
