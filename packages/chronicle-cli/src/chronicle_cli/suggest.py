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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_CHOICES", "Suggestion", "suggest_policy"]

#: At most this many distinct values make a `one_of`; more, and a prefix or range is inferred instead.
MAX_CHOICES = 5
#: A common prefix shorter than this is no scope (every key starts with some letter).
_MIN_PREFIX = 2
_SEPARATORS = ":/.-_@#"


@dataclass(slots=True)
class _Param:
    """What the traces passed for one parameter position: bounded whatever the number of calls."""

    kind: str  # "str", "int", "bool" or "array"
    seen: int = 0
    values: list[Any] | None = field(default_factory=list)  # None once more than MAX_CHOICES distinct
    prefix: str | None = None
    low: int | None = None
    high: int | None = None
    longest: int = 0

    def add(self, value: Any) -> None:
        self.seen += 1
        scalar = self.kind in ("str", "int", "bool")
        if scalar and self.values is not None and not any(type(v) is type(value) and v == value for v in self.values):
            self.values.append(value)
            if len(self.values) > MAX_CHOICES:
                self.values = None
        if type(value) is str:
            self.prefix = value if self.prefix is None else _common_prefix(self.prefix, value)
            self.longest = max(self.longest, len(value))
        elif type(value) is int:
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        elif isinstance(value, list):
            self.longest = max(self.longest, len(value))

    def rule(self, margin: float) -> tuple[dict[str, Any], str] | None:
        """The inferred scope and the comment saying why, None when nothing is clear."""
        if self.seen == 0:
            return None
        if self.kind == "array":
            return {"max_len": _times(self.longest, margin)}, f"longest of {self.seen} arrays: {self.longest} items"
        if self.kind == "other":
            return None
        distinct = len(self.values) if self.values is not None else None
        # a set is clear when its values came back: each seen at least twice on average
        if distinct is not None and self.seen >= 2 * distinct and (self.kind != "bool" or distinct == 1):
            return {"one_of": list(self.values or ())}, f"the {distinct} distinct values of {self.seen} calls"
        if self.kind == "str" and (distinct is None or distinct >= 2):
            prefix = _cut(self.prefix or "")
            if len(prefix) >= _MIN_PREFIX:
                return {"prefix": prefix}, f"every one of {self.seen} values starts with it"
            return None
        if self.kind == "int" and distinct is None and self.low is not None and self.high is not None:
            return {"min": self.low, "max": self.high}, f"the smallest and largest of {self.seen} values"
        return None


@dataclass(slots=True)
class _Capability:
    name: str
    signature: str
    kinds: tuple[str, ...]
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


def _param_kinds(signature: str) -> tuple[str, ...]:
    inside = signature[1 : signature.index(")")] if signature.startswith("(") and ")" in signature else ""
    kinds = []
    for part in (p.strip() for p in inside.split(",") if p.strip()):
        kinds.append("array" if part.startswith("[") else part if part in ("int", "bool", "str") else "other")
    return tuple(kinds)


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
        self.add_declarations(name, provenance["capabilities"], digest)
        self.add_calls(name, trace.events)
        self.add_outcome(name, trace.outcome, provenance)

    def add_declarations(self, name: str, records: Any, digest: str) -> None:
        """The capabilities one trace declares; one signature per capability across all traces."""
        from chronicle_vm.errors import UsageError

        for record in records:
            cap_name, signature = record["name"], record["signature"]
            known = self.capabilities.get(cap_name)
            if known is None:
                kinds = _param_kinds(signature)
                known = self.capabilities[cap_name] = _Capability(cap_name, signature, kinds)
                known.params = [_Param(kind) for kind in kinds]
            elif known.signature != signature:
                raise UsageError(
                    "usage.suggest-conflict",
                    f"{name}: the traces declare {cap_name} with two signatures ({known.signature} and {signature}); "
                    "one policy cannot serve both: suggest from the traces of each module separately",
                    capability=cap_name,
                )
            known.modules.add(digest)

    def add_calls(self, name: str, events: Any) -> None:
        """The calls one trace made: argument values, quota stops, calls per capability."""
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
            for param, value in zip(cap.params, event["args"], strict=False):
                param.add(value)
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
        scopes: dict[str, Any] = {}
        for position, param in enumerate(cap.params, start=1):
            inferred = param.rule(margin)
            if inferred is None:
                continue
            rule, why = inferred
            scopes[str(position)] = rule
            lines.append(f'[capabilities."{cap.name}".args.{position}]  # parameter {position}, a {param.kind}')
            for key, value in rule.items():
                lines.append(f"{key} = {_toml_value(value)}  # {why}")
        summary_caps[cap.name] = {"max_calls": quota, "args": scopes}
    text = "\n".join(lines) + "\n"
    summary = {
        "traces": agg.traces,
        "modules": sorted(agg.modules),
        "limits": summary_limits,
        "capabilities": summary_caps,
    }
    return Suggestion(text, summary)
