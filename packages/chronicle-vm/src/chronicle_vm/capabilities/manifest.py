"""Host manifests: takes a `Host` (or untrusted manifest JSON), gives the capability signatures it offers.

A host writes its manifest (`host_manifest(host)`, `chronicle-vm host-manifest --host MODULE:ATTR -o
host.json`) so a plugin author can check a plugin's `cap` declarations against the product it targets
before uploading it (`chronc plugin.chr --host-manifest host.json`).  `check_capabilities` decides each
declaration with the same wording as negotiation's `unknown` and `type-invalid` decisions; grants are
the policy's business and are not in a manifest.

A manifest is one JSON object:

    {"format": "chronicle-host-manifest", "version": 1,
     "capabilities": [{"name": "kv.get", "signature": "(str) -> str"}, ...],
     "settings": {"kv_path": "str"}}

Read from outside it is untrusted: `load_host_manifest` bounds its size, refuses any other shape with
`UsageError('usage.host-manifest')` naming the field, and never recurses on its nesting.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from chronicle_vm.core.model import Capability
from chronicle_vm.errors import UsageError, declare_codes

from .host import Host
from .policy import CAPABILITY_NAME, CAPABILITY_NAME_MAX_LEN

__all__ = [
    "MANIFEST_FORMAT",
    "MAX_MANIFEST_BYTES",
    "HostManifest",
    "check_capabilities",
    "host_manifest",
    "load_host_manifest",
]

declare_codes("usage", {"host-manifest": "a host manifest file is malformed, too large or of another format"})

MANIFEST_FORMAT = "chronicle-host-manifest"
MANIFEST_VERSION = 1
#: Largest manifest accepted (bytes); a host with a thousand capabilities needs well under 100 KiB.
MAX_MANIFEST_BYTES = 1 << 20
#: Most capabilities and settings in one manifest.
MAX_MANIFEST_ENTRIES = 10_000
# A signature as Capability.signature() writes it: `(str, [int]) -> bool`, `()`; the types are compared as text,
# so any type the VM adds later reads the same way.
_SIGNATURE = re.compile(r"\([\w\[\]{}:, ]*\)(?: -> [\w\[\]{}:, ]+)?")
_MAX_SIGNATURE = 2_000
_SETTING_TYPES = ("str", "int", "bool")


@dataclass(frozen=True, slots=True)
class HostManifest:
    """The capabilities a host offers (name -> signature text) and its `[host]` settings (name -> type name)."""

    capabilities: Mapping[str, str]
    settings: Mapping[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MANIFEST_FORMAT,
            "version": MANIFEST_VERSION,
            "capabilities": [{"name": name, "signature": sig} for name, sig in self.capabilities.items()],
            "settings": dict(self.settings),
        }

    def to_json(self) -> bytes:
        return (json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def host_manifest(host: Host) -> HostManifest:
    """The manifest of `host`: every registered capability's signature and every declared setting."""
    if not isinstance(host, Host):
        raise UsageError(
            "usage.host-manifest", f"a manifest is made from a chronicle_vm Host, not {type(host).__name__}"
        )
    return HostManifest(
        {capability.name: capability.signature() for capability in host},
        {name: kind.__name__ for name, kind in host.settings.items()},
    )


def load_host_manifest(data: bytes | str, source: str = "<manifest>") -> HostManifest:
    """Read untrusted manifest JSON; every defect is `UsageError('usage.host-manifest')` naming `source`."""

    def fail(problem: str) -> NoReturn:
        raise UsageError("usage.host-manifest", f"{source}: {problem}", source=source)

    doc = _document(data, fail)
    return HostManifest(_capability_entries(doc.get("capabilities"), fail), _setting_entries(doc, fail))


def _document(data: object, fail: Callable[[str], NoReturn]) -> dict[str, Any]:
    """The manifest's top-level object, with its format, version and fields checked."""
    if not isinstance(data, (bytes, str)):
        fail(f"expected bytes or text, found {type(data).__name__}")
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > MAX_MANIFEST_BYTES:
        fail(f"the manifest is {size} bytes; at most {MAX_MANIFEST_BYTES} are read")
    try:
        doc = json.loads(data)
    except RecursionError:
        fail("the manifest nests too deeply")
    except (ValueError, UnicodeDecodeError) as exc:
        fail(f"not UTF-8 JSON: {str(exc)[:200]}")
    if type(doc) is not dict:
        fail("a manifest is a JSON object")
    if doc.get("format") != MANIFEST_FORMAT:
        fail(f"`format` is not {MANIFEST_FORMAT!r} (write one with `chronicle-vm host-manifest`)")
    if type(doc.get("version")) is not int or doc["version"] != MANIFEST_VERSION:
        fail(f"`version` must be {MANIFEST_VERSION}")
    extra = sorted(set(doc) - {"format", "version", "capabilities", "settings"})
    if extra:
        fail(f"unknown field {extra[0][:80]!r}")
    return doc


def _capability_entries(entries: object, fail: Callable[[str], NoReturn]) -> dict[str, str]:
    if type(entries) is not list or len(entries) > MAX_MANIFEST_ENTRIES:
        fail(f"`capabilities` must be a list of at most {MAX_MANIFEST_ENTRIES} objects")
    capabilities: dict[str, str] = {}
    for index, entry in enumerate(entries):
        where = f"capabilities[{index}]"
        if type(entry) is not dict or set(entry) != {"name", "signature"}:
            fail(f"{where} must be an object with exactly `name` and `signature`")
        name, signature = entry["name"], entry["signature"]
        if type(name) is not str or len(name) > CAPABILITY_NAME_MAX_LEN or not CAPABILITY_NAME.fullmatch(name):
            fail(f"{where}.name is not a capability name such as kv.get")
        if type(signature) is not str or len(signature) > _MAX_SIGNATURE or not _SIGNATURE.fullmatch(signature):
            fail(f"{where}.signature is not a signature such as (str, int) -> [str]")
        if name in capabilities:
            fail(f"{where}: capability {name} is listed twice")
        capabilities[name] = signature
    return capabilities


def _setting_entries(doc: dict[str, Any], fail: Callable[[str], NoReturn]) -> dict[str, str]:
    settings_doc = doc.get("settings", {})
    if type(settings_doc) is not dict or len(settings_doc) > MAX_MANIFEST_ENTRIES:
        fail("`settings` must be an object of setting names to str, int or bool")
    settings: dict[str, str] = {}
    for name, kind in settings_doc.items():
        if not name or len(name) > 200 or kind not in _SETTING_TYPES:
            fail(f"settings.{name[:80]} must name a setting with type str, int or bool")
        settings[name] = kind
    return settings


def check_capabilities(declared: Sequence[Capability], manifest: HostManifest) -> list[dict[str, str]]:
    """The declarations the manifest's host cannot serve, each with negotiation's decision and reason."""
    problems: list[dict[str, str]] = []
    for capability in declared:
        wanted = capability.signature()
        have = manifest.capabilities.get(capability.name)
        if have is None:
            reason = f"the host offers no capability named {capability.name}"
            problems.append({"name": capability.name, "signature": wanted, "decision": "unknown", "reason": reason})
        elif have != wanted:
            reason = f"the module declares {wanted}, the host provides {have}"
            problems.append(
                {"name": capability.name, "signature": wanted, "decision": "type-invalid", "reason": reason}
            )
    return problems
