"""Argument-scoped grants: takes a policy's `args` tables, gives checked rules; and a call's arguments, gives a verdict.

A granted capability may restrict each of its parameters:

    [capabilities."kv.get".args.key]
    prefix = "price:"          # or a list of prefixes; str parameters
    max_len = 64               # str and array parameters: at most N characters / items

    [capabilities."random.int".args.lo]
    min = 0                    # int parameters, inclusive bounds
    max = 100

    [capabilities."http.get".args.host]
    one_of = ["api.example.com", "cdn.example.com"]   # str, int or bool parameters

The rules live in three places, and this module is the one definition of
each: the policy loader (`parse_args_table`, checked against nothing but the
TOML), negotiation (`bind`, checked against the declared signature and the
host function's parameter names), and the run (`BoundScope.violation`,
called by the live handler before the host function, and by replay from the
rules the trace recorded in its provenance).  A call outside its rule is a
`policy.scope` error; the trace event records the rule and the key that
refused it (`refusal`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.types import ValueType
from chronicle_vm.errors import PolicyError, declare_codes

__all__ = [
    "RULE_KEYS",
    "ArgRule",
    "BoundScope",
    "Fail",
    "bind",
    "first_violation",
    "param_names",
    "parse_args_table",
    "refusal",
    "rules_from_json",
    "scope_error",
]

declare_codes(
    "policy",
    {
        "scope": "a capability call's argument is outside the policy's `args` rule (raised before the host runs)",
        "scope-empty": "an `args` rule restricts nothing, or holds an empty `one_of` or `prefix` list",
        "scope-range": "an `args` rule's bounds are out of range or `min` is above `max`",
        "scope-type": "an `args` rule does not fit its parameter's type (a `prefix` on an int parameter)",
        "scope-param": "an `args` rule names a parameter the capability does not have",
    },
)

#: Every key of one parameter's rule, in the order a call is checked against them.
RULE_KEYS = ("prefix", "one_of", "min", "max", "max_len")

#: A scalar a `one_of` may hold.
Scalar = str | int | bool

#: How the policy checker reports a defect: (code, key path, message, details) -> the error to raise.
Fail = Callable[..., PolicyError]

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_MAX_LEN_CEILING = 2**31 - 1
#: A `one_of` or `prefix` list longer than this is a policy mistake (and a slow check per call).
MAX_CHOICES = 10_000


@dataclass(frozen=True, slots=True)
class ArgRule:
    """The restrictions a policy puts on one parameter, named as the policy names it."""

    param: str
    prefix: tuple[str, ...] | None = None
    one_of: tuple[Scalar, ...] | None = None
    min: int | None = None
    max: int | None = None
    max_len: int | None = None

    def kinds(self) -> frozenset[str]:
        """The parameter types this rule can apply to: some of `str`, `int`, `bool`, `array`."""
        allowed = {"str", "int", "bool", "array"}
        if self.prefix is not None:
            allowed &= {"str"}
        if self.one_of is not None:
            allowed &= {_scalar_kind(self.one_of[0])}
        if self.min is not None or self.max is not None:
            allowed &= {"int"}
        if self.max_len is not None:
            allowed &= {"str", "array"}
        return frozenset(allowed)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: `param` and the keys the rule sets (lists for `prefix` and `one_of`)."""
        out: dict[str, Any] = {"param": self.param}
        for key in RULE_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def describe(self) -> str:
        """The rule as a short phrase: `key: prefix "price:", max_len 64`."""
        parts = []
        for key in RULE_KEYS:
            value = getattr(self, key)
            if value is not None:
                shown = ", ".join(_show(item) for item in value[:5]) if isinstance(value, tuple) else str(value)
                if isinstance(value, tuple) and len(value) > 5:
                    shown += f", ... ({len(value)} in all)"
                parts.append(f"{key} {shown}")
        return f"{self.param}: " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class BoundScope:
    """A rule bound to a parameter position of a declared capability (what a run checks)."""

    position: int
    rule: ArgRule

    def violation(self, value: object) -> str | None:
        """The first rule key `value` breaks, None when it is within the rule."""
        rule = self.rule
        if rule.prefix is not None and not (type(value) is str and value.startswith(rule.prefix)):
            return "prefix"
        if rule.one_of is not None and not any(type(value) is type(item) and value == item for item in rule.one_of):
            return "one_of"
        if rule.min is not None and not (type(value) is int and value >= rule.min):
            return "min"
        if rule.max is not None and not (type(value) is int and value <= rule.max):
            return "max"
        if rule.max_len is not None and not (isinstance(value, (str, list)) and len(value) <= rule.max_len):
            return "max_len"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, **self.rule.to_dict()}


