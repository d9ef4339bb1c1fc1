"""Negotiation: takes a verified module, a policy and a host, gives one decision per capability and live handlers.

Negotiation happens before any plugin instruction runs.  Each capability the
module declares gets exactly one `Decision`, decided in a fixed order:
`unknown` (the host lacks it), `type-invalid` (signatures differ), then the
policy (`denied` when allow = false, `missing` when silent), else `granted`.
Only a fully granted negotiation gives handlers; each handler keeps the
boundary typed both ways, counts the policy's quota and the run's bytes out
(`Limits.max_output_bytes`), and turns every host failure into a structured
error, so no host exception escapes raw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from math import isfinite
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from chronicle_vm.core.calls import CallSite, CapabilityHandler, RecordTape
from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.model import Capability
from chronicle_vm.core.payload import call_plan, struct_item_bytes, value_bytes
from chronicle_vm.core.structured import shape_difference, struct_fields, to_host, type_text
from chronicle_vm.core.types import StructDef, TypeKind, ValueType
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, ValueMismatch, export_value, import_value
from chronicle_vm.errors import ChronicleError, ExecutionError, PolicyError, ResourceLimitError, declare_codes
from chronicle_vm.limits import Limits

from .host import CallContext, Host, HostCapability
from .policy import HostSettingValue, Policy, find_key_line, format_key_path
from .scopes import BoundScope, Fail, bind, first_violation, param_names, scope_error

if TYPE_CHECKING:
    from chronicle_vm.verifier.rules import VerifiedModule

#: Runs an async capability's awaitable to its result (on the caller's event loop) and returns it.
Awaiter = Callable[[Awaitable[Any]], Any]

__all__ = ["DECISIONS", "Decision", "DecisionKind", "Negotiation", "negotiate", "output_limit"]

declare_codes(
    "runtime",
    {
        "capability-failed": "a host capability function raised; the message keeps the host's message",
        "capability-result": "a host capability returned a value that does not fit its declared result type or limits",
    },
)
declare_codes(
    "limit",
    {
        "capability-quota": "a capability was called more often than its policy `max_calls` allows",
        "output-bytes": "a capability call's arguments would take the run past its max_output_bytes of bytes out",
    },
)

DecisionKind = Literal["granted", "denied", "missing", "unknown", "type-invalid"]

#: Every decision, in the order negotiation checks for it (granted last).
DECISIONS: tuple[DecisionKind, ...] = ("unknown", "type-invalid", "denied", "missing", "granted")


@dataclass(frozen=True, slots=True)
class Decision:
    """What negotiation decided for one declared capability, and why."""

    name: str
    declared_signature: str
    host_signature: str | None
    decision: DecisionKind
    reason: str
    #: The policy's quota for a granted capability (None: no quota).
    max_calls: int | None = None
    #: The argument scopes of a granted capability, by parameter position (chronicle_vm.capabilities.scopes).
    scopes: tuple[BoundScope, ...] = ()

    @property
    def granted(self) -> bool:
        return self.decision == "granted"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "declared_signature": self.declared_signature,
            "host_signature": self.host_signature,
            "decision": self.decision,
            "reason": self.reason,
            "max_calls": self.max_calls,
        }
        if self.scopes:  # only scoped grants carry `args`, so unscoped traces keep their bytes
            out["args"] = [scope.to_dict() for scope in self.scopes]
        return out


@dataclass(frozen=True, slots=True)
class Negotiation:
    """The outcome of `negotiate`: decisions in module declaration order, and live handlers when all are granted."""

    decisions: tuple[Decision, ...]
    #: The policy's `[host]` settings, checked against the host's declarations.
    settings: Mapping[str, HostSettingValue]
    policy: Policy
    host: Host
    declared: tuple[Capability, ...]
    #: The module's struct table (the declared signatures' struct types index it).
    structs: tuple[StructDef, ...] = ()

    @property
    def ok(self) -> bool:
        return all(decision.granted for decision in self.decisions)

    @property
    def refused(self) -> tuple[Decision, ...]:
        return tuple(decision for decision in self.decisions if not decision.granted)

    def require(self) -> Negotiation:
        """This negotiation if all is granted, else `PolicyError('policy.refused')` listing every refusal."""
        refused = self.refused
        if not refused:
            return self
        lines = [f"  {d.name}{d.declared_signature}: {d.decision} ({d.reason})" for d in refused]
        count = len(refused)
        noun = "capability" if count == 1 else "capabilities"
        raise PolicyError(
            "policy.refused",
            f"the module was refused {count} {noun}:\n" + "\n".join(lines),
            decisions=[d.to_dict() for d in self.decisions],
            refused=[d.name for d in refused],
            policy_digest=self.policy.digest,
        )

    def handlers(
        self,
        limits: Limits,
        *,
        context: CallContext | None = None,
        awaiter: Awaiter | None = None,
        sent: list[int] | None = None,
    ) -> tuple[CapabilityHandler, ...]:
        """Fresh live handlers, indexed like `module.capabilities`; quota counters start at zero.

        `limits` are the run's effective limits, which bound the values a
        host function may return and the bytes its arguments may take
        (`max_output_bytes`).  `context` goes to the capabilities that
        ask for it; `awaiter` runs an async capability's coroutine to its
        result (`Instance.call_async` passes one).  `sent` is the run's
        bytes-out meter, one int shared by the handlers (a fresh `[0]` when
        None; a caller reusing the handlers for another run resets it to 0).
        Raises `policy.refused` unless `ok`.
        """
        self.require()
        meter = [0] if sent is None else sent
        built: list[CapabilityHandler] = []
        for declared, decision in zip(self.declared, self.decisions, strict=True):
            offered = self.host.get(declared.name)
            assert offered is not None  # granted implies the host has it
            built.append(
                _live_handler(
                    declared,
                    offered,
                    decision.max_calls,
                    limits,
                    meter,
                    decision.scopes,
                    context,
                    awaiter,
                    self.structs,
                )
            )
        return tuple(built)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ok, every decision, the policy digest and the host settings."""
        return {
            "ok": self.ok,
            "decisions": [decision.to_dict() for decision in self.decisions],
            "refused": [decision.name for decision in self.refused],
            "policy_digest": self.policy.digest,
            "settings": dict(self.settings),
        }


