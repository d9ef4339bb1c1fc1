"""The service-facing host API: kept engines, concurrency, call_async, per-call context, trace meta, Limits checks."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chronicle_vm import (
    CallContext,
    Host,
    Limits,
    Policy,
    ReplayError,
    ResourceLimitError,
    UsageError,
    instantiate,
    load_module,
    runtime,
)
from chronicle_vm.runtime import Instance
from chronicle_vm.trace.document import Trace, load_trace, slice_trace
from chronicle_vm.trace.replay import replay

chronicle_lang = pytest.importorskip("chronicle_lang")

SOURCE = """
cap price.of(sku: str) -> int;
cap tenant.name() -> str;
pub fn quote(sku: str, qty: int) -> int {
    let total = 0;
    for i in 0..qty { total = total + price.of(sku + str(i)); }
    return total;
}
pub fn who() -> str { return tenant.name(); }
"""
MODULE = chronicle_lang.compile_to_module(SOURCE, "service.chr").to_bytes()
POLICY = Policy.from_toml(
    'version = 1\n[host]\nregion = "eu"\n'
    '[capabilities."price.of"]\nallow = true\nmax_calls = 20\n[capabilities."tenant.name"]\nallow = true\n'
)
ENGINES = ("reference", "compiled")


def make_host() -> Host:
    host = Host(settings={"region": str})

    @host.capability("price.of", deterministic=True)
    def price(sku: str) -> int:
        return len(sku) * 3 + ord(sku[-1])

    @host.capability("tenant.name")
    def tenant(*, context: CallContext) -> str:
        return f"{context.value}@{context.settings['region']}:{context.entry}"

    return host


def make_instance(engine: str = "compiled", host: Host | None = None) -> Instance:
    return instantiate(
        load_module(MODULE),
        host=host if host is not None else make_host(),
        policy=POLICY,
        engine=engine,  # type: ignore[arg-type]
    )


# -- kept engines -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_an_instance_builds_its_engine_once_for_serial_calls(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[object] = []
    real = runtime.make_engine

    def counting(*args: Any, **kwargs: Any) -> runtime.Engine:
        engine_ = real(*args, **kwargs)
        built.append(engine_)
        return engine_

    monkeypatch.setattr(runtime, "make_engine", counting)
    instance = make_instance(engine)
    for qty in range(6):
        instance.call("quote", "a", qty, trace=qty % 2 == 0)
    assert len(built) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_per_call_state_is_fresh_on_a_kept_engine(engine: str) -> None:
    instance = make_instance(engine)
    fresh = make_instance(engine)
    traced = instance.call("quote", "x", 15, trace=True)
    # quota counters restart: 15 + 15 calls would break max_calls = 20 if they carried over
    untraced = instance.call("quote", "x", 15)
    assert untraced.trace is None
    assert untraced.value == traced.value == fresh.call("quote", "x", 15).value
    again = instance.call("quote", "x", 15, trace=True)
    assert again.trace is not None and traced.trace is not None
    assert again.trace.to_json() == traced.trace.to_json()  # no events left over from the earlier calls
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("quote", "x", 21)
    assert caught.value.code == "limit.capability-quota"
    assert instance.call("quote", "x", 2).value == fresh.call("quote", "x", 2).value


# -- concurrency -------------------------------------------------------------------------------------------


def _serial(instance: Instance, jobs: list[tuple[str, int]]) -> list[tuple[object, bytes]]:
    out = []
    for sku, qty in jobs:
        result = instance.call("quote", sku, qty, trace=True)
        assert result.trace is not None
        out.append((result.value, result.trace.to_json()))
    return out


JOBS = [(f"s{k}", k % 7 + 1) for k in range(48)]


@pytest.mark.parametrize("engine", ENGINES)
def test_calls_from_threads_give_the_serial_results_and_trace_bytes(engine: str) -> None:
    instance = make_instance(engine)
    expected = _serial(make_instance(engine), JOBS)
    barrier = threading.Barrier(6)

    def job(index: int) -> tuple[object, bytes]:
        if index < 6:
            barrier.wait()  # start the first six at once, so calls overlap on the one instance
        sku, qty = JOBS[index]
        result = instance.call("quote", sku, qty, trace=True)
        assert result.trace is not None
        return result.value, result.trace.to_json()

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(job, range(len(JOBS)))) == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_async_calls_from_tasks_give_the_serial_results_and_trace_bytes(engine: str) -> None:
    host = Host(settings={"region": str})

    @host.capability("price.of", async_=True)
    async def price(sku: str) -> int:
        await asyncio.sleep(0)
        return len(sku) * 3 + ord(sku[-1])

    @host.capability("tenant.name")
    def tenant() -> str:
        return "t"

    instance = make_instance(engine, host)
    expected = _serial(make_instance(engine), JOBS)

    async def main() -> list[tuple[object, bytes]]:
        results = await asyncio.gather(*(instance.call_async("quote", s, q, trace=True) for s, q in JOBS))
        return [(r.value, r.trace.to_json()) for r in results if r.trace is not None]

    assert asyncio.run(main()) == expected


# -- asyncio ------------------------------------------------------------------------------------------------


def test_a_coroutine_function_needs_async_registration() -> None:
    host = Host()

    async def fetch(key: str) -> str:
        return key

    with pytest.raises(UsageError) as caught:
        host.capability("kv.get")(fetch)
    assert caught.value.code == "usage.capability-async"
    assert "async_=True" in caught.value.message
    with pytest.raises(UsageError) as caught:
        host.register("kv.get", lambda key: key, params=[], result=None, async_=True)
    assert caught.value.code == "usage.capability-async"


def test_a_sync_call_of_a_module_with_async_capabilities_is_refused_before_it_runs() -> None:
    host = Host(settings={"region": str})

    @host.capability("price.of", async_=True)
    async def price(sku: str) -> int:
        return 1

    @host.capability("tenant.name")
    def tenant() -> str:
        return "t"

    with pytest.raises(UsageError) as caught:
        make_instance("compiled", host).call("quote", "a", 1)
    assert caught.value.code == "usage.capability-async"
    assert "call_async" in caught.value.message


def test_call_async_does_not_block_the_event_loop() -> None:
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    source = "pub fn spin() -> int { let i = 0; while i < 500000 { i = i + 1; } return i; }"
    instance = instantiate(chronicle_lang.compile_to_module(source, "spin.chr").to_bytes(), engine="reference")

    async def main() -> object:
        stop = asyncio.Event()
        task = asyncio.create_task(ticker(stop))
        result = await instance.call_async("spin", timeout=30)
        stop.set()
        await task
        return result.value

    assert asyncio.run(main()) == 500000
    assert ticks > 2  # the loop kept running while the plugin did


def test_cancelling_the_awaiting_task_cancels_the_run() -> None:
    source = "pub fn spin() -> int { let i = 0; while true { i = i + 1; } return i; }"
    instance = instantiate(chronicle_lang.compile_to_module(source, "spin.chr").to_bytes())

    async def main() -> None:
        task = asyncio.create_task(instance.call_async("spin"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(asyncio.wait_for(main(), 10))


def test_an_async_capability_that_raises_is_a_capability_failure() -> None:
    host = Host(settings={"region": str})

    @host.capability("price.of", async_=True)
    async def price(sku: str) -> int:
        raise KeyError(sku)

    @host.capability("tenant.name")
    def tenant() -> str:
        return "t"

    async def main() -> None:
        await make_instance("compiled", host).call_async("quote", "a", 1)

    with pytest.raises(Exception) as caught:
        asyncio.run(main())
    assert getattr(caught.value, "code", None) == "runtime.capability-failed"


# -- context -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_a_capability_sees_the_calls_context_and_host_settings_but_the_trace_does_not(engine: str) -> None:
    instance = make_instance(engine)
    first = instance.call("who", context="acme", trace=True)
    second = instance.call("who", context="globex", trace=True)
    assert first.value == "acme@eu:who"
    assert second.value == "globex@eu:who"
    assert first.trace is not None
    assert b"acme" in first.trace.to_json()  # only because the capability returned it: the result is recorded
    assert instance.call("who").value == "None@eu:who"


def test_the_context_never_enters_the_trace_on_its_own() -> None:
    instance = make_instance()
    traced = instance.call("quote", "a", 2, context={"tenant": "secret-tenant"}, trace=True)
    assert traced.trace is not None
    assert b"secret-tenant" not in traced.trace.to_json()


def test_context_parameter_is_not_a_plugin_parameter() -> None:
    host = make_host()
    assert host.capabilities["tenant.name"].params == ()
    assert host.capabilities["tenant.name"].context
    assert not host.capabilities["price.of"].context


# -- trace meta ----------------------------------------------------------------------------------------------


def test_meta_is_recorded_covered_by_the_digest_kept_by_slices_and_ignored_by_replay() -> None:
    instance = make_instance()
    meta = {"order": "A-17", "tenant": {"id": 4, "tags": ["vip"]}, "weight": 1.5, "none": None}
    with_meta = instance.call("quote", "a", 2, trace=True, meta=meta).trace
    without = instance.call("quote", "a", 2, trace=True).trace
    assert with_meta is not None and without is not None
    assert with_meta.meta == meta
    assert without.meta is None and b'"meta"' not in without.to_json()
    assert with_meta.digest() != without.digest()
    assert json.loads(with_meta.to_json())["meta"] == meta
    assert Trace.from_json(with_meta.to_json()).to_json() == with_meta.to_json()  # document and bytes agree
    assert canonical_equal(with_meta)
    report = replay(with_meta.to_json(), MODULE)
    assert report.exact
    doc = json.loads(with_meta.to_json())
    doc["meta"] = {"order": "changed"}
    assert replay(json.dumps(doc), MODULE).exact  # replay compares nothing in meta
    sliced = load_trace(slice_trace(with_meta, 0, 1))
    assert sliced.meta == meta


def canonical_equal(trace: Trace) -> bool:
    from chronicle_vm.trace.document import canonical_json

    return canonical_json(json.loads(trace.to_json())) == trace.to_json()


@pytest.mark.parametrize(
    "meta",
    [
        ["not", "an", "object"],
        {"x": float("nan")},
        {"x": object()},
        {1: "int key"},
        {"x": 2**70},
        {"deep": json.loads("[" * 40 + "]" * 40)},
        {"big": "x" * (2 << 20)},
        {"many": list(range(20_000))},
    ],
)
def test_bad_meta_is_a_usage_error(meta: object) -> None:
    with pytest.raises(UsageError) as caught:
        make_instance().call("quote", "a", 1, trace=True, meta=meta)  # type: ignore[arg-type]
    assert caught.value.code == "usage.trace-meta"


@pytest.mark.parametrize("meta", ['"text"', '{"x": ' + "[" * 30 + "]" * 30 + "}", '{"x": 1e400}'])
def test_a_trace_with_bad_meta_is_refused_on_load(meta: str) -> None:
    trace = make_instance().call("quote", "a", 1, trace=True).trace
    assert trace is not None
    doc = trace.to_json().decode("utf-8")
    bad = doc[:-1] + ',"meta":' + meta + "}"
    with pytest.raises(ReplayError) as caught:
        load_trace(bad)
    assert caught.value.code in {"replay.schema", "replay.malformed-json"}


# -- Limits --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_instructions", 2**70),
        ("max_instructions", "10"),
        ("max_instructions", -5),
        ("max_call_depth", 1.5),
        ("max_array_len", True),
        ("max_string_len", None),
    ],
)
def test_limits_are_validated_at_construction(field: str, value: object) -> None:
    with pytest.raises(UsageError) as caught:
        Limits(**{field: value})  # type: ignore[arg-type]
    assert caught.value.code == "usage.limits"
    assert field in caught.value.message
    assert caught.value.details["field"] == field
    assert "0.." in caught.value.message


def test_the_largest_limits_are_the_hard_ones() -> None:
    from chronicle_vm import HARD_LIMITS

    assert Limits(**HARD_LIMITS.to_dict()) == HARD_LIMITS
    with pytest.raises(UsageError):
        Limits(max_instructions=HARD_LIMITS.max_instructions + 1)


def test_every_limits_method_the_module_mentions_exists() -> None:
    import re
    from pathlib import Path

    import chronicle_vm.limits as limits_module

    text = Path(limits_module.__file__).read_text(encoding="utf-8")
    mentioned = set(re.findall(r"`Limits\.(\w+)", text))
    assert mentioned, "the module documents its methods"
    assert all(hasattr(Limits, name) for name in mentioned), mentioned


def test_a_quota_of_one_is_worded_in_the_singular() -> None:
    one = Policy.from_toml(
        'version = 1\n[host]\nregion = "eu"\n[capabilities."price.of"]\nallow = true\nmax_calls = 1\n'
        '[capabilities."tenant.name"]\nallow = true\n'
    )
    instance = instantiate(load_module(MODULE), host=make_host(), policy=one)
    decision = next(d for d in instance.negotiation.decisions if d.name == "price.of")
    assert decision.reason == "allowed by the policy, at most 1 call per run"
    with pytest.raises(ResourceLimitError) as caught:
        instance.call("quote", "a", 2, trace=True)
    assert caught.value.message.endswith("more than its quota of 1 call")
    from chronicle_vm.trace.document import error_trace

    trace = error_trace(caught.value)
    assert trace is not None
    assert replay(trace.to_json(), MODULE).reproduced == "limit"  # a quota is a limit, exit 14
