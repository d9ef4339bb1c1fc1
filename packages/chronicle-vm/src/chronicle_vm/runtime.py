"""The embedding front: takes module bytes, a policy and a host, gives instances whose calls return results.

    plugin = load_module(data)                          # decode + verify
    instance = instantiate(plugin, host=host, policy=policy, limits=Limits(...))
    result = instance.call("main", 10)                  # RunResult(value, instructions, ...)
    traced = instance.call("main", 10, trace=True)      # ... and traced.trace, a chronicle_vm.trace.Trace

`instantiate` negotiates every declared capability before any plugin code
can run (a refusal is one PolicyError listing all refused capabilities), and
fixes the effective limits: the runtime's safe defaults (or the host's
`limits`), lowered by the policy's ceilings.  Each call runs on fresh frames
and fresh quota counters.  A traced call records every capability call and
the run's end (chronicle_vm.trace); when it fails, the raised error carries
the finished trace (`chronicle_vm.trace.error_trace(exc)`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from .calls import CapabilityHandler
from .errors import ChronicleError, DecodeError, UsageError, declare_codes
from .interp import Interpreter, RunOutcome
from .limits import DEFAULT_LIMITS, HARD_LIMITS, Limits
from .model import Module
from .values import ValueMismatch, import_value

if TYPE_CHECKING:
    from .host import Host
    from .negotiate import Negotiation
    from .policy import Policy
    from .trace import Trace
    from .verify import VerifiedModule

__all__ = ["Engine", "Instance", "LoadedModule", "RunResult", "instantiate", "load_module", "make_engine"]

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
    """A finished call: the entry's result (None when it returns nothing), the instructions executed, the trace.

    `trace` is None unless the call was traced.
    """

    value: object
    instructions: int
    trace: Trace | None = None


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
        trace: bool = False,
    ) -> None:
        self.loaded = loaded
        self.negotiation = negotiation
        self.policy = policy
        self.limits = limits
        self.engine: EngineName = engine
        #: Whether `call` records a trace when its `trace` argument is not given.
        self.trace = trace

    @property
    def exports(self) -> dict[str, str]:
        """Exported function names with their signatures."""
        module = self.loaded.module
        return {name: module.functions[index].signature() for name, index in self.loaded.verified.exports.items()}

    def call(self, entry: str, *args: object, trace: bool | None = None) -> RunResult:
        """Run exported function `entry`; raises ExecutionError, ResourceLimitError or UsageError.

        With `trace=True` (or the instance's default) the result carries the
        run's `Trace`; a traced call that fails attaches the finished trace to
        the raised error (read it with `chronicle_vm.trace.error_trace`).
        """
        handlers = self.negotiation.handlers(self.limits)
        if not (self.trace if trace is None else trace):
            outcome = make_engine(self.loaded.verified, self.limits, handlers, self.engine).call(entry, args)
            return RunResult(outcome.value, outcome.instructions)
        from . import __version__
        from .trace import Recorder, attach_trace

        entry_args = self._entry_args(entry, args)
        recorder = Recorder(
            self.loaded.module,
            module_digest=self.loaded.digest,
            policy_digest=self.policy.digest,
            limits=self.limits,
            decisions=[decision.to_dict() for decision in self.negotiation.decisions],
            runtime_version=__version__,
        )
        engine = make_engine(self.loaded.verified, self.limits, recorder.wrap(handlers), self.engine)
        try:
            outcome = engine.call(entry, args)
        except UsageError:
            raise  # the entry or its arguments were refused before any instruction ran: nothing to trace
        except ChronicleError as exc:
            if entry_args is not None:
                attach_trace(exc, recorder.failed(entry, entry_args, exc))
            raise
        recorded = None
        if entry_args is not None:
            recorded = recorder.returned(entry, entry_args, outcome.value, outcome.instructions)
        return RunResult(outcome.value, outcome.instructions, recorded)

    def _entry_args(self, entry: str, args: Sequence[object]) -> list[object] | None:
        """The entry arguments as JSON values, None when the engine will refuse them anyway."""
        index = self.loaded.verified.exports.get(entry) if isinstance(entry, str) else None
        if index is None:
            return None
        params = self.loaded.module.functions[index].params
        if len(params) != len(args):
            return None
        values: list[object] = []
        for arg, vtype in zip(args, params, strict=True):
            try:
                value, _units = import_value(arg, vtype, self.limits)
            except ValueMismatch:
                return None
            values.append(value)
        return values


def instantiate(
    plugin: LoadedModule | bytes,
    *,
    host: Host | None = None,
    policy: Policy | None = None,
    limits: Limits | None = None,
    engine: EngineName = "auto",
    trace: bool = False,
) -> Instance:
    """Negotiate `plugin` against `host` and `policy` (deny-all when None) and fix the effective limits.

    `trace=True` makes every call of the instance record a trace unless the call says otherwise.

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
    return Instance(loaded, negotiation, policy, effective, engine, trace)
