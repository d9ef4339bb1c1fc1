"""Argument-scoped grants: load-time and negotiation-time checks, the live refusal, its trace record and its replay."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.capabilities.scopes import ArgRule, BoundScope
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import INT, STR
from chronicle_vm.errors import PolicyError, ReplayError
from chronicle_vm.runtime import instantiate
from chronicle_vm.trace.document import load_trace
from chronicle_vm.trace.replay import replay

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs" / "trace.schema.json").read_text(encoding="utf-8"))
KV_GET = Capability("kv.get", (STR,), STR)
RANDOM_INT = Capability("random.int", (INT, INT), INT)


def module_calling(capability: Capability) -> bytes:
    """`main(args...)` calls the capability once with its own arguments and returns the result."""
    n = len(capability.params)
    assert capability.result is not None
    registers = (*capability.params, capability.result)
    code = (Instruction(int(Op.CAPCALL), 0, 0, n), Instruction(int(Op.RET), n))
    main = Function("main", True, n, capability.result, registers, code)
    return Module(capabilities=(capability,), functions=(main,), source_map=SourceMap((), ((),))).to_bytes()


def kv_host(seen: list[str]) -> Host:
    host = Host()

    @host.capability("kv.get")
    def kv_get(key: str) -> str:
        seen.append(key)
        return "v:" + key

    @host.capability("random.int")
    def random_int(lo: int, hi: int) -> int:
        return lo

    return host


KV_POLICY = """version = 1

[capabilities."kv.get"]
allow = true

