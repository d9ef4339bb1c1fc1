"""`policy suggest`: takes recorded traces, gives the smallest policy under which each of them would have run.

One pass, one trace at a time: each trace is read, checked (`load_trace`),
folded into bounded aggregates and dropped, so ten thousand traces cost the
memory of the largest one plus a few values per capability parameter.

What the suggestion holds, and where each line comes from (every line says
so in its comment):

- every capability a traced module declares, `allow = true` (negotiation
  refuses a module unless all of them are granted, even those it never calls);
- `max_calls`: the most successful calls of it in one trace, times
  `--margin` (rounded up); exactly the recorded quota when a trace ran into it,
  so that run stops at the same call again;
- `args` scopes where the values make them clear, by parameter position
  (`args.1` is the first parameter, since traces record no names): a string
  parameter whose at most `MAX_CHOICES` distinct values each came back (the
  calls are at least twice the values) gets `one_of`, else, from two
  distinct values on, a common prefix cut after its last separator (`price:`
  from `price:apple` and `price:apricot`) of at least two characters; an int
  parameter gets `one_of` the same way, else, past `MAX_CHOICES` values,
  `min`/`max` of those seen; a bool seen with one value only (twice) gets
  `one_of`; an array gets `max_len`.  One observation is never a scope;
- version-2 traces are read by the types their header declares (the
  registry's JSON columns through `TraceTypes`), never by JSON shape: a
  float is a float (`1.5`; a recorded `1` for a float parameter is `1.0`,
  not the int 1), a map a map, a struct a record by field name.  A policy
  rule restricts only `SCOPED_KINDS` (str, int, bool and array parameters:
  docs/policy.md), so a float, map or struct parameter gets no scope but a
  comment saying what the calls passed (the floats, or their range; the
  maps' entry counts; a struct's first value by field name), also in the
  summary's `observed`.  Two modules declaring one capability with one
  signature text but different struct shapes are a conflict;
- `[limits]`: `max_instructions` as the largest number of instructions a run
  used times `--limit-margin`, or exactly the recorded limit when a run
  stopped on it; the other limits as the largest recorded (a trace records
  limits, not the use of them).

A slice, a malformed trace, or two traces declaring one capability with
different signatures is an error naming the file.  Calls refused by a scope
or a quota are not counted as uses.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from chronicle_vm.core.type_registry import float_text
from chronicle_vm.core.types import StructDef, TypeKind, ValueType, type_text

if TYPE_CHECKING:
    from chronicle_vm.trace.typed import TraceTypes

__all__ = ["MAX_CHOICES", "SCOPED_KINDS", "Suggestion", "suggest_policy"]

#: At most this many distinct values make a `one_of`; more, and a prefix or range is inferred instead.
MAX_CHOICES = 5
#: The parameter kinds a policy's `args` rule can restrict (capabilities/scopes.py): only these get a scope.
SCOPED_KINDS = ("str", "int", "bool", "array")
#: Kinds no rule can restrict: the suggestion says in a comment what the calls passed, and scopes nothing.
_OBSERVED_KINDS = ("float", "map", "struct")
#: Kinds whose distinct values are kept (at most MAX_CHOICES): for `one_of`, or to list floats in a comment.
_CHOICE_KINDS = ("str", "int", "bool", "float")
#: Characters of a struct's first value shown in its comment.
_EXAMPLE_CHARS = 100
#: A common prefix shorter than this is no scope (every key starts with some letter).
_MIN_PREFIX = 2
_SEPARATORS = ":/.-_@#"


@dataclass(slots=True)
class _Param:
    """What the traces passed for one parameter position: bounded whatever the number of calls.

    Values arrive read by their declared type (`_Aggregate.add_calls`): a float is a Python float (a JSON `1`
    recorded for a float parameter is `1.0`, never the int 1), a map a dict in insertion order, a struct the
    text of its first value by field name.
    """

    kind: str  # "str", "int", "bool", "array", "float", "map", "struct" or "other"
    text: str  # the declared type as traces write it: `str`, `[Item]`, `{str: float}`, `Item`
    seen: int = 0
    values: list[Any] | None = field(default_factory=list)  # None once more than MAX_CHOICES distinct
    prefix: str | None = None
    low: int | float | None = None
    high: int | float | None = None
    longest: int = 0
    fewest: int | None = None  # a map parameter's fewest entries
    example: str | None = None  # a struct parameter's first value, by field name

    def add(self, value: Any, example: str | None = None) -> None:
        self.seen += 1
        kind = self.kind
        if kind in _CHOICE_KINDS and self.values is not None and not any(_same(v, value) for v in self.values):
            self.values.append(value)
            if len(self.values) > MAX_CHOICES:
                self.values = None
        if kind == "str" and type(value) is str:
            self.prefix = value if self.prefix is None else _common_prefix(self.prefix, value)
            self.longest = max(self.longest, len(value))
        elif (kind == "int" and type(value) is int) or (kind == "float" and type(value) is float):
            self.low = value if self.low is None or value < self.low else self.low
            self.high = value if self.high is None or value > self.high else self.high
        elif kind in ("array", "map") and isinstance(value, (list, dict)):
            self.longest = max(self.longest, len(value))
            self.fewest = len(value) if self.fewest is None else min(self.fewest, len(value))
        elif kind == "struct" and self.example is None and example is not None:
            self.example = example

    def rule(self, margin: float) -> tuple[dict[str, Any], str] | None:
        """The inferred scope and the comment saying why, None when nothing is clear."""
        if self.seen == 0:
            return None
        if self.kind == "array":
            return {"max_len": _times(self.longest, margin)}, f"longest of {self.seen} arrays: {self.longest} items"
        if self.kind not in SCOPED_KINDS:
            return None
        distinct = len(self.values) if self.values is not None else None
        # a set is clear when its values came back: each seen at least twice on average
        if distinct is not None and self.seen >= 2 * distinct and (self.kind != "bool" or distinct == 1):
            values = "the one value" if distinct == 1 else f"the {distinct} distinct values"
            return {"one_of": list(self.values or ())}, f"{values} of {self.seen} calls"
        if self.kind == "str" and (distinct is None or distinct >= 2):
            prefix = _cut(self.prefix or "")
            if len(prefix) >= _MIN_PREFIX:
                return {"prefix": prefix}, f"every one of {self.seen} values starts with it"
            return None
        if self.kind == "int" and distinct is None and self.low is not None and self.high is not None:
            return {"min": self.low, "max": self.high}, f"the smallest and largest of {self.seen} values"
        return None

    def observed(self) -> tuple[dict[str, Any], str] | None:
        """For a kind no scope can restrict (float, map, struct): what the calls passed, and its comment text."""
        if self.seen == 0 or self.kind not in _OBSERVED_KINDS:
            return None
        calls = f"{self.seen} call{'' if self.seen == 1 else 's'}"
        if self.kind == "float" and self.low is not None and self.high is not None:
            low, high = float(self.low), float(self.high)
            if self.values is not None:
                shown = ", ".join(float_text(value) for value in self.values)
                return {"kind": "float", "calls": self.seen, "values": list(self.values)}, f"{calls} passed {shown}"
            text = f"{calls} passed {float_text(low)} to {float_text(high)}"
            return {"kind": "float", "calls": self.seen, "min": low, "max": high}, text
        if self.kind == "map" and self.fewest is not None:
            entries = {"kind": "map", "calls": self.seen, "min_entries": self.fewest, "max_entries": self.longest}
            span = str(self.longest) if self.fewest == self.longest else f"{self.fewest} to {self.longest}"
            return entries, f"{calls} passed maps of {span} entries"
        if self.kind == "struct" and self.example is not None:
            return {"kind": "struct", "calls": self.seen, "example": self.example}, f"{calls}, the first {self.example}"
        return None


def _same(a: Any, b: Any) -> bool:
    """One value twice: same type and value (a float by its text, so `-0.0` and `0.0` stay two)."""
    if type(a) is not type(b):
        return False
    return float_text(a) == float_text(b) if type(a) is float else bool(a == b)


@dataclass(slots=True)
class _Capability:
    name: str
    signature: str
    shape: str  # the signature with every struct spelled out: two modules' `Item` may differ
    modules: set[str] = field(default_factory=set)
    traces_calling: int = 0
    most_calls: int = 0
    most_calls_in: str = ""
    quota_hit: int | None = None
    quota_hit_in: str = ""
    params: list[_Param] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The suggested policy's TOML text (with comments) and a JSON-safe summary of it."""

    text: str
    summary: Mapping[str, Any]


