"""Host policies: takes TOML text (or a parsed mapping), gives a checked immutable `Policy`, or a `PolicyError`.

A policy says which capabilities a module may use (`allow`, optional
`max_calls` quota), which limits bound its runs (ceilings: host code and CLI
flags can only lower them) and which host-specific settings the embedding
host receives (`[host]`).  Any defect of the text (syntax, encoding, unknown
key, wrong type, value out of range) is a `PolicyError` with a stable code
and the key path (`key=`) and line (`line=`) where they are known; no other
exception escapes for any input text or bytes.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.digest import sha256_hex
from chronicle_vm.errors import PolicyError, declare_codes
from chronicle_vm.inputs import MAX_POLICY_FILE_BYTES, read_capped
from chronicle_vm.limits import HARD_LIMITS, Limits

from .scopes import ArgRule, parse_args_table
from .scopes import toml_kind as _kind
from .tomlscan import check_key_bounds

__all__ = [
    "CAPABILITY_NAME",
    "CAPABILITY_NAME_MAX_LEN",
    "POLICY_VERSION",
    "CapabilityRule",
    "HostSettingValue",
    "MAX_CALLS_CEILING",
    "Policy",
    "find_key_line",
    "format_key_path",
]

declare_codes(
    "policy",
    {
        "syntax": "the policy is not valid TOML (details: line, col)",
        "encoding": "the policy bytes are not valid UTF-8 (details: offset, line)",
        "unknown-key": "a key the policy format does not define (a typo such as `alow`)",
        "type": "a policy value has the wrong type (bools are not ints)",
        "version": "the policy's `version` is not one this runtime reads (1)",
        "missing-key": "a required key (`version`, a capability's `allow`) is absent",
        "limit-range": "a [limits] value is negative or above the hard ceiling",
        "cap-name": "a capability name is not dotted lowercase identifiers such as `kv.get`",
        "quota-range": "a capability's `max_calls` is negative or absurdly large",
        "refused": "negotiation refused one or more of the module's capabilities",
        "unknown-host-setting": "a [host] setting the host does not declare",
        "host-setting-type": "a [host] setting's value does not have the type the host declares",
    },
)
declare_codes("usage", {"unreadable-file": "a file named on the command line or by the host cannot be read"})

#: The only policy format version this runtime reads.
POLICY_VERSION = 1

#: Capability names: two or more dotted lowercase identifiers (`kv.get`, `log.info`).
CAPABILITY_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+")

#: Longest capability name (the verifier refuses longer ones in modules, so no policy rule could match).
CAPABILITY_NAME_MAX_LEN = 128

#: A quota above the hard instruction ceiling can never be reached (each call is an instruction).
MAX_CALLS_CEILING = HARD_LIMITS.max_instructions

#: The value of one `[host]` setting.
HostSettingValue = str | int | bool

_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_TOP_KEYS = ("version", "limits", "capabilities", "host")
_RULE_KEYS = ("allow", "max_calls", "args")
# The patterns only errors and policy files need are compiled at first use (through `re`'s cache), not at
# import: the deny-all policy of a run without --policy never reads TOML.
_BARE_KEY = r"[A-Za-z0-9_-]+"
_POSITION = r"\(at line (\d+), column (\d+)\)"
_POSITION_SUFFIX = r"\((?:at line \d+, column \d+|at end of document)\)"


@dataclass(frozen=True, slots=True)
class CapabilityRule:
    """What a policy says about one capability: allowed or not, an optional call quota per run, argument scopes."""

    allow: bool
    max_calls: int | None = None
    #: Per-parameter restrictions (`[capabilities."NAME".args.PARAM]`, chronicle_vm.capabilities.scopes), in file order.
    args: tuple[ArgRule, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"allow": self.allow, "max_calls": self.max_calls}
        if self.args:
            out["args"] = [rule.to_dict() for rule in self.args]
        return out


@dataclass(frozen=True, slots=True)
class Policy:
    """A checked host policy.  Build it with `from_toml`, `from_file`, `from_mapping` or `deny_all`."""

    version: int
    #: Only the limits the policy names; each is a ceiling.
    limits: Mapping[str, int]
    capabilities: Mapping[str, CapabilityRule]
    #: The `[host]` table, checked against the host's declared settings at negotiation.
    host: Mapping[str, HostSettingValue]
    #: The exact TOML text, None for a policy not read from text.
    text: str | None = None
    #: sha256 hex of the exact TOML bytes, None for a policy not read from text.
    digest: str | None = None
    #: Where the policy came from (a path, or `<policy>`), for messages; not part of equality.
    source: str = field(default="<policy>", compare=False)

    def __repr__(self) -> str:
        # a policy may hold 100,000 rules and its whole text: the repr stays one short line
        digest = "None" if self.digest is None else repr(self.digest[:12] + "...")
        return (
            f"Policy(version={self.version}, source={self.source!r}, limits={dict(self.limits)!r}, "
            f"capabilities=<{len(self.capabilities)} rules>, host={sorted(self.host)!r}, digest={digest})"
        )

    def __hash__(self) -> int:
        # the mappings are read-only views, which do not hash; equal policies agree on all of these
        return hash((self.version, self.digest, tuple(sorted(self.limits.items())), len(self.capabilities)))

    @classmethod
    def deny_all(cls) -> Policy:
        """The built-in policy used when none is given: no capability, no limit of its own."""
        return cls(
            version=POLICY_VERSION,
            limits=_frozen({}),
            capabilities=_frozen({}),
            host=_frozen({}),
            source="<deny-all>",
        )

    @classmethod
    def from_toml(cls, text: str | bytes, source: str = "<policy>") -> Policy:
        """Parse and check TOML text or UTF-8 bytes; raises `PolicyError` (and nothing else) on any defect."""
        raw: object = text
        if isinstance(raw, (bytearray, memoryview)):
            raw = bytes(raw)
        if isinstance(raw, bytes):
            data = raw
            try:
                decoded = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data.count(b"\n", 0, exc.start) + 1
                raise PolicyError(
                    "policy.encoding",
                    f"{source}:{line}: the policy is not valid UTF-8 (byte {exc.start})",
                    source=source,
                    key=None,
                    offset=exc.start,
                    line=line,
                ) from None
        elif isinstance(raw, str):
            decoded = raw
            try:
                data = raw.encode("utf-8")
            except UnicodeEncodeError as exc:
                line = raw.count("\n", 0, exc.start) + 1
                raise PolicyError(
                    "policy.encoding",
                    f"{source}:{line}: the policy text holds a lone surrogate (character {exc.start})",
                    source=source,
                    key=None,
                    offset=exc.start,
                    line=line,
                ) from None
        else:
            raise PolicyError(
                "policy.type", f"{source}: a policy is TOML text or bytes, not {_kind(raw)}", source=source, key=None
            )
        check_key_bounds(decoded, source)  # tomllib is quadratic in a dotted key's parts: bound them first
        # Imported here, not at the top: a run without a policy file (deny-all) does not load a TOML parser.
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - exercised only on Python 3.10
            import tomli as tomllib
        try:
            parsed = tomllib.loads(decoded)
        except tomllib.TOMLDecodeError as exc:
            message = str(exc)
            line, col = _error_position(message, decoded)
            reason = re.sub(_POSITION_SUFFIX, "", message).strip()
            raise PolicyError(
                "policy.syntax",
                f"{source}:{line}:{col}: the policy is not valid TOML: {reason}",
                source=source,
                key=None,
                line=line,
                col=col,
            ) from None
        except ValueError:
            # tomllib lets int() refuse integers longer than sys.get_int_max_str_digits() digits.
            long_number = re.search(r"[0-9_]{1000,}", decoded)
            line = decoded.count("\n", 0, long_number.start()) + 1 if long_number else 1
            raise PolicyError(
                "policy.syntax",
                f"{source}:{line}: the policy holds an integer with too many digits",
                source=source,
                key=None,
                line=line,
            ) from None
        except RecursionError:
            raise PolicyError(
                "policy.syntax",
                f"{source}:1: the policy nests arrays or tables too deeply",
                source=source,
                key=None,
                line=1,
            ) from None
        return cls.from_mapping(parsed, source, text=decoded, digest=sha256_hex(data))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Policy:
        """Read and check a policy file; an unreadable file is a `UsageError`, a bad one a `PolicyError`."""
        name = os.fspath(path)
        data = read_capped(name, MAX_POLICY_FILE_BYTES, PolicyError, "policy.too-large", "a host policy (TOML)")
        return cls.from_toml(data, source=name)

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Any],
        source: str = "<policy>",
        *,
        text: str | None = None,
        digest: str | None = None,
    ) -> Policy:
        """Check an already parsed policy (what `tomllib` gives); `text` lets errors name their line."""
        return _Checker(source, text).policy(data, text, digest)

    def effective_limits(self, base: Limits) -> Limits:
        """`base` lowered to this policy's ceilings, field by field."""
        return base.tightened(self.limits)

    def rule(self, name: str) -> CapabilityRule | None:
        """The rule for one capability, None when the policy is silent about it."""
        return self.capabilities.get(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (not the text): version, limits, capabilities, host settings, digest."""
        return {
            "version": self.version,
            "limits": dict(self.limits),
            "capabilities": {name: rule.to_dict() for name, rule in self.capabilities.items()},
            "host": dict(self.host),
            "digest": self.digest,
        }


def _unquoted_name(name: str, raw: object) -> tuple[str, int] | None:
    """For `[capabilities.log.info]` (TOML nests `log` > `info`): the dotted name meant and its depth, else None."""
    parts = [name]
    table = raw
    while isinstance(table, Mapping) and table and not any(key in _RULE_KEYS for key in table):
        key, inner = next(iter(table.items()))
        if not isinstance(inner, Mapping):
            break
        parts.append(str(key))
        table = inner
    dotted = ".".join(parts)
    if len(parts) < 2 or not isinstance(table, Mapping) or not CAPABILITY_NAME.fullmatch(dotted):
        return None
    return dotted, len(parts)


def format_key_path(path: tuple[str, ...]) -> str:
    """A key path as TOML writes it: `capabilities."kv.get".alow`."""
    bare = re.compile(_BARE_KEY)
    return ".".join(part if bare.fullmatch(part) else _quote(part) for part in path)


def _quote(key: str) -> str:
    out = ['"']
    for char in key:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _frozen(mapping: dict[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(mapping)


def _error_position(message: str, text: str) -> tuple[int, int]:
    match = re.search(_POSITION, message)
    if match:
        return int(match.group(1)), int(match.group(2))
    # tomllib says "at end of document": point past the last character.
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


class _Checker:
    """Walks a parsed policy once, raising the first defect with its key path and line."""

    def __init__(self, source: str, text: str | None) -> None:
        self.source = source
        self.text = text

    def fail(self, code: str, path: tuple[str, ...], message: str, **details: Any) -> PolicyError:
        key = format_key_path(path)
        line = find_key_line(self.text, path) if self.text is not None and path else None
        if line is None and self.text is not None:
            line = 1  # a key missing at the top level (`version`): the policy as a whole, from its first line
        where = self.source if line is None else f"{self.source}:{line}"
        if line is not None:
            details["line"] = line
        return PolicyError(
            code, f"{where}: {key}: {message}" if key else f"{where}: {message}", source=self.source, key=key, **details
        )

    def table(self, value: object, path: tuple[str, ...]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail("policy.type", path, f"must be a table, found {_kind(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.fail("policy.type", path, f"keys must be strings, found {_kind(key)}")
        return value

    def known(self, table: Mapping[str, Any], path: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                expected = ", ".join(allowed)
                raise self.fail("policy.unknown-key", (*path, key), f"unknown key (expected one of: {expected})")

    def int_in(self, value: object, path: tuple[str, ...], low: int, high: int, code: str) -> int:
        if type(value) is not int:
            raise self.fail("policy.type", path, f"must be an int, found {_kind(value)}")
        if not low <= value <= high:
            shown = str(value) if value.bit_length() < 200 else f"an int of {value.bit_length()} bits"
            raise self.fail(code, path, f"{shown} is outside {low}..{high}", value_range=[low, high])
        return value

    def policy(self, data: object, text: str | None, digest: str | None) -> Policy:
        top = self.table(data, ())
        # the version first: a policy of another format version is reported as such, not by its new keys
        if "version" not in top:
            raise self.fail("policy.missing-key", ("version",), "required key is missing (write `version = 1`)")
        version = top["version"]
        if type(version) is not int:
            raise self.fail("policy.type", ("version",), f"must be an int, found {_kind(version)}")
        if version != POLICY_VERSION:
            shown = str(version) if version.bit_length() < 200 else "a huge int"
            raise self.fail("policy.version", ("version",), f"version {shown} is not supported (this runtime reads 1)")
        self.known(top, (), _TOP_KEYS)
        limits = self.limits(top.get("limits", {}))
        capabilities = self.capabilities(top.get("capabilities", {}))
        host = self.host(top.get("host", {}))
        return Policy(
            version=version,
            limits=_frozen(limits),
            capabilities=_frozen(capabilities),
            host=_frozen(host),
            text=text,
            digest=digest,
            source=self.source,
        )

    def limits(self, value: object) -> dict[str, int]:
        path = ("limits",)
        table = self.table(value, path)
        names = Limits.names()
        self.known(table, path, names)
        return {
            name: self.int_in(raw, (*path, name), 0, getattr(HARD_LIMITS, name), "policy.limit-range")
            for name, raw in table.items()
        }

    def capabilities(self, value: object) -> dict[str, CapabilityRule]:
        path = ("capabilities",)
        table = self.table(value, path)
        rules: dict[str, CapabilityRule] = {}
        for name, raw in table.items():
            rule_path = (*path, name)
            if len(name) > CAPABILITY_NAME_MAX_LEN or not CAPABILITY_NAME.fullmatch(name):
                nested = _unquoted_name(name, raw)
                if nested is not None:
                    dotted, depth = nested
                    raise self.fail(
                        "policy.cap-name",
                        (*path, *dotted.split(".")[:depth]),
                        f"TOML read the unquoted name as nested tables; quote the capability name: "
                        f'[capabilities."{dotted}"]',
                        hint=f'write [capabilities."{dotted}"] (with the quotes)',
                    )
                raise self.fail(
                    "policy.cap-name",
                    rule_path,
                    f"a capability name is two or more dotted lowercase identifiers such as kv.get, "
                    f"at most {CAPABILITY_NAME_MAX_LEN} characters",
                )
            rule = self.table(raw, rule_path)
            self.known(rule, rule_path, _RULE_KEYS)
            if "allow" not in rule:
                raise self.fail("policy.missing-key", (*rule_path, "allow"), "required key is missing")
            allow = rule["allow"]
            if type(allow) is not bool:
                raise self.fail("policy.type", (*rule_path, "allow"), f"must be a bool, found {_kind(allow)}")
            max_calls = rule.get("max_calls")
            if max_calls is not None:
                max_calls = self.int_in(
                    max_calls, (*rule_path, "max_calls"), 0, MAX_CALLS_CEILING, "policy.quota-range"
                )
            args: tuple[ArgRule, ...] = ()
            if "args" in rule:
                args = parse_args_table(rule["args"], (*rule_path, "args"), self.fail)
            rules[name] = CapabilityRule(allow=allow, max_calls=max_calls, args=args)
        return rules

    def host(self, value: object) -> dict[str, HostSettingValue]:
        path = ("host",)
        table = self.table(value, path)
        settings: dict[str, HostSettingValue] = {}
        for name, raw in table.items():
            if type(raw) is int:
                settings[name] = self.int_in(raw, (*path, name), _I64_MIN, _I64_MAX, "policy.type")
            elif type(raw) is bool or type(raw) is str:
                settings[name] = raw
            else:
                raise self.fail(
                    "policy.type", (*path, name), f"a host setting is a string, int or bool, found {_kind(raw)}"
                )
        return settings


# --- finding the line of a key path -------------------------------------------------------------
#
# tomllib gives values without positions, so the line of a bad key is found
# again in the text: a single pass that tracks the current table header and
# reads the key of each `key = value` line.  It is best effort (a line inside a
# multi-line string may look like a key) and only ever runs for an error.

_KEY_PART = r"""\s*(?:([A-Za-z0-9_-]+)|"((?:[^"\\]|\\.)*)"|'([^']*)')\s*"""
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\", "e": "\x1b"}
_UNICODE_ESCAPE = r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|x([0-9A-Fa-f]{2})|(.))"


