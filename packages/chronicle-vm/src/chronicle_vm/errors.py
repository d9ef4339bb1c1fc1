"""Error taxonomy: one exception class per pipeline stage, each with stable dotted codes.

Every entry point of ChronicleVM ends in a result or in a subclass of
`ChronicleError`; no other exception may escape for any input.  A code is a
stable string `<category>.<name>` (for example `decode.truncated`); messages
may improve over time, codes do not change.  Each stage module declares the
codes it raises with `declare_codes`, and docs/errors.md lists them all (a
test keeps the two in step).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "ChronicleError",
    "DecodeError",
    "ExecutionError",
    "PolicyError",
    "ReplayError",
    "ResourceLimitError",
    "SourceError",
    "UsageError",
    "VerifyError",
    "declare_codes",
    "declared_codes",
]

_CODES: dict[str, str] = {}
_OWNERS: dict[str, str] = {}  # code -> the module that declared it


def declare_codes(category: str, codes: Mapping[str, str]) -> None:
    """Register the codes a stage raises: `{name: meaning}` under `category`.

    A code has one owner and one meaning: declaring a code that another module
    (or the same module with another meaning) already declared is a bug in
    ChronicleVM and raises `ValueError` at import, so two stages can never
    give one code two meanings.  Declaring the same code again with the same
    meaning from the same module (a re-imported module) is allowed.
    """
    owner = str(sys._getframe(1).f_globals.get("__name__", ""))
    for name, meaning in codes.items():
        code = f"{category}.{name}"
        known = _CODES.get(code)
        if known is not None and (known != meaning or _OWNERS[code] != owner):
            raise ValueError(f"error code {code} is declared by {_OWNERS[code]} already; {owner} may not declare it")
        _CODES[code] = meaning
        _OWNERS[code] = owner


def declared_codes(owner: str | None = None) -> dict[str, str]:
    """Every declared code with its one-line meaning (a copy); only a package's own with `owner="chronicle_vm"`."""
    if owner is None:
        return dict(_CODES)
    return {
        code: meaning
        for code, meaning in _CODES.items()
        if _OWNERS[code] == owner or _OWNERS[code].startswith(owner + ".")
    }


class ChronicleError(Exception):
    """Base of every structured ChronicleVM error.

    `code` is a stable dotted string, `message` a plain sentence for people,
    `details` extra JSON-safe facts (offsets, function names, limits...).
    """

    category: ClassVar[str] = "internal"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        if not code.startswith(self.category + "."):
            code = f"{self.category}.{code}"
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details
        #: The finished trace of a traced call that failed (kept out of to_dict(), which stays small JSON).
        #: (A `chronicle_vm.trace.Trace`; read it with `chronicle_vm.trace.error_trace`, which checks its type:
        #: naming the class here would make the foundation depend on the trace stage.)
        self.trace: object | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: category, code, message and the details."""
        out: dict[str, Any] = {
            "category": self.category,
            "code": self.code,
            "message": self.message,
        }
        for key, value in self.details.items():
            if key not in out:
                out[key] = value
        return out


class DecodeError(ChronicleError):
    """The bytes are not a well-formed module; `details['offset']` says where."""

    category = "decode"


class VerifyError(ChronicleError):
    """A decoded module breaks a verifier rule; names the function and instruction."""

    category = "verify"


class PolicyError(ChronicleError):
    """A host policy is malformed, or negotiation refused the module's capabilities."""

    category = "policy"


class ExecutionError(ChronicleError):
    """A plugin trap at run time, with the source location and the call stack."""

    category = "runtime"


class ResourceLimitError(ChronicleError):
    """A run reached one of its deterministic limits (instructions, depth, memory, quota)."""

    category = "limit"


class ReplayError(ChronicleError):
    """A trace is malformed, sliced, or the replay diverged from it."""

    category = "replay"


class SourceError(ChronicleError):
    """A `.chr` or `.casm` source is invalid; `details['diagnostics']` lists each problem."""

    category = "source"


class UsageError(ChronicleError):
    """A host or command line called an entry point with unusable arguments."""

    category = "usage"