def first_violation(scopes: Sequence[BoundScope], args: Sequence[object]) -> tuple[BoundScope, str] | None:
    """The first scope (in parameter order) an argument breaks, with the key it breaks."""
    for scope in scopes:
        if scope.position < len(args):
            broken = scope.violation(args[scope.position])
            if broken is not None:
                return scope, broken
    return None


def refusal(scope: BoundScope, broken: str) -> dict[str, Any]:
    """What a trace records about a refused call: the whole rule and the key that refused it."""
    return {**scope.to_dict(), "check": broken}


def scope_error(capability: str, scope: BoundScope, broken: str, value: object, instructions: int) -> PolicyError:
    """The `policy.scope` error of a call outside its rule."""
    shown = _show(value) if not isinstance(value, list) else f"an array of {len(value)} items"
    wanted = getattr(scope.rule, broken)
    if isinstance(wanted, tuple):
        wanted = ", ".join(_show(item) for item in wanted[:5]) + (", ..." if len(wanted) > 5 else "")
    return PolicyError(
        "policy.scope",
        f"capability {capability}: argument {scope.rule.param} = {shown} is outside the policy's scope "
        f"({broken} {wanted}); the host function was not called",
        capability=capability,
        param=scope.rule.param,
        position=scope.position,
        check=broken,
        rule=refusal(scope, broken),
        instructions=instructions,
    )


def _show(value: object) -> str:
    if type(value) is str:
        text = value if len(value) <= 60 else value[:60] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if type(value) is bool:
        return "true" if value else "false"
    return str(value)


def _scalar_kind(value: object) -> str:
    return "bool" if type(value) is bool else "int" if type(value) is int else "str"


def _type_kind(vtype: ValueType) -> str:
    return vtype.kind.value


# -- loading: the TOML alone ----------------------------------------------------------------------------------


def parse_args_table(value: object, path: tuple[str, ...], fail: Fail) -> tuple[ArgRule, ...]:
    """The rules of one capability's `args` table, in file order; every defect raised through `fail`."""
    if not isinstance(value, Mapping):
        raise fail("policy.type", path, f"must be a table of parameter rules, found {toml_kind(value)}")
    rules = []
    for param, raw in value.items():
        rules.append(_parse_rule(str(param), raw, (*path, str(param)), fail))
    return tuple(rules)


def _parse_rule(param: str, raw: object, path: tuple[str, ...], fail: Fail) -> ArgRule:
    if not isinstance(raw, Mapping):
        raise fail("policy.type", path, f"a parameter rule is a table, found {toml_kind(raw)}")
    for key in raw:
        if key not in RULE_KEYS:
            raise fail(
                "policy.unknown-key", (*path, str(key)), f"unknown key (expected one of: {', '.join(RULE_KEYS)})"
            )
    if not raw:
        raise fail("policy.scope-empty", path, f"the rule restricts nothing (give one of: {', '.join(RULE_KEYS)})")
    prefix = _parse_prefix(raw.get("prefix"), (*path, "prefix"), fail)
    one_of = _parse_one_of(raw.get("one_of"), (*path, "one_of"), fail)
    low = _parse_int(raw.get("min"), (*path, "min"), _I64_MIN, _I64_MAX, fail)
    high = _parse_int(raw.get("max"), (*path, "max"), _I64_MIN, _I64_MAX, fail)
    max_len = _parse_int(raw.get("max_len"), (*path, "max_len"), 0, _MAX_LEN_CEILING, fail)
    if low is not None and high is not None and low > high:
        raise fail("policy.scope-range", (*path, "min"), f"min {low} is above max {high}: no value could pass")
    rule = ArgRule(param, prefix, one_of, low, high, max_len)
    if not rule.kinds():
        used = [key for key in RULE_KEYS if raw.get(key) is not None]
        raise fail(
            "policy.scope-type",
            (*path, used[-1]),
            f"{' and '.join(used)} cannot apply to one parameter (prefix: str; min/max: int; "
            "max_len: str or array; one_of: the type of its values)",
        )
    return rule


def _parse_prefix(raw: object, path: tuple[str, ...], fail: Fail) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if type(raw) is str:
        return (raw,)
    if type(raw) is not list or not all(type(item) is str for item in raw):
        raise fail("policy.type", path, f"must be a string or an array of strings, found {toml_kind(raw)}")
    if not raw:
        raise fail("policy.scope-empty", path, "an empty list of prefixes would refuse every call")
    if len(raw) > MAX_CHOICES:
        raise fail("policy.scope-range", path, f"more than {MAX_CHOICES} prefixes")
    return tuple(raw)


