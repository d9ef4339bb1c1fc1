"""Exact replay: takes a trace and the module bytes, gives a `ReplayReport`, or a `ReplayError` naming the divergence.

Replay never calls a live capability: it re-executes the module under the
recorded limits with handlers that answer each call from the next recorded
event.  Before any instruction runs it checks the trace (untrusted JSON, see
`trace.load_trace`), refuses slices, checks the module digest, the recorded
limits and the recorded capability signatures.  While the module runs, a
call whose capability, arguments or instruction count differ from the record
is a `replay.divergence`; afterwards, leftover events or a different outcome
(value, error code, location, instruction count) are replay errors too.
Recorded values are checked against the declared types and the recorded
limits before the plugin sees them.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.capabilities.scopes import BoundScope, first_violation, refusal, rules_from_json
from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Module
from chronicle_vm.core.payload import call_plan, struct_item_bytes, value_bytes
from chronicle_vm.core.type_registry import row
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.core.values import Value, ValueMismatch, import_value
from chronicle_vm.engines.reference import locate
from chronicle_vm.errors import (
    ChronicleError,
    ExecutionError,
    PolicyError,
    ReplayError,
    ResourceLimitError,
    UsageError,
    declare_codes,
)
from chronicle_vm.limits import DEFAULT_LIMITS, HARD_LIMITS, Limits
from chronicle_vm.runtime import EngineName, LoadedModule, load_module, make_engine

from .budget import TraceBudget
from .document import (
    MAX_TRACE_BYTES,
    Trace,
    canonical_json,
    checked,
    collector_paused,
    error_instructions,
    error_outcome,
    load_trace,
)
from .policy_check import check_recorded_policy
from .replay_stop import as_recorded_stop, recorded_stop, stop_ceiling, stopping_handlers
from .typed import TraceTypes, module_structs, plain_json, signature_text, structs_record, structured

__all__ = ["ReplayReport", "replay"]

declare_codes(
    "replay",
    {
        "limits": "the trace needs more than the replayer's ceilings allow (its instruction count or a limit stop)",
        "location": "a recorded event's code location is not where the replayed call happens (an edited trace)",
    },
)

#: The kinds whose recorded JSON is the VM value itself (an int within 64 bits: load_trace checked it).
_PLAIN = frozenset({TypeKind.INT, TypeKind.BOOL, TypeKind.STR})

#: The `result` of a call event that records a failure instead (its `error`).
_NO_RESULT = object()


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """An exact replay: what the run ended on, reproduced at the recorded instruction.

    `reproduced` is "returned", "trap", "limit" (a limit, a recorded quota,
    a deadline or a cancel) or "capability-error" (a recorded host failure
    answered from the trace).
    `trace_sha256` is the sha256 of the trace bytes as given (of
    `Trace.to_json()` when a Trace object was given).
    """

    exact: bool
    reproduced: str
    outcome: Mapping[str, Any]
    events: int
    instructions: int | None
    module_sha256: str
    trace_sha256: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "exact": self.exact,
            "reproduced": self.reproduced,
            "outcome": dict(self.outcome),
            "events": self.events,
            "instructions": self.instructions,
            "module_sha256": self.module_sha256,
            "trace_sha256": self.trace_sha256,
        }


def replay(
    trace: bytes | str | Trace,
    module: bytes | LoadedModule,
    *,
    engine: EngineName = "auto",
    max_bytes: int = MAX_TRACE_BYTES,
    limits: Limits | None = DEFAULT_LIMITS,
    policy: Policy | None = None,
) -> ReplayReport:
    """Replay `trace` against `module` exactly; raises `ReplayError` unless the run reproduces the record.

    With `policy`, the trace must also have been recorded under it: its digest and every recorded
    decision (policy_check.py) are checked before any instruction runs.
    `module` is the module's bytes, or a `LoadedModule` already made from them (a batch of replays of one
    module then verifies it once and shares the compiled engine's translations).

    `limits` are the replayer's own ceilings (the safe defaults unless
    given; `None` or `HARD_LIMITS` for none but the hard ones): the run is
    bounded by the smaller of them and the trace's recorded limits, since
    the recorded ones are as untrusted as the rest of the trace.  A trace
    whose recorded run needs more than the ceilings allow is refused with
    `replay.limits`, before running when the record says so (its
    instruction count, a recorded limit stop) and otherwise when the
    lowered limit is reached.

    The module bytes may also raise `DecodeError`/`VerifyError` (after the
    digest matched, which only a corrupted recording could cause).
    """
    # Replay runs no host code and VM values cannot form cycles (an array's items are one level
    # shallower than the array), so the cyclic collector has nothing to find here; left running,
    # it would walk the parsed trace's hundreds of thousands of objects again and again.
    with collector_paused():
        return _replay(trace, module, engine, max_bytes, HARD_LIMITS if limits is None else limits, policy)


def _replay(
    trace: bytes | str | Trace,
    module: bytes | LoadedModule,
    engine: EngineName,
    max_bytes: int,
    ceilings: Limits,
    policy: Policy | None = None,
) -> ReplayReport:
    recorded = checked(trace) if isinstance(trace, Trace) else load_trace(trace, max_bytes=max_bytes)
    if isinstance(trace, Trace):
        trace_digest = recorded.digest()  # of its canonical bytes, cached with them (a Trace never changes)
    else:
        trace_digest = hashlib.sha256(trace.encode("utf-8") if isinstance(trace, str) else bytes(trace)).hexdigest()
    if recorded.slice is not None:
        start, end = recorded.slice["range"]
        raise ReplayError(
            "replay.sliced",
            f"the trace is an inspection-only slice (events {start}..{end}); exact replay needs the full trace",
            range=[start, end],
        )
    # A LoadedModule (already decoded and verified, by the digest of its bytes) lets a batch of replays of one
    # module share its verification and the compiled engine's translations (chronicle_vm.trace.audit).
    if not isinstance(module, (bytes, bytearray, memoryview, LoadedModule)):
        raise UsageError("usage.bad-arguments", f"the module is bytes, not {type(module).__name__}")
    provenance = recorded.provenance
    actual_digest = module.digest if isinstance(module, LoadedModule) else hashlib.sha256(bytes(module)).hexdigest()
    if actual_digest != provenance["module_sha256"]:
        raise ReplayError(
            "replay.module-digest",
            f"the module's sha256 is {actual_digest}; the trace was recorded with {provenance['module_sha256']}",
            expected=provenance["module_sha256"],
            actual=actual_digest,
        )
    raw_limits = provenance.get("limits")
    if raw_limits is None:
        raise ReplayError(
            "replay.missing-limits", "cannot replay exactly without recorded limits (provenance.limits is absent)"
        )
    recorded_limits = Limits.from_recorded(raw_limits)  # load_trace checked every field and range
    bounded = _replay_limits(recorded, recorded_limits, ceilings)
    stop = recorded_stop(recorded.events)  # a deadline or cancel: reproduced by instruction count, no clock
    limits = bounded if stop is None else stop_ceiling(bounded, stop)
    loaded = module if isinstance(module, LoadedModule) else load_module(bytes(module))
    declared = loaded.module.capabilities
    _check_capabilities(provenance["capabilities"], declared, loaded.module.structs)
    if policy is not None:
        check_recorded_policy(provenance, policy)
    entry = recorded.entry
    function = loaded.verified.function(entry["function"])
    if entry["function"] not in loaded.verified.exports or function is None:
        raise ReplayError("replay.entry", f"the recorded entry `{entry['function'][:100]}` is not exported")
    types = _trace_types(recorded, loaded.module, function)
    args = entry["args"] if types is None else _entry_args(types, function, entry["args"])

    # Bytes out are checked against the recorded bound itself: replay sends nothing out, so the replayer's own
    # ceiling on them bounds nothing of its own, and the record says exactly which call (if any) passed it.
    # The trace budget is re-run only when the trace records it: a trace that predates the field may predate the
    # budget itself.
    budget = raw_limits.get("max_trace_bytes")
    state = _Replayer(
        loaded.module, recorded.events, limits, provenance["capabilities"], recorded_limits, budget, types, function
    )
    state.sites = recorded.sites()
    state.exact = recorded.exact_args()
    state.result_types = recorded.result_types()
    handlers = state.handlers() if stop is None else stopping_handlers(state.handlers(), stop, loaded.module)
    runner = make_engine(loaded.verified, limits, handlers, engine)
    try:
        outcome = runner.call(entry["function"], args)
    except ReplayError:
        raise
    except UsageError as exc:
        raise ReplayError("replay.entry", f"the recorded entry arguments do not fit: {exc.message}") from None
    except ChronicleError as exc:
        error = exc if stop is None else as_recorded_stop(exc, stop)
        _check_not_lowered(error, recorded_limits, bounded)
        return state.finish_error(recorded, error, actual_digest, trace_digest)
    return state.finish_returned(recorded, outcome.value, outcome.instructions, actual_digest, trace_digest)


#: The codes of a call stopped before the live handler's bytes-out check: outside its scope, over its quota,
#: or by the recorder's trace budget (before the call, or after its result, when bytes out had been checked).
_BEFORE_OUTPUT = frozenset({"policy.scope", "limit.capability-quota", "limit.trace-bytes"})

#: The limit each `limit.*` stop of the engines is the bound of.
_LIMIT_FIELDS = {
    "limit.instructions": "max_instructions",
    "limit.call-depth": "max_call_depth",
    "limit.registers": "max_registers",
    "limit.stack-registers": "max_stack_registers",
    "limit.array-len": "max_array_len",
    "limit.string-len": "max_string_len",
    "limit.allocation": "max_allocation",
}


def _trace_types(recorded: Trace, module: Module, function: Function) -> TraceTypes | None:
    """A version-2 trace's declared types, checked against the module's own; None for a version-1 trace."""
    version = recorded.doc["version"]
    expected = 2 if structured(module) else 1
    if version != expected:
        raise ReplayError(
            "replay.version",
            f"the trace is version {version}, but a trace of this module is version {expected}",
            expected=expected,
            actual=version,
        )
    if version == 1:
        return None
    provenance, entry = recorded.provenance, recorded.entry
    own = structs_record(module_structs(module))
    if canonical_json(provenance["structs"]) != canonical_json(own):
        raise ReplayError(
            "replay.provenance", "the recorded struct table is not the module's", expected=own[:100], actual=None
        )
    own_signature = signature_text(function.params, function.result, module.structs)
    if entry["signature"] not in (own_signature, function.signature()):  # structs by name, or as struct#i
        raise ReplayError(
            "replay.entry",
            f"the trace records the entry's signature {_clip(entry['signature'])}; the module's is {own_signature}",
        )
    return TraceTypes.from_header(provenance, entry)  # load_trace (or checked) read it already


def _entry_args(types: TraceTypes, function: Function, args: Sequence[object]) -> list[object]:
    """The recorded entry arguments in the host's forms (maps as dicts, structs as dicts by field name)."""
    try:
        return [
            types.from_json(arg, vtype, f"entry.args[{position}]")
            for position, (arg, vtype) in enumerate(zip(args, function.params, strict=True))
        ]
    except (ValueMismatch, ValueError) as exc:  # checked by load_trace already; kept for hand-built documents
        raise ReplayError("replay.entry", f"the recorded entry arguments do not fit: {exc}") from None


