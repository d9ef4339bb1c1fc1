"""Live capability handlers: argument copies, result checks, host failures, quotas; alone and in the interpreter."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.negotiation import negotiate
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import BOOL, INT, STR, BaseType, ValueType, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.engines.reference import run_entry
from chronicle_vm.errors import ExecutionError, ResourceLimitError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import VerifiedModule, verify

SITE = CallSite(capability=0, function=0, pc=0, instructions=1)
INTS = array_type(BaseType.INT, 1)
INTS2 = array_type(BaseType.INT, 2)
STRS = array_type(BaseType.STR, 1)


def caller(capability: Capability, calls: int = 1) -> VerifiedModule:
    """A verified module whose entry `main` takes the capability's parameters and calls it `calls` times."""
    params = capability.params
    n = len(params)
    registers = params + ((capability.result,) if capability.result is not None else ())
    if capability.result is not None:
        code = [Instruction(int(Op.CAPCALL), 0, 0, n)] * calls + [Instruction(int(Op.RET), n)]
    else:
        code = [Instruction(int(Op.CAPCALL), 0, 0, 0)] * calls + [Instruction(int(Op.RETV))]
    main = Function("main", True, n, capability.result, registers, tuple(code))
    return verify(Module(capabilities=(capability,), functions=(main,), source_map=SourceMap((), ((),))))


def allow(name: str, max_calls: int | None = None) -> Policy:
    quota = "" if max_calls is None else f"max_calls = {max_calls}\n"
    return Policy.from_toml(f'version = 1\n[capabilities."{name}"]\nallow = true\n{quota}')


def one_handler(
    capability: Capability, func: object, *, max_calls: int | None = None, limits: Limits | None = None
) -> CapabilityHandler:
    host = Host()
    host.register(capability.name, func, params=capability.params, result=capability.result)  # type: ignore[arg-type]
    negotiation = negotiate(caller(capability), allow(capability.name, max_calls), host).require()
    (handler,) = negotiation.handlers(limits or Limits())
    return handler


def call(handler: CapabilityHandler, *args: Value) -> Value | None:
    return handler(list(args), SITE)


# --- arguments -----------------------------------------------------------------------------------------------------


def test_arguments_are_copied_for_the_host() -> None:
    seen: list[object] = []

    def keep(xs: list[list[int]]) -> int:
        seen.append(xs)
        xs[0].append(99)  # the host mutating its copy must not reach the plugin's array
        return len(xs)

    handler = one_handler(Capability("a.keep", (INTS2,), INT), keep)
    plugin_array: list[Value] = [[1, 2], [3]]
    assert call(handler, plugin_array) == 2
    assert plugin_array == [[1, 2], [3]]
    assert seen == [[[1, 2, 99], [3]]]
    assert seen[0] is not plugin_array


def test_scalar_arguments_pass_through() -> None:
    handler = one_handler(Capability("a.join", (STR, INT, BOOL), STR), lambda s, i, b: f"{s}{i}{b}")
    assert call(handler, "x", -5, True) == "x-5True"


# --- results -------------------------------------------------------------------------------------------------------


def test_results_are_checked_and_copied() -> None:
    shared = [[1], [2, 3]]
    handler = one_handler(Capability("a.get", (), INTS2), lambda: shared)
    result = call(handler)
    assert result == [[1], [2, 3]]
    assert result is not shared
    assert isinstance(result, list)
    assert result[0] is not shared[0]
    # tuples are accepted as arrays, and become lists
    handler = one_handler(Capability("a.tup", (), INTS), lambda: (1, 2))
    assert call(handler) == [1, 2]