def negotiate(verified: VerifiedModule, policy: Policy, host: Host) -> Negotiation:
    """Decide every capability `verified.module` declares; raises `PolicyError` for `[host]` settings the host refuses.

    Capability refusals do not raise here: they are decisions, reported all
    together by `Negotiation.require()` (or shown by a dry run).
    """
    settings = _checked_settings(policy, host)
    declared = tuple(verified.module.capabilities)
    structs = tuple(getattr(verified.module, "structs", ()))
    decisions = tuple(_decide(capability, policy, host, structs) for capability in declared)
    return Negotiation(
        decisions=decisions,
        settings=MappingProxyType(settings),
        policy=policy,
        host=host,
        declared=declared,
        structs=structs,
    )


def _decide(declared: Capability, policy: Policy, host: Host, structs: tuple[StructDef, ...] = ()) -> Decision:
    name = declared.name
    wanted = declared.signature()  # `struct#N` for structs: the text a trace records and reads back
    offered = host.get(name)
    if offered is None:
        return Decision(name, wanted, None, "unknown", f"the host offers no capability named {name}")
    have = offered.signature()
    differs = _signature_difference(declared, structs, offered)
    if differs is not None:
        named = _signature(declared, structs)
        return Decision(
            name, wanted, have, "type-invalid", f"the module declares {named}, the host provides {have}{differs}"
        )
    rule = policy.rule(name)
    if rule is None:
        return Decision(
            name, wanted, have, "missing", "the policy does not mention it (capabilities are denied by default)"
        )
    if not rule.allow:
        return Decision(name, wanted, have, "denied", "the policy sets allow = false")
    reason = "allowed by the policy"
    if rule.max_calls is not None:
        reason += f", at most {rule.max_calls} {_calls(rule.max_calls)} per run"
    scopes: tuple[BoundScope, ...] = ()
    if rule.args:
        names = param_names(offered.func, len(declared.params))
        scopes = bind(name, rule.args, declared.params, names, _policy_fail(policy))
        reason += ", only " + "; ".join(scope.rule.describe() for scope in scopes)
    return Decision(name, wanted, have, "granted", reason, rule.max_calls, scopes)