def _common_prefix(a: str, b: str) -> str:
    size = min(len(a), len(b))
    for index in range(size):
        if a[index] != b[index]:
            return a[:index]
    return a[:size]


def _cut(prefix: str) -> str:
    """A common prefix cut after its last separator: `price:app` (from apple, apricot) becomes `price:`."""
    cut = max(prefix.rfind(sep) for sep in _SEPARATORS)
    return prefix[: cut + 1] if cut >= 0 else prefix


def _times(count: int, margin: float) -> int:
    return math.ceil(count * margin) if count else 0


def _kind(vtype: ValueType) -> str:
    """The suggestion's name for a parameter's kind: the registry's kind name (`array` for any `[T]`)."""
    return vtype.kind.value


def _shape(vtype: ValueType, structs: Sequence[StructDef], expanded: set[int]) -> str:
    """A type's text with each struct spelled out once (`Item{sku: str, qty: int}`), for comparing two modules."""
    if vtype.kind is TypeKind.ARRAY:
        return f"[{_shape(vtype.args[0], structs, expanded)}]"
    if vtype.kind is TypeKind.MAP:
        return f"{{{_shape(vtype.args[0], structs, expanded)}: {_shape(vtype.args[1], structs, expanded)}}}"
    if vtype.kind is not TypeKind.STRUCT or not 0 <= vtype.ref < len(structs):
        return str(vtype)
    struct = structs[vtype.ref]
    if vtype.ref in expanded:
        return struct.name
    expanded.add(vtype.ref)
    inner = ", ".join(f"{item.name}: {_shape(item.type, structs, expanded)}" for item in struct.fields)
    return f"{struct.name}{{{inner}}}"


