"""ChronicleVM: a replayable sandbox runtime for untrusted plugins.

Bytes flow one way through this package:

    format/decode -> Module -> verify -> VerifiedModule
    -> policy/negotiate -> Instance -> interpreter -> result + Trace -> replay
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    ChronicleError,
    DecodeError,
    ExecutionError,
    PolicyError,
    ReplayError,
    ResourceLimitError,
    SourceError,
    UsageError,
    VerifyError,
)
from .limits import DEFAULT_LIMITS, HARD_LIMITS, Limits
from .model import FORMAT_VERSION, Capability, Function, Instruction, Module, SourceMap, SourcePos
from .types import BOOL, INT, STR, BaseType, ValueType

if TYPE_CHECKING:
    from .audit import Auditor, AuditResult, audit_trace, audit_traces
    from .control import CancelHandle
    from .host import CallContext, Host, HostCapability
    from .negotiate import Decision, Negotiation, negotiate
    from .policy import CapabilityRule, Policy
    from .replay import ReplayReport, replay
    from .runtime import Instance, LoadedModule, RunResult, instantiate, load_module
    from .trace import Trace, load_trace
    from .verify import VerifiedModule, verify

__version__ = "0.1.0"

# The embedding API by name, imported on first use so `import chronicle_vm` stays cheap
# (a command that only decodes never loads the policy parser or the engines).
_LAZY = {
    "CancelHandle": "control",
    "CallContext": "host",
    "AuditResult": "audit",
    "Auditor": "audit",
    "audit_trace": "audit",
    "audit_traces": "audit",
    "Host": "host",
    "HostCapability": "host",
    "Decision": "negotiate",
    "Negotiation": "negotiate",
    "negotiate": "negotiate",
    "CapabilityRule": "policy",
    "Policy": "policy",
    "ReplayReport": "replay",
    "replay": "replay",
    "Instance": "runtime",
    "LoadedModule": "runtime",
    "RunResult": "runtime",
    "instantiate": "runtime",
    "load_module": "runtime",
    "Trace": "trace",
    "load_trace": "trace",
    "VerifiedModule": "verify",
    "verify": "verify",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'chronicle_vm' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)


__all__ = [  # eager names first, then the lazily imported embedding API
    "BOOL",
    "DEFAULT_LIMITS",
    "FORMAT_VERSION",
    "HARD_LIMITS",
    "INT",
    "STR",
    "BaseType",
    "Capability",
    "ChronicleError",
    "DecodeError",
    "ExecutionError",
    "Function",
    "Instruction",
    "Limits",
    "Module",
    "PolicyError",
    "ReplayError",
    "ResourceLimitError",
    "SourceError",
    "SourceMap",
    "SourcePos",
    "UsageError",
    "ValueType",
    "VerifyError",
    "__version__",
    "CallContext",
    "CancelHandle",
    "AuditResult",
    "Auditor",
    "CapabilityRule",
    "Decision",
    "Host",
    "HostCapability",
    "Instance",
    "LoadedModule",
    "Negotiation",
    "Policy",
    "ReplayReport",
    "RunResult",
    "Trace",
    "VerifiedModule",
    "audit_trace",
    "audit_traces",
    "instantiate",
    "load_module",
    "load_trace",
    "negotiate",
    "replay",
    "verify",
]