def _replay_limits(recorded: Trace, recorded_limits: Limits, ceilings: Limits) -> Limits:
    """The limits of the replay: the recorded ones lowered to the replayer's; refused when the record needs more."""
    limits = recorded_limits.tightened(ceilings)
    needed = recorded.outcome.get("instructions")
    if type(needed) is int and needed > limits.max_instructions:
        _refuse_limits("max_instructions", needed, recorded_limits, limits)
    code = recorded.outcome.get("error", {}).get("code") if recorded.outcome.get("status") == "error" else None
    name = _LIMIT_FIELDS.get(code) if isinstance(code, str) else None
    if name is not None and getattr(limits, name) < getattr(recorded_limits, name):
        # The recorded run stopped at its own limit: under a lower one it would stop elsewhere.
        _refuse_limits(name, getattr(recorded_limits, name), recorded_limits, limits)
    return limits


def _check_not_lowered(error: ChronicleError, recorded_limits: Limits, limits: Limits) -> None:
    """A limit stop of the replay at a limit the replayer lowered is the replayer's refusal, not a divergence."""
    name = _LIMIT_FIELDS.get(error.code) if isinstance(error, ResourceLimitError) else None
    if name is not None and getattr(limits, name) < getattr(recorded_limits, name):
        _refuse_limits(name, getattr(recorded_limits, name), recorded_limits, limits)


