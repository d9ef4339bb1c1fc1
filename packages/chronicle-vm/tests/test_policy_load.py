"""Policy loading: the contract's example, every policy error code with its key path and line, limits as ceilings."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from chronicle_vm.capabilities.policy import MAX_CALLS_CEILING, CapabilityRule, Policy, find_key_line, format_key_path
from chronicle_vm.errors import PolicyError, UsageError, declared_codes
from chronicle_vm.limits import HARD_LIMITS, Limits

CONTRACT_EXAMPLE = """\
version = 1

[limits]                # ceilings; a host or CLI flag may only lower them
max_instructions = 5_000_000
max_call_depth = 200
max_registers = 256
max_array_len = 100_000

[capabilities."log.info"]
allow = true

[capabilities."kv.get"]
allow = true
max_calls = 100         # quota: the 101st call is a resource-limit error

[capabilities."clock.now"]
allow = false
"""

REPO = Path(__file__).resolve().parents[3]


def load_error(text: str | bytes) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml(text, source="host.toml")
    return caught.value


def test_contract_example_loads() -> None:
    policy = Policy.from_toml(CONTRACT_EXAMPLE)
    assert policy.version == 1
    assert dict(policy.limits) == {
        "max_instructions": 5_000_000,
        "max_call_depth": 200,
        "max_registers": 256,
        "max_array_len": 100_000,
    }
    assert dict(policy.capabilities) == {
        "log.info": CapabilityRule(allow=True, max_calls=None),
        "kv.get": CapabilityRule(allow=True, max_calls=100),
        "clock.now": CapabilityRule(allow=False, max_calls=None),
    }
    assert dict(policy.host) == {}
    assert policy.text == CONTRACT_EXAMPLE
    assert policy.digest == hashlib.sha256(CONTRACT_EXAMPLE.encode()).hexdigest()
    assert policy.rule("kv.get") == CapabilityRule(True, 100)
    assert policy.rule("kv.set") is None


def test_bytes_and_text_give_the_same_policy_and_digest() -> None:
    assert Policy.from_toml(CONTRACT_EXAMPLE.encode()) == Policy.from_toml(CONTRACT_EXAMPLE)


def test_digest_is_of_the_exact_bytes() -> None:
    assert Policy.from_toml("version = 1\n").digest != Policy.from_toml("version = 1\n\n").digest


def test_host_table_is_read() -> None:
    policy = Policy.from_toml('version = 1\n[host]\nkv_path = "state.sqlite"\nseed = 7\nverbose = false\n')
    assert dict(policy.host) == {"kv_path": "state.sqlite", "seed": 7, "verbose": False}
    assert type(policy.host["verbose"]) is bool


def test_policy_is_immutable() -> None:
    policy = Policy.from_toml(CONTRACT_EXAMPLE)
    with pytest.raises(TypeError):
        policy.limits["max_instructions"] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        policy.capabilities["x.y"] = CapabilityRule(True)  # type: ignore[index]


def test_deny_all() -> None:
    policy = Policy.deny_all()
    assert policy.version == 1
    assert dict(policy.capabilities) == {}
    assert dict(policy.limits) == {}
    assert policy.text is None
    assert policy.digest is None
    assert policy.effective_limits(Limits()) == Limits()


def test_to_dict_is_json_safe() -> None:
    data = Policy.from_toml(CONTRACT_EXAMPLE).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["capabilities"]["kv.get"] == {"allow": True, "max_calls": 100}


def test_limits_are_ceilings() -> None:
    policy = Policy.from_toml(CONTRACT_EXAMPLE)
    effective = policy.effective_limits(Limits())
    assert effective.max_instructions == 5_000_000
    assert effective.max_call_depth == 200
    assert effective.max_registers == 256
    assert effective.max_string_len == Limits().max_string_len
    # a host or flag asking for more than the ceiling still gets the ceiling
    assert policy.effective_limits(HARD_LIMITS).max_instructions == 5_000_000
    # and asking for less gets less
    assert policy.effective_limits(Limits(max_instructions=10)).max_instructions == 10


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "host.toml"
    path.write_bytes(CONTRACT_EXAMPLE.encode())
    assert Policy.from_file(path) == Policy.from_toml(CONTRACT_EXAMPLE)
    path.write_bytes(b'version = 1\n[capabilities."kv.get"]\nalow = true\n')
    with pytest.raises(PolicyError) as caught:
        Policy.from_file(str(path))
    assert caught.value.details["source"] == str(path)
    assert caught.value.message.startswith(f"{path}:3: ")


def test_from_file_unreadable_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        Policy.from_file(tmp_path / "absent.toml")
    assert caught.value.code == "usage.unreadable-file"
    with pytest.raises(UsageError):
        Policy.from_file(tmp_path)  # a directory


# --- every error code, with its key path and line --------------------------------------------------------------------

ERRORS = [
    # (id, text, code, key, line)
    ("unknown-top", "version = 1\nlimit = { max_call_depth = 1 }\n", "policy.unknown-key", "limit", 2),
    (
        "unknown-in-capability",
        'version = 1\n\n[capabilities."kv.get"]\nalow = true\n',
        "policy.unknown-key",
        'capabilities."kv.get".alow',
        4,
    ),
    (
        "unknown-limit",
        "version = 1\n[limits]\nmax_instruction = 5\n",
        "policy.unknown-key",
        "limits.max_instruction",
        3,
    ),
    (
        "unknown-in-inline-table",
        'version = 1\ncapabilities = { "kv.get" = { alow = true } }\n',
        "policy.unknown-key",
        'capabilities."kv.get".alow',
        2,
    ),
    (
        "unknown-dotted-key",
        'version = 1\n[capabilities]\n"kv.get".allow = true\n"kv.get".deny = true\n',
        "policy.unknown-key",
        'capabilities."kv.get".deny',
        4,
    ),
    ("version-string", 'version = "1"\n', "policy.type", "version", 1),
    ("version-bool", "version = true\n", "policy.type", "version", 1),
    ("limit-bool", "version = 1\n[limits]\nmax_instructions = true\n", "policy.type", "limits.max_instructions", 3),
    ("limit-float", "version = 1\n[limits]\nmax_call_depth = 1.5\n", "policy.type", "limits.max_call_depth", 3),
    ("limits-not-table", "version = 1\nlimits = 5\n", "policy.type", "limits", 2),
    ("allow-int", 'version = 1\n[capabilities."kv.get"]\nallow = 1\n', "policy.type", 'capabilities."kv.get".allow', 3),
    (
        "allow-string",
        'version = 1\n[capabilities."kv.get"]\nallow = "yes"\n',
        "policy.type",
        'capabilities."kv.get".allow',
        3,
    ),
    (
        "max-calls-bool",
        'version = 1\n[capabilities."kv.get"]\nallow = true\nmax_calls = true\n',
        "policy.type",
        'capabilities."kv.get".max_calls',
        4,
    ),
    ("rule-not-table", 'version = 1\n[capabilities]\n"kv.get" = true\n', "policy.type", 'capabilities."kv.get"', 3),
    ("capabilities-array", "version = 1\n[[capabilities]]\nallow = true\n", "policy.type", "capabilities", 2),
    ("host-float", "version = 1\n[host]\nratio = 0.5\n", "policy.type", "host.ratio", 3),
    ("host-array", 'version = 1\n[host]\npaths = ["a"]\n', "policy.type", "host.paths", 3),
    ("host-date", "version = 1\n[host]\nsince = 2020-01-01\n", "policy.type", "host.since", 3),
    ("host-huge-int", "version = 1\n[host]\nseed = 9223372036854775808\n", "policy.type", "host.seed", 3),
    ("version-2", "version = 2\n", "policy.version", "version", 1),
    ("version-0", "# a comment\nversion = 0\n", "policy.version", "version", 2),
    ("no-version", '[capabilities."kv.get"]\nallow = true\n', "policy.missing-key", "version", 1),
    (
        "no-allow",
        'version = 1\n[capabilities."kv.get"]\nmax_calls = 3\n',
        "policy.missing-key",
        'capabilities."kv.get".allow',
        2,
    ),
    (
        "limit-negative",
        "version = 1\n[limits]\nmax_call_depth = -1\n",
        "policy.limit-range",
        "limits.max_call_depth",
        3,
    ),
    (
        "limit-above-hard",
        f"version = 1\n[limits]\nmax_registers = {HARD_LIMITS.max_registers + 1}\n",
        "policy.limit-range",
        "limits.max_registers",
        3,
    ),
    (
        "limit-huge",
        "version = 1\n[limits]\nmax_instructions = 99999999999999999999999999\n",
        "policy.limit-range",
        "limits.max_instructions",
        3,
    ),
    (
        "cap-upper",
        'version = 1\n[capabilities."KV.get"]\nallow = true\n',
        "policy.cap-name",
        'capabilities."KV.get"',
        2,
    ),
    ("cap-undotted", "version = 1\n[capabilities.kv]\nallow = true\n", "policy.cap-name", "capabilities.kv", 2),
    ("cap-empty-part", 'version = 1\n[capabilities."kv..get"]\nallow = true\n', "policy.cap-name", None, 2),
    ("cap-too-long", f'version = 1\n[capabilities."a.{"b" * 127}"]\nallow = true\n', "policy.cap-name", None, 2),
    (
        "quota-negative",
        'version = 1\n[capabilities."kv.get"]\nallow = true\nmax_calls = -1\n',
        "policy.quota-range",
        'capabilities."kv.get".max_calls',
        4,
    ),
    (
        "quota-absurd",
        f'version = 1\n[capabilities."kv.get"]\nallow = true\nmax_calls = {MAX_CALLS_CEILING + 1}\n',
        "policy.quota-range",
        'capabilities."kv.get".max_calls',
        4,
    ),
]


@pytest.mark.parametrize(("text", "code", "key", "line"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_policy_errors(text: str, code: str, key: str | None, line: int | None) -> None:
    error = load_error(text)
    assert error.code == code
    if key is not None:
        assert error.details["key"] == key
    else:
        assert error.details["key"].startswith("capabilities.")
    assert error.details.get("line") == line
    assert error.details["source"] == "host.toml"
    expected_prefix = "host.toml" if line is None else f"host.toml:{line}"
    assert error.message.startswith(f"{expected_prefix}: {error.details['key']}: ")
    assert json.loads(json.dumps(error.to_dict()))["code"] == code


SYNTAX = [
    ("missing-value", "version = 1\nallow = \n", 2, 9),
    ("bad-header", "version = 1\n[capabilities\n", 2, 14),
    ("duplicate-key", 'version = 1\n[capabilities."kv.get"]\nallow = true\nallow = false\n', 4, 14),
    ("duplicate-table", "version = 1\n[host]\n[host]\n", 3, 6),
    ("bad-date", "version = 1\n[host]\nsince = 2020-02-30\n", 3, 9),
]


@pytest.mark.parametrize(("text", "line", "col"), [s[1:] for s in SYNTAX], ids=[s[0] for s in SYNTAX])
def test_syntax_errors_carry_line_and_col(text: str, line: int, col: int) -> None:
    error = load_error(text)
    assert error.code == "policy.syntax"
    assert (error.details["line"], error.details["col"]) == (line, col)
    assert error.details["key"] is None
    assert error.message.startswith(f"host.toml:{line}:{col}: the policy is not valid TOML: ")
    assert "(at line" not in error.message


def test_syntax_error_at_end_of_document() -> None:
    error = load_error("version = 1\nx = [1,\n  2,")
    assert error.code == "policy.syntax"
    assert (error.details["line"], error.details["col"]) == (3, 5)


def test_integer_with_too_many_digits_is_a_syntax_error() -> None:
    error = load_error("version = " + "1" * 5000)
    assert error.code == "policy.syntax"


def test_deep_nesting_is_a_syntax_error() -> None:
    assert load_error("version = 1\nx = " + "[" * 100_000).code == "policy.syntax"
    assert load_error("version = 1\nx = " + "{a=" * 100_000).code == "policy.syntax"


def test_invalid_utf8() -> None:
    error = load_error(b"version = 1\n# caf\xe9\n")
    assert error.code == "policy.encoding"
    assert error.details["offset"] == 17
    assert error.details["line"] == 2


def test_lone_surrogate_text() -> None:
    error = load_error("version = 1\n\n[host]\nx = '\ud800'\n")
    assert error.code == "policy.encoding"
    assert error.details["line"] == 4


def test_first_of_several_errors_is_reported_stably() -> None:
    # version is checked first, whatever else is wrong
    error = load_error("version = 3\n[limits]\nmax_call_depth = -1\n")
    assert error.code == "policy.version"


def test_version_is_checked_before_unknown_keys() -> None:
    # a policy of a newer format is reported by its version, not by the keys that format added
    error = load_error("version = 2\n[sandbox]\nnet = false\n")
    assert error.code == "policy.version"
    assert error.details["line"] == 1


def test_input_that_is_neither_text_nor_bytes() -> None:
    error = load_error(None)  # type: ignore[arg-type]
    assert error.code == "policy.type"
    assert error.details["key"] is None
    assert Policy.from_toml(bytearray(b"version = 1\n")) == Policy.from_toml(memoryview(b"version = 1\n"))  # type: ignore[arg-type]


def test_source_hash_and_repr() -> None:
    one = Policy.from_toml(CONTRACT_EXAMPLE, source="a.toml")
    two = Policy.from_toml(CONTRACT_EXAMPLE, source="b.toml")
    assert one.source == "a.toml"
    assert one == two  # where a policy came from is not part of it
    assert hash(one) == hash(two)
    assert len({one, two, Policy.deny_all()}) == 2
    assert repr(one) == (
        "Policy(version=1, source='a.toml', limits={'max_instructions': 5000000, 'max_call_depth': 200, "
        "'max_registers': 256, 'max_array_len': 100000}, capabilities=<3 rules>, host=[], "
        f"digest='{one.digest[:12]}...')"  # type: ignore[index]
    )
    assert repr(Policy.deny_all()).endswith("digest=None)")


def test_zero_limits_and_quota_are_allowed() -> None:
    policy = Policy.from_toml(
        'version = 1\n[limits]\nmax_call_depth = 0\n[capabilities."a.b"]\nallow = true\nmax_calls = 0\n'
    )
    assert policy.limits["max_call_depth"] == 0
    assert policy.capabilities["a.b"].max_calls == 0


def test_huge_policy_loads_in_bounded_time() -> None:
    count = 100_000
    text = "version = 1\n" + "".join(
        f'[capabilities."cap{i}.call"]\nallow = true\nmax_calls = {i}\n' for i in range(count)
    )
    start = time.perf_counter()
    policy = Policy.from_toml(text)
    elapsed = time.perf_counter() - start
    assert len(policy.capabilities) == count
    assert policy.capabilities["cap99999.call"] == CapabilityRule(True, 99_999)
    assert elapsed < 30, elapsed


def test_error_line_is_found_in_one_pass_over_a_large_policy() -> None:
    count = 20_000
    text = (
        "version = 1\n" + "".join(f'[capabilities."cap{i}.call"]\nallow = true\n' for i in range(count)) + "alow = 1\n"
    )
    start = time.perf_counter()
    error = load_error(text)
    assert time.perf_counter() - start < 10
    assert error.details["key"] == 'capabilities."cap19999.call".alow'
    assert error.details["line"] == 2 * count + 2


def test_from_mapping_without_text_has_no_line() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({"version": 1, "capabilities": {"kv.get": {"alow": True}}})
    assert caught.value.details["key"] == 'capabilities."kv.get".alow'
    assert "line" not in caught.value.details


def test_from_mapping_rejects_non_string_keys() -> None:
    with pytest.raises(PolicyError) as caught:
        Policy.from_mapping({"version": 1, "limits": {1: 2}})
    assert caught.value.code == "policy.type"
    assert caught.value.details["key"] == "limits"


def test_format_key_path_quotes_what_needs_it() -> None:
    assert format_key_path(("capabilities", "kv.get", "alow")) == 'capabilities."kv.get".alow'
    assert format_key_path(("host", 'a"b\\c\n')) == 'host."a\\"b\\\\c\\u000a"'
    assert format_key_path(("limits", "max-x_1")) == "limits.max-x_1"


def test_find_key_line_reads_quoted_and_literal_keys() -> None:
    text = "version = 1\n[ capabilities . 'kv.get' ]\n  allow=true\n[capabilities.\"a\\u0062.c\"]\nallow = true\n"
    assert find_key_line(text, ("capabilities", "kv.get", "allow")) == 3
    assert find_key_line(text, ("capabilities", "ab.c", "allow")) == 5
    assert find_key_line(text, ("capabilities", "ab.c", "max_calls")) == 4
    assert find_key_line(text, ("host", "x")) is None


def test_every_policy_code_is_declared_and_documented() -> None:
    import chronicle_vm.capabilities.negotiation  # noqa: F401  (declares the runtime and limit codes it raises)

    codes = {code for code in declared_codes(owner="chronicle_vm") if code.startswith("policy.")}
    assert codes == {
        "policy.syntax",
        "policy.encoding",
        "policy.unknown-key",
        "policy.type",
        "policy.version",
        "policy.missing-key",
        "policy.limit-range",
        "policy.cap-name",
        "policy.quota-range",
        "policy.refused",
        "policy.unknown-host-setting",
        "policy.host-setting-type",
        "policy.scope",
        "policy.scope-empty",
        "policy.scope-range",
        "policy.scope-type",
        "policy.scope-param",
        "policy.key-too-deep",
        "policy.key-too-long",
        "policy.too-large",
    }
    doc = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    for code in [*sorted(codes), "limit.capability-quota", "runtime.capability-failed", "runtime.capability-result"]:
        assert f"`{code}`" in doc, code