def _signature(declared: Capability, structs: tuple[StructDef, ...]) -> str:
    """The declared signature with struct names (as `Capability.signature()` writes it when it has no structs)."""
    if not structs:
        return declared.signature()
    params = ", ".join(type_text(p, structs) for p in declared.params)
    result = "" if declared.result is None else f" -> {type_text(declared.result, structs)}"
    return f"({params}){result}"


def _signature_difference(declared: Capability, structs: tuple[StructDef, ...], offered: HostCapability) -> str | None:
    """None when the signatures agree (structs by shape), else what differs, e.g. `: parameter 1: Item.unit ...`."""
    if len(offered.params) != len(declared.params):
        return ""
    if (declared.result is None) != (offered.result is None):
        return ""
    pairs = [(f"parameter {k + 1}", d, o) for k, (d, o) in enumerate(zip(declared.params, offered.params, strict=True))]
    if declared.result is not None and offered.result is not None:
        pairs.append(("result", declared.result, offered.result))
    for what, mine, theirs in pairs:
        if not _has_struct(mine) and not _has_struct(theirs):
            if mine != theirs:
                return ""  # the two signatures say it all
            continue
        found = shape_difference(mine, structs, theirs, offered.structs)
        if found is not None:
            return f" ({what}: {found})"
    return None


def _has_struct(vtype: ValueType) -> bool:
    return vtype.kind is TypeKind.STRUCT or any(_has_struct(arg) for arg in vtype.args)


def _policy_fail(policy: Policy) -> Fail:
    """The error builder `scopes.bind` reports through: the policy's source, key path and line."""

    def fail(code: str, path: tuple[str, ...], message: str, **details: Any) -> PolicyError:
        key = format_key_path(path)
        line = find_key_line(policy.text, path)
        where = policy.source if line is None else f"{policy.source}:{line}"
        if line is not None:
            details["line"] = line
        return PolicyError(
            code, f"{where}: {key}: {message}", source=policy.source, key=key, policy_digest=policy.digest, **details
        )

    return fail


def _checked_settings(policy: Policy, host: Host) -> dict[str, HostSettingValue]:
    checked: dict[str, HostSettingValue] = {}
    for name, value in policy.host.items():
        problem = host.check_setting(name, value)
        if problem is None:
            checked[name] = value
            continue
        path = ("host", name)
        key = format_key_path(path)
        line = find_key_line(policy.text, path)
        where = policy.source if line is None else f"{policy.source}:{line}"
        extra: dict[str, Any] = {"source": policy.source, "key": key, "policy_digest": policy.digest}
        if line is not None:
            extra["line"] = line
        if problem == "unknown":
            accepted = ", ".join(sorted(host.settings)) or "none"
            raise PolicyError(
                "policy.unknown-host-setting",
                f"{where}: {key}: the host does not accept this setting (accepted: {accepted})",
                **extra,
            )
        expected = host.settings[name].__name__
        raise PolicyError(
            "policy.host-setting-type",
            f"{where}: {key}: the host expects a {expected}, found {type(value).__name__}",
            expected=expected,
            **extra,
        )
    return checked


#: The result kinds a handler takes from the host without a full import when the value is plainly in range.
_QUICK_RESULTS: dict[TypeKind, type] = {
    TypeKind.INT: int,
    TypeKind.BOOL: bool,
    TypeKind.STR: str,
    TypeKind.FLOAT: float,
}
_COPIED = (TypeKind.ARRAY, TypeKind.MAP, TypeKind.STRUCT)


