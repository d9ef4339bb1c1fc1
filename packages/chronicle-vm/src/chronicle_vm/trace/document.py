"""Traces: takes a run's capability calls and end (or untrusted trace JSON), gives canonical `Trace` documents.

A trace is one JSON document (docs/trace.md, docs/trace.schema.json):
`format`, `version`, `provenance` (runtime, module and policy digests, the
effective limits, the cost model, every capability decision), `entry`,
`events` (each capability call, then a final `trap` or `limit` event when
the run ended inside the engine) and `outcome`.  Its bytes are canonical:
sorted keys, `,`/`:` separators, UTF-8, no timestamps, so the same module,
policy, arguments and capability results give the same bytes.

`Recorder` wraps live capability handlers and keeps each call's raw fields
in one flat list while the plugin runs; the JSON shape is built on first
use, after the run, so recording stays cheap.  `load_trace` reads untrusted bytes: every defect is a
`ReplayError` with a stable code, in time and memory bounded by
`MAX_TRACE_BYTES`.  `slice_trace` cuts inspection-only slices and
`diff_traces` names where two traces part ways.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, NoReturn

from chronicle_vm.capabilities.scopes import RULE_KEYS, rules_from_json
from chronicle_vm.core.calls import CallSite, CapabilityHandler, RecordTape
from chronicle_vm.core.isa import COST_MODEL
from chronicle_vm.core.model import Module
from chronicle_vm.core.type_registry import json_kind
from chronicle_vm.core.types import MAX_ARRAY_DEPTH, TypeKind, ValueType
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, export_value
from chronicle_vm.engines.reference import locate
from chronicle_vm.errors import ChronicleError, ReplayError, ResourceLimitError, UsageError, declare_codes
from chronicle_vm.limits import HARD_LIMITS, RECORDED_BEFORE, Limits

from .budget import TraceBudget, value_bytes
from .meta import check_recorded_meta
from .typed import (
    HeaderError,
    TraceTypes,
    ValueMismatch,
    module_structs,
    signature_text,
    structs_record,
    structured,
)

__all__ = [
    "COST_MODEL_VERSION",
    "MAX_TRACE_BYTES",
    "MAX_TRACE_CONTAINERS",
    "TRACE_FORMAT",
    "TRACE_VERSION",
    "TRACE_VERSIONS",
    "Recorder",
    "Trace",
    "canonical_json",
    "checked",
    "collector_paused",
    "diff_traces",
    "error_trace",
    "load_trace",
    "slice_trace",
]

declare_codes(
    "replay",
    {
        "malformed-json": "the trace is not UTF-8 JSON (details: line, col), or holds NaN or Infinity",
        "too-large": "the trace exceeds MAX_TRACE_BYTES (64 MiB) or holds more than 4,000,000 arrays and objects",
        "too-deep": "the trace nests arrays or objects deeper than the JSON reader allows",
        "schema": "a trace field is missing, unexpected, or of the wrong type or range (details: path)",
        "format": "the document is not a chronicle-trace (its `format` is missing or different)",
        "version": "the trace format version is not one this runtime reads (1 and 2), or not its module's",
        "cost-model": "the trace was recorded under an instruction cost model this runtime does not implement",
        "sliced": "the trace is an inspection-only slice; exact replay needs the full trace",
        "module-digest": "the module bytes are not the ones the trace was recorded with",
        "provenance": "the recorded capability decisions do not match the module's declared capabilities",
        "missing-limits": "the trace lacks its recorded limits, so it cannot be replayed exactly",
        "entry": "the recorded entry is not an exported function of the module, or its arguments do not fit",
        "bad-value": "a recorded value (a capability argument or result, the returned value) does not fit its "
        "declared type or the limits (details: seq, path)",
        "divergence": "the replayed run made a call whose capability, arguments or instruction count differ",
        "leftover-events": "the replayed run ended while recorded events remained",
        "missing-event": "the replayed run made a capability call the trace does not record",
        "outcome": "the replayed run ended differently (value, error code, location or instruction count)",
    },
)
declare_codes("usage", {"slice-range": "a trace slice range is not within 0..number of events"})
declare_codes(
    "limit",
    {"trace-depth": "a traced value nests composites deeper than MAX_JSON_DEPTH (100): no trace can hold it"},
)

#: The `format` field of every trace.
TRACE_FORMAT = "chronicle-trace"
#: Version of the trace document of a version-1 module (ints, bools, strings and arrays): unchanged byte for byte.
TRACE_VERSION = 1
#: The versions this runtime reads and writes: 2 is the trace of a version-2 module (floats, maps, structs),
#: whose values are written by their declared types (trace/typed.py).
TRACE_VERSIONS = (1, 2)
#: Instruction cost model (isa.COST_MODEL): 2 charges each instruction by its work (docs/isa.md).
COST_MODEL_VERSION = COST_MODEL
#: Largest trace accepted from outside (bytes of UTF-8 JSON).  A 100,000-call trace is about 20 MB.
MAX_TRACE_BYTES = 64 * 1024 * 1024
#: Most arrays plus objects accepted (each `[` and `{` byte counts, even inside strings): bounds memory.
MAX_TRACE_CONTAINERS = 4_000_000

_HEX64 = re.compile(r"[0-9a-f]{64}")
_MAYBE_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")
_U63 = 2**63 - 1
_END_KINDS = ("trap", "limit")
_ERROR_CATEGORIES = ("runtime", "limit", "policy")  # policy: a call outside its argument scope
_DECISIONS = ("granted", "denied", "missing", "unknown", "type-invalid")


#: json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False) is this encoder's
#: `encode(doc)`: json.dumps builds such an encoder on every call (about 1 µs, a seventh of a trivial trace's
#: to_json), so one is kept (it holds no state between calls).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_canonical_text: Callable[[object], str] = _CANONICAL.encode


def canonical_json(doc: object) -> bytes:
    """The canonical bytes of a JSON document: sorted keys, `,` and `:` separators, UTF-8, no NaN."""
    return _canonical_text(doc).encode("utf-8")


class Trace:
    """A trace document: recorded by this runtime, or read and checked by `load_trace`.

    A recorded trace keeps the run's raw calls and builds its JSON shape
    (`doc`) and canonical bytes (`to_json`) on first use, so recording costs
    the plugin almost nothing; both are then cached (a Trace never changes,
    so the caches are invisible).  Treat `doc` as read-only; `to_dict()`
    gives a private copy.
    """

    __slots__ = ("_checked", "_doc", "_json", "_recording", "_sha256", "_sites")

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self._doc: Mapping[str, Any] | None = doc
        self._json: bytes | None = None
        self._sha256: str | None = None
        #: Set by load_trace: what the check learnt of the call events (`sites`, `exact_args`).  The slot keeps
        #: its name: the recorder makes its Traces without __init__ and leaves it None.
        self._sites: _EventFacts | None = None
        #: A recorded trace's `_Recording` fields, a plain tuple (the cheapest thing a traced call can make).
        self._recording: tuple[Any, ...] | None = None
        #: Made by the recorder or by load_trace; a document built by hand is checked before replay.
        self._checked = False

    @classmethod
    def _recorded(cls, recording: tuple[Any, ...]) -> Trace:
        trace = cls.__new__(cls)
        trace._doc = None
        trace._json = None
        trace._sha256 = trace._sites = None
        trace._recording = recording
        trace._checked = True
        return trace

    @property
    def doc(self) -> Mapping[str, Any]:
        """The JSON document (read-only by convention)."""
        if self._doc is None:
            assert self._recording is not None
            self._doc = _Recording._make(self._recording).document()
        return self._doc

    def to_json(self) -> bytes:
        """The canonical bytes."""
        if self._json is None:
            recording = self._recording
            self._json = canonical_json(self.doc) if recording is None else _Recording._make(recording).canonical()
        return self._json

    def to_dict(self) -> dict[str, Any]:
        """A fresh deep copy of the document (arrays as lists)."""
        result: dict[str, Any] = json.loads(self.to_json())
        return result

    def sites(self) -> Mapping[str, Any]:
        """Capability name -> the one location all its call events record, for the capabilities whose call
        events (all well-formed) record one location; empty unless load_trace or `checked` read the events."""
        return self._sites.sites if self._sites is not None else {}

    def exact_args(self) -> frozenset[str]:
        """The capabilities every call event of which records only ints (within 64 bits) and strings as its
        arguments (no bool, which equals an int in Python, and nothing else); empty unless load_trace or
        `checked` read the events.  Replay compares such a capability's arguments with one `==`."""
        return self._sites.exact if self._sites is not None else frozenset()

    def result_types(self) -> Mapping[str, type]:
        """Capability name -> the one Python type of the results all its call events record (int, bool, str,
        or NoneType for null), for the capabilities none of whose call events records a failure (and ints
        within 64 bits); empty unless load_trace or `checked` read the events."""
        return self._sites.results if self._sites is not None else {}

    def digest(self) -> str:
        """sha256 hex of the canonical bytes (what a slice's `full_digest` names); cached with the bytes."""
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.to_json()).hexdigest()
        return self._sha256

    @property
    def provenance(self) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.doc["provenance"]
        return result

    @property
    def entry(self) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.doc["entry"]
        return result

    @property
    def events(self) -> Sequence[Mapping[str, Any]]:
        result: Sequence[Mapping[str, Any]] = self.doc["events"]
        return result

    @property
    def outcome(self) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self.doc["outcome"]
        return result

    @property
    def meta(self) -> Mapping[str, Any] | None:
        """The host's own JSON values recorded with the run (informational: replay compares nothing in it)."""
        result: Mapping[str, Any] | None = self.doc.get("meta")
        return result

    @property
    def slice(self) -> Mapping[str, Any] | None:
        """The slice record (`range`, `full_digest`, `full_events`), None for a full trace."""
        result: Mapping[str, Any] | None = self.doc.get("slice")
        return result

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Trace) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"<Trace {self.entry['function']} events={len(self.events)} status={self.outcome['status']}>"

    @classmethod
    def from_json(cls, data: bytes | str, *, max_bytes: int = MAX_TRACE_BYTES) -> Trace:
        """Same as `load_trace`."""
        return load_trace(data, max_bytes=max_bytes)


