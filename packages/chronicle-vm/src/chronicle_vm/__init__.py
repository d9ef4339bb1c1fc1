"""ChronicleVM: a replayable sandbox runtime for untrusted plugins.

Bytes flow one way through this package, and its subpackages follow them:

    binary (bytes -> Module) -> verifier (-> VerifiedModule)
    -> capabilities (policy, host, negotiation -> handlers) -> engines (-> result)
    -> trace (-> Trace; Trace + module -> exact replay)

`core` holds the vocabulary they share (types, isa, model, values, calls);
`errors` and `limits` are the foundation; `runtime` is the embedding front
that ties the stages together (`load_module`, `instantiate`, `Instance.call`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .core.model import FORMAT_VERSION, Capability, Function, Instruction, Module, SourceMap, SourcePos
from .core.types import BOOL, INT, STR, BaseType, TypeKind, ValueType, array_type
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

if TYPE_CHECKING:
    from .capabilities.host import CallContext, Host, HostCapability
    from .capabilities.negotiation import Decision, Negotiation, negotiate
    from .capabilities.policy import CapabilityRule, Policy
    from .engines.control import CancelHandle
    from .runtime import Instance, LoadedModule, RunResult, instantiate, load_module
    from .trace.audit import Auditor, AuditResult, audit_trace, audit_traces
    from .trace.document import Trace, load_trace
    from .trace.replay import ReplayReport, replay
    from .verifier.rules import VerifiedModule, verify

__version__ = "0.1.0"

# The embedding API by name, imported on first use so `import chronicle_vm` stays cheap
# (a command that only decodes never loads the policy parser or the engines).
_LAZY = {
    "CancelHandle": "engines.control",
    "CallContext": "capabilities.host",
    "AuditResult": "trace.audit",
    "Auditor": "trace.audit",
    "audit_trace": "trace.audit",
    "audit_traces": "trace.audit",
    "Host": "capabilities.host",
    "HostCapability": "capabilities.host",
    "Decision": "capabilities.negotiation",
    "Negotiation": "capabilities.negotiation",
    "negotiate": "capabilities.negotiation",
    "CapabilityRule": "capabilities.policy",
    "Policy": "capabilities.policy",
    "ReplayReport": "trace.replay",
    "replay": "trace.replay",
    "Instance": "runtime",
    "LoadedModule": "runtime",
    "RunResult": "runtime",
    "instantiate": "runtime",
    "load_module": "runtime",
    "Trace": "trace.document",
    "load_trace": "trace.document",
    "VerifiedModule": "verifier.rules",
    "verify": "verifier.rules",
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
    "TypeKind",
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
    "array_type",
    "audit_trace",
    "audit_traces",
    "instantiate",
    "load_module",
    "load_trace",
    "negotiate",
    "replay",
    "verify",
]