def _unescape(body: str) -> str:
    def one(match: re.Match[str]) -> str:
        hex_digits = match.group(1) or match.group(2) or match.group(3)
        if hex_digits:
            code = int(hex_digits, 16)
            return chr(code) if code <= 0x10FFFF else ""
        return _ESCAPES.get(match.group(4), match.group(4))

    return re.sub(_UNICODE_ESCAPE, one, body, flags=re.DOTALL)


def _read_key(text: str, start: int) -> tuple[tuple[str, ...], int] | None:
    """A dotted key at `start`: its parts and the index after it, or None."""
    parts: list[str] = []
    pos = start
    key_part = re.compile(_KEY_PART)
    while True:
        match = key_part.match(text, pos)
        if not match:
            return None
        bare, basic, literal = match.groups()
        if bare is not None:
            parts.append(bare)
        elif basic is not None:
            parts.append(_unescape(basic))
        else:
            parts.append(literal or "")
        pos = match.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
            continue
        return tuple(parts), pos


def find_key_line(text: str | None, path: tuple[str, ...]) -> int | None:
    """The 1-based line that defines `path`, else the deepest enclosing one found, else None."""
    if text is None:
        return None
    table: tuple[str, ...] = ()
    best_line: int | None = None
    best_depth = 0
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.lstrip()
        if not line or line[0] == "#":
            continue
        full: tuple[str, ...] | None = None
        if line.startswith("["):
            opener = 2 if line.startswith("[[") else 1
            read = _read_key(line, opener)
            if read is None:
                continue
            table = read[0]
            full = table
        else:
            read = _read_key(line, 0)
            if read is None or not line[read[1] :].startswith("="):
                continue
            full = table + read[0]
        if full == path:
            return number
        depth = _common_prefix(full, path)
        if depth > best_depth and depth == len(full):
            best_line, best_depth = number, depth
    return best_line


def _common_prefix(left: tuple[str, ...], right: tuple[str, ...]) -> int:
    count = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        count += 1
    return count