def _live_handler(
    declared: Capability,
    offered: HostCapability,
    quota: int | None,
    limits: Limits,
    sent: list[int],
    scopes: tuple[BoundScope, ...] = (),
    context: CallContext | None = None,
    awaiter: Awaiter | None = None,
    structs: tuple[StructDef, ...] = (),
) -> CapabilityHandler:
    plan = _HandlerPlan(declared, offered, quota, limits, sent, scopes, context, awaiter, structs)
    live = plan.make(None)
    live.__dict__["recording"] = plan.recording  # found by the trace recorder (chronicle_vm.trace.document)
    return live


class _HandlerPlan:
    """What every call of one live handler reuses, prepared once; `make` builds the handler itself.

    Scalar arguments reach the host as they are (only arrays, maps and structs are copied), and a scalar result
    plainly in range is taken as it is; anything else takes the full import, which gives the same value or error.
    """

    def __init__(
        self,
        declared: Capability,
        offered: HostCapability,
        quota: int | None,
        limits: Limits,
        sent: list[int],
        scopes: tuple[BoundScope, ...],
        context: CallContext | None,
        awaiter: Awaiter | None,
        structs: tuple[StructDef, ...],
    ) -> None:
        self.name = declared.name
        self.shaped = HostShapes(declared, structs, offered)  # maps and structs as the host takes them
        self.fixed, self.sized = call_plan(declared.params)  # bytes out: scalars a constant, text and arrays measured
        self.limits = limits
        self.sent = sent
        self.item = struct_item_bytes(structs)  # a struct leaves as an object by field name: its names count too
        self.result_type = declared.result
        self.structs = structs
        self.func = offered.func
        self.keywords: dict[str, Any] = {"context": context} if offered.context else {}
        self.awaited = awaiter if offered.async_ else None
        self.direct = self.shaped.plain and not any(param.kind in _COPIED for param in declared.params)
        self.quick: Any = None if declared.result is None else _QUICK_RESULTS.get(declared.result.kind)
        self.what = f"result of {self.name}"
        self.scopes = scopes
        self.quota = quota
        self.calls = 0  # this handler's calls so far (its quota)

    def guard(self, args: Sequence[Value], site: CallSite) -> None:
        """The capability's rule and quota, before the call counts or the host sees it."""
        name, quota = self.name, self.quota
        if self.scopes:  # outside its rule, the call stops the run before the quota counts it or the host sees it
            refused = first_violation(self.scopes, args)
            if refused is not None:
                scope, broken = refused
                raise scope_error(name, scope, broken, args[scope.position], site.instructions)
        if quota is not None and self.calls >= quota:
            raise ResourceLimitError(
                "limit.capability-quota",
                f"capability {name} was called more than its quota of {quota} {_calls(quota)}",
                capability=name,
                max_calls=quota,
                instructions=site.instructions,
            )
        self.calls += 1

    def copied(self, args: Sequence[Value]) -> list[Any]:
        """The arguments as the host takes them when some are arrays, maps or structs (copies)."""
        return [export_value(arg) for arg in args] if self.shaped.plain else self.shaped.arguments(args)

    def take(self, returned: Any) -> Value | None:
        """The host's result when it is not plainly in range: none at all, or the full import."""
        name = self.name
        if self.result_type is None:
            if returned is not None:
                raise ExecutionError(
                    "runtime.capability-result",
                    f"capability {name} declares no result but the host returned {_kind(returned)}",
                    capability=name,
                )
            return None
        return _import_result(returned, self.result_type, self.limits, self.what, self.structs, name)

    def recording(self, tape: RecordTape) -> CapabilityHandler | None:
        """This capability's handler recording into `tape`; None when the tape measures its calls otherwise."""
        if tape.per_item != self.item or tuple(tape.sized) != tuple(self.sized) or not self.direct:
            return None
        return self.make(tape)

    def make(self, tape: RecordTape | None) -> CapabilityHandler:
        """The handler; with a tape, one that records its calls too (see `RecordTape`).

        The two are separate functions, so an untraced call tests nothing about tracing and a recorded
        call nothing about whether it records.
        """
        if tape is not None:
            return self._recorder(tape)
        name, fixed, sized, item, sent, func, keywords = (
            self.name,
            self.fixed,
            self.sized,
            self.item,
            self.sent,
            self.func,
            self.keywords,
        )
        max_output, max_string, awaited, quick, direct, take, copied = (
            self.limits.max_output_bytes,
            self.limits.max_string_len,
            self.awaited,
            self.quick,
            self.direct,
            self.take,
            self.copied,
        )
        guard = self.guard if self.scopes or self.quota is not None else None

        def handler(args: Sequence[Value], site: CallSite) -> Value | None:
            size = 0
            for k in sized:  # usually one text argument: a loop is cheaper than sum() of a list
                size += value_bytes(args[k], item)
            if guard is not None:
                guard(args, site)
            sent[0] += fixed + size
            if sent[0] > max_output:  # before the host sees the arguments: nothing past the bound leaves
                raise output_limit(name, max_output, site.instructions)
            host_args = args if direct else copied(args)
            try:
                returned: Any = func(*host_args, **keywords) if keywords else func(*host_args)
                if awaited is not None:
                    returned = awaited(returned)
            except Exception as exc:  # a host failure must end the run as a structured error
                raise _host_failure(name, exc) from exc
            if type(returned) is quick and (
                (quick is int and I64_MIN <= returned <= I64_MAX)
                or (quick is str and len(returned) <= max_string and returned.isascii())  # valid Unicode
                or quick is bool
                or (quick is float and isfinite(returned))
            ):
                return returned  # type: ignore[no-any-return]
            return take(returned)

        return handler

    def _recorder(self, tape: RecordTape) -> CapabilityHandler:
        """The handler recording its calls into `tape`: the live handler's steps, the trace's bytes first.

        Its code is written for this capability's shape (`_recorder_maker`): a recorded call runs only
        the steps its capability has, with no test of which ones those are.  Only for arguments the host
        takes as they are (`recording` says so): the trace keeps them, so they must be values no one changes.
        """
        assert self.direct  # arrays, maps and structs are copied for the trace by the recorder's own handler
        key = (
            len(self.sized) if len(self.sized) < 2 else 2,
            self.scopes != () or self.quota is not None,
            bool(self.keywords),
            self.awaited is not None,
            _result_form(self.result_type, self.quick),
            tape.sized_result,
        )
        maker = _RECORDER_MAKERS.get(key)
        if maker is None:
            maker = _RECORDER_MAKERS[key] = _recorder_maker(*key)
        recording: CapabilityHandler = maker(
            name=self.name,
            fixed=self.fixed,
            sized=self.sized,
            first=self.sized[0] if self.sized else 0,
            item=self.item,
            sent=self.sent,
            func=self.func,
            keywords=self.keywords,
            max_output=self.limits.max_output_bytes,
            max_string=self.limits.max_string_len,
            awaited=self.awaited,
            take=self.take,
            guard=self.guard,
            record=tape.calls.append,
            extend=tape.calls.extend,
            meter=tape.meter,
            ceiling=tape.max_bytes,
            per_call=tape.per_call,
            stop=tape.stop,
            fail=tape.fail,
        )
        return recording