@pytest.mark.parametrize(
    ("result_type", "returned", "fragment"),
    [
        (INT, "1", "expected int, found str"),
        (INT, True, "expected int, found bool"),
        (INT, 2**63, "outside signed 64 bits"),
        (INT, -(2**63) - 1, "outside signed 64 bits"),
        (INT, None, "expected int, found nothing"),
        (INT, 1.0, "expected int, found float"),
        (BOOL, 1, "expected bool, found int"),
        (STR, b"x", "expected str, found bytes"),
        (STR, "\ud800", "lone surrogate"),
        (STR, "x" * 11, "exceeds max_string_len 10"),
        (INTS, list(range(6)), "exceeds max_array_len 5"),
        (INTS, [1, "2"], "result of a.cap[1]: expected int, found str"),
        (INTS2, [1], "result of a.cap[0]: expected [int], found int"),
        (STRS, "abc", "expected [str], found str"),
        (INTS, {1: 2}, "expected [int], found dict"),
    ],
)
def test_bad_results(result_type: ValueType, returned: object, fragment: str) -> None:
    handler = one_handler(
        Capability("a.cap", (), result_type), lambda: returned, limits=Limits(max_string_len=10, max_array_len=5)
    )
    with pytest.raises(ExecutionError) as caught:
        call(handler)
    error = caught.value
    assert error.code == "runtime.capability-result"
    assert error.details["capability"] == "a.cap"
    assert error.details["expected"] == str(result_type)
    assert error.message.startswith("result of a.cap")
    assert fragment in error.message


def test_limits_bound_results_exactly() -> None:
    limits = Limits(max_string_len=10, max_array_len=5)
    assert call(one_handler(Capability("a.s", (), STR), lambda: "x" * 10, limits=limits)) == "x" * 10
    assert call(one_handler(Capability("a.xs", (), INTS), lambda: [0] * 5, limits=limits)) == [0] * 5
    assert call(one_handler(Capability("a.i", (), INT), lambda: 2**63 - 1)) == 2**63 - 1
    assert call(one_handler(Capability("a.j", (), INT), lambda: -(2**63))) == -(2**63)


def test_void_capability_must_return_none() -> None:
    handler = one_handler(Capability("log.info", (STR,), None), lambda msg: None)
    assert call(handler, "hi") is None
    handler = one_handler(Capability("log.info", (STR,), None), lambda msg: 0)
    with pytest.raises(ExecutionError) as caught:
        call(handler, "hi")
    assert caught.value.code == "runtime.capability-result"
    assert caught.value.message == "capability log.info declares no result but the host returned a value of type int"


def test_hostile_list_subclass_result() -> None:
    class Hostile(list):  # type: ignore[type-arg]
        def __iter__(self):  # type: ignore[no-untyped-def]
            raise RuntimeError("no")

    handler = one_handler(Capability("a.cap", (), INTS), lambda: Hostile([1]))
    with pytest.raises(ExecutionError) as caught:
        call(handler)
    assert caught.value.code == "runtime.capability-result"


# --- host failures -------------------------------------------------------------------------------------------------


def test_host_exception_becomes_execution_error() -> None:
    def fails(key: str) -> str:
        raise KeyError(f"no such key {key}")

    handler = one_handler(Capability("kv.get", (STR,), STR), fails)
    with pytest.raises(ExecutionError) as caught:
        call(handler, "k")
    error = caught.value
    assert error.code == "runtime.capability-failed"
    assert error.message == "capability kv.get failed: KeyError: 'no such key k'"
    assert error.details["capability"] == "kv.get"
    assert error.details["host_error"] == "KeyError"
    assert error.details["host_message"] == "'no such key k'"
    assert isinstance(error.__cause__, KeyError)


@pytest.mark.parametrize("exc", [RecursionError("deep"), MemoryError(), ZeroDivisionError("x"), ValueError("bad")])
def test_any_exception_is_wrapped(exc: Exception) -> None:
    def fails() -> int:
        raise exc

    with pytest.raises(ExecutionError) as caught:
        call(one_handler(Capability("a.b", (), INT), fails))
    assert caught.value.details["host_error"] == type(exc).__name__


def test_unprintable_host_exception() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("cannot print")

    def fails() -> None:
        raise Weird

    with pytest.raises(ExecutionError) as caught:
        call(one_handler(Capability("a.b", (), None), fails))
    assert caught.value.details["host_message"] == "<Weird with an unprintable message>"


def test_keyboard_interrupt_and_system_exit_pass_through() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(KeyboardInterrupt):
        call(one_handler(Capability("a.b", (), None), interrupt))
    with pytest.raises(SystemExit):
        call(one_handler(Capability("a.c", (), None), leave))


# --- quotas --------------------------------------------------------------------------------------------------------


def counting_handler(max_calls: int | None) -> tuple[CapabilityHandler, list[int]]:
    calls: list[int] = []

    def tick() -> int:
        calls.append(1)
        return len(calls)

    return one_handler(Capability("clock.now", (), INT), tick, max_calls=max_calls), calls


