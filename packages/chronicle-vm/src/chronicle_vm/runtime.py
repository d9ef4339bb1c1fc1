"""The embedding front: takes module bytes, a policy and a host, gives instances whose calls return results.

    plugin = load_module(data)                          # decode + verify
    instance = instantiate(plugin, host=host, policy=policy, limits=Limits(...))
    result = instance.call("main", 10)                  # RunResult(value, instructions, ...)

`instantiate` negotiates every declared capability before any plugin code
can run (a refusal is one PolicyError listing all refused capabilities), and
fixes the effective limits: the runtime's safe defaults (or the host's
`limits`), lowered by the policy's ceilings.  Each call runs on fresh frames
and fresh quota counters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .calls import CapabilityHandler
from .errors import DecodeError, UsageError, declare_codes
from .interp import Interpreter, RunOutcome
from .limits import DEFAULT_LIMITS, HARD_LIMITS, Limits
from .model import Module

if TYPE_CHECKING:
    from .host import Host
    from .negotiate import Negotiation
    from .policy import Policy
    from .verify import VerifiedModule

__all__ = ["Engine", "Instance", "LoadedModule", "RunResult", "instantiate", "load_module"]

declare_codes("usage", {"engine": "an unknown engine name was requested"})

EngineName = Literal["auto", "compiled", "reference"]


class Engine(Protocol):
    """What runs calls: the reference Interpreter, or the compiled engine with identical semantics."""

    def call(self, entry: str, args: Sequence[object]) -> RunOutcome: ...


@dataclass(frozen=True, slots=True)
class LoadedModule:
    """A verified module with the digest of the exact bytes it came from."""

    verified: VerifiedModule
    digest: str  # sha256 hex of the module bytes

    @property
    def module(self) -> Module:
        return self.verified.module


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished call: the entry's result (None when it returns nothing) and the instructions executed."""

    value: object
    instructions: int


def load_module(data: bytes, *, max_registers: int = HARD_LIMITS.max_registers) -> LoadedModule:
    """Decode and verify module bytes; raises DecodeError or VerifyError."""
    from .decode import decode_module
    from .verify import verify

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("decode.not-bytes", f"a module is bytes, not {type(data).__name__}", offset=0)
    raw = bytes(data)
    module = decode_module(raw)
    verified = verify(module, max_registers=max_registers)
    return LoadedModule(verified, hashlib.sha256(raw).hexdigest())


def make_engine(
    verified: VerifiedModule,
    limits: Limits,
    handlers: Sequence[CapabilityHandler | None],
    engine: EngineName = "auto",
) -> Engine:
    """The engine for one call; "auto" is the compiled engine where it exists, else the reference interpreter."""
    if engine == "reference":
        return Interpreter(verified, limits, handlers)
    if engine not in {"auto", "compiled"}:
        raise UsageError("usage.engine", f"unknown engine {engine!r}; use auto, compiled or reference")
    try:
        from .compiled import CompiledEngine
    except ImportError:
        if engine == "compiled":
            raise UsageError("usage.engine", "the compiled engine is not available in this build") from None
        return Interpreter(verified, limits, handlers)
    return CompiledEngine(verified, limits, handlers)


class Instance:
    """A module negotiated against one host and policy, ready to call under fixed limits."""

    def __init__(
        self,
        loaded: LoadedModule,
        negotiation: Negotiation,
        policy: Policy,
        limits: Limits,
        engine: EngineName,
    ) -> None:
        self.loaded = loaded
        self.negotiation = negotiation
        self.policy = policy
        self.limits = limits
        self.engine: EngineName = engine

    @property
    def exports(self) -> dict[str, str]:
        """Exported function names with their signatures."""
        module = self.loaded.module
        return {name: module.functions[index].signature() for name, index in self.loaded.verified.exports.items()}

    def call(self, entry: str, *args: object) -> RunResult:
        """Run exported function `entry`; raises ExecutionError, ResourceLimitError or UsageError."""
        handlers = self.negotiation.handlers(self.limits)
        outcome = make_engine(self.loaded.verified, self.limits, handlers, self.engine).call(entry, args)
        return RunResult(outcome.value, outcome.instructions)


def instantiate(
    plugin: LoadedModule | bytes,
    *,
    host: Host | None = None,
    policy: Policy | None = None,
    limits: Limits | None = None,
    engine: EngineName = "auto",
) -> Instance:
    """Negotiate `plugin` against `host` and `policy` (deny-all when None) and fix the effective limits.

    Raises PolicyError when any declared capability is refused; the error lists all of them.
    """
    from .host import Host
    from .negotiate import negotiate
    from .policy import Policy

    loaded = plugin if isinstance(plugin, LoadedModule) else load_module(plugin)
    host = host if host is not None else Host()
    policy = policy if policy is not None else Policy.deny_all()
    negotiation = negotiate(loaded.verified, policy, host)
    negotiation.require()
    effective = policy.effective_limits(limits if limits is not None else DEFAULT_LIMITS)
    return Instance(loaded, negotiation, policy, effective, engine)