_ResultForm = Literal["int", "str", "bool", "float", "none", "other"]


def _result_form(result: ValueType | None, quick: type | None) -> _ResultForm:
    """How a recording handler takes its host's result: plainly in range as it is, else by `_HandlerPlan.take`."""
    if result is None:
        return "none"
    if quick is int:
        return "int"
    if quick is str:
        return "str"
    if quick is bool:
        return "bool"
    if quick is float:
        return "float"
    return "other"


#: The test that takes a host result as it is (the live handler's `quick` test, one kind each); else `take`.
_TAKEN_AS_IT_IS: dict[_ResultForm, str] = {
    "int": "type(returned) is int and I64_MIN <= returned <= I64_MAX",
    "str": "type(returned) is str and len(returned) <= max_string and returned.isascii()",  # valid Unicode
    "bool": "type(returned) is bool",
    "float": "type(returned) is float and isfinite(returned)",
    "none": "returned is None",  # `take` of None is None; of anything else, the capability-result error
}

#: Recording handler makers by capability shape, each compiled once per process (a handful of shapes in all).
_RECORDER_MAKERS: dict[tuple[Any, ...], Callable[..., Any]] = {}


def _recorder_maker(
    sized: int,
    guarded: bool,
    keywords: bool,
    awaited: bool,
    result: _ResultForm,
    sized_result: bool,
) -> Callable[..., Any]:
    """A function making recording handlers of one shape: `sized` text arguments (0, 1, or 2 for any more),
    a guard (scopes or quota), keywords (context), an awaited result, the kind of result and whether its
    size counts.

    A recorded call does what `_HandlerPlan.make`'s live handler does, in the same order and with the same
    errors, after charging the trace's bytes (see `RecordTape`); a failed call goes to `fail` as well.  The
    steps a shape has not are left out of its code: in a 100,000-call run, recording took about 0.17 µs a
    call over the live handler's work, half of it in tests of what the capability has and of the tape.
    """
    body: list[str] = []
    line = body.append
    if sized == 0:
        charge, out = "per_call", "fixed"
    else:
        charge, out = "per_call + size", "fixed + size"
        if sized == 1:
            line("size = value_bytes(args[first], item)")
        else:
            line("size = 0")
            line("for k in sized:")
            line("    size += value_bytes(args[k], item)")
    line(f"meter[0] += {charge}")  # the trace's bytes first: a call past them is recorded as failed
    line("if meter[0] > ceiling:")
    line("    stop(site)")
    if guarded:
        line("guard(args, site)")
    line(f"sent[0] += {out}")
    line("if sent[0] > max_output:")
    line("    raise output_limit(name, max_output, site.instructions)")
    passed = "*args, **keywords" if keywords else "*args"
    line("try:")
    line(f"    returned = func({passed})")
    if awaited:
        line("    returned = awaited(returned)")
    line("except Exception as exc:")
    line("    raise _host_failure(name, exc) from exc")
    test = _TAKEN_AS_IT_IS.get(result)
    line("value = take(returned)" if test is None else f"value = returned if {test} else take(returned)")
    if sized_result:
        line("meter[0] += value_bytes(value, item)")
        line("if meter[0] > ceiling:")
        line("    stop(site)")
    source = "\n".join(
        [
            "def maker(*, name, fixed, sized, first, item, sent, func, keywords, max_output, max_string, awaited,",
            "          take, guard, record, extend, meter, ceiling, per_call, stop, fail):",
            "    def recording(args, site):",
            "        try:",
            *(" " * 12 + text for text in body),
            "        except ChronicleError as error:",
            "            fail(error, args, site)",
            "            raise",
            "        record(value)",
            "        extend(site)",
            "        extend(args)",
            "        return value",
            "    return recording",
        ]
    )
    names: dict[str, Any] = {
        "value_bytes": value_bytes,
        "output_limit": output_limit,
        "_host_failure": _host_failure,
        "ChronicleError": ChronicleError,
        "I64_MIN": I64_MIN,
        "I64_MAX": I64_MAX,
        "isfinite": isfinite,
    }
    exec(compile(source, "<chronicle_vm recording handler>", "exec"), names)  # the text above, nothing from outside
    maker: Callable[..., Any] = names["maker"]
    return maker


