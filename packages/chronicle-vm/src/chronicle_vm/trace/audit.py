"""Batch replay: takes traces and a module lookup, gives one `AuditResult` per trace, in order.

    for result in audit_traces(lines, {digest: module_bytes, ...}):
        if result.status != "exact": ...

An auditor replays every recorded run of a day to prove each was exact.
Each trace is judged on its own and nothing about one trace can stop the
others: a trace that does not parse is `malformed`, one whose module digest
is not in the lookup is `module-missing`, one whose module bytes fail to
decode or verify is `module-invalid`, one whose replay differs from the
record is `diverged` (with the event number and the code location the
`ReplayError` names), and the rest are `exact`.  This module is the
executor-agnostic core: it runs in one process; chronicle-cli spreads
chunks of traces over worker processes or a Dask cluster and calls it there.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from chronicle_vm.errors import ChronicleError, DecodeError, ReplayError, VerifyError, declare_codes
from chronicle_vm.runtime import EngineName, LoadedModule, load_module

from .document import MAX_TRACE_BYTES, Trace, load_trace
from .replay import replay

__all__ = ["AUDIT_STATUSES", "AuditResult", "Auditor", "ModuleLookup", "audit_trace", "audit_traces"]

declare_codes(
    "replay",
    {"module-missing": "a trace's module (by the sha256 in its provenance) is not among the modules given to audit"},
)

AuditStatus: TypeAlias = Literal["exact", "diverged", "malformed", "module-missing", "module-invalid"]
#: Every status an audit result can have, in the order a summary lists them.
AUDIT_STATUSES: tuple[AuditStatus, ...] = ("exact", "diverged", "malformed", "module-missing", "module-invalid")

#: Module bytes by the sha256 hex of those bytes: a mapping, or a function answering None when it has none.
ModuleLookup: TypeAlias = "Mapping[str, bytes] | Callable[[str], bytes | None]"

#: How many verified modules an `Auditor` keeps (an archive of a day usually names a handful).
MAX_CACHED_MODULES = 64

# Codes of a trace that cannot be read as a full trace at all (load_trace's, and the slice refusal).
_MALFORMED_CODES = frozenset(
    {
        "replay.malformed-json",
        "replay.too-large",
        "replay.too-deep",
        "replay.schema",
        "replay.format",
        "replay.version",
        "replay.cost-model",
        "replay.sliced",
        "replay.missing-limits",
    }
)


@dataclass(frozen=True, slots=True)
class AuditResult:
    """The verdict on one trace.

    `index` is the trace's position in the input (from 0); `status` one of
    `AUDIT_STATUSES`; `module_sha256` the digest the trace names (None when
    it could not be read); `trace_sha256` the sha256 of the trace bytes as
    given.  An exact result carries `reproduced` (returned, trap, limit,
    capability-error), `events` and `instructions`; any other carries
    `error` (the structured error's `to_dict()`), and a divergence the
    `event` number and code `location` the error names, when it names them.
    """

    index: int
    status: AuditStatus
    module_sha256: str | None
    trace_sha256: str
    reproduced: str | None = None
    events: int | None = None
    instructions: int | None = None
    event: int | None = None
    location: Mapping[str, Any] | None = None
    error: Mapping[str, Any] | None = None
    #: The outcome the trace records (returned value or error, with the instruction count); None when unreadable.
    outcome: Mapping[str, Any] | None = None

    @property
    def exact(self) -> bool:
        return self.status == "exact"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, leaving out the fields that do not apply to this status."""
        out: dict[str, Any] = {
            "index": self.index,
            "status": self.status,
            "module_sha256": self.module_sha256,
            "trace_sha256": self.trace_sha256,
        }
        if self.outcome is not None:
            out["outcome"] = dict(self.outcome)
        if self.status == "exact":
            out.update(reproduced=self.reproduced, events=self.events, instructions=self.instructions)
        else:
            out["error"] = dict(self.error) if self.error is not None else None
            if self.event is not None:
                out["event"] = self.event
            if self.location is not None:
                out["location"] = dict(self.location)
        return out


class Auditor:
    """Audits traces one by one against a module lookup, decoding and verifying each module once.

    The verified modules are kept by digest (at most `MAX_CACHED_MODULES`, the least recently used
    dropped first), so replays of one module also share the compiled engine's translations.
    """

    def __init__(self, modules: ModuleLookup, *, engine: EngineName = "auto", max_bytes: int = MAX_TRACE_BYTES) -> None:
        self.modules = modules
        self.engine: EngineName = engine
        self.max_bytes = max_bytes
        self._loaded: OrderedDict[str, LoadedModule | ChronicleError] = OrderedDict()

    def audit(self, trace: bytes | str, index: int = 0) -> AuditResult:
        """The verdict on one trace (see `AuditResult`); never raises for any trace bytes or module bytes."""
        raw = trace.encode("utf-8", "surrogatepass") if isinstance(trace, str) else bytes(trace)
        trace_digest = hashlib.sha256(raw).hexdigest()
        try:
            recorded = load_trace(raw, max_bytes=self.max_bytes)
        except ReplayError as error:
            return AuditResult(index, "malformed", None, trace_digest, error=error.to_dict())
        digest = str(recorded.provenance["module_sha256"])
        loaded = self._module(digest)
        if loaded is None:
            missing = ReplayError(
                "replay.module-missing",
                f"the trace was recorded with module {digest}, which is not among the modules given",
                module_sha256=digest,
            )
            return AuditResult(
                index, "module-missing", digest, trace_digest, error=missing.to_dict(), outcome=recorded.outcome
            )
        if isinstance(loaded, ChronicleError):
            return AuditResult(
                index, "module-invalid", digest, trace_digest, error=loaded.to_dict(), outcome=recorded.outcome
            )
        return _replayed(recorded, loaded, index, digest, trace_digest, self.engine)

    def _module(self, digest: str) -> LoadedModule | ChronicleError | None:
        cached = self._loaded.get(digest)
        if cached is not None:
            self._loaded.move_to_end(digest)
            return cached
        data = self.modules.get(digest) if isinstance(self.modules, Mapping) else self.modules(digest)
        if data is None:
            return None
        loaded: LoadedModule | ChronicleError
        actual = hashlib.sha256(bytes(data)).hexdigest()
        if actual != digest:  # the lookup answered other bytes than the ones named
            loaded = ReplayError(
                "replay.module-digest",
                f"the module given for {digest} has sha256 {actual}",
                expected=digest,
                actual=actual,
            )
        else:
            try:
                loaded = load_module(bytes(data))
            except (DecodeError, VerifyError) as error:
                loaded = error
        self._loaded[digest] = loaded
        while len(self._loaded) > MAX_CACHED_MODULES:
            self._loaded.popitem(last=False)
        return loaded


def audit_traces(
    traces: Iterable[bytes | str],
    modules: ModuleLookup,
    *,
    engine: EngineName = "auto",
    max_bytes: int = MAX_TRACE_BYTES,
    start: int = 0,
) -> Iterator[AuditResult]:
    """Replay each trace against its module, lazily, one result per trace in input order.

    `start` is the index of the first trace (a caller auditing a chunk of a
    larger archive passes the chunk's offset).  Never raises for any trace
    content; a lookup that raises is the caller's bug and propagates.
    """
    auditor = Auditor(modules, engine=engine, max_bytes=max_bytes)
    for offset, trace in enumerate(traces):
        yield auditor.audit(trace, start + offset)


def audit_trace(
    trace: bytes | str,
    modules: ModuleLookup,
    *,
    index: int = 0,
    engine: EngineName = "auto",
    max_bytes: int = MAX_TRACE_BYTES,
) -> AuditResult:
    """The verdict on one trace (see `AuditResult`); never raises for any trace bytes or module bytes."""
    return Auditor(modules, engine=engine, max_bytes=max_bytes).audit(trace, index)


def _replayed(
    recorded: Trace, module: LoadedModule, index: int, digest: str, trace_digest: str, engine: EngineName
) -> AuditResult:
    try:
        # The parsed Trace, not the bytes: parsing a trace is a large part of replaying it.
        report = replay(recorded, module, engine=engine)
    except ReplayError as error:
        status: AuditStatus = "malformed" if error.code in _MALFORMED_CODES else "diverged"
        seq = error.details.get("seq")
        location = error.details.get("location")
        return AuditResult(
            index,
            status,
            digest,
            trace_digest,
            event=seq if type(seq) is int else None,
            location=location if isinstance(location, Mapping) else None,
            error=error.to_dict(),
            outcome=recorded.outcome,
        )
    except ChronicleError as error:  # any other refusal of this trace (none is known): a divergence, not a crash
        return AuditResult(index, "diverged", digest, trace_digest, error=error.to_dict(), outcome=recorded.outcome)
    return AuditResult(
        index,
        "exact",
        digest,
        trace_digest,
        reproduced=report.reproduced,
        events=report.events,
        instructions=report.instructions,
        outcome=recorded.outcome,
    )
