"""ChronicleVM: a replayable sandbox runtime for untrusted plugins.

Bytes flow one way through this package:

    format/decode -> Module -> verify -> VerifiedModule
    -> policy/negotiate -> Instance -> interpreter -> result + Trace -> replay
"""

from __future__ import annotations

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

__version__ = "0.1.0"

__all__ = [
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
]