def _refuse_limits(name: str, needed: int, recorded_limits: Limits, limits: Limits) -> NoReturn:
    raise ReplayError(
        "replay.limits",
        f"the trace needs {name} = {needed:,}, above this replayer's ceiling of {getattr(limits, name):,}; "
        "replay it with higher ceilings (the CLI: --unbounded) if the trace's source is trusted",
        limit=name,
        needed=needed,
        ceiling=getattr(limits, name),
        recorded=recorded_limits.to_dict(),
    )


def _check_capabilities(
    recorded: Sequence[Mapping[str, Any]], declared: Sequence[Capability], structs: Sequence[StructDef] = ()
) -> None:
    have = [(decision["name"], decision["signature"]) for decision in recorded]
    want = [(c.name, signature_text(c.params, c.result, structs)) for c in declared]  # structs by name
    plain = [(c.name, c.signature()) for c in declared]  # structs as struct#i
    if len(have) != len(want) or any(pair not in (a, b) for pair, a, b in zip(have, want, plain, strict=False)):
        raise ReplayError(
            "replay.provenance",
            "the recorded capability decisions do not match the module's declarations",
            expected=[f"{name}{signature}" for name, signature in want],
            actual=[f"{name}{signature}" for name, signature in have][:100],
        )
    refused = [decision["name"] for decision in recorded if decision["decision"] != "granted"]
    if refused:
        raise ReplayError(
            "replay.provenance",
            f"the trace records refused capabilities ({', '.join(refused)}), so no run could have happened",
        )


def _clip(text: str, size: int = 100) -> str:
    """Recorded text is untrusted and may be huge: messages show its start."""
    return text if len(text) <= size else text[:size] + "..."


def _describe_call(name: str, args: Sequence[object], instructions: int) -> str:
    text = canonical_json(list(args)).decode("utf-8")
    return f"{_clip(name)}({_clip(text[1:-1], 200)}) at instruction {instructions}"


def _where(location: Mapping[str, Any] | None) -> str:
    if not location:
        return "at an unknown location"
    text = f"in `{_clip(location['function'])}` at instruction {location['index']}"
    if "file" in location:
        text += f" ({_clip(location['file'])}:{location['line']}:{location['col']})"
    return text


def _argument_plan(params: tuple[ValueType, ...]) -> tuple[bool, bool, int, type]:
    """How a replayed call's arguments are checked once they equal the record: `one_typed` (one int or bool
    argument, its recorded type checked inline), `careful` (arrays, or several int or bool arguments: the precise
    comparison) and the inline check's position and type.  Equal values of different types are possible only
    between ints and bools (True == 1); str positions need no check."""
    scalar = all(p.is_scalar_kind for p in params)
    typed = [(k, row(p).python) for k, p in enumerate(params) if p.kind is not TypeKind.STR]
    first_position, first_kind = typed[0] if typed else (0, int)
    return scalar and len(typed) == 1, not scalar or len(typed) > 1, first_position, first_kind


def _only_site(module: Module, index: int) -> dict[str, Any] | None:
    """The location of the one `capcall` of capability `index` in the module; None if it has several (or none)."""
    sites = [
        (function, pc)
        for function, code in enumerate(f.code for f in module.functions)
        for pc, instruction in enumerate(code)
        if instruction.op == Op.CAPCALL and instruction.a == index
    ]
    return locate(module, *sites[0]) if len(sites) == 1 else None


def _charges(budget: TraceBudget | None, index: int) -> tuple[list[int], int, int]:
    """The trace budget's meter, bound and per-call cost of capability `index` (a private meter without one)."""
    if budget is None:
        return [0], 2**63, 0
    return budget.meter, budget.max_bytes, budget.per_call[index]


