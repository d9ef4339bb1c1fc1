"""The embedding front: takes module bytes, a policy and a host, gives instances whose calls return results.

    plugin = load_module(data)                          # decode + verify
    instance = instantiate(plugin, host=host, policy=policy, limits=Limits(...))
    result = instance.call("main", 10)                  # RunResult(value, instructions, ...)
    traced = instance.call("main", 10, trace=True)      # ... and traced.trace, a chronicle_vm.trace.document.Trace
    served = await instance.call_async("main", 10, timeout=0.5, context=request, meta={"order": "A-1"})

`instantiate` negotiates every declared capability before any plugin code
can run (a refusal is one PolicyError listing all refused capabilities), and
fixes the effective limits: the runtime's safe defaults (or the host's
`limits`), lowered by the policy's ceilings.  Each call runs on fresh frames
and fresh quota counters; the engine itself (and the compiled engine's
translations) is kept by the instance and reused, one per concurrent call
(a call that finds every kept engine busy builds another).  A call may
have a deadline (`timeout`) and a `CancelHandle` (see control.py), a
`context` for the capabilities that ask for it, and `meta` for its trace.
A traced call records every capability call and the run's end
(chronicle_vm.trace.document); when it fails, the raised error carries the finished
trace (`chronicle_vm.trace.document.error_trace(exc)`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.digest import sha256_hex

from . import __version__
from .core.calls import CapabilityHandler
from .core.model import Module
from .core.structured import to_host
from .core.types import struct_type
from .core.values import ValueMismatch, import_value
from .engines import semantics as _semantics  # noqa: F401  # every engine's table, checked complete at import
from .engines.control import CancelHandle, RunControl
from .engines.entry import plain_kinds, plain_units
from .errors import ChronicleError, DecodeError, UsageError, VerifyError, declare_codes
from .limits import DEFAULT_LIMITS, HARD_LIMITS, Limits

if TYPE_CHECKING:
    from .capabilities.host import Host
    from .capabilities.negotiation import Awaiter, Negotiation
    from .capabilities.policy import Policy
    from .engines.entry import RunOutcome
    from .trace.document import Recorder, Trace
    from .verifier.rules import VerifiedModule

__all__ = ["Engine", "Instance", "LoadedModule", "RunResult", "instantiate", "load_module", "make_engine"]

declare_codes("usage", {"engine": "an unknown engine name was requested"})

EngineName = Literal["auto", "compiled", "reference"]


class Engine(Protocol):
    """What runs calls: the reference interpreter, the fused one or the compiled engine, all with identical semantics.

    `handlers` (when given) replace the engine's capability handlers from this call on, with the same
    empty slots; `control` is the call's deadline and cancel handle.
    """

    def call(
        self,
        entry: str,
        args: Sequence[object],
        *,
        handlers: Sequence[CapabilityHandler | None] | None = None,
        control: RunControl | None = None,
    ) -> RunOutcome: ...


#: Idle engines an instance keeps (more concurrent calls build more engines; these many are kept after).
_KEPT_ENGINES = 4


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


_new_result = object.__new__
_result_slots: Any = RunResult.__dict__  # the slots' member descriptors
_set_value = _result_slots["value"].__set__
_set_instructions = _result_slots["instructions"].__set__
_set_trace = _result_slots["trace"].__set__


def _result(value: object, instructions: int, trace: Trace | None) -> RunResult:
    """`RunResult(value, instructions, trace)` at half the cost (a frozen dataclass's `__init__` sets each field
    through `object.__setattr__`; this sets the slots directly, the same object)."""
    result: RunResult = _new_result(RunResult)
    _set_value(result, value)
    _set_instructions(result, instructions)
    _set_trace(result, trace)
    return result


def load_module(data: bytes, *, max_registers: int = HARD_LIMITS.max_registers) -> LoadedModule:
    """Decode and verify module bytes; raises DecodeError or VerifyError."""
    from .binary.decode import decode_module
    from .verifier.rules import verify

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("decode.not-bytes", f"a module is bytes, not {type(data).__name__}", offset=0)
    raw = bytes(data)
    module = decode_module(raw)
    verified = verify(module, max_registers=max_registers)
    _require_runnable_kinds(module)
    return LoadedModule(verified, sha256_hex(raw))


def _require_runnable_kinds(module: Module) -> None:
    """Refuse (verify.type-invalid) a module declaring a kind of value the type registry has no row for.

    Format version 2 describes float, map and struct types before every stage can run them; a module
    using a kind without its registry row (its zero value, host and JSON forms) is refused here with a
    structured error instead of failing inside an engine.  Once every kind has its row this never fires.
    """
    from .core.model import module_types
    from .core.type_registry import ROWS

    if module.version < 2:
        return
    for vtype in module_types(module):
        stack = [vtype]
        while stack:
            node = stack.pop()
            if node.kind not in ROWS:
                raise VerifyError(
                    "type-invalid", f"this runtime cannot run {node.kind.value} values yet (no type-registry row)"
                )
            stack.extend(node.args)


def make_engine(
    verified: VerifiedModule,
    limits: Limits,
    handlers: Sequence[CapabilityHandler | None],
    engine: EngineName = "auto",
) -> Engine:
    """The engine for one call; "auto" is the compiled engine where it exists, else the fused interpreter.

    "reference" is the one-step oracle (chronicle_vm.engines.oracle): the same outcomes, slower.
    """
    # Each engine is imported when first asked for, so start-up pays only for the one a run uses.
    if engine == "reference":
        from .engines.oracle import Oracle

        return Oracle(verified, limits, handlers)
    if engine not in {"auto", "compiled"}:
        raise UsageError("usage.engine", f"unknown engine {engine!r}; use auto, compiled or reference")
    try:
        from .engines.compiled import CompiledEngine
    except ImportError:
        if engine == "compiled":
            raise UsageError("usage.engine", "the compiled engine is not available in this build") from None
        from .engines.reference import Interpreter

        return Interpreter(verified, limits, handlers)
    return CompiledEngine(verified, limits, handlers)


_TRACING: list[Any] = []


def _tracing() -> Any:
    """The trace recorder's API, imported by the first traced call (an untraced run never loads it)."""
    if not _TRACING:
        from .trace.document import Recorder, attach_trace
        from .trace.meta import check_meta

        _TRACING.extend((Recorder, attach_trace, check_meta))
    return _TRACING