class _Declared(NamedTuple):
    """One capability as one trace declares it: parameter types (None: unreadable), shape and signature text."""

    params: tuple[ValueType, ...] | None
    shape: str  # what two traces must agree on: every struct spelled out (`struct#0` in two modules may differ)
    text: str  # for people: structs by name, `(Item) -> float`


def _declared(signature: str, types: TraceTypes | None, cap_name: str) -> _Declared:
    """A recorded signature read by the trace's own types (version 2) or as a version-1 text."""
    from chronicle_vm.trace.typed import parse_signature

    if types is not None:
        found = types.capabilities.get(cap_name)
    else:
        try:
            found = parse_signature(signature, 0)
        except ValueError:
            found = None
    if found is None:
        return _Declared(None, signature, signature)
    structs = types.structs if types is not None else ()
    expanded: set[int] = set()
    shape = "(" + ", ".join(_shape(param, structs, expanded) for param in found.params) + ")"
    text = "(" + ", ".join(type_text(param, structs) for param in found.params) + ")"
    if found.result is not None:
        shape += " -> " + _shape(found.result, structs, expanded)
        text += " -> " + type_text(found.result, structs)
    return _Declared(found.params, shape, text)


def _trace_types(name: str, trace: Any) -> TraceTypes | None:
    """A version-2 trace's declared types (its header); None for version 1, whose values read as they are."""
    from chronicle_vm.errors import ReplayError
    from chronicle_vm.trace.typed import HeaderError, TraceTypes

    if trace.doc.get("version") != 2:
        return None
    try:
        return TraceTypes.from_header(trace.provenance, trace.entry)
    except HeaderError as exc:  # load_trace already refused such a header: only a hand-made Trace gets here
        where = ".".join(str(part) for part in exc.parts)
        raise ReplayError("replay.schema", f"{name}: {where}: {exc.message}") from None