def test_quota_stops_the_call_past_it_before_the_host_is_called() -> None:
    handler, calls = counting_handler(3)
    assert [call(handler) for _ in range(3)] == [1, 2, 3]
    with pytest.raises(ResourceLimitError) as caught:
        handler([], CallSite(0, 0, 7, 42))
    error = caught.value
    assert error.code == "limit.capability-quota"
    assert error.message == "capability clock.now was called more than its quota of 3 calls"
    assert error.details == {"capability": "clock.now", "max_calls": 3, "instructions": 42}
    assert len(calls) == 3
    # and it stays exhausted
    with pytest.raises(ResourceLimitError):
        call(handler)
    assert len(calls) == 3


def test_zero_quota_refuses_the_first_call() -> None:
    handler, calls = counting_handler(0)
    with pytest.raises(ResourceLimitError):
        call(handler)
    assert calls == []


def test_no_quota_means_unlimited_calls() -> None:
    handler, calls = counting_handler(None)
    for _ in range(1000):
        call(handler)
    assert len(calls) == 1000


def test_quota_counters_are_fresh_per_handlers_call() -> None:
    host = Host()
    count = [0]

    def tick() -> int:
        count[0] += 1
        return count[0]

    host.register("clock.now", tick, params=[], result=INT)
    negotiation = negotiate(caller(Capability("clock.now", (), INT)), allow("clock.now", 1), host).require()
    (first,) = negotiation.handlers(Limits())
    call(first)
    with pytest.raises(ResourceLimitError):
        call(first)
    (second,) = negotiation.handlers(Limits())
    assert call(second) == 2


def test_failed_calls_count_against_the_quota() -> None:
    attempts: list[int] = []

    def flaky() -> int:
        attempts.append(1)
        raise OSError("down")

    handler = one_handler(Capability("net.ping", (), INT), flaky, max_calls=1)
    with pytest.raises(ExecutionError):
        call(handler)
    with pytest.raises(ResourceLimitError):
        call(handler)
    assert len(attempts) == 1


# --- under the interpreter -----------------------------------------------------------------------------------------


def run(
    capability: Capability,
    func: object,
    args: Sequence[object],
    *,
    calls: int = 1,
    max_calls: int | None = None,
    limits: Limits | None = None,
) -> object:
    module = caller(capability, calls)
    host = Host()
    host.register(capability.name, func, params=capability.params, result=capability.result)  # type: ignore[arg-type]
    limits = limits or Limits()
    handlers = negotiate(module, allow(capability.name, max_calls), host).require().handlers(limits)
    return run_entry(module, "main", args, limits=limits, handlers=handlers).value


def test_interpreter_round_trip() -> None:
    assert run(Capability("kv.get", (STR,), STR), lambda key: key.upper(), ["abc"]) == "ABC"
    assert run(Capability("a.sum", (INTS,), INT), sum, [[1, 2, 3]]) == 6


def test_interpreter_quota_reaches_the_limit_with_a_location() -> None:
    seen: list[int] = []

    def tick() -> int:
        seen.append(1)
        return len(seen)

    assert run(Capability("clock.now", (), INT), tick, [], calls=3, max_calls=3) == 3
    seen.clear()
    with pytest.raises(ResourceLimitError) as caught:
        run(Capability("clock.now", (), INT), tick, [], calls=4, max_calls=3)
    error = caught.value
    assert error.code == "limit.capability-quota"
    assert error.details["location"]["function"] == "main"
    assert error.details["location"]["index"] == 3
    assert len(seen) == 3


def test_interpreter_host_failure_and_bad_result() -> None:
    def fails(key: str) -> str:
        raise RuntimeError("database is locked")

    with pytest.raises(ExecutionError) as caught:
        run(Capability("kv.get", (STR,), STR), fails, ["k"])
    assert caught.value.code == "runtime.capability-failed"
    assert "database is locked" in caught.value.message
    assert caught.value.details["location"]["index"] == 0

    with pytest.raises(ExecutionError) as caught:
        run(Capability("kv.get", (STR,), STR), lambda key: 5, ["k"])
    assert caught.value.code == "runtime.capability-result"