[capabilities."kv.get".args.key]
prefix = ["price:", "tax:"]
max_len = 12
"""


def load_error(text: str) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml(text, source="host.toml")
    return caught.value


# --- loading: the TOML alone ----------------------------------------------------------------------------------------


def test_rules_are_read_in_file_order() -> None:
    policy = Policy.from_toml(KV_POLICY)
    rule = policy.rule("kv.get")
    assert rule is not None
    assert rule.args == (ArgRule("key", prefix=("price:", "tax:"), max_len=12),)
    assert policy.to_dict()["capabilities"]["kv.get"]["args"] == [
        {"param": "key", "prefix": ["price:", "tax:"], "max_len": 12}
    ]


@pytest.mark.parametrize(
    ("body", "code", "line"),
    [
        ("prefix = 1", "policy.type", 5),
        ("prefix = []", "policy.scope-empty", 5),
        ("one_of = []", "policy.scope-empty", 5),
        ('one_of = ["a", 1]', "policy.type", 5),
        ("min = 5\nmax = 1", "policy.scope-range", 5),
        ("max_len = -1", "policy.scope-range", 5),
        ("min = true", "policy.type", 5),
        ('prefix = "a"\nmin = 1', "policy.scope-type", 6),
        ('one_of = ["a"]\nmax = 3', "policy.scope-type", 6),
        ("maxlen = 3", "policy.unknown-key", 5),
    ],
)
def test_bad_rules_are_refused_at_load_with_their_line(body: str, code: str, line: int) -> None:
    text = f'version = 1\n[capabilities."kv.get"]\nallow = true\n[capabilities."kv.get".args.key]\n{body}\n'
    error = load_error(text)
    assert (error.code, error.details["line"]) == (code, line)
    assert error.message.startswith(f"host.toml:{line}: capabilities.")


def test_an_empty_rule_restricts_nothing_and_is_refused() -> None:
    error = load_error('version = 1\n[capabilities."kv.get"]\nallow = true\n[capabilities."kv.get".args.key]\n')
    assert error.code == "policy.scope-empty"
    assert error.details["line"] == 4


def test_args_must_be_a_table() -> None:
    error = load_error('version = 1\n[capabilities."kv.get"]\nallow = true\nargs = 3\n')
    assert (error.code, error.details["line"]) == ("policy.type", 4)


def test_unquoted_dotted_name_gets_a_hint_to_quote_it() -> None:
    error = load_error("version = 1\n\n[capabilities.log.info]\nallow = true\n")
    assert error.code == "policy.cap-name"
    assert error.details["line"] == 3
    assert '[capabilities."log.info"]' in error.message
    assert "quote" in error.details["hint"]


def test_a_missing_version_names_line_one() -> None:
    assert load_error('[capabilities."kv.get"]\nallow = true\n').details["line"] == 1


# --- negotiation: the rules against the declared signature --------------------------------------------------------


def test_prefix_on_an_int_parameter_is_refused_at_negotiation_with_its_line() -> None:
    text = 'version = 1\n[capabilities."random.int"]\nallow = true\n[capabilities."random.int".args.lo]\nprefix = "1"\n'
    policy = Policy.from_toml(text, source="host.toml")  # the TOML alone cannot know lo is an int
    with pytest.raises(PolicyError) as caught:
        instantiate(module_calling(RANDOM_INT), host=kv_host([]), policy=policy)
    assert caught.value.code == "policy.scope-type"
    assert caught.value.details["line"] == 4
    assert "int parameter" in caught.value.message


def test_a_rule_on_an_unknown_parameter_is_refused_at_negotiation() -> None:
    policy = Policy.from_toml(KV_POLICY.replace("args.key", "args.name"), source="host.toml")
    with pytest.raises(PolicyError) as caught:
        instantiate(module_calling(KV_GET), host=kv_host([]), policy=policy)
    assert caught.value.code == "policy.scope-param"
    assert caught.value.details["line"] == 6
    assert "key" in caught.value.message


def test_parameters_may_be_named_by_position_and_negotiation_lists_the_scopes() -> None:
    text = 'version = 1\n[capabilities."random.int"]\nallow = true\n[capabilities."random.int".args.2]\nmax = 9\n'
    instance = instantiate(module_calling(RANDOM_INT), host=kv_host([]), policy=Policy.from_toml(text))
    (decision,) = instance.negotiation.decisions
    assert decision.scopes == (BoundScope(1, ArgRule("2", max=9)),)
    assert decision.to_dict()["args"] == [{"position": 1, "param": "2", "max": 9}]
    assert "only 2: max 9" in decision.reason


# --- the run: refused before the host function ---------------------------------------------------------------------


def test_a_call_within_the_scope_runs_and_one_outside_stops_before_the_host() -> None:
    seen: list[str] = []
    instance = instantiate(module_calling(KV_GET), host=kv_host(seen), policy=Policy.from_toml(KV_POLICY))
    assert instance.call("main", "price:apple").value == "v:price:apple"
    for refused, check in (("secret", "prefix"), ("price:toolong!", "max_len")):
        with pytest.raises(PolicyError) as caught:
            instance.call("main", refused)
        error = caught.value
        assert (error.code, error.details["check"], error.details["param"]) == ("policy.scope", check, "key")
        assert error.details["location"]["function"] == "main"
    assert seen == ["price:apple"]


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_the_refusal_is_recorded_with_its_rule_and_replays(engine: str) -> None:
    data = module_calling(KV_GET)
    policy = Policy.from_toml(KV_POLICY)
    instance = instantiate(data, host=kv_host([]), policy=policy, engine=engine)  # type: ignore[arg-type]
    with pytest.raises(PolicyError) as caught:
        instance.call("main", "secret", trace=True)
    trace = caught.value.trace
    assert trace is not None
    (event,) = trace.events
    assert event["error"]["rule"] == {
        "position": 0,
        "param": "key",
        "prefix": ["price:", "tax:"],
        "max_len": 12,
        "check": "prefix",
    }
    assert trace.outcome["error"]["code"] == "policy.scope"
    assert trace.provenance["capabilities"][0]["args"][0]["prefix"] == ["price:", "tax:"]
    jsonschema.Draft202012Validator(SCHEMA).validate(json.loads(trace.to_json()))
    report = replay(trace.to_json(), data, engine=engine)  # type: ignore[arg-type]
    assert report.reproduced == "capability-error"
    assert replay(trace.to_json(), data, policy=policy).exact


def traced(key: str) -> tuple[bytes, dict[str, object]]:
    data = module_calling(KV_GET)
    instance = instantiate(data, host=kv_host([]), policy=Policy.from_toml(KV_POLICY))
    try:
        trace = instance.call("main", key, trace=True).trace
    except PolicyError as exc:
        trace = exc.trace
    assert trace is not None
    return data, json.loads(trace.to_json())


def test_replay_refuses_a_result_recorded_for_a_call_its_scope_refuses() -> None:
    data, doc = traced("price:a")
    doc["events"][0]["args"] = ["secret"]  # type: ignore[index]
    doc["entry"]["args"] = ["secret"]  # type: ignore[index]
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), data)
    assert caught.value.code == "replay.scope"


def test_replay_refuses_a_refusal_the_recorded_scope_would_not_give() -> None:
    data, doc = traced("secret")
    doc["provenance"]["capabilities"][0]["args"][0]["prefix"] = ["sec"]  # type: ignore[index]
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), data)
    assert caught.value.code == "replay.scope"


def test_a_malformed_recorded_scope_is_a_schema_error() -> None:
    _, doc = traced("secret")
    doc["events"][0]["error"]["rule"]["check"] = "nonsense"  # type: ignore[index]
    with pytest.raises(ReplayError) as caught:
        load_trace(json.dumps(doc))
    assert caught.value.code == "replay.schema"
    _, doc = traced("secret")
    doc["provenance"]["capabilities"][0]["args"] = [{"position": 0, "param": "key", "min": 3, "max": 1}]  # type: ignore[index]
    with pytest.raises(ReplayError) as caught:
        load_trace(json.dumps(doc))
    assert caught.value.code == "replay.schema"


# --- replay --policy ----------------------------------------------------------------------------------------------


def test_replay_with_another_policy_is_a_digest_error() -> None:
    data, doc = traced("price:a")
    other = Policy.from_toml(KV_POLICY.replace("max_len = 12", "max_len = 13"))
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), data, policy=other)
    assert caught.value.code == "replay.policy-digest"


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_calls", 5), ("args", [{"position": 0, "param": "key", "prefix": ["price:"], "max_len": 12}])],
)
def test_replay_with_the_policy_checks_every_recorded_decision(field: str, value: object) -> None:
    data, doc = traced("price:a")
    doc["provenance"]["capabilities"][0][field] = value  # type: ignore[index]
    assert replay(json.dumps(doc), data).exact  # without the policy, the forged record replays
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), data, policy=Policy.from_toml(KV_POLICY))
    assert caught.value.code == "replay.policy-decision"
    assert caught.value.details["capability"] == "kv.get"


def test_replay_with_the_policy_checks_the_recorded_limits_against_its_ceilings() -> None:
    data, doc = traced("price:a")
    text = KV_POLICY.replace("version = 1\n", "version = 1\n[limits]\nmax_call_depth = 10\n")
    policy = Policy.from_toml(text)
    doc["provenance"]["policy_sha256"] = policy.digest  # type: ignore[index]
    with pytest.raises(ReplayError) as caught:
        replay(json.dumps(doc), data, policy=policy)
    assert caught.value.code == "replay.policy-decision"
    assert caught.value.details["limit"] == "max_call_depth"


# --- properties: the live decision, the record and the replay agree for any rule and argument ----------------------

_KEYS = st.text(alphabet="ab:", max_size=6)


@st.composite
def str_rules(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append("prefix = " + json.dumps(draw(st.lists(_KEYS, min_size=1, max_size=3))))
    if draw(st.booleans()):
        lines.append("one_of = " + json.dumps(draw(st.lists(_KEYS, min_size=1, max_size=3))))
    if draw(st.booleans()) or not lines:
        lines.append(f"max_len = {draw(st.integers(0, 6))}")
    return "\n".join(lines)


@given(rule=str_rules(), key=_KEYS)
def test_any_rule_decides_live_and_in_replay_alike(rule: str, key: str) -> None:
    text = f'version = 1\n[capabilities."kv.get"]\nallow = true\n[capabilities."kv.get".args.key]\n{rule}\n'
    policy = Policy.from_toml(text)
    (arg_rule,) = policy.rule("kv.get").args  # type: ignore[union-attr]
    within = (
        (arg_rule.prefix is None or any(key.startswith(prefix) for prefix in arg_rule.prefix))
        and (arg_rule.one_of is None or key in arg_rule.one_of)
        and (arg_rule.max_len is None or len(key) <= arg_rule.max_len)
    )
    seen: list[str] = []
    data = module_calling(KV_GET)
    instance = instantiate(data, host=kv_host(seen), policy=policy)
    try:
        trace = instance.call("main", key, trace=True).trace
    except PolicyError as exc:
        assert exc.code == "policy.scope"
        trace = exc.trace
    assert trace is not None
    assert (seen == [key]) is within  # the host ran exactly when the argument was within the rule
    assert replay(trace.to_json(), data, policy=policy).exact