#: Replay handler makers by capability shape (`_answer_maker`), each compiled once per process.
_ANSWER_MAKERS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _answer_maker(
    one_typed: bool, careful: bool, sized: int, always: bool, metered: bool, placed: bool, result: str, known: bool
) -> Callable[..., CapabilityHandler]:
    """A function making replay handlers of one shape (see `_argument_plan`, `_Replayer._handler`): the one
    int or bool argument's recorded type checked inline, the precise comparison of equal arguments (arrays,
    several ints or bools), `sized` text or array arguments (0, 1, or 2 for any more), the stops decided on
    every call (scopes, quota, a sized result), the meters charged call by call (else no call of the run can
    pass them: `_Replayer.unmetered`), the location known for every call, the result's kind ("str", another
    "scalar", "none" declared, "other"), every call event of the capability known to record a result of that
    kind (`Trace.result_types`: no recorded failure, no type to check).

    A replayed call does what the general handler did, in the same order: take the next event, compare the
    call (the precise check names a divergence), charge the trace budget and bytes out as the recorder and
    the live handler did, check the stops the record says or the charges make due, compare the location,
    answer the recorded result.  The checks a shape has not are left out: a replayed call of a trivial
    capability took 0.56 µs, 0.40 µs without them (a 100,000-call replay run spent 30% of its time there),
    about 0.27 µs without the meters, the call count and the type checks where none can decide anything
    (bench_trace's replay run: 1.10 -> 0.91 of the traced run).
    """
    # `capability` and `args` are present in call events only (load_trace checked the shapes).  Type first:
    # equality alone would let a bool stand for an int.
    typed = " and type(event['args'][first_position]) is first_kind" if one_typed else ""
    body = [
        "event = next(cursor, None)",
        "if event is None:",
        "    missing(name, args, site)",
        "try:",
        f"    same = event['capability'] == name and event['instructions'] == site[3] and event['args'] == args{typed}",
        "except KeyError:  # an end event",
        "    same = False",
        "if not same:",
        "    if not same_call(event, name, params, args, site):",
        "        diverge(event, name, args, site)",
    ]
    line = body.append
    if careful:
        body += ["elif not same_args(event, params, args):", "    diverge(event, name, args, site)"]
    if always:  # else the count is needed only where the run stops, and counted there (`_Replayer._counted`)
        line("calls += 1")
    if metered:  # the recorder charged its budget first, then the live handler checked scopes, quota, bytes out
        body += _charges_text(sized)
    if known:  # the event is a call event of this capability (compared above): it records a result
        line("result = event['result']")
    else:
        body += [
            "try:  # a call event has exactly one of `result` and `error` (load_trace checked it)",
            "    result = event['result']",
            "except KeyError:",
            "    result = NO_RESULT",
        ]
    if always:
        line("check_stops(event, index, args, calls, site)")
    elif metered:
        recorded = "" if known else "result is NO_RESULT or "
        line(f"if {recorded}charged > trace_max or out > max_output:  # a stop recorded or due")
        line("    counted_stops(event, index, args, site)")
    # Unmetered, only a recorded failure can be a stop; it is decided before the location is compared.
    settle = [] if known else ["if result is NO_RESULT:", "    settled_stops(event, index, args, site)"]
    if not placed:  # with one call site, its location; else the site's own (computed once per site)
        if not metered and not always:
            body += settle
        line("if event['location'] != (only or locations.get((site[1], site[2]))):")
        line("    check_location(event, site, locations)")
    if known:
        line("return result")
    else:
        body += _ANSWERED[result]
        if placed and not metered and not always:  # a result returned above is no failure
            body += settle
        line("return take(event, result, name, result_type, site)")
    source = "\n".join(
        [
            "def maker(*, cursor, locations, name, params, result_type, index, first_position, first_kind,",
            "          scalar_result, max_string, fixed, sized, first_sized, item, sent, max_output, spent,",
            "          trace_max, per_call, only, missing, same_call, same_args, diverge, check_stops,",
            "          counted_stops, settled_stops, check_location, take):",
            "    calls = 0",
            "    def answer(args, site):",
            *(["        nonlocal calls"] if always else []),
            *(" " * 8 + text for text in body),
            "    return answer",
        ]
    )
    names: dict[str, Any] = {"value_bytes": value_bytes, "NO_RESULT": _NO_RESULT}
    exec(compile(source, "<chronicle_vm replay handler>", "exec"), names)  # the text above, nothing from outside
    made: Callable[..., CapabilityHandler] = names["maker"]
    return made


def _charges_text(sized: int) -> list[str]:
    """The lines of a metered handler that charge a call to the trace budget and the bytes out."""
    if sized == 0:
        return ["spent[0] = charged = spent[0] + per_call", "sent[0] = out = sent[0] + fixed"]
    if sized == 1:
        payload = ["payload = value_bytes(args[first_sized], item)"]
    else:
        payload = ["payload = 0", "for k in sized:", "    payload += value_bytes(args[k], item)"]
    return [*payload, "spent[0] = charged = spent[0] + per_call + payload", "sent[0] = out = sent[0] + fixed + payload"]


#: The lines answering a recorded result of the declared kind as it is, by `_answer_maker`'s result kind.
_ANSWERED = {
    "str": ["if type(result) is str and len(result) <= max_string:", "    return result"],
    "scalar": ["if type(result) is scalar_result:", "    return result"],
    "none": ["if result is None:", "    return None"],
    "other": [],
}


