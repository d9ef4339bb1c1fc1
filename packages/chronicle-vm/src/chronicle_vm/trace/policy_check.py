"""A trace against the policy it claims: takes a trace's provenance and a `Policy`, gives nothing or a `ReplayError`.

`replay(..., policy=...)` (and `chronicle-vm replay --policy HOST.toml`)
calls `check_recorded_policy` before any instruction runs: the policy's
sha256 must be the one the trace records, every recorded grant must be the
one the policy gives (allowed, the same quota, the same argument scopes),
and the recorded limits must be within the policy's ceilings.  Each call's
own decision (a result, or a `policy.scope` refusal) is then checked while
the module replays, against the recorded scopes (replay.py), which this
check has tied to the policy.

Host-side decisions (`unknown`, `type-invalid`) depend on the host, not on
the policy, so they are not re-derived here; a trace that records any
refusal is refused by replay anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.errors import ReplayError, declare_codes
from chronicle_vm.limits import RECORDED_BEFORE

__all__ = ["check_recorded_policy", "policy_decision"]

declare_codes(
    "replay",
    {
        "policy-digest": "replay --policy: the policy's sha256 is not the one the trace records",
        "policy-decision": "replay --policy: a recorded decision, quota, scope or limit differs from the policy's",
        "scope": "a recorded call's decision (result or scope refusal) is not the one its recorded scopes give",
    },
)


def policy_decision(policy: Policy, name: str) -> dict[str, Any]:
    """What `policy` alone says about capability `name`: decision, max_calls and the scopes (without positions)."""
    rule = policy.rule(name)
    if rule is None:
        return {"decision": "missing", "max_calls": None, "args": []}
    if not rule.allow:
        return {"decision": "denied", "max_calls": None, "args": []}
    return {
        "decision": "granted",
        "max_calls": rule.max_calls,
        "args": sorted((scope.to_dict() for scope in rule.args), key=lambda item: str(item["param"])),
    }


def _recorded_decision(record: Mapping[str, Any]) -> dict[str, Any]:
    scopes = [{key: value for key, value in item.items() if key != "position"} for item in record.get("args", [])]
    granted = record["decision"] == "granted"
    return {
        "decision": record["decision"],
        "max_calls": record["max_calls"] if granted else None,
        "args": sorted(scopes, key=lambda item: str(item["param"])),
    }


def check_recorded_policy(provenance: Mapping[str, Any], policy: Policy) -> None:
    """Raise `replay.policy-digest` or `replay.policy-decision` unless the trace was recorded under `policy`."""
    recorded_digest = provenance["policy_sha256"]
    if recorded_digest != policy.digest:
        raise ReplayError(
            "replay.policy-digest",
            f"the policy {policy.source} has sha256 {policy.digest or 'none (the deny-all policy)'}; "
            f"the trace was recorded under {recorded_digest or 'the deny-all policy'}",
            expected=recorded_digest,
            actual=policy.digest,
        )
    for record in provenance["capabilities"]:
        if record["decision"] in ("unknown", "type-invalid"):
            continue  # the host's word, not the policy's
        name = record["name"]
        expected = policy_decision(policy, name)
        actual = _recorded_decision(record)
        if expected != actual:
            raise ReplayError(
                "replay.policy-decision",
                f"the trace records {name} as {actual['decision']} (max_calls {actual['max_calls']}, "
                f"{len(actual['args'])} scopes); {policy.source} gives {expected['decision']} "
                f"(max_calls {expected['max_calls']}, {len(expected['args'])} scopes)",
                capability=name,
                expected=expected,
                actual=actual,
            )
    # A field the trace predates counts at what its recording runtime enforced (limits.RECORDED_BEFORE).
    limits = {**RECORDED_BEFORE, **provenance["limits"]} if provenance.get("limits") else {}
    for name, ceiling in policy.limits.items():
        if name in limits and limits[name] > ceiling:
            raise ReplayError(
                "replay.policy-decision",
                f"the trace records {name} = {limits[name]}, above {policy.source}'s ceiling of {ceiling}",
                limit=name,
                expected=ceiling,
                actual=limits[name],
            )