class _Aggregate:
    def __init__(self) -> None:
        self.traces = 0
        self.modules: dict[str, str] = {}  # digest -> the first trace that recorded it
        self.capabilities: dict[str, _Capability] = {}
        self.most_instructions = 0
        self.most_instructions_in = ""
        self.instruction_limit_hit: int | None = None
        self.instruction_limit_in = ""
        self.limits: dict[str, tuple[int, str]] = {}

    def add(self, name: str, trace: Any) -> None:
        from chronicle_vm.errors import ReplayError

        if trace.slice is not None:
            raise ReplayError(
                "replay.sliced", f"{name}: the trace is an inspection-only slice; suggest from full traces only"
            )
        self.traces += 1
        provenance = trace.provenance
        digest = provenance["module_sha256"]
        self.modules.setdefault(digest, name)
        types = _trace_types(name, trace)
        self.add_declarations(name, provenance["capabilities"], digest, types)
        self.add_calls(name, trace.events, types)
        self.add_outcome(name, trace.outcome, provenance)

    def add_declarations(self, name: str, records: Any, digest: str, types: TraceTypes | None) -> None:
        """The capabilities one trace declares; one signature (and struct shapes) per capability across traces."""
        from chronicle_vm.errors import UsageError

        for record in records:
            cap_name = record["name"]
            declared = _declared(record["signature"], types, cap_name)
            known = self.capabilities.get(cap_name)
            if known is None:
                known = self.capabilities[cap_name] = _Capability(cap_name, declared.text, declared.shape)
                structs = types.structs if types is not None else ()
                known.params = [_Param(_kind(p), type_text(p, structs)) for p in declared.params or ()]
            elif known.shape != declared.shape:
                same_text = known.signature == declared.text
                raise UsageError(
                    "usage.suggest-conflict",
                    f"{name}: the traces declare {cap_name} with two signatures ({known.signature} and "
                    f"{declared.text}"
                    + (f"; their structs differ: {known.shape} and {declared.shape}" if same_text else "")
                    + "); one policy cannot serve both: suggest from the traces of each module separately",
                    capability=cap_name,
                )
            known.modules.add(digest)

    def add_calls(self, name: str, events: Any, types: TraceTypes | None) -> None:
        """The calls one trace made: argument values (by declared type), quota stops, calls per capability."""
        calls: dict[str, int] = {}
        for event in events:
            if event["kind"] != "call":
                continue
            cap = self.capabilities[event["capability"]]
            error = event.get("error")
            if error is not None:
                if error["code"] == "limit.capability-quota":
                    quota = calls.get(cap.name, 0)
                    if cap.quota_hit is None or quota > cap.quota_hit:
                        cap.quota_hit, cap.quota_hit_in = quota, name
                continue  # a refused or failed call is not a use the policy has to allow
            calls[cap.name] = calls.get(cap.name, 0) + 1
            if types is None:
                for param, value in zip(cap.params, event["args"], strict=False):
                    param.add(value)
            else:
                _add_typed(name, cap, event, types)
        for cap_name, count in calls.items():
            cap = self.capabilities[cap_name]
            cap.traces_calling += 1
            if count > cap.most_calls:
                cap.most_calls, cap.most_calls_in = count, name

    def add_outcome(self, name: str, outcome: Any, provenance: Any) -> None:
        """The instructions one trace used (or the limit that stopped it) and its recorded limits."""
        used = outcome.get("instructions")
        if outcome.get("status") == "error" and outcome["error"]["code"] == "limit.instructions":
            limit = provenance.get("limits", {}).get("max_instructions", used)
            if self.instruction_limit_hit is None or limit > self.instruction_limit_hit:
                self.instruction_limit_hit, self.instruction_limit_in = limit, name
        elif type(used) is int and used > self.most_instructions:
            self.most_instructions, self.most_instructions_in = used, name
        for limit_name, value in (provenance.get("limits") or {}).items():
            if limit_name != "max_instructions" and (
                limit_name not in self.limits or value > self.limits[limit_name][0]
            ):
                self.limits[limit_name] = (value, name)


def _add_typed(name: str, cap: _Capability, event: Mapping[str, Any], types: TraceTypes) -> None:
    """One version-2 call's arguments, each read by the trace's declared type (the registry's JSON columns)."""
    from chronicle_vm.core.type_registry import ValueMismatch
    from chronicle_vm.errors import ReplayError

    from .trace_view import show_typed

    signature = types.capabilities.get(cap.name)
    if signature is None:
        return
    for position, (param, vtype, raw) in enumerate(zip(cap.params, signature.params, event["args"], strict=False)):
        try:
            value = types.from_json(raw, vtype, f"events[{event['seq']}].args[{position}]")
        except ValueMismatch as exc:  # load_trace already refused such a value: only a hand-made Trace gets here
            raise ReplayError("replay.bad-value", f"{name}: {exc}") from None
        first = param.kind == "struct" and param.example is None
        param.add(value, _clip(show_typed(raw, vtype, types)) if first else None)


def _clip(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 3] + "..."


def _toml_string(text: str) -> str:
    out = ['"']
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str:
        return _toml_string(value)
    return "[" + ", ".join(_toml_value(item) for item in value) + "]"


def _comment(text: str) -> str:
    """A comment from file names the operator gave: one line, no control characters."""
    return "".join(char if char.isprintable() else "?" for char in text)