class _Replayer:
    """The replay host of one run: a cursor over the recorded events and one handler per capability.

    Every capability's handler takes the next event from one shared
    iterator, so answering a call costs a few dict lookups and comparisons
    (less than the live handler plus the recorder it stands for): a fast
    path settles the common case (same capability, instruction count and
    arguments, a recorded result of the declared scalar type); anything
    else takes the precise checks, which name the divergence.
    """

    def __init__(
        self,
        module: Module,
        events: Sequence[Mapping[str, Any]],
        limits: Limits,
        decisions: Sequence[Mapping[str, Any]],
        recorded: Limits | None = None,
        trace_budget: int | None = None,
        types: TraceTypes | None = None,
        entry: Function | None = None,
    ) -> None:
        self.module = module
        #: A version-2 trace's declared types (values compared and imported by them), None for version 1.
        self.types = types
        self.entry_result = None if entry is None else entry.result
        own = limits if recorded is None else recorded
        #: The recorded bound on bytes out, and the bytes the replayed calls have sent so far.
        self.max_output = own.max_output_bytes
        self.sent = [0]
        #: The recorder's trace budget, charged again call by call (None: the trace does not record one).
        self.budget = None if trace_budget is None else TraceBudget.for_run(module, trace_budget, own.max_instructions)
        self.events: list[Mapping[str, Any]] = events if type(events) is list else list(events)
        self.cursor: Iterator[Mapping[str, Any]] = iter(self.events)
        self.limits = limits
        self.quotas: list[int | None] = [decision["max_calls"] for decision in decisions]
        #: The argument scopes each grant recorded (load_trace checked their shape).
        self.scopes: list[tuple[BoundScope, ...]] = [rules_from_json(d.get("args", [])) or () for d in decisions]
        #: The error a replay handler raised to reproduce a recorded capability failure.
        self.raised: ChronicleError | None = None
        self.raised_instructions: int | None = None
        #: (function, pc) -> the location a call there records, as the recorder computes it.
        self.locations: dict[tuple[int, int], dict[str, Any]] = {}
        #: Capability name -> the one location all its recorded calls record (`Trace.sites`), when known.
        self.sites: Mapping[str, Any] = {}
        #: The capabilities whose recorded arguments are all ints and strings (`Trace.exact_args`), when known.
        self.exact: frozenset[str] = frozenset()
        #: Capability name -> the one type of all its recorded results (`Trace.result_types`), when known.
        self.result_types: Mapping[str, type] = {}
        #: No call of this run can pass a meter (`unmetered`): set by `handlers`.
        self.unmetered = False

    @property
    def position(self) -> int:
        """How many events the run has taken: the position of the next one."""
        return len(self.events) - operator.length_hint(self.cursor)

    def handlers(self) -> tuple[CapabilityHandler, ...]:
        self.unmetered = self._unmetered()
        return tuple(self._answering(index, capability) for index, capability in enumerate(self.module.capabilities))

    def _plans(self) -> list[tuple[int, tuple[int, ...]]]:
        return [call_plan(capability.params) for capability in self.module.capabilities]

    def _unmetered(self) -> bool:
        """No call of the run can pass the trace budget or the bytes out: then the meters decide nothing, and
        the handlers leave them alone (`_settle` sets them where a recorded failure is checked).

        So when every capability costs the same on every call (no text or array argument or result, no
        typed handler, which charges its own) and decides no stop on every call (no scope, no quota), and
        the trace's event count times the dearest call stays within both bounds: each replayed call takes
        an event, so the run makes no more calls than the trace has events."""
        module, budget = self.module, self.budget
        if not module.capabilities:
            return False
        for index, capability in enumerate(module.capabilities):
            if self.types is not None:
                declared = (*capability.params, *(() if capability.result is None else (capability.result,)))
                if not all(plain_json(vtype) for vtype in declared):
                    return False
            if self.scopes[index] or self.quotas[index] is not None:
                return False
            if budget is not None and (budget.sized_params[index] or budget.sized_result[index]):
                return False
        plans = self._plans()
        if any(sized for _fixed, sized in plans):
            return False
        calls = len(self.events)
        if budget is not None and calls * max(budget.per_call) > budget.max_bytes:
            return False
        return calls * max(fixed for fixed, _sized in plans) <= self.max_output

    def _counted(self, index: int) -> int:
        """The calls of capability `index` so far, this one included: the call events taken that name it (every
        event taken was a call the run made, the same call, or the replay would have stopped there)."""
        name = self.module.capabilities[index].name
        return sum(1 for event in itertools.islice(self.events, self.position) if event["capability"] == name)

    def _settle(self) -> None:
        """The meters as the run charged them so far, this call included (`unmetered`: never charged call by
        call): every capability costs a fixed charge per call, and every event taken was a call the run made."""
        taken = collections.Counter(event["capability"] for event in itertools.islice(self.events, self.position))
        plans = self._plans()
        self.sent[0] = sum(taken[c.name] * plans[k][0] for k, c in enumerate(self.module.capabilities))
        if self.budget is not None:
            per_call = self.budget.per_call
            self.budget.meter[0] = sum(taken[c.name] * per_call[k] for k, c in enumerate(self.module.capabilities))

    def _counted_stops(self, event: Mapping[str, Any], index: int, args: Sequence[Value], site: CallSite) -> None:
        """`_check_stops` where a handler does not count its calls (no quota, no scope: the stop is one)."""
        self._check_stops(event, index, args, self._counted(index), site)

    def _settled_stops(self, event: Mapping[str, Any], index: int, args: Sequence[Value], site: CallSite) -> None:
        """`_check_stops` where the handlers charge no meter (`unmetered`)."""
        self._settle()
        self._check_stops(event, index, args, self._counted(index), site)

    def _answering(self, index: int, capability: Capability) -> CapabilityHandler:
        """The handler of one capability: by declared type when floats, maps or structs cross (version 2)."""
        if self.types is not None:
            declared = (*capability.params, *(() if capability.result is None else (capability.result,)))
            if not all(plain_json(vtype) for vtype in declared):
                return self._typed_handler(index, capability, self.types)
        return self._handler(index, capability)

    def _handler(self, index: int, capability: Capability) -> CapabilityHandler:
        """The handler of a capability of plain JSON values: its code written for the capability's shape
        (`_answer_maker`), so a replayed call runs only the checks its capability needs."""
        name, params, result_type = capability.name, capability.params, capability.result
        quota, scopes = self.quotas[index], self.scopes[index]
        one_typed, careful, first_position, first_kind = _argument_plan(params)
        if name in self.exact and all(p.kind is TypeKind.INT or p.kind is TypeKind.STR for p in params):
            # Every recorded argument is an int or a string, each parameter one of those: equal lists are the
            # same values of the same types (an int never equals a string), so `==` alone settles the call.
            one_typed = careful = False
        # A recorded scalar result of the declared type is the answer as it is (load_trace, or `checked` for a
        # Trace, kept every int within 64 bits); text is bounded by the replay's string limit.
        scalar_result = row(result_type).python if result_type is not None and result_type.kind in _PLAIN else None
        fixed, sized = call_plan(params)
        budget = self.budget
        spent, trace_max, per_call = _charges(budget, index)
        assert budget is None or budget.sized_params[index] == sized
        # Scopes and quotas decide every call again, and a text or array result is charged to the trace budget.
        always = bool(scopes) or quota is not None or (budget is not None and budget.sized_result[index])
        metered = not self.unmetered
        assert metered or not always  # `_unmetered` holds only where no call decides a stop of its own
        # The location of the capability's one call site in the module, if it has one: every call is there.  When
        # every recorded call of it records that location (load_trace compared them), no call needs comparing.
        only = _only_site(self.module, index)
        placed = only is not None and self.sites.get(name) == only
        if scalar_result is str:
            result_form = "str"
        elif scalar_result is not None:
            result_form = "scalar"
        else:
            result_form = "none" if result_type is None else "other"
        # Every call event of it records a result, of the declared type: answered as it is.
        recorded_type = self.result_types.get(name)
        known = (result_form == "scalar" and recorded_type is scalar_result) or (
            result_form == "none" and recorded_type is type(None)
        )
        key = (one_typed, careful, len(sized) if len(sized) < 2 else 2, always, metered, placed, result_form, known)
        maker = _ANSWER_MAKERS.get(key)
        if maker is None:
            maker = _ANSWER_MAKERS[key] = _answer_maker(*key)
        answer: CapabilityHandler = maker(
            cursor=self.cursor,
            locations=self.locations,
            name=name,
            params=params,
            result_type=result_type,
            index=index,
            first_position=first_position,
            first_kind=first_kind,
            scalar_result=scalar_result,
            max_string=self.limits.max_string_len,
            fixed=fixed,
            sized=sized,
            first_sized=sized[0] if sized else 0,
            item=struct_item_bytes(self.module.structs),  # field names: bytes out and trace bytes (budget.per_item)
            sent=self.sent,
            max_output=self.max_output,
            spent=spent,
            trace_max=trace_max,
            per_call=per_call,
            only=only,
            missing=self._missing,
            same_call=self._same_call,
            same_args=self._same_args,
            diverge=self._diverge,
            check_stops=self._check_stops,
            counted_stops=self._counted_stops,
            settled_stops=self._settled_stops,
            check_location=self._check_location,
            take=self._result,
        )
        return answer

    def _typed_handler(self, index: int, capability: Capability, types: TraceTypes) -> CapabilityHandler:
        """A version-2 capability with floats, maps or structs: arguments compared by their canonical JSON forms
        (bit-exact floats, ordered maps), the recorded result read by its declared type."""
        cursor = self.cursor
        name, params, result_type = capability.name, capability.params, capability.result
        calls = 0
        fixed, sized = call_plan(params)
        budget = self.budget
        per_call = budget.per_call[index] if budget is not None else 0
        item = struct_item_bytes(self.module.structs)  # field names: bytes out and trace bytes (budget.per_item)
        spent = budget.meter if budget is not None else [0]

        def answer(args: Sequence[Value], site: CallSite) -> Value | None:
            nonlocal calls
            event = next(cursor, None)
            shown = self._shown(args, params)
            if event is None:
                self._missing(name, shown, site)
            if (
                event.get("capability") != name
                or event["instructions"] != site[3]
                or canonical_json(event.get("args")) != canonical_json(shown)
            ):
                self._diverge(event, name, shown, site)
            calls += 1
            payload = sum(value_bytes(args[k], item) for k in sized)  # with structs, field names too
            spent[0] += per_call + payload
            self.sent[0] += fixed + payload
            result = self._typed_result(event, name, result_type, site, types)
            self._check_stops(event, index, args, calls, site, result)
            if event["location"] != self.locations.get((site[1], site[2])):
                self._check_location(event, site, self.locations)
            if result is _NO_RESULT:
                self._raise_recorded(event, event["error"], name, site)
            return result  # type: ignore[no-any-return]

        return answer

    def _shown(self, args: Sequence[Value], params: Sequence[ValueType]) -> list[Any]:
        """The JSON forms of a call's actual arguments (compared with the record, shown in divergences)."""
        assert self.types is not None
        try:
            return [self.types.to_json(arg, vtype) for arg, vtype in zip(args, params, strict=True)]
        except ValueMismatch as exc:  # deeper than any trace holds: it cannot be the recorded call
            return [f"<{exc}>"]

    def _typed_result(
        self, event: Mapping[str, Any], name: str, result_type: ValueType | None, site: CallSite, types: TraceTypes
    ) -> Any:
        """The recorded result as a VM value (read by its declared type, then imported within the limits)."""
        if "result" not in event:
            return _NO_RESULT
        result = event["result"]
        if result_type is None or result is None:
            if result is not None or result_type is not None:
                self._bad_value(event, f"{name}'s result does not fit its declared signature", site)
            return None
        try:
            host = types.from_json(result, result_type, f"result of {name}")
            value, _units = import_value(host, result_type, self.limits, f"result of {name}", self.module.structs)
        except ValueMismatch as exc:
            self._bad_value(event, str(exc), site)
        return value

    def _check_stops(
        self,
        event: Mapping[str, Any],
        index: int,
        args: Sequence[Value],
        calls: int,
        site: CallSite,
        result: object = _NO_RESULT,
    ) -> None:
        """Every stop a call can meet, in the order recording meets them: each recorded exactly where it is due.

        `result` is the recorded result as the VM value the recorder charged (version 2), else the event's own."""
        name = self.module.capabilities[index].name
        self._check_trace(event, index, site, result)
        if self.scopes[index]:
            self._check_scope(event, name, self.scopes[index], args, site)
        self._check_quota(event, name, calls, self.quotas[index], site)
        self._check_output(event, name, self.sent[0], self.max_output, site)

    def _check_trace(self, event: Mapping[str, Any], index: int, site: CallSite, result: object = _NO_RESULT) -> None:
        """A call is the recorded `limit.trace-bytes` stop exactly when the recorder's budget, charged again,
        passes the recorded `max_trace_bytes` with its arguments, or (a result not recorded) may with its result."""
        budget = self.budget
        if budget is None:
            return
        error = event.get("error")
        stopped = isinstance(error, Mapping) and error.get("code") == "limit.trace-bytes"
        over = budget.meter[0] > budget.max_bytes
        if not over and "result" in event and budget.sized_result[index]:
            budget.meter[0] += value_bytes(event["result"] if result is _NO_RESULT else result, budget.per_item)
            over = budget.meter[0] > budget.max_bytes
        # A stop at a call within the budget is the recorder's after-result check: only a text or array
        # result (which a failed call does not record) can have passed it.
        plausible = over or (stopped and budget.sized_result[index])
        if stopped == over or (stopped and plausible):
            return
        name = self.module.capabilities[index].name
        if over:
            why = f"this call of {name} takes the trace past its recorded max_trace_bytes, and the trace records it"
        else:
            why = f"the trace records a trace-budget stop at a call of {name} within the recorded max_trace_bytes"
        self._fail(
            "replay.divergence",
            event,
            f"replay diverged at event {event['seq']}: {why}",
            site,
            max_trace_bytes=budget.max_bytes,
            spent=budget.meter[0],
        )

    def _check_quota(self, event: Mapping[str, Any], name: str, calls: int, quota: int | None, site: CallSite) -> None:
        """Call `calls` of `name` is a quota stop exactly when it is the first beyond the recorded `max_calls`."""
        error = event.get("error")
        code = error.get("code") if isinstance(error, Mapping) else None
        if code == "limit.trace-bytes":
            return  # the recorder's stop comes before the live handler counts the call (or after it returned)
        stopped = code == "limit.capability-quota"
        over = quota is not None and calls > quota
        if stopped == over:
            return
        if quota is not None and over:
            beyond = f"beyond its recorded quota of {quota} {_calls(quota)}"
            why = f"call {calls} of {name} is {beyond}, and the trace records it"
        else:
            allowed = "no quota" if quota is None else f"a quota of {quota} {_calls(quota)}"
            why = f"the trace records a quota stop at call {calls} of {name}, which has {allowed}"
        self._fail("replay.divergence", event, f"replay diverged at event {event['seq']}: {why}", site, max_calls=quota)

    def _check_output(self, event: Mapping[str, Any], name: str, sent: int, ceiling: int, site: CallSite) -> None:
        """A call is recorded as the `limit.output-bytes` stop exactly when its arguments take bytes out past the
        recorded `max_output_bytes` (the live handler checks after the scopes and the quota, before the host)."""
        error = event.get("error")
        code = error.get("code") if isinstance(error, Mapping) else None
        if code in _BEFORE_OUTPUT:
            return  # the run stopped at this call before the bytes-out check was reached
        stopped = code == "limit.output-bytes"
        over = sent > ceiling
        if stopped == over:
            return
        if over:
            why = f"the arguments of this call of {name} take bytes out to {sent:,}, past the recorded {ceiling:,}"
        else:
            why = f"the trace records a bytes-out stop at a call of {name}, at {sent:,} of the recorded {ceiling:,}"
        self._fail(
            "replay.divergence",
            event,
            f"replay diverged at event {event['seq']}: {why}",
            site,
            max_output_bytes=ceiling,
            sent=sent,
        )

    def _check_location(
        self, event: Mapping[str, Any], site: CallSite, locations: dict[tuple[int, int], dict[str, Any]]
    ) -> None:
        """The recorded location of a call event must be where the call happens (computed once per call site)."""
        key = (site.function, site.pc)
        where = locations.get(key)
        if where is None:
            where = locations[key] = locate(self.module, site.function, site.pc)
        if event["location"] != where:
            self._fail(
                "replay.location",
                event,
                f"event {event['seq']}: the trace records the call {_where(event['location'])}; it happens",
                site,
                expected=event["location"],
                actual=where,
            )

    def _same_call(
        self, event: Mapping[str, Any], name: str, params: tuple[ValueType, ...], args: Sequence[Value], site: CallSite
    ) -> bool:
        """The precise comparison, when the fast one found a difference (or `args` is not a list)."""
        return (
            event["kind"] == "call"
            and event["capability"] == name
            and event["instructions"] == site.instructions
            and self._same_args(event, params, args)
        )

    def _same_args(self, event: Mapping[str, Any], params: tuple[ValueType, ...], args: Sequence[Value]) -> bool:
        recorded = event["args"]
        if len(recorded) != len(params):
            return False
        # Type-checked first: in Python True == 1, so equality alone would let a bool stand for an int.
        for position, (value, vtype) in enumerate(zip(recorded, params, strict=True)):
            if vtype.kind is TypeKind.INT and type(value) is int:
                continue  # the common case, an int; equality below settles it
            try:
                import_value(value, vtype, self.limits, f"argument {position + 1}", self.module.structs)
            except ValueMismatch:
                return False
        return bool(recorded == list(args))

    def _result(
        self, event: Mapping[str, Any], result: object, name: str, result_type: ValueType | None, site: CallSite
    ) -> Value | None:
        """The recorded answer, when the fast path did not settle it: a recorded failure, an array, a bad value."""
        if result is _NO_RESULT:
            self._raise_recorded(event, event["error"], name, site)
        if result_type is None:
            self._bad_value(event, f"{name} declares no result, the trace records one", site)
        try:
            value, _units = import_value(result, result_type, self.limits, f"result of {name}", self.module.structs)
        except ValueMismatch as exc:
            self._bad_value(event, str(exc), site)
        return value

    def _fail(self, code: str, event: Mapping[str, Any] | None, message: str, site: CallSite, **extra: Any) -> NoReturn:
        location = locate(self.module, site.function, site.pc)
        seq = event["seq"] if event is not None else self.position
        raise ReplayError(f"{code}", f"{message} {_where(location)}", seq=seq, location=location, **extra)

    def _diverge(self, event: Mapping[str, Any], name: str, args: Sequence[Value], site: CallSite) -> NoReturn:
        actual = {"capability": name, "args": list(args), "instructions": site.instructions}
        if event["kind"] != "call":
            expected: dict[str, Any] = {
                "kind": event["kind"],
                "code": event["code"],
                "instructions": event["instructions"],
            }
            said = f"the run ended with {_clip(event['code'])}"
        else:
            expected = {
                "capability": event["capability"],
                "args": event["args"],
                "instructions": event["instructions"],
            }
            said = _describe_call(event["capability"], event["args"], event["instructions"])
        self._fail(
            "replay.divergence",
            event,
            f"replay diverged at event {event['seq']}: expected {said}, "
            f"actual {_describe_call(name, args, site.instructions)}",
            site,
            expected=expected,
            actual=actual,
            recorded_location=event["location"],
        )

    def _missing(self, name: str, args: Sequence[Value], site: CallSite) -> NoReturn:
        self._fail(
            "replay.missing-event",
            None,
            f"replay diverged at event {self.position}: the trace records no more events, "
            f"actual {_describe_call(name, args, site.instructions)}",
            site,
            expected=None,
            actual={"capability": name, "args": list(args), "instructions": site.instructions},
        )

    def _bad_value(self, event: Mapping[str, Any], problem: str, site: CallSite) -> NoReturn:
        self._fail("replay.bad-value", event, f"event {event['seq']}: recorded {problem}", site)

    def _check_scope(
        self, event: Mapping[str, Any], name: str, scopes: tuple[BoundScope, ...], args: Sequence[Value], site: CallSite
    ) -> None:
        """The recorded decision on this call must be the one the recorded scopes give: a result or that refusal."""
        failure = event.get("error")
        if failure is not None and failure["code"] == "limit.trace-bytes":
            return  # the recorder's stop comes before the scopes are checked (_check_trace decides it)
        refused = first_violation(scopes, args)
        recorded_rule = failure.get("rule") if failure is not None and failure["code"] == "policy.scope" else None
        expected_rule = refusal(*refused) if refused is not None else None
        if canonical_json(recorded_rule) == canonical_json(expected_rule):
            return
        if expected_rule is None:
            said = "refused by a scope the arguments are within"
        elif recorded_rule is None:
            said = f"allowed, but the recorded scope {_clip(refused[0].rule.describe() if refused else '')} refuses it"
        else:
            said = "refused by another rule than the recorded scopes give"
        self._fail(
            "replay.scope",
            event,
            f"event {event['seq']}: the trace records the call {_describe_call(name, args, site.instructions)} as "
            f"{said}",
            site,
            expected=expected_rule,
            actual=recorded_rule,
        )

    def _raise_recorded(
        self, event: Mapping[str, Any], failure: Mapping[str, Any], name: str, site: CallSite
    ) -> NoReturn:
        error: ChronicleError
        if failure["category"] == "limit":
            error = ResourceLimitError(
                failure["code"], failure["message"], capability=name, instructions=site.instructions
            )
        elif failure["category"] == "policy":  # a call outside its argument scope, refused again from the record
            error = PolicyError(
                failure["code"],
                failure["message"],
                capability=name,
                rule=failure.get("rule"),
                instructions=site.instructions,
            )
        else:
            error = ExecutionError(failure["code"], failure["message"], capability=name)
        self.raised = error
        self.raised_instructions = site.instructions
        raise error

    # -- the end of the run ------------------------------------------------------------------------------

    def _leftover(self) -> None:
        remaining = len(self.events) - self.position
        if remaining <= 0:
            return
        event = self.events[self.position]
        if event["kind"] != "call":
            return  # the recorded end event: compared with the run's end by the caller
        raise ReplayError(
            "replay.leftover-events",
            f"the replayed run ended while {remaining} recorded event(s) remained, first event {event['seq']}: "
            f"{_describe_call(event['capability'], event['args'], event['instructions'])} {_where(event['location'])}",
            seq=event["seq"],
            remaining=remaining,
            expected={"capability": event["capability"], "args": event["args"], "instructions": event["instructions"]},
            actual=None,
            location=event["location"],
        )

    def _report(
        self, recorded: Trace, reproduced: str, outcome: dict[str, Any], digest: str, trace_digest: str
    ) -> ReplayReport:
        expected = recorded.outcome
        if _comparable(expected) != _comparable(outcome):
            raise ReplayError(
                "replay.outcome",
                f"the replayed run ended with {_describe_outcome(outcome)}; the trace records "
                f"{_describe_outcome(expected)}",
                expected=dict(expected),
                actual=outcome,
            )
        instructions = outcome.get("instructions")
        return ReplayReport(
            exact=True,
            reproduced=reproduced,
            outcome=outcome,
            events=len(self.events),
            instructions=instructions if type(instructions) is int else None,
            module_sha256=digest,
            trace_sha256=trace_digest,
        )

    def finish_returned(
        self, recorded: Trace, value: Value | None, instructions: int, digest: str, trace_digest: str
    ) -> ReplayReport:
        self._leftover()
        if self.types is not None and value is not None and self.entry_result is not None:
            try:
                value = self.types.to_json(value, self.entry_result)  # compared with the record's JSON form
            except ValueMismatch as exc:
                value = f"<{exc}>"  # deeper than any trace holds: it cannot be the recorded value
        outcome = {"status": "returned", "value": value, "instructions": instructions}
        if self.position < len(self.events):
            event = self.events[self.position]
            raise ReplayError(
                "replay.outcome",
                f"the replayed run returned {_describe_outcome(outcome)}; the trace records {_clip(event['code'])} "
                f"at event {event['seq']} {_where(event['location'])}",
                seq=event["seq"],
                expected={"kind": event["kind"], "code": event["code"], "instructions": event["instructions"]},
                actual=outcome,
            )
        return self._report(recorded, "returned", outcome, digest, trace_digest)

    def finish_error(self, recorded: Trace, error: ChronicleError, digest: str, trace_digest: str) -> ReplayReport:
        from_call = error is self.raised
        instructions = error_instructions(error, self.raised_instructions if from_call else None)
        outcome = error_outcome(error, instructions)
        self._leftover()
        if from_call:  # a recorded quota is a limit (exit 14) like any other; a host failure is not
            reproduced = "limit" if isinstance(error, ResourceLimitError) else "capability-error"
            return self._report(recorded, reproduced, outcome, digest, trace_digest)
        kind = "limit" if isinstance(error, ResourceLimitError) else "trap"
        actual_end: dict[str, Any] = {
            "kind": kind,
            "code": error.code,
            "instructions": instructions,
            "location": error.details.get("location"),
        }
        if self.position >= len(self.events):
            raise ReplayError(
                "replay.outcome",
                f"the replayed run ended with {error.code} {_where(actual_end['location'])}; "
                "the trace records no such end",
                seq=self.position,
                expected=None,
                actual=actual_end,
            )
        event = self.events[self.position]
        expected_end = {key: event[key] for key in ("kind", "code", "instructions", "location")}
        if canonical_json(expected_end) != canonical_json(actual_end):
            raise ReplayError(
                "replay.outcome",
                f"the replayed run ended with {error.code} after {instructions} instructions "
                f"{_where(actual_end['location'])}; the trace records {_clip(event['code'])} after "
                f"{event['instructions']} instructions {_where(event['location'])} (event {event['seq']})",
                seq=event["seq"],
                expected=expected_end,
                actual=actual_end,
            )
        return self._report(recorded, kind, outcome, digest, trace_digest)


def _comparable(outcome: Mapping[str, Any]) -> bytes:
    """What must agree between two outcomes: everything but the human message."""
    if outcome.get("status") == "error":
        error = outcome["error"]
        return canonical_json(
            {
                "status": "error",
                "category": error["category"],
                "code": error["code"],
                "location": error["location"],
                "instructions": outcome["instructions"],
            }
        )
    return canonical_json(dict(outcome))


def _describe_outcome(outcome: Mapping[str, Any]) -> str:
    if outcome.get("status") == "error":
        return f"{_clip(outcome['error']['code'])} after {outcome['instructions']} instructions"
    value = canonical_json(outcome["value"]).decode("utf-8")
    return f"value {_clip(value, 120)} after {outcome['instructions']} instructions"


def _calls(count: int) -> str:
    return "call" if count == 1 else "calls"