def _parse_one_of(raw: object, path: tuple[str, ...], fail: Fail) -> tuple[Scalar, ...] | None:
    if raw is None:
        return None
    if type(raw) is not list:
        raise fail("policy.type", path, f"must be an array of values, found {toml_kind(raw)}")
    if not raw:
        raise fail("policy.scope-empty", path, "an empty one_of would refuse every call")
    if len(raw) > MAX_CHOICES:
        raise fail("policy.scope-range", path, f"more than {MAX_CHOICES} values")
    first = type(raw[0])
    if first not in (str, int, bool) or any(type(item) is not first for item in raw):
        raise fail("policy.type", path, "must hold strings only, ints only or bools only")
    if first is int and not all(_I64_MIN <= item <= _I64_MAX for item in raw):
        raise fail("policy.scope-range", path, "an int outside signed 64 bits can never be an argument")
    return tuple(raw)


def _parse_int(raw: object, path: tuple[str, ...], low: int, high: int, fail: Fail) -> int | None:
    if raw is None:
        return None
    if type(raw) is not int:
        raise fail("policy.type", path, f"must be an int, found {toml_kind(raw)}")
    if not low <= raw <= high:
        shown = str(raw) if raw.bit_length() < 200 else f"an int of {raw.bit_length()} bits"
        raise fail("policy.scope-range", path, f"{shown} is outside {low}..{high}", value_range=[low, high])
    return raw


def toml_kind(value: object) -> str:
    """A TOML value's kind as policy errors name it (`an int`, `a table`, ...)."""
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


# -- negotiation: the rules against the declared signature ---------------------------------------------------


def param_names(func: Callable[..., object], arity: int) -> tuple[str, ...]:
    """The names a policy may use for a host function's parameters: its own names where readable, else `1`, `2`..."""
    fallback = tuple(str(position + 1) for position in range(arity))
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return fallback
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < arity:
        return fallback
    return tuple(positional[:arity])


def bind(
    capability: str,
    rules: Sequence[ArgRule],
    params: Sequence[ValueType],
    names: Sequence[str],
    fail: Fail,
) -> tuple[BoundScope, ...]:
    """Each rule bound to its parameter's position; a rule on an unknown name or the wrong type raises via `fail`.

    A parameter may be named by the host function's name for it or by its 1-based position.
    """
    bound = []
    for rule in rules:
        path = ("capabilities", capability, "args", rule.param)
        position = _position(rule.param, names)
        if position is None:
            shown = ", ".join(names) or "none"
            raise fail(
                "policy.scope-param",
                path,
                f"{capability} has no parameter named {rule.param} (its parameters: {shown}, or 1..{len(names)})",
            )
        kind = _type_kind(params[position])
        if kind not in rule.kinds():
            used = [key for key in RULE_KEYS if getattr(rule, key) is not None]
            raise fail(
                "policy.scope-type",
                path,
                f"{' and '.join(used)} cannot restrict {rule.param}, a {params[position]} parameter",
            )
        bound.append(BoundScope(position, rule))
    return tuple(sorted(bound, key=lambda scope: scope.position))


def _position(param: str, names: Sequence[str]) -> int | None:
    if param in names:
        return list(names).index(param)
    if param.isdigit() and 1 <= int(param) <= len(names) and len(param) < 6:
        return int(param) - 1
    return None


# -- replay: the rules a trace recorded -----------------------------------------------------------------------


def rules_from_json(value: object) -> tuple[BoundScope, ...] | None:
    """The scopes a trace's provenance records for one capability, None when the record is malformed."""
    if type(value) is not list:
        return None
    bound = []
    for item in value:
        if type(item) is not dict or type(item.get("position")) is not int or type(item.get("param")) is not str:
            return None
        if not item.keys() <= {"position", "param", *RULE_KEYS} or not 0 <= item["position"] < 65_536:
            return None
        try:
            rule = _parse_rule(item["param"], {k: v for k, v in item.items() if k in RULE_KEYS}, (), _quiet_fail)
        except PolicyError:
            return None
        bound.append(BoundScope(item["position"], rule))
    return tuple(bound)


def _quiet_fail(code: str, path: tuple[str, ...], message: str, **details: Any) -> PolicyError:
    return PolicyError(code, message)