def _host_failure(name: str, exc: Exception) -> ExecutionError:
    """A host function's exception as the run's structured error (`runtime.capability-failed`)."""
    return ExecutionError(
        "runtime.capability-failed",
        f"capability {name} failed: {type(exc).__name__}: {_host_message(exc)}",
        capability=name,
        host_error=type(exc).__name__,
        host_message=_host_message(exc),
    )


def _import_result(
    returned: object, result_type: ValueType, limits: Limits, what: str, structs: tuple[StructDef, ...], name: str
) -> Value:
    """A host function's result as a VM value, checked against the declared type and the limits."""
    try:
        value, _units = import_value(returned, result_type, limits, what, structs)
    except ValueMismatch as exc:
        raise ExecutionError(
            "runtime.capability-result", str(exc), capability=name, expected=str(result_type)
        ) from None
    except Exception as exc:  # a hostile host object (a list subclass that raises) is still the host's failure
        raise ExecutionError(
            "runtime.capability-result",
            f"capability {name}: its result could not be read: {type(exc).__name__}",
            capability=name,
            expected=str(result_type),
        ) from None
    return value


class HostShapes:
    """How a capability's map and struct arguments reach its host function: dicts, and its own dataclasses."""

    __slots__ = ("classes", "params", "plain", "structs")

    def __init__(self, declared: Capability, structs: tuple[StructDef, ...], offered: HostCapability) -> None:
        self.params = declared.params
        self.structs = structs
        self.plain = not any(_structured(p) for p in declared.params)
        found: dict[int, type] = {}
        for mine, theirs in zip(declared.params, offered.params, strict=True):
            _match_classes(mine, theirs, structs, offered, found)
        if declared.result is not None and offered.result is not None:
            _match_classes(declared.result, offered.result, structs, offered, found)
        self.classes: Mapping[int, type] = found

    def arguments(self, args: Sequence[Value]) -> list[Any]:
        return [
            to_host(export_value(arg), vtype, self.structs, self.classes)
            for arg, vtype in zip(args, self.params, strict=True)
        ]