def _limit_lines(agg: _Aggregate, limit_margin: float) -> tuple[list[str], dict[str, int]]:
    """The `[limits]` lines of the suggestion (each with its reason) and the values they set."""
    lines: list[str] = []
    summary_limits: dict[str, int] = {}
    if agg.instruction_limit_hit is not None:
        top = max(agg.instruction_limit_hit, _times(agg.most_instructions, limit_margin))
        why = f"the limit {_comment(agg.instruction_limit_in)} stopped on"
        if top != agg.instruction_limit_hit:
            why = f"largest use {agg.most_instructions:,} x {limit_margin:g} ({_comment(agg.most_instructions_in)})"
        summary_limits["max_instructions"] = top
        lines.append(f"max_instructions = {top}  # {why}")
    elif agg.most_instructions:
        top = _times(agg.most_instructions, limit_margin)
        summary_limits["max_instructions"] = top
        lines.append(
            f"max_instructions = {top}  # largest use: {agg.most_instructions:,} instructions "
            f"({_comment(agg.most_instructions_in)}) x {limit_margin:g}"
        )
    for limit_name in sorted(agg.limits):
        value, where = agg.limits[limit_name]
        summary_limits[limit_name] = value
        lines.append(f"{limit_name} = {value}  # largest recorded ({_comment(where)}); traces record limits, not use")
    return lines, summary_limits


def _article(text: str) -> str:
    return ("an " if text[:1].lower() in "aeiou" else "a ") + text


def _scope_lines(cap: _Capability, margin: float) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """The `args` scopes of one capability, what its unscoped float, map and struct parameters were passed
    (for the summary), and the policy lines (a scope's table, or a comment for the kinds no rule restricts)."""
    scopes: dict[str, Any] = {}
    observed: dict[str, Any] = {}
    lines: list[str] = []
    for position, param in enumerate(cap.params, start=1):
        seen = param.observed()
        if seen is not None:
            summary, text = seen
            observed[str(position)] = summary
            lines.append(
                _comment(
                    f"# args.{position}, {_article(param.text)}: no scope (a rule restricts str, int, bool and "
                    f"array parameters only); {text}"
                )
            )
            continue
        inferred = param.rule(margin)
        if inferred is None:
            continue
        rule, why = inferred
        scopes[str(position)] = rule
        kind = _comment(_article(param.text))
        lines.append(f'[capabilities."{cap.name}".args.{position}]  # parameter {position}, {kind}')
        for key, value in rule.items():
            lines.append(f"{key} = {_toml_value(value)}  # {why}")
    return scopes, observed, lines


def suggest_policy(traces: Iterable[tuple[str, Any]], *, margin: float = 1.0, limit_margin: float = 2.0) -> Suggestion:
    """The suggestion for `(name, checked Trace)` pairs, consumed one at a time."""
    from chronicle_vm.errors import UsageError

    if not (margin >= 1.0 and limit_margin >= 1.0) or math.isinf(margin) or math.isinf(limit_margin):
        raise UsageError("usage.arguments", "--margin and --limit-margin are finite numbers of at least 1")
    agg = _Aggregate()
    for name, trace in traces:
        agg.add(name, trace)
    if agg.traces == 0:
        raise UsageError("usage.arguments", "policy suggest needs at least one trace")
    lines = [
        f"# Suggested by `chronicle-vm policy suggest` from {agg.traces} trace(s) of {len(agg.modules)} module(s).",
        "# Each value is the smallest under which every given trace would have run; its comment says why.",
        "# [host] settings are not recorded in traces: add the ones the host needs (kv_path for the CLI host).",
        "version = 1",
        "",
        "[limits]",
    ]
    limit_lines, summary_limits = _limit_lines(agg, limit_margin)
    lines += limit_lines
    summary_caps: dict[str, Any] = {}
    for cap in agg.capabilities.values():
        lines += ["", f'[capabilities."{cap.name}"]']
        lines.append(
            f"allow = true  # {cap.name}{cap.signature}: declared by {len(cap.modules)} module(s), "
            f"called in {cap.traces_calling} of {agg.traces} trace(s)"
        )
        if cap.quota_hit is not None and cap.quota_hit >= cap.most_calls:
            quota = cap.quota_hit
            lines.append(f"max_calls = {quota}  # the quota {_comment(cap.quota_hit_in)} ran into")
        else:
            quota = _times(cap.most_calls, margin)
            where = f" ({_comment(cap.most_calls_in)})" if cap.most_calls else ""
            lines.append(f"max_calls = {quota}  # most calls in one trace: {cap.most_calls}{where} x {margin:g}")
        scopes, observed, scope_lines = _scope_lines(cap, margin)
        lines += scope_lines
        summary_caps[cap.name] = {"max_calls": quota, "args": scopes}
        if observed:
            summary_caps[cap.name]["observed"] = observed
    text = "\n".join(lines) + "\n"
    summary = {
        "traces": agg.traces,
        "modules": sorted(agg.modules),
        "limits": summary_limits,
        "capabilities": summary_caps,
    }
    return Suggestion(text, summary)
