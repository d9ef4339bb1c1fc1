"""Negotiation decisions: one test per decision kind, their order, all refusals reported together, host settings."""

from __future__ import annotations

import json

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.negotiation import DECISIONS, Decision, Negotiation, negotiate
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import INT, STR, BaseType, array_type
from chronicle_vm.errors import PolicyError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import VerifiedModule, verify


def module_declaring(*capabilities: Capability) -> VerifiedModule:
    """A verified module that declares `capabilities` and has one entry that returns."""
    main = Function("main", True, 0, None, (), (Instruction(int(Op.RETV)),))
    return verify(Module(capabilities=capabilities, functions=(main,), source_map=SourceMap((), ((),))))


KV_GET = Capability("kv.get", (STR,), STR)
LOG_INFO = Capability("log.info", (STR,), None)
CLOCK_NOW = Capability("clock.now", (), INT)
KV_SET = Capability("kv.set", (STR, STR), None)

POLICY = Policy.from_toml(
    """\
version = 1

[capabilities."kv.get"]
allow = true
max_calls = 100

[capabilities."log.info"]
allow = true

[capabilities."clock.now"]
allow = false

[capabilities."never.declared"]
allow = true
"""
)


def make_host() -> Host:
    host = Host(settings={"kv_path": str, "seed": int})

    @host.capability("kv.get")
    def get(key: str) -> str:
        return ""

    @host.capability("log.info")
    def info(msg: str) -> None:
        return None

    @host.capability("clock.now")
    def now() -> int:
        return 0

    @host.capability("kv.set")
    def put(key: str, value: str) -> None:
        return None

    return host


def only_decision(capability: Capability, policy: Policy = POLICY, host: Host | None = None) -> Decision:
    negotiation = negotiate(module_declaring(capability), policy, host or make_host())
    assert len(negotiation.decisions) == 1
    return negotiation.decisions[0]


def test_granted() -> None:
    decision = only_decision(KV_GET)
    assert decision == Decision(
        "kv.get", "(str) -> str", "(str) -> str", "granted", "allowed by the policy, at most 100 calls per run", 100
    )
    assert decision.granted
    assert only_decision(LOG_INFO).max_calls is None


def test_denied() -> None:
    decision = only_decision(CLOCK_NOW)
    assert decision.decision == "denied"
    assert decision.host_signature == "() -> int"
    assert decision.reason == "the policy sets allow = false"


def test_missing() -> None:
    decision = only_decision(KV_SET)
    assert decision.decision == "missing"
    assert decision.declared_signature == "(str, str)"
    assert "denied by default" in decision.reason


def test_unknown() -> None:
    decision = only_decision(Capability("random.int", (INT, INT), INT))
    assert decision.decision == "unknown"
    assert decision.host_signature is None
    assert decision.reason == "the host offers no capability named random.int"


@pytest.mark.parametrize(
    "declared",
    [
        Capability("kv.get", (STR,), INT),  # result differs
        Capability("kv.get", (STR,), None),  # result missing
        Capability("kv.get", (STR, STR), STR),  # arity differs
        Capability("kv.get", (array_type(BaseType.STR, 1),), STR),  # array vs scalar
        Capability("kv.get", (INT,), STR),  # parameter differs
    ],
)
def test_type_invalid(declared: Capability) -> None:
    decision = only_decision(declared)
    assert decision.decision == "type-invalid"
    assert decision.host_signature == "(str) -> str"
    assert decision.reason == f"the module declares {declared.signature()}, the host provides (str) -> str"


def test_order_unknown_before_policy() -> None:
    # the policy allows it, but the host lacks it
    decision = only_decision(Capability("never.declared", (), None))
    assert decision.decision == "unknown"


def test_order_type_invalid_before_denied() -> None:
    decision = only_decision(Capability("clock.now", (), STR))
    assert decision.decision == "type-invalid"


def test_order_denied_and_missing_before_granted() -> None:
    assert only_decision(CLOCK_NOW, Policy.deny_all()).decision == "missing"
    assert DECISIONS == ("unknown", "type-invalid", "denied", "missing", "granted")


