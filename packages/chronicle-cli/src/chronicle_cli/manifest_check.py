"""`chronc --host-manifest HOST.json`: takes a plugin and a host manifest, gives diagnostics at its `cap` lines.

A plugin author checks the plugin's `cap` declarations against the host it
targets before uploading: each declaration the host cannot serve is a source
diagnostic at the declaration, worded as negotiation words its decision
(`unknown`, `type-invalid`), so the author reads at compile time what the
service would answer at load time.  Whether the policy grants a capability
is the operator's decision and not in a manifest.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from chronicle_vm.capabilities.manifest import check_capabilities, load_host_manifest
from chronicle_vm.core.model import Module
from chronicle_vm.errors import SourceError, UsageError, declare_codes

__all__ = ["check_against_manifest"]

declare_codes("source", {"host-manifest": "a `cap` declaration the host manifest does not offer with that signature"})

#: Most bytes of a manifest file read (the same bound load_host_manifest applies to the bytes).
_MAX_READ = (1 << 20) + 1


def check_against_manifest(module: Module, source_text: str, source_name: str, manifest_path: str) -> None:
    """Raise `SourceError('source.host-manifest')` listing every declaration the manifest's host cannot serve."""
    manifest = load_host_manifest(_read(manifest_path), manifest_path)
    problems = check_capabilities(module.capabilities, manifest)
    if not problems:
        return
    lines = source_text.split("\n")
    diagnostics: list[dict[str, Any]] = []
    for problem in problems:
        line, col = _declaration(lines, problem["name"])
        diagnostic: dict[str, Any] = {
            "code": "source.host-manifest",
            "message": f"cap {problem['name']}{problem['signature']}: {problem['decision']} ({problem['reason']})",
            "file": source_name,
            "line": line,
            "col": col,
            "end_line": line,
            "end_col": col + len(problem["name"]),
            "source_line": lines[line - 1][:160] if 0 < line <= len(lines) else "",
            "decision": problem["decision"],
        }
        offered = manifest.capabilities.get(problem["name"])
        if offered is not None:
            diagnostic["hint"] = f"declare it as `cap {problem['name']}{offered};`"
        diagnostics.append(diagnostic)
    count = len(diagnostics)
    noun = "declaration" if count == 1 else "declarations"
    raise SourceError(
        "source.host-manifest",
        f"{source_name}: {count} capability {noun} that the host in {manifest_path} does not offer:\n"
        + "\n".join(f"  {d['message']}" for d in diagnostics),
        diagnostics=diagnostics,
        manifest=manifest_path,
    )


def _read(path: str) -> bytes:
    """At most one byte more than a manifest may hold (so an oversized one is named, not read whole)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UsageError("usage.not-a-file", f"{path}: is not a regular file; expected a host manifest", path=path)
        with open(path, "rb") as handle:
            return handle.read(_MAX_READ)
    except OSError as exc:
        raise UsageError(
            "usage.unreadable-file", f"{path}: cannot read the host manifest: {exc.strerror or exc}", path=path
        ) from None


def _declaration(lines: list[str], name: str) -> tuple[int, int]:
    """The 1-based line and column of `cap NAME`, (1, 1) if the text does not show it plainly."""
    pattern = re.compile(r"\bcap\s+(" + re.escape(name) + r")\s*\(")
    for number, text in enumerate(lines, start=1):
        match = pattern.search(text)
        if match:
            return number, match.start(1) + 1
    return 1, 1