def _structured(vtype: ValueType) -> bool:
    if vtype.kind is TypeKind.STRUCT or vtype.kind is TypeKind.MAP:
        return True
    return any(_structured(arg) for arg in vtype.args)


def _match_classes(
    mine: ValueType,
    theirs: ValueType,
    structs: tuple[StructDef, ...],
    offered: HostCapability,
    found: dict[int, type],
    depth: int = 0,
) -> None:
    """Module struct index -> the host's dataclass, from two signatures of one shape walked side by side."""
    if mine.kind is not theirs.kind or depth > 64:
        return
    if mine.kind is TypeKind.STRUCT:
        if mine.ref in found or not 0 <= theirs.ref < len(offered.structs):
            return
        cls = offered.classes[theirs.ref] if theirs.ref < len(offered.classes) else None
        if cls is not None:
            found[mine.ref] = cls
        for a, b in zip(struct_fields(mine, structs), offered.structs[theirs.ref].fields, strict=False):
            _match_classes(a.type, b.type, structs, offered, found, depth + 1)
        return
    for x, y in zip(mine.args, theirs.args, strict=False):
        _match_classes(x, y, structs, offered, found, depth + 1)


def output_limit(name: str, max_output: int, instructions: int) -> ResourceLimitError:
    """The `limit.output-bytes` stop of a call of `name` whose arguments would pass `max_output`."""
    return ResourceLimitError(
        "limit.output-bytes",
        f"the arguments of this call of {name} would take the run's bytes out past its max_output_bytes of "
        f"{max_output:,}; the host function was not called",
        capability=name,
        max_output_bytes=max_output,
        instructions=instructions,
    )


def _host_message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose __str__ raises still deserves a message
        return f"<{type(exc).__name__} with an unprintable message>"


def _kind(obj: object) -> str:
    if obj is None:
        return "nothing"
    return f"a value of type {type(obj).__name__}"


def _calls(count: int) -> str:
    return "call" if count == 1 else "calls"