class _Slot:
    """What one call at a time uses: an engine (None until its first run), the live handlers kept with it
    (None when they hold per-call state: quotas, context) and the bytes-out meter those handlers share."""

    __slots__ = ("engine", "handlers", "recorder", "recording", "sent")

    def __init__(self, handlers: tuple[CapabilityHandler, ...] | None, sent: list[int]) -> None:
        self.engine: Engine | None = None
        self.handlers = handlers
        self.sent = sent
        #: With kept handlers, the recorder of the slot's traced runs and the handlers it wrapped around them.
        self.recorder: Recorder | None = None
        self.recording: tuple[CapabilityHandler | None, ...] = ()


class Instance:
    """A module negotiated against one host and policy, ready to call under fixed limits.

    Calls from several threads at once are safe: each takes an idle engine or builds one.
    """

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
        self._idle: list[_Slot] = []  # list.pop and list.append are atomic: no lock needed
        self._recorder: Recorder | None = None  # the first traced call's, which later ones start from
        functions = loaded.module.functions
        self._params = {name: functions[index].params for name, index in loaded.verified.exports.items()}
        #: Per entry: its parameters and their plain Python types (`engines.entry.plain_kinds`).
        self._entries = {name: (params, plain_kinds(params)) for name, params in self._params.items()}
        host = negotiation.host
        offered = [host.get(declared.name) for declared in negotiation.declared]
        self._async = sorted(c.name for c in offered if c is not None and c.async_)
        self._wants_context = any(c is not None and c.context for c in offered)
        self._decisions = [decision.to_dict() for decision in negotiation.decisions]
        self._struct_classes: dict[int, type] | None = None  # module struct -> the host's dataclass of its shape
        # Live handlers hold per-call state for quotas (their counters), context and the bytes-out meter.  The
        # meter is reset at the start of each call, so without quotas and context one set of handlers serves
        # every call of the engine it is kept with (one call at a time), and the engine skips re-binding it.
        self._stateless = (
            not self._wants_context and all(d.max_calls is None for d in negotiation.decisions) and negotiation.ok
        )

    @property
    def exports(self) -> dict[str, str]:
        """Exported function names with their signatures."""
        module = self.loaded.module
        return {name: module.functions[index].signature() for name, index in self.loaded.verified.exports.items()}

    def call(
        self,
        entry: str,
        *args: object,
        trace: bool | None = None,
        timeout: float | None = None,
        cancel: CancelHandle | None = None,
        context: object = None,
        meta: Mapping[str, object] | None = None,
    ) -> RunResult:
        """Run exported function `entry`; raises ExecutionError, ResourceLimitError or UsageError.

        With `trace=True` (or the instance's default) the result carries the
        run's `Trace`; a traced call that fails attaches the finished trace to
        the raised error (read it with `chronicle_vm.trace.document.error_trace`).
        `timeout` (seconds, positive and finite) and `cancel` stop the run with
        `limit.deadline` / `limit.cancelled` at a fuel-slice end or right after
        a capability call returns (a blocking host function is not interrupted).
        `context` reaches the capabilities that ask for it (never the plugin,
        never the trace); `meta` is a JSON object recorded as the trace's `meta`.
        """
        control = None if timeout is None and cancel is None else RunControl.of(timeout, cancel)
        if self._async:
            raise UsageError(
                "usage.capability-async",
                f"the module uses async capabilities ({', '.join(self._async)}): call it with `await call_async(...)`",
            )
        if self._wants_context:
            return self._call(entry, args, trace, control, context, meta, None)
        # No context: `_call`'s path inlined (a service's usual call; each Python call here is ~5% of it).
        tracing = (_TRACING or _tracing()) if (self.trace if trace is None else trace) else None
        checked_meta = None if tracing is None or meta is None else tracing[2](meta)  # before a slot is taken
        try:
            slot = self._idle.pop()
        except IndexError:
            slot = self._slot()
        slot.sent[0] = 0  # bytes out are counted per run (max_output_bytes)
        handlers: Sequence[CapabilityHandler | None] | None = slot.handlers
        if handlers is None:
            handlers = self.negotiation.handlers(self.limits, sent=slot.sent)
        if tracing is not None:
            return self._traced(slot, entry, args, handlers, control, checked_meta, tracing)
        if control is not None:
            handlers = control.wrap(handlers)
        engine = slot.engine
        if engine is None:
            engine = slot.engine = make_engine(self.loaded.verified, self.limits, handlers, self.engine)
        try:
            value, instructions = engine.call(entry, args, handlers=handlers, control=control)
        finally:
            if len(self._idle) < _KEPT_ENGINES:
                self._idle.append(slot)
        if type(value) is list or type(value) is dict:
            value = self._for_host(entry, value)
        return _result(value, instructions, None)

    async def call_async(
        self,
        entry: str,
        *args: object,
        trace: bool | None = None,
        timeout: float | None = None,
        cancel: CancelHandle | None = None,
        context: object = None,
        meta: Mapping[str, object] | None = None,
    ) -> RunResult:
        """`call` without blocking the event loop: the plugin runs on a worker thread, async capabilities
        are awaited on the caller's loop.  Cancelling the awaiting task cancels the run (as `cancel` does)
        and raises `asyncio.CancelledError` once the run has stopped.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        handle = cancel if cancel is not None else CancelHandle()
        control = RunControl.of(timeout, handle)

        def awaiter(awaitable: Awaitable[Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(_as_coroutine(awaitable), loop).result()

        running = loop.run_in_executor(None, self._call, entry, args, trace, control, context, meta, awaiter)
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            handle.cancel()  # the worker stops at its next check; wait for it so no run outlives its task
            await asyncio.wait([running])
            raise

    def _call(
        self,
        entry: str,
        args: Sequence[object],
        trace: bool | None,
        control: RunControl | None,
        context: object,
        meta: Mapping[str, object] | None,
        awaiter: Awaiter | None,
    ) -> RunResult:
        call_context = None
        if self._wants_context:
            from .capabilities.host import CallContext

            call_context = CallContext(context, self.negotiation.settings, entry)
        traced = self.trace if trace is None else trace
        tracing = (_TRACING or _tracing()) if traced else None
        checked_meta = None if tracing is None or meta is None else tracing[2](meta)  # before a slot is taken
        slot = self._slot()
        slot.sent[0] = 0  # bytes out are counted per run (max_output_bytes)
        handlers: Sequence[CapabilityHandler | None]
        if slot.handlers is not None and awaiter is None:
            handlers = slot.handlers
        else:
            handlers = self.negotiation.handlers(self.limits, context=call_context, awaiter=awaiter, sent=slot.sent)
        if tracing is None:
            if control is not None:
                handlers = control.wrap(handlers)
            outcome = self._run(slot, entry, args, handlers, control)
            return _result(self._for_host(entry, outcome.value), outcome.instructions, None)
        return self._traced(slot, entry, args, handlers, control, checked_meta, tracing)

    def _traced(
        self,
        slot: _Slot,
        entry: str,
        args: Sequence[object],
        handlers: Sequence[CapabilityHandler | None],
        control: RunControl | None,
        meta: Mapping[str, object] | None,
        tracing: list[Any],
    ) -> RunResult:
        """A traced run on `slot`: the slot goes back to the idle ones only once its recorder's calls are in the
        trace (the next run on it restarts that recorder)."""
        entry_args = self._entry_args(entry, args)
        if handlers is slot.handlers and slot.recorder is not None:  # kept: restarted for this run
            recorder, recording = slot.recorder, slot.recording
            recorder.restart(meta)
        else:
            recorder, recording = self._recording(tracing[0], slot, handlers, meta)
        if control is not None:
            recording = control.wrap(recording)  # outside the recorder: the call is recorded before a stop
        engine = slot.engine
        try:
            if engine is None:
                engine = slot.engine = make_engine(self.loaded.verified, self.limits, recording, self.engine)
            value, instructions = engine.call(entry, args, handlers=recording, control=control)
            recorded = None if entry_args is None else recorder.returned(entry, entry_args, value, instructions)
        except UsageError:
            raise  # the entry or its arguments were refused before any instruction ran: nothing to trace
        except ChronicleError as exc:
            if entry_args is not None:
                tracing[1](exc, recorder.failed(entry, entry_args, exc))
            raise
        finally:
            if len(self._idle) < _KEPT_ENGINES:
                self._idle.append(slot)
        if type(value) is list or type(value) is dict:
            value = self._for_host(entry, value)
        return _result(value, instructions, recorded)

    def _for_host(self, entry: str, value: Any) -> Any:
        """An entry's result as the host takes it: maps as dicts, structs as its registered dataclasses or dicts."""
        if value is None or (type(value) is not list and type(value) is not dict):
            return value
        module = self.loaded.module
        index = self.loaded.verified.exports.get(entry)
        result = None if index is None else module.functions[index].result
        if result is None:
            return value
        structs = tuple(getattr(module, "structs", ()))
        if self._struct_classes is None:
            host = self.negotiation.host
            self._struct_classes = {
                ref: cls
                for ref in range(len(structs))
                if (cls := host.struct_class(struct_type(ref), structs)) is not None
            }
        return to_host(value, result, structs, self._struct_classes)

    def _recording(
        self,
        recorder_class: type[Recorder],
        slot: _Slot,
        handlers: Sequence[CapabilityHandler | None],
        meta: Mapping[str, object] | None,
    ) -> tuple[Recorder, tuple[CapabilityHandler | None, ...]]:
        """A recorder for this run and the recording handlers around `handlers`."""
        template = self._recorder
        if template is None:
            template = self._recorder = recorder_class(
                self.loaded.module,
                module_digest=self.loaded.digest,
                policy_digest=self.policy.digest,
                limits=self.limits,
                decisions=self._decisions,
                runtime_version=__version__,
            )
        if handlers is not slot.handlers:
            recorder = template.again(meta)
            return recorder, recorder.wrap(handlers)
        # Handlers kept with the engine: so is a recorder wrapped around them, restarted for each run.
        if slot.recorder is None:
            slot.recorder = template.again()
            slot.recording = slot.recorder.wrap(handlers)
        slot.recorder.restart(meta)
        return slot.recorder, slot.recording

    def _slot(self) -> _Slot:
        """An idle engine with its handlers and meter, or a fresh slot when all are busy."""
        try:
            return self._idle.pop()
        except IndexError:
            sent = [0]
            shared = self.negotiation.handlers(self.limits, sent=sent) if self._stateless else None
            return _Slot(shared, sent)

    def _run(
        self,
        slot: _Slot,
        entry: str,
        args: Sequence[object],
        handlers: Sequence[CapabilityHandler | None],
        control: RunControl | None,
    ) -> RunOutcome:
        """One run on the slot's engine (built on its first run), the slot given back afterwards."""
        engine = slot.engine
        if engine is None:
            engine = slot.engine = make_engine(self.loaded.verified, self.limits, handlers, self.engine)
        try:
            return engine.call(entry, args, handlers=handlers, control=control)
        finally:
            if len(self._idle) < _KEPT_ENGINES:
                self._idle.append(slot)

    def _entry_args(self, entry: str, args: Sequence[object]) -> list[object] | None:
        """The entry arguments as JSON values, None when the engine will refuse them anyway."""
        plan = self._entries.get(entry) if type(entry) is str else None
        if plan is None:
            params = self._params.get(entry) if isinstance(entry, str) else None
            if params is None:
                return None
        else:
            params, kinds = plan
            if not args and not params:
                return []
            if kinds is not None and plain_units(args, kinds, self.limits.max_string_len) >= 0:
                return list(args)  # what the full import would give
        if len(params) != len(args):
            return None
        values: list[object] = []
        for arg, vtype in zip(args, params, strict=True):
            try:
                value, _units = import_value(
                    arg, vtype, self.limits, "value", getattr(self.loaded.module, "structs", ())
                )
            except ValueMismatch:
                return None
            values.append(value)
        return values


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


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
    from .capabilities.host import Host
    from .capabilities.negotiation import negotiate
    from .capabilities.policy import Policy

    loaded = plugin if isinstance(plugin, LoadedModule) else load_module(plugin)
    host = host if host is not None else Host()
    policy = policy if policy is not None else Policy.deny_all()
    negotiation = negotiate(loaded.verified, policy, host)
    negotiation.require()
    effective = policy.effective_limits(limits if limits is not None else DEFAULT_LIMITS)
    return Instance(loaded, negotiation, policy, effective, engine, trace)