def test_decisions_in_declaration_order_and_every_refusal_reported() -> None:
    bad_kv = Capability("kv.get", (STR,), INT)
    unknown = Capability("net.fetch", (STR,), STR)
    negotiation = negotiate(module_declaring(LOG_INFO, bad_kv, CLOCK_NOW, unknown, KV_SET), POLICY, make_host())
    assert [d.name for d in negotiation.decisions] == ["log.info", "kv.get", "clock.now", "net.fetch", "kv.set"]
    assert [d.decision for d in negotiation.decisions] == ["granted", "type-invalid", "denied", "unknown", "missing"]
    assert not negotiation.ok
    assert [d.name for d in negotiation.refused] == ["kv.get", "clock.now", "net.fetch", "kv.set"]
    with pytest.raises(PolicyError) as caught:
        negotiation.require()
    error = caught.value
    assert error.code == "policy.refused"
    assert error.message.startswith("the module was refused 4 capabilities:\n")
    for line in [
        "  kv.get(str) -> int: type-invalid (the module declares (str) -> int, the host provides (str) -> str)",
        "  clock.now() -> int: denied (the policy sets allow = false)",
        "  net.fetch(str) -> str: unknown (the host offers no capability named net.fetch)",
        "  kv.set(str, str): missing (",
    ]:
        assert line in error.message
    assert "log.info" not in error.message
    assert error.details["refused"] == ["kv.get", "clock.now", "net.fetch", "kv.set"]
    assert [d["decision"] for d in error.details["decisions"]] == [
        "granted",
        "type-invalid",
        "denied",
        "unknown",
        "missing",
    ]
    assert json.loads(json.dumps(error.to_dict()))["decisions"][0]["name"] == "log.info"
    with pytest.raises(PolicyError):
        negotiation.handlers(Limits())


def test_single_refusal_message_is_singular() -> None:
    with pytest.raises(PolicyError) as caught:
        negotiate(module_declaring(CLOCK_NOW), POLICY, make_host()).require()
    assert caught.value.message.startswith("the module was refused 1 capability:\n")


def test_all_granted() -> None:
    negotiation = negotiate(module_declaring(KV_GET, LOG_INFO), POLICY, make_host())
    assert negotiation.ok
    assert negotiation.refused == ()
    assert negotiation.require() is negotiation
    assert len(negotiation.handlers(Limits())) == 2


def test_no_capabilities_is_always_ok() -> None:
    negotiation = negotiate(module_declaring(), Policy.deny_all(), Host())
    assert negotiation.ok
    assert negotiation.decisions == ()
    assert negotiation.handlers(Limits()) == ()


def test_deny_all_refuses_every_declared_capability() -> None:
    negotiation = negotiate(module_declaring(KV_GET, LOG_INFO), Policy.deny_all(), make_host())
    assert [d.decision for d in negotiation.decisions] == ["missing", "missing"]


def test_to_dict_is_json_safe() -> None:
    negotiation = negotiate(module_declaring(KV_GET, CLOCK_NOW), POLICY, make_host())
    data = negotiation.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False
    assert data["refused"] == ["clock.now"]
    assert data["policy_digest"] == POLICY.digest
    assert data["decisions"][0] == {
        "name": "kv.get",
        "declared_signature": "(str) -> str",
        "host_signature": "(str) -> str",
        "decision": "granted",
        "reason": "allowed by the policy, at most 100 calls per run",
        "max_calls": 100,
    }


def test_host_settings_accepted() -> None:
    policy = Policy.from_toml('version = 1\n[host]\nkv_path = "state.sqlite"\nseed = 4\n')
    negotiation = negotiate(module_declaring(), policy, make_host())
    assert dict(negotiation.settings) == {"kv_path": "state.sqlite", "seed": 4}
    assert negotiation.to_dict()["settings"] == {"kv_path": "state.sqlite", "seed": 4}


def test_unknown_host_setting() -> None:
    policy = Policy.from_toml('version = 1\n\n[host]\nkv_path = "s.sqlite"\nkv_pth = "x"\n', source="host.toml")
    with pytest.raises(PolicyError) as caught:
        negotiate(module_declaring(), policy, make_host())
    error = caught.value
    assert error.code == "policy.unknown-host-setting"
    assert error.message.startswith("host.toml:5: host.kv_pth: the host does not accept this setting")
    assert error.details["source"] == "host.toml"
    assert error.details["key"] == "host.kv_pth"
    assert error.details["line"] == 5
    assert "accepted: kv_path, seed" in error.message


def test_host_setting_type() -> None:
    policy = Policy.from_toml("version = 1\n[host]\nseed = true\n")
    with pytest.raises(PolicyError) as caught:
        negotiate(module_declaring(), policy, make_host())
    error = caught.value
    assert error.code == "policy.host-setting-type"
    assert error.details["key"] == "host.seed"
    assert error.details["line"] == 3
    assert error.details["expected"] == "int"


def test_host_setting_without_text_has_no_line() -> None:
    policy = Policy.from_mapping({"version": 1, "host": {"other": 1}})
    with pytest.raises(PolicyError) as caught:
        negotiate(module_declaring(), policy, Host())
    assert caught.value.code == "policy.unknown-host-setting"
    assert "line" not in caught.value.details
    assert "accepted: none" in caught.value.message


def test_negotiation_is_plain_data() -> None:
    negotiation = negotiate(module_declaring(KV_GET), POLICY, make_host())
    assert isinstance(negotiation, Negotiation)
    assert negotiation.declared == (KV_GET,)
    assert negotiation.policy is POLICY