def error_trace(error: BaseException) -> Trace | None:
    """The trace a failed traced call attached to its error (None when it has none)."""
    found = getattr(error, "trace", None)
    return found if isinstance(found, Trace) else None


def attach_trace(error: ChronicleError, trace: Trace) -> None:
    """Give a failed traced call's error its finished trace, so a caller (the CLI) can still write it."""
    error.trace = trace


# -- recording ---------------------------------------------------------------------------------------------------

#: The calls of a run, flat in one list: for each call `result` (or _FAILED), the CallSite's four
#: fields (capability, function, pc, instructions), then the arguments.  One flat list of scalars gives
#: the cyclic garbage collector nothing to count or walk; a tuple per call kept alive made it run
#: hundreds of extra passes over a 100,000-call run (+20% to +60% run time).
_Call = Any
_new_object = object.__new__
_FAILED = object()  # the result slot of a call the host or a quota failed (the error is Recorder.failure)


#: Provenances by (module digest, policy digest, limits, runtime version, the decisions' identity), oldest
#: dropped first; each entry keeps its decisions alive so their identity cannot be reused while it is kept.
_PROVENANCES: dict[tuple[Any, ...], tuple[object, dict[str, Any], str]] = {}
_MAX_PROVENANCES = 64


class Recorder:
    """Records one run: wraps its live handlers, then builds the trace when the run ends.

    While the plugin runs each call costs three in-place appends to one flat
    list (plus copies of array arguments and results, which the plugin could
    mutate later).
    """

    def __init__(
        self,
        module: Module,
        *,
        module_digest: str,
        policy_digest: str | None,
        limits: Limits,
        decisions: Sequence[Mapping[str, Any]],
        runtime_version: str,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.module = module
        #: The host's own JSON values for the trace's `meta` (checked by trace_meta.check_meta), or None.
        self.meta = meta
        #: Bytes out: the calls' share of the trace is bounded by `limits.max_trace_bytes` (`limit.trace-bytes`).
        self.budget = TraceBudget.for_run(module, limits.max_trace_bytes, limits.max_instructions)
        # The provenance is the same for every traced call of one instance: built and written once, then shared
        # by its traces (a Trace's `doc` is read-only; `to_dict()` gives a private copy).
        key = (module_digest, policy_digest, limits, runtime_version, id(decisions))
        known = _PROVENANCES.get(key)
        if known is None or known[0] is not decisions:
            provenance: dict[str, Any] = {
                "runtime": {"name": "chronicle-vm", "version": runtime_version},
                "module_sha256": module_digest,
                "policy_sha256": policy_digest,
                "limits": limits.to_dict(),
                "cost_model": COST_MODEL_VERSION,
                "capabilities": [_decision_record(decision) for decision in decisions],
            }
            if structured(module):  # version 2: what reading its values needs (trace/typed.py)
                provenance["structs"] = structs_record(module_structs(module))
            known = _PROVENANCES[key] = (decisions, provenance, _canonical_text(provenance))
            while len(_PROVENANCES) > _MAX_PROVENANCES:
                del _PROVENANCES[next(iter(_PROVENANCES))]
        self.provenance: dict[str, Any] = known[1]
        #: Its canonical JSON text, written once per instance.
        self.provenance_text: str = known[2]
        self.calls: list[_Call] = []
        #: Number of parameters of each capability: the length of its records in `calls` is 5 + that.
        self.arity = tuple(len(capability.params) for capability in module.capabilities)
        #: What every trace of this recorder's runs shares.
        self.shape = _Shape(module, self.provenance, self.provenance_text, self.arity)
        #: The error a wrapped handler raised (a host failure or quota): the run ends on it.
        self.failure: ChronicleError | None = None
        #: Per capability: whether its calls copy their arguments and their result (arrays the plugin may mutate).
        self.copies = tuple(
            (
                any(_mutable(param) for param in declared.params),
                declared.result is not None and _mutable(declared.result),
            )
            for declared in module.capabilities
        )

    def again(self, meta: Mapping[str, Any] | None = None) -> Recorder:
        """A recorder for another run of the same module, policy and limits: shares what does not change.

        An instance builds its first recorder with the constructor and each later one with `again`, so a
        traced call does not pay again for its provenance and byte costs.
        """
        fresh = Recorder.__new__(Recorder)
        fresh.module = self.module
        fresh.meta = meta
        fresh.budget = self.budget.fresh()
        fresh.provenance = self.provenance
        fresh.provenance_text = self.provenance_text
        fresh.calls = []
        fresh.arity = self.arity
        fresh.shape = self.shape
        fresh.failure = None
        fresh.copies = self.copies
        return fresh

    def restart(self, meta: Mapping[str, Any] | None = None) -> None:
        """Empty this recorder for another run, keeping the handlers `wrap` gave (they record into it).

        For one call at a time only (an instance keeps one per idle engine); the traces of earlier runs
        keep their own copies of the calls.
        """
        self.calls.clear()
        self.budget.meter[0] = 0
        self.failure = None
        self.meta = meta

    def wrap(self, handlers: Sequence[CapabilityHandler | None]) -> tuple[CapabilityHandler | None, ...]:
        """Recording handlers around `handlers` (indexed like module.capabilities)."""
        copies = self.copies
        return tuple(
            None if live is None else self._wrap(live, *copies[index], index) for index, live in enumerate(handlers)
        )

    def _wrap(self, live: CapabilityHandler, copy_args: bool, copy_result: bool, index: int) -> CapabilityHandler:
        calls = self.calls
        append, extend = calls.append, calls.extend
        # Bytes out (tracebudget): each call adds its fixed cost and the size of its text and arrays.
        budget = self.budget
        meter, ceiling, per_call, item = budget.meter, budget.max_bytes, budget.per_call[index], budget.per_item
        sized, sized_result = budget.sized_params[index], budget.sized_result[index]
        own = getattr(live, "recording", None)  # a live handler that can record itself (capabilities.negotiation)
        if own is not None and not (copy_args or copy_result):
            tape = RecordTape(calls, meter, ceiling, per_call, item, sized, sized_result, budget.stop, self._fail)
            recording_itself: CapabilityHandler | None = own(tape)
            if recording_itself is not None:
                return recording_itself

        if not (copy_args or copy_result):
            # The common case, scalars only: three appends in place, no tuple or list built per call.
            def recording(args: Sequence[Value], site: CallSite) -> Value | None:
                try:
                    meter[0] += per_call + (sum([value_bytes(args[k], item) for k in sized]) if sized else 0)
                    if meter[0] > ceiling:
                        budget.stop(site)
                    result = live(args, site)
                    if sized_result:
                        meter[0] += value_bytes(result, item)
                        if meter[0] > ceiling:
                            budget.stop(site)
                except ChronicleError as exc:
                    self.failure = exc
                    append(_FAILED)
                    extend(site)
                    extend(args)
                    raise
                append(result)
                extend(site)
                extend(args)
                return result

            return recording

        def recording_copies(args: Sequence[Value], site: CallSite) -> Value | None:
            # Arrays are copied: the plugin may mutate them after the call.
            kept_args = [export_value(arg) for arg in args] if copy_args else args
            try:
                meter[0] += per_call + sum([value_bytes(kept_args[k], item) for k in sized])
                if meter[0] > ceiling:
                    budget.stop(site)
                result = live(args, site)
                if sized_result:
                    meter[0] += value_bytes(result, item)
                    if meter[0] > ceiling:
                        budget.stop(site)
            except ChronicleError as exc:
                self.failure = exc
                append(_FAILED)
                extend(site)
                extend(kept_args)
                raise
            append(export_value(result) if copy_result and result is not None else result)
            extend(site)
            extend(kept_args)
            return result

        return recording_copies

    def _fail(self, error: ChronicleError, args: Sequence[Value], site: CallSite) -> None:
        """A call the host, a quota or a budget failed: recorded as failed, and the run ends on `error`."""
        self.failure = error
        self.calls.append(_FAILED)
        self.calls.extend(site)
        self.calls.extend(args)

    def returned(self, entry: str, args: list[object], value: object, instructions: int) -> Trace:
        """The trace of a run that returned `value` after `instructions` instructions (`args`: the entry's
        arguments as JSON values, a list the trace keeps)."""
        trace: Trace = _new_object(Trace)  # Trace._recorded, inline: a service records one per call
        trace._doc = trace._json = trace._sha256 = trace._sites = None
        # The fields of a `_Recording`, in order (the recorder is restarted for the next run: its calls copied).
        trace._recording = (
            self.shape,
            self.calls.copy(),
            self.failure,
            self.meta,
            entry,
            args,
            None,
            None,
            value,
            instructions,
        )
        trace._checked = True
        return trace

    def failed(self, entry: str, args: list[object], error: ChronicleError) -> Trace:
        """The trace of a run that ended on `error`: a final event unless a capability call raised it."""
        calls = self.calls.copy()
        last, count = _last_record(calls, self.arity)
        from_call = error is self.failure and last is not None and last[0] is _FAILED
        instructions = error_instructions(error, last[4] if from_call and last is not None else None)
        end = None
        if not from_call:
            end = {
                "seq": count,
                "kind": "limit" if isinstance(error, ResourceLimitError) else "trap",
                "code": error.code,
                "message": error.message,
                "instructions": instructions,
                "location": error.details.get("location"),
            }
        outcome = error_outcome(error, instructions)
        return Trace._recorded((self.shape, calls, self.failure, self.meta, entry, args, end, outcome, None, None))


def _mutable(vtype: ValueType) -> bool:
    """Arrays, maps and structs: values the plugin may change after a call, so the recorder keeps a copy."""
    return vtype.kind in (TypeKind.ARRAY, TypeKind.MAP, TypeKind.STRUCT)


def _decision_record(decision: Mapping[str, Any]) -> dict[str, Any]:
    """A negotiation decision as the provenance records it; `args` (the scopes) only for a scoped grant."""
    record = {
        "name": decision["name"],
        "signature": decision["declared_signature"],
        "decision": decision["decision"],
        "reason": decision["reason"],
        "max_calls": decision["max_calls"],
    }
    if decision.get("args"):
        record["args"] = decision["args"]
    return record


class _Shape(NamedTuple):
    """What the traces of one recorder's runs share: the module, the provenance (and its text), the arities."""

    module: Module
    provenance: dict[str, Any]
    provenance_text: str
    arity: tuple[int, ...]


class _Recording(NamedTuple):
    """One finished run's raw record, turned into the document or the canonical bytes on demand.

    A traced call keeps only these fields as a plain tuple (a service records one trace per call); this
    view of them, its entry and its outcome objects are made when the trace is read.
    """

    shape: _Shape
    #: The run's calls, flat (see `_Call`); this recording's own list.
    calls: list[_Call]
    failure: ChronicleError | None
    meta: Mapping[str, Any] | None
    function: str
    args: list[object]
    #: The final event of a run that ended inside the engine, else None.
    end: dict[str, Any] | None
    #: The outcome of a run that failed; None for one that returned `value` after `instructions`.
    failed_outcome: dict[str, Any] | None
    value: object
    instructions: int | None

    @property
    def module(self) -> Module:
        return self.shape.module

    @property
    def provenance(self) -> dict[str, Any]:
        return self.shape.provenance

    @property
    def provenance_text(self) -> str:
        return self.shape.provenance_text

    @property
    def arity(self) -> tuple[int, ...]:
        return self.shape.arity

    @property
    def entry(self) -> dict[str, Any]:
        return {"function": self.function, "args": self.args}

    @property
    def outcome(self) -> dict[str, Any]:
        if self.failed_outcome is not None:
            return self.failed_outcome
        return {"status": "returned", "value": self.value, "instructions": self.instructions}

    def document(self) -> dict[str, Any]:
        if structured(self.module):
            try:
                return self._typed_document()
            except ValueMismatch as exc:
                raise ResourceLimitError("limit.trace-depth", f"the trace cannot be written: {exc}") from None
        return self._document()

    def _typed_document(self) -> dict[str, Any]:
        """The version-2 document: every value written by its declared type (trace/typed.py)."""
        doc = self._document(typed=True)
        doc["version"] = 2
        module = self.module
        # A version-2 header names struct types `struct#i` (trace/typed.py reads them so); negotiation's
        # declared signatures name them for people (`-> Item`), so the module's own signatures are recorded.
        declared_by_name = {cap.name: cap for cap in module.capabilities}
        for record in doc["provenance"]["capabilities"]:
            found = declared_by_name.get(record["name"])
            if found is not None:
                record["signature"] = found.signature()
        function = next(f for f in module.functions if f.exported and f.name == self.entry["function"])
        types = TraceTypes.for_module(module, function)
        write = types.to_json
        doc["entry"] = {
            "function": function.name,
            "args": [write(arg, vtype) for arg, vtype in zip(self.entry["args"], function.params, strict=True)],
            "signature": signature_text(function.params, function.result, module.structs),
        }
        capabilities = module.capabilities
        for event in doc["events"]:
            if event["kind"] != "call":
                continue
            declared = capabilities[event.pop("index")]
            event["args"] = [write(arg, vtype) for arg, vtype in zip(event["args"], declared.params, strict=True)]
            if event.get("result") is not None and declared.result is not None:
                event["result"] = write(event["result"], declared.result)
        if self.outcome["status"] == "returned" and self.outcome["value"] is not None and function.result is not None:
            doc["outcome"] = dict(self.outcome, value=write(self.outcome["value"], function.result))
        return doc

    def _document(self, typed: bool = False) -> dict[str, Any]:
        names = [capability.name for capability in self.module.capabilities]
        where: dict[tuple[int, int], dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        for seq, (result, index, function, pc, instructions, *args) in enumerate(_records(self.calls, self.arity)):
            key = (function, pc)
            location = where.get(key)
            if location is None:
                location = where[key] = locate(self.module, function, pc)
            event: dict[str, Any] = {
                "seq": seq,
                "kind": "call",
                "capability": names[index],
                "args": args,
                "instructions": instructions,
                "location": location,
            }
            if result is not _FAILED:
                event["result"] = result
            else:
                event["error"] = self._failure()
            if typed:
                event["index"] = index  # the capability's declared types; _typed_document takes it out again
            events.append(event)
        if self.end is not None:
            events.append(self.end)
        doc = {
            "format": TRACE_FORMAT,
            "version": TRACE_VERSION,
            "provenance": self.provenance,
            "entry": self.entry,
            "events": events,
            "outcome": self.outcome,
        }
        if self.meta is not None:
            doc["meta"] = self.meta
        return doc

    def _failure(self) -> dict[str, Any]:
        error = self.failure
        assert error is not None  # only the failed call holds _FAILED
        failure = {"category": error.category, "code": error.code, "message": error.message}
        if error.code == "policy.scope":  # the rule that refused the call, so replay and audits see the decision
            failure["rule"] = error.details["rule"]
        return failure

    def canonical(self) -> bytes:
        """The same bytes as canonical_json(self.document()), written directly (several times faster)."""
        if structured(self.module):
            return canonical_json(self.document())
        names = [_encode_str(capability.name) for capability in self.module.capabilities]
        where: dict[tuple[int, int], str] = {}
        parts: list[str] = []
        append = parts.append
        value_json = _value_json
        for seq, (result, index, function, pc, instructions, *args) in enumerate(_records(self.calls, self.arity)):
            key = (function, pc)
            location = where.get(key)
            if location is None:
                location = where[key] = _canonical_text(locate(self.module, function, pc))
            head = '{"args":[' + ",".join([value_json(arg) for arg in args]) + '],"capability":' + names[index]
            if result is not _FAILED:
                append(
                    f'{head},"instructions":{instructions},"kind":"call","location":{location},'
                    f'"result":{value_json(result)},"seq":{seq}}}'
                )
            else:
                append(
                    f'{head},"error":{_canonical_text(self._failure())},"instructions":{instructions},"kind":"call",'
                    f'"location":{location},"seq":{seq}}}'
                )
        if self.end is not None:
            append(_canonical_text(self.end))
        text = (
            '{"entry":'
            + _canonical_text(self.entry)
            + ',"events":['
            + ",".join(parts)
            + '],"format":'
            + _encode_str(TRACE_FORMAT)
            + ("" if self.meta is None else ',"meta":' + _canonical_text(self.meta))
            + ',"outcome":'
            + _canonical_text(self.outcome)
            + ',"provenance":'
            + self.provenance_text
            + f',"version":{TRACE_VERSION}}}'
        )
        return text.encode("utf-8")


#: JSON string literal exactly as json.dumps(ensure_ascii=False) writes it.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


def _value_json(value: Any) -> str:
    """A VM value (or None) as canonical JSON text."""
    kind = type(value)
    if kind is int:
        return int.__repr__(value)
    if kind is str:
        return _encode_str(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is float:  # always finite in the VM; repr is json.dumps's text of a float
        return float.__repr__(value)
    return "[" + ",".join([_value_json(item) for item in value]) + "]"


def _last_record(calls: list[Any], arity: tuple[int, ...]) -> tuple[list[Any] | None, int]:
    """The last call's record in the flat call list (None when there is none), and the number of calls."""
    position = start = count = 0
    size = len(calls)
    while position < size:
        start = position
        position += 5 + arity[calls[position + 1]]
        count += 1
    return (calls[start:position] if count else None), count


def _records(calls: list[Any], arity: tuple[int, ...]) -> Iterator[Sequence[Any]]:
    """The flat call list cut back into one record per call."""
    position = 0
    size = len(calls)
    while position < size:
        end = position + 5 + arity[calls[position + 1]]
        yield calls[position:end]
        position = end


def error_instructions(error: ChronicleError, fallback: int | None) -> int | None:
    """Instructions executed when `error` ended the run, where known."""
    counted = error.details.get("instructions")
    return counted if type(counted) is int else fallback


def error_outcome(error: ChronicleError, instructions: int | None) -> dict[str, Any]:
    """The `outcome` of a run that ended on `error`."""
    return {
        "status": "error",
        "error": {
            "category": error.category,
            "code": error.code,
            "message": error.message,
            "location": error.details.get("location"),
        },
        "instructions": instructions,
    }


# -- loading untrusted traces --------------------------------------------------------------------------------


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


#: A JSON string once its escapes are removed, for counting brackets outside strings (one pass, in C: the
#: alternation `(?:[^"\\]|\\.)*` took 61 s on a 60 MB string, this 0.4 s).
_JSON_STRING = re.compile(rb'"[^"]*"')


def _trace_bytes(data: object, max_bytes: int) -> bytes:
    """The trace as bytes, refused when it is of another type or larger than `max_bytes`."""
    if isinstance(data, str):
        if len(data) > max_bytes:
            raise _too_large(len(data), max_bytes)
        try:
            data = data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReplayError(
                "replay.malformed-json", f"the trace text holds a lone surrogate at character {exc.start}"
            ) from None
    elif isinstance(data, (bytearray, memoryview)):
        size = data.nbytes if isinstance(data, memoryview) else len(data)
        if size > max_bytes:
            raise _too_large(size, max_bytes)
        data = bytes(data)
    if not isinstance(data, bytes):  # hosts may pass anything; the types above are only a promise
        raise ReplayError("replay.malformed-json", f"a trace is JSON bytes or text, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise _too_large(len(data), max_bytes)
    return data


def _check_containers(data: bytes) -> None:
    """Refuse a trace with more than MAX_TRACE_CONTAINERS arrays and objects before it is parsed."""
    containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_TRACE_CONTAINERS:
        # Brackets inside strings are text, not containers (a plugin that logged 1M `[`): count outside them.
        # Escaped backslashes, then escaped quotes, go first: every `"` left opens or closes a string.
        outside = _JSON_STRING.sub(b'""', data.replace(b"\\\\", b"").replace(b'\\"', b""))
        containers = outside.count(b"[") + outside.count(b"{")
        del outside
    if containers > MAX_TRACE_CONTAINERS:
        raise ReplayError(
            "replay.too-large",
            f"the trace holds {containers} arrays and objects; at most {MAX_TRACE_CONTAINERS} are read",
            containers=containers,
        )


def load_trace(data: bytes | bytearray | memoryview | str, *, max_bytes: int = MAX_TRACE_BYTES) -> Trace:
    """Read and check untrusted trace JSON (full traces and slices); every defect is a `ReplayError`.

    Bounded: input beyond `max_bytes` or with more than MAX_TRACE_CONTAINERS
    arrays and objects is refused before parsing.
    """
    data = _trace_bytes(data, max_bytes)
    _check_containers(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReplayError(
            "replay.malformed-json", f"the trace is not UTF-8 (byte {exc.start})", offset=exc.start
        ) from None
    try:
        with collector_paused():
            doc = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ReplayError(
            "replay.malformed-json",
            f"the trace is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
            line=exc.lineno,
            col=exc.colno,
        ) from None
    except RecursionError:
        raise ReplayError("replay.too-deep", "the trace nests arrays or objects too deeply to read") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with more digits than Python converts
        raise ReplayError("replay.malformed-json", f"the trace holds an unreadable number: {str(exc)[:120]}") from None
    except MemoryError:
        raise ReplayError("replay.too-large", "the trace does not fit in memory") from None
    if _MAYBE_SURROGATE.search(data):
        _check_surrogates(doc)
    facts = _check_document(doc)
    trace = Trace(doc)
    trace._checked = True
    trace._sites = facts
    return trace


def checked(trace: Trace) -> Trace:
    """`trace` itself once its document is known to be well-formed (a hand-built one is checked now)."""
    if not trace._checked:
        trace._sites = _check_document(trace.doc)
        trace._checked = True
    return trace


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while json.loads builds a large acyclic tree.

    Parsing creates hundreds of thousands of containers that all survive, which
    makes the collector run full passes over a growing heap (+50% parse time
    on a 100,000-event trace); the parsed tree holds no cycles to find.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _too_large(size: int, max_bytes: int) -> ReplayError:
    return ReplayError(
        "replay.too-large",
        f"the trace is {size} bytes; at most {max_bytes} bytes are read",
        size=size,
        max_bytes=max_bytes,
    )


def _check_surrogates(doc: Any) -> None:
    """Refuse lone surrogates (json.loads joins valid escaped pairs and keeps lone halves).

    Only reached when the text escapes a surrogate; iterative, because the
    document may nest as deep as the JSON reader allowed.
    """
    pending = [doc]
    while pending:
        value = pending.pop()
        if type(value) is str:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ReplayError(
                    "replay.malformed-json", "the trace holds a lone surrogate escape in a string"
                ) from None
        elif type(value) is list:
            pending.extend(value)
        elif type(value) is dict:
            pending.extend(value.keys())
            pending.extend(value.values())


def _path(parts: tuple[str | int, ...]) -> str:
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema(parts: tuple[str | int, ...], message: str) -> NoReturn:
    path = _path(parts)
    raise ReplayError("replay.schema", f"{path}: {message}", path=path)


_kind = json_kind  # a parsed JSON value's kind, named as the value checks name it


def _object(
    value: object, parts: tuple[str | int, ...], required: frozenset[str], optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    if type(value) is not dict:
        _schema(parts, f"expected an object, found {_kind(value)}")
    keys = value.keys()
    if not required <= keys:
        missing = sorted(required - keys)
        _schema((*parts, missing[0]), "is missing")
    if len(keys) != len(required) and not keys <= required | optional:
        extra = sorted(keys - required - optional)
        _schema((*parts, extra[0][:80]), "is not a field of this object")
    return value


def _uint(value: object, parts: tuple[str | int, ...], high: int = _U63) -> int:
    if type(value) is not int:
        _schema(parts, f"expected an int, found {_kind(value)}")
    if not 0 <= value <= high:
        _schema(parts, f"must be an int in 0..{high}")
    return value


def _str(value: object, parts: tuple[str | int, ...]) -> str:
    if type(value) is not str:
        _schema(parts, f"expected a string, found {_kind(value)}")
    return value


def _value(value: Any, parts: tuple[str | int, ...], depth: int = 0) -> None:
    kind = type(value)
    if kind is int:
        if not I64_MIN <= value <= I64_MAX:
            _schema(parts, "int is outside signed 64 bits")
    elif kind is list:
        if depth >= MAX_ARRAY_DEPTH:
            _schema(parts, f"arrays nest deeper than {MAX_ARRAY_DEPTH}")
        for index, item in enumerate(value):
            _value(item, (*parts, index), depth + 1)
    elif kind is not str and kind is not bool:
        _schema(parts, f"expected a VM value (int, bool, string or array), found {_kind(value)}")


def _values(value: object, parts: tuple[str | int, ...]) -> None:
    if type(value) is not list:
        _schema(parts, f"expected an array, found {_kind(value)}")
    for index, item in enumerate(value):
        _value(item, (*parts, index))


_LOCATION_KEYS = frozenset({"function", "index"})
_LOCATION_SOURCE = frozenset({"file", "line", "col"})
_LOCATION_FULL = _LOCATION_KEYS | _LOCATION_SOURCE


#: `_scalars` of a list of ints and strings only, and of one with a bool too (both true).
_INTS_AND_TEXT = 1
_WITH_BOOL = 2


def _scalars(values: object) -> int:
    """Nonzero for a list of scalar VM values (the common arguments): _WITH_BOOL when one is a bool, else
    _INTS_AND_TEXT; 0 sends the caller to the detailed check."""
    if type(values) is not list:
        return 0
    found = _INTS_AND_TEXT
    for item in values:
        kind = type(item)
        if kind is int:
            if not I64_MIN <= item <= I64_MAX:
                return 0
        elif kind is bool:
            found = _WITH_BOOL
        elif kind is not str:
            return 0
    return found


def _location(value: object, parts: tuple[str | int, ...], nullable: bool) -> None:
    if value is None and nullable:
        return
    location = _object(value, parts, _LOCATION_KEYS, _LOCATION_SOURCE)
    _str(location["function"], (*parts, "function"))
    _uint(location["index"], (*parts, "index"))
    present = location.keys() & _LOCATION_SOURCE
    if present:
        if len(present) != 3:
            _schema((*parts, sorted(_LOCATION_SOURCE - present)[0]), "is missing (file, line and col go together)")
        _str(location["file"], (*parts, "file"))
        _uint(location["line"], (*parts, "line"))
        _uint(location["col"], (*parts, "col"))


def _code(value: object, category: str, parts: tuple[str | int, ...]) -> None:
    code = _str(value, parts)
    if not code.startswith(category + ".") or len(code) > 200:
        _schema(parts, f"must be a {category}.* error code")


class _EventFacts(NamedTuple):
    """What the check of a trace's events learnt on the way (`Trace.sites`, `Trace.exact_args`)."""

    sites: dict[str, Any]
    exact: frozenset[str]
    results: dict[str, type]


def _check_document(doc: object) -> _EventFacts:
    if type(doc) is not dict:
        raise ReplayError("replay.format", f"a trace is a JSON object, found {_kind(doc)}")
    if doc.get("format") != TRACE_FORMAT:
        raise ReplayError("replay.format", f"the document's `format` is not {TRACE_FORMAT!r}")
    version = doc.get("version")
    if type(version) is not int or version not in TRACE_VERSIONS:
        shown = version if type(version) is int and abs(version) < 10**9 else _kind(version)
        raise ReplayError("replay.version", f"trace version {shown} is not supported (this runtime reads 1 and 2)")
    top = _object(doc, (), _TOP_KEYS, frozenset({"slice", "meta"}))
    if "meta" in top:
        check_recorded_meta(top["meta"])  # the host's values: bounded, never compared by replay
    _check_provenance(top["provenance"], version)
    entry = _object(top["entry"], ("entry",), _ENTRY_KEYS[version])
    _str(entry["function"], ("entry", "function"))
    types = None
    if version == 1:
        _values(entry["args"], ("entry", "args"))
    else:
        types = _header_types(top["provenance"], entry)
        _typed_entry(entry["args"], types)
    first = 0
    if "slice" in top:
        record = _object(top["slice"], ("slice",), frozenset({"range", "full_digest", "full_events"}))
        bounds = record["range"]
        if type(bounds) is not list or len(bounds) != 2:
            _schema(("slice", "range"), "expected [start, end]")
        first = _uint(bounds[0], ("slice", "range", 0))
        end = _uint(bounds[1], ("slice", "range", 1))
        total = _uint(record["full_events"], ("slice", "full_events"))
        if not first <= end <= total:
            _schema(("slice", "range"), "must satisfy start <= end <= full_events")
        if type(record["full_digest"]) is not str or not _HEX64.fullmatch(record["full_digest"]):
            _schema(("slice", "full_digest"), "expected 64 lowercase hex digits")
        if len(top["events"]) != end - first if type(top["events"]) is list else False:
            _schema(("events",), "a slice holds exactly the events of its range")
    facts = _check_events(top["events"], first, "slice" in top, types)
    _check_outcome(top["outcome"], types)
    return facts


def _header_types(provenance: Mapping[str, Any], entry: Mapping[str, Any]) -> TraceTypes:
    """The declared types a version-2 trace records (its struct table and signatures)."""
    try:
        return TraceTypes.from_header(provenance, entry)
    except HeaderError as exc:
        _schema(exc.parts, exc.message)


def _typed(obj: object, vtype: ValueType, parts: tuple[str | int, ...], types: TraceTypes, **details: Any) -> None:
    """A recorded value must be a JSON form of its declared type: `replay.bad-value` naming the path inside it."""
    path = _path(parts)
    try:
        types.check(obj, vtype, path)
    except ValueMismatch as exc:
        raise ReplayError(details.pop("code", "replay.bad-value"), str(exc), path=path, **details) from None


def _typed_entry(args: object, types: TraceTypes) -> None:
    assert types.entry is not None
    params = types.entry.params
    if type(args) is not list:
        _schema(("entry", "args"), f"expected an array, found {_kind(args)}")
    if len(args) != len(params):
        raise ReplayError(
            "replay.entry", f"the trace records {len(args)} entry arguments; the entry takes {len(params)}"
        )
    for position, (arg, vtype) in enumerate(zip(args, params, strict=True)):
        _typed(arg, vtype, ("entry", "args", position), types, code="replay.entry")


def _typed_call(event: dict[str, Any], parts: tuple[str | int, ...], seq: int, types: TraceTypes) -> None:
    """The values of a version-2 call event, checked by its capability's recorded signature."""
    signature = types.capabilities.get(event["capability"])
    if signature is None:
        _schema((*parts, "capability"), "names no capability of provenance.capabilities")
    args = event["args"]
    if type(args) is not list:
        _schema((*parts, "args"), f"expected an array, found {_kind(args)}")
    if len(args) != len(signature.params):
        path = _path((*parts, "args"))
        message = f"{path}: the trace records {len(args)} arguments; the capability takes {len(signature.params)}"
        raise ReplayError("replay.bad-value", message, path=path, seq=seq)
    for position, (arg, vtype) in enumerate(zip(args, signature.params, strict=True)):
        _typed(arg, vtype, (*parts, "args", position), types, seq=seq)
    if "result" not in event:
        return
    result = event["result"]
    if (result is None) != (signature.result is None):
        path = _path((*parts, "result"))
        said = "declares no result, the trace records one" if result is not None else "has a result, the trace none"
        raise ReplayError("replay.bad-value", f"{path}: the capability {said}", path=path, seq=seq)
    if signature.result is not None:
        _typed(result, signature.result, (*parts, "result"), types, seq=seq)


_ENTRY_KEYS = {1: frozenset({"function", "args"}), 2: frozenset({"function", "args", "signature"})}


_TOP_KEYS = frozenset({"format", "version", "provenance", "entry", "events", "outcome"})
_PROVENANCE_KEYS = frozenset({"runtime", "module_sha256", "policy_sha256", "cost_model", "capabilities"})
_DECISION_KEYS = frozenset({"name", "signature", "decision", "reason", "max_calls"})


def _check_provenance(value: object, version: int) -> None:
    parts: tuple[str | int, ...] = ("provenance",)
    required = _PROVENANCE_KEYS if version == 1 else _PROVENANCE_KEYS | {"structs"}  # v2: its struct table
    provenance = _object(value, parts, required, frozenset({"limits"}))
    runtime = _object(provenance["runtime"], (*parts, "runtime"), frozenset({"name", "version"}))
    _str(runtime["name"], (*parts, "runtime", "name"))
    _str(runtime["version"], (*parts, "runtime", "version"))
    module_digest = provenance["module_sha256"]
    if type(module_digest) is not str or not _HEX64.fullmatch(module_digest):
        _schema((*parts, "module_sha256"), "expected 64 lowercase hex digits")
    policy_digest = provenance["policy_sha256"]
    if policy_digest is not None and (type(policy_digest) is not str or not _HEX64.fullmatch(policy_digest)):
        _schema((*parts, "policy_sha256"), "expected 64 lowercase hex digits or null")
    cost = _uint(provenance["cost_model"], (*parts, "cost_model"))
    if cost != COST_MODEL_VERSION:
        raise ReplayError(
            "replay.cost-model",
            f"the trace was recorded under cost model {cost}; this runtime implements {COST_MODEL_VERSION}",
        )
    limits = provenance.get("limits")
    if limits is not None:
        # A field added after version 1 (RECORDED_BEFORE) may be absent: the trace predates it.
        later = frozenset(RECORDED_BEFORE)
        checked = _object(limits, (*parts, "limits"), frozenset(Limits.names()) - later, later)
        for name in sorted(checked):
            _uint(checked[name], (*parts, "limits", name), getattr(HARD_LIMITS, name))
    capabilities = provenance["capabilities"]
    if type(capabilities) is not list:
        _schema((*parts, "capabilities"), f"expected an array, found {_kind(capabilities)}")
    for index, item in enumerate(capabilities):
        where = (*parts, "capabilities", index)
        decision = _object(item, where, _DECISION_KEYS, frozenset({"args"}))
        if "args" in decision and rules_from_json(decision["args"]) is None:
            _schema((*where, "args"), "expected a list of argument scopes as docs/policy.md describes them")
        _str(decision["name"], (*where, "name"))
        _str(decision["signature"], (*where, "signature"))
        _str(decision["reason"], (*where, "reason"))
        if decision["decision"] not in _DECISIONS or type(decision["decision"]) is not str:
            _schema((*where, "decision"), f"must be one of {', '.join(_DECISIONS)}")
        if decision["max_calls"] is not None:
            _uint(decision["max_calls"], (*where, "max_calls"))


_CALL_RESULT = frozenset({"seq", "kind", "capability", "args", "instructions", "location", "result"})
_CALL_ERROR = frozenset({"seq", "kind", "capability", "args", "instructions", "location", "error"})
_END_KEYS = frozenset({"seq", "kind", "code", "message", "instructions", "location"})
_CALL_ERROR_KEYS = frozenset({"category", "code", "message"})


def _check_events(value: object, first: int, sliced: bool, types: TraceTypes | None = None) -> _EventFacts:
    """Checks the events; gives capability name -> the one location all its call events record (see
    `Trace.sites`), the capabilities whose recorded arguments are all ints and strings (`Trace.exact_args`)
    and capability name -> the one type of all its recorded results (`Trace.result_types`): learnt while the
    fast check has each event at hand; a capability with an event checked in detail is in none of them."""
    if type(value) is not list:
        _schema(("events",), f"expected an array, found {_kind(value)}")
    if types is not None:  # version 2: every value by its declared type
        return _check_typed_events(value, first, sliced, types)
    last = len(value) - 1
    sites: dict[str, Any] = {}
    loose: set[str] = set()  # capabilities with an argument that is not an int or a string
    detailed: set[str] = set()  # capabilities with an event checked in detail
    results: dict[str, Any] = {}  # capability -> the type of its results so far, _MIXED for several
    for position, event in enumerate(value):
        # The common event, checked inline; anything else takes the detailed path below, which names the defect.
        if type(event) is dict and event.keys() == _CALL_RESULT:
            seq = event["seq"]
            instructions = event["instructions"]
            location = event["location"]
            result = event["result"]
            if (
                event["kind"] == "call"
                and type(seq) is int
                and seq == first + position
                and type(instructions) is int
                and 0 <= instructions <= _U63
                and type(event["capability"]) is str
                and type(location) is dict
                and location.keys() == _LOCATION_FULL
                and type(location["function"]) is str
                and type(location["file"]) is str
                and type(location["index"]) is int
                and type(location["line"]) is int
                and type(location["col"]) is int
                and 0 <= location["index"] <= _U63
                and 0 <= location["line"] <= _U63
                and 0 <= location["col"] <= _U63
                and (
                    result is None
                    or type(result) is str
                    or type(result) is bool
                    or (type(result) is int and I64_MIN <= result <= I64_MAX)
                )
                and (scalars := _scalars(event["args"]))
            ):
                name = event["capability"]
                known = sites.get(name)
                if known is None:
                    sites[name] = location
                elif known is not _MIXED and known != location:
                    sites[name] = _MIXED
                if scalars == _WITH_BOOL:
                    loose.add(name)
                kind = type(result)
                seen = results.get(name)
                if seen is not kind:
                    results[name] = kind if seen is None else _MIXED
                continue
        _check_event(event, position, first, ends_run=position != last and not sliced)
        _mixed(sites, event, detailed)
    return _facts(sites, loose, detailed, results)


def _check_typed_events(value: list[Any], first: int, sliced: bool, types: TraceTypes) -> _EventFacts:
    """`_check_events` of a version-2 trace."""
    last = len(value) - 1
    sites: dict[str, Any] = {}
    detailed: set[str] = set()
    results: dict[str, Any] = {}
    plans = _scalar_plans(types)
    # The fast check gives every argument exactly its declared JSON type: ints and strings for these only.
    loose = {name for name, (kinds, _result) in plans.items() if any(k is not int and k is not str for k in kinds)}
    for position, event in enumerate(value):
        # A call of scalar types (the common case), checked inline; anything else takes the detailed path.
        if type(event) is dict and event.keys() == _CALL_RESULT and type(event["capability"]) is str:
            plan = plans.get(event["capability"])
            if plan is not None and _plain_event(event, first + position) and _fits(event, plan):
                _same_site(sites, event)
                continue
        _check_event(event, position, first, position != last and not sliced, types)
        _mixed(sites, event, detailed)
    for name in sites.keys() - detailed:  # the fast check gave every result its declared JSON type exactly
        results[name] = plans[name][1] or type(None)  # (null for none)
    return _facts(sites, loose, detailed, results)


def _facts(sites: dict[str, Any], loose: set[str], detailed: set[str], results: dict[str, Any]) -> _EventFacts:
    """`sites` holds every capability with a call event on the fast path, _MIXED for those with two locations
    or an event checked in detail (`detailed`)."""
    return _EventFacts(
        {name: location for name, location in sites.items() if location is not _MIXED},
        frozenset(name for name in sites if name not in loose and name not in detailed),
        {name: kind for name, kind in results.items() if kind is not _MIXED and name not in detailed},
    )


#: A capability whose call events record more than one location, or one checked in detail (`_check_events`).
_MIXED: Any = object()


def _same_site(sites: dict[str, Any], event: dict[str, Any]) -> None:
    known = sites.get(event["capability"])
    if known is None:
        sites[event["capability"]] = event["location"]
    elif known is not _MIXED and known != event["location"]:
        sites[event["capability"]] = _MIXED


def _mixed(sites: dict[str, Any], event: object, detailed: set[str]) -> None:
    """An event checked in detail (and found well-formed): its capability's locations and value types are
    not summed up."""
    if isinstance(event, dict) and type(event.get("capability")) is str:
        sites[event["capability"]] = _MIXED
        detailed.add(event["capability"])


#: The exact Python type of a JSON scalar of each scalar kind (a float's JSON may also be an int: the slow path).
_JSON_SCALARS = {TypeKind.INT: int, TypeKind.BOOL: bool, TypeKind.STR: str, TypeKind.FLOAT: float}


def _scalar_plans(types: TraceTypes) -> dict[str, tuple[tuple[type, ...], type | None]]:
    """For each capability whose parameters and result are scalars: their JSON types (the fast check's plan)."""
    plans: dict[str, tuple[tuple[type, ...], type | None]] = {}
    for name, signature in types.capabilities.items():
        declared = (*signature.params, *(() if signature.result is None else (signature.result,)))
        if all(vtype.kind in _JSON_SCALARS for vtype in declared):
            result = None if signature.result is None else _JSON_SCALARS[signature.result.kind]
            plans[name] = (tuple(_JSON_SCALARS[vtype.kind] for vtype in signature.params), result)
    return plans


def _plain_event(event: dict[str, Any], seq: int) -> bool:
    """A call event's fields other than its values are well-formed (the fast check; False: the detailed one)."""
    location = event["location"]
    instructions = event["instructions"]
    return (
        event["kind"] == "call"
        and type(event["seq"]) is int
        and event["seq"] == seq
        and type(instructions) is int
        and 0 <= instructions <= _U63
        and type(location) is dict
        and location.keys() == _LOCATION_FULL
        and type(location["function"]) is str
        and type(location["file"]) is str
        and type(location["index"]) is int
        and type(location["line"]) is int
        and type(location["col"]) is int
        and 0 <= location["index"] <= _U63
        and 0 <= location["line"] <= _U63
        and 0 <= location["col"] <= _U63
    )


def _fits(event: dict[str, Any], plan: tuple[tuple[type, ...], type | None]) -> bool:
    """The event's arguments and result are JSON scalars of exactly the planned types, ints within 64 bits."""
    kinds, result_kind = plan
    args = event["args"]
    result = event["result"]
    if type(args) is not list or len(args) != len(kinds):
        return False
    if result_kind is None:
        if result is not None:
            return False
    elif not _scalar_fits(result, result_kind):
        return False
    return all(_scalar_fits(item, kind) for item, kind in zip(args, kinds, strict=True))


def _scalar_fits(item: Any, kind: type) -> bool:
    if kind is int:
        return type(item) is int and I64_MIN <= item <= I64_MAX
    if kind is float:
        return type(item) is float and math.isfinite(item)
    return type(item) is kind


def _check_event(event: object, position: int, first: int, ends_run: bool, types: TraceTypes | None = None) -> None:
    """The detailed check of one event, naming its defect; `ends_run` when a run-ending event here is misplaced."""
    parts: tuple[str | int, ...] = ("events", position)
    if type(event) is not dict:
        _schema(parts, f"expected an object, found {_kind(event)}")
    kind = event.get("kind")
    if kind == "call":
        _check_call_event(event, parts, ends_run, first + position, types)
    elif type(kind) is str and kind in _END_KINDS:
        _object(event, parts, _END_KEYS)
        _code(event["code"], "limit" if kind == "limit" else "runtime", (*parts, "code"))
        _str(event["message"], (*parts, "message"))
        if event["instructions"] is not None:
            _uint(event["instructions"], (*parts, "instructions"))
        _location(event["location"], (*parts, "location"), True)
        if ends_run:
            _schema(parts, f"a {kind} event ends the run, so it is the last event")
    else:
        _schema((*parts, "kind"), "must be call, trap or limit")
    seq = event["seq"]
    if type(seq) is not int or seq != first + position:
        _schema((*parts, "seq"), f"expected {first + position} (events are numbered in order)")


def _check_call_event(
    event: dict[str, Any], parts: tuple[str | int, ...], ends_run: bool, seq: int, types: TraceTypes | None
) -> None:
    keys = event.keys()
    if keys != _CALL_RESULT and keys != _CALL_ERROR:
        _object(event, parts, _CALL_RESULT - {"result"}, frozenset({"result", "error"}))
        _schema(parts, "a call event has exactly one of `result` and `error`")
    _str(event["capability"], (*parts, "capability"))
    if types is not None:
        _typed_call(event, parts, seq, types)
    else:
        _values(event["args"], (*parts, "args"))
    if "result" in event:
        if event["result"] is not None and types is None:
            _value(event["result"], (*parts, "result"))
    else:
        _check_call_error(event["error"], (*parts, "error"))
        if ends_run:
            _schema(parts, "a failed call ends the run, so it is the last event")
    _uint(event["instructions"], (*parts, "instructions"))
    _location(event["location"], (*parts, "location"), False)


def _check_call_error(value: object, parts: tuple[str | int, ...]) -> None:
    failure = _object(value, parts, _CALL_ERROR_KEYS, frozenset({"rule"}))
    category = failure["category"]
    if type(category) is not str or category not in _ERROR_CATEGORIES:
        _schema((*parts, "category"), "must be runtime, limit or policy")
    if "rule" in failure and not _scope_refusal(failure["rule"]):
        _schema((*parts, "rule"), "expected an argument scope with its `check`")
    _code(failure["code"], category, (*parts, "code"))
    _str(failure["message"], (*parts, "message"))


def _scope_refusal(value: object) -> bool:
    """A recorded refusal: one argument scope (scopes.refusal) whose `check` names one of its keys."""
    if type(value) is not dict or value.get("check") not in RULE_KEYS or value.get("check") not in value:
        return False
    return rules_from_json([{key: item for key, item in value.items() if key != "check"}]) is not None


def _check_outcome(value: object, types: TraceTypes | None = None) -> None:
    parts: tuple[str | int, ...] = ("outcome",)
    if type(value) is not dict:
        _schema(parts, f"expected an object, found {_kind(value)}")
    status = value.get("status")
    if status == "returned":
        outcome = _object(value, parts, frozenset({"status", "value", "instructions"}))
        if types is not None and types.entry is not None:
            declared = types.entry.result
            if (outcome["value"] is None) != (declared is None):
                _schema((*parts, "value"), "must be null exactly when the entry returns nothing")
            if declared is not None:
                _typed(outcome["value"], declared, (*parts, "value"), types)
        elif outcome["value"] is not None:
            _value(outcome["value"], (*parts, "value"))
        _uint(outcome["instructions"], (*parts, "instructions"))
    elif status == "error":
        outcome = _object(value, parts, frozenset({"status", "error", "instructions"}))
        failure = _object(outcome["error"], (*parts, "error"), frozenset({"category", "code", "message", "location"}))
        category = failure["category"]
        if category not in _ERROR_CATEGORIES or type(category) is not str:
            _schema((*parts, "error", "category"), "must be runtime, limit or policy")
        _code(failure["code"], category, (*parts, "error", "code"))
        _str(failure["message"], (*parts, "error", "message"))
        _location(failure["location"], (*parts, "error", "location"), True)
        if outcome["instructions"] is not None:
            _uint(outcome["instructions"], (*parts, "instructions"))
    else:
        _schema((*parts, "status"), "must be returned or error")


# -- slices and diffs -------------------------------------------------------------------------------------------


def slice_trace(trace: bytes | str | Trace, start: int, end: int) -> bytes:
    """An inspection-only slice holding events `start` (included) to `end` (excluded) of a full trace.

    The slice records its range, the number of events of the full trace and
    the sha256 of the full trace's canonical bytes; `replay` refuses it.
    """
    full = checked(trace) if isinstance(trace, Trace) else load_trace(trace)
    if full.slice is not None:
        raise ReplayError("replay.sliced", "the trace is already a slice; cut slices from the full trace")
    total = len(full.events)
    if type(start) is not int or type(end) is not int or not 0 <= start <= end <= total:
        raise UsageError(
            "usage.slice-range",
            f"slice {start}..{end} is not within 0..{total} (start included, end excluded)",
            events=total,
        )
    doc = dict(full.doc)
    doc["events"] = list(full.events[start:end])
    doc["slice"] = {"range": [start, end], "full_digest": full.digest(), "full_events": total}
    return canonical_json(doc)


def diff_traces(a: bytes | str | Trace, b: bytes | str | Trace) -> dict[str, Any]:
    """Where two traces part ways: `equal`, `same_module`, and the first difference (`where`, `seq`, both sides).

    `where` is "provenance", "entry", "events" (with `seq` and the two
    events, either None when one trace has fewer) or "outcome", checked in
    that order: traces of another module, policy or entry are named as such,
    not by the first event that follows from it.
    """
    left = checked(a) if isinstance(a, Trace) else load_trace(a)
    right = checked(b) if isinstance(b, Trace) else load_trace(b)
    same_module = left.provenance["module_sha256"] == right.provenance["module_sha256"]
    result: dict[str, Any] = {"equal": False, "same_module": same_module}

    def differs(x: object, y: object) -> bool:
        return canonical_json(x) != canonical_json(y)

    for where in ("provenance", "entry"):
        if differs(left.doc[where], right.doc[where]):
            one_part, two_part = left.doc[where], right.doc[where]
            fields = sorted(
                key for key in one_part.keys() | two_part.keys() if differs(one_part.get(key), two_part.get(key))
            )
            result.update(where=where, seq=None, fields=fields, a=one_part, b=two_part)
            return result

    left_events, right_events = left.events, right.events
    for position in range(max(len(left_events), len(right_events))):
        one = left_events[position] if position < len(left_events) else None
        two = right_events[position] if position < len(right_events) else None
        if one is None or two is None or differs(one, two):
            fields = (
                sorted(key for key in one.keys() | two.keys() if differs(one.get(key), two.get(key)))
                if one is not None and two is not None
                else []
            )
            seq_source = one if one is not None else two
            assert seq_source is not None
            result.update(where="events", seq=seq_source["seq"], fields=fields, a=one, b=two)
            return result
    for where in ("outcome",):
        if differs(left.doc[where], right.doc[where]):
            one_part, two_part = left.doc[where], right.doc[where]
            fields = sorted(
                key for key in one_part.keys() | two_part.keys() if differs(one_part.get(key), two_part.get(key))
            )
            result.update(where=where, seq=None, fields=fields, a=one_part, b=two_part)
            return result
    if differs(left.doc.get("slice"), right.doc.get("slice")):
        result.update(where="slice", seq=None, fields=["slice"], a=left.slice, b=right.slice)
        return result
    result.update(equal=True, where=None, seq=None, fields=[], a=None, b=None)
    return result
