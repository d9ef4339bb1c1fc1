"""Floats at the host boundary (#17): entry arguments, results and capability results, on every engine.

A float crosses as a finite Python `float`, or as an `int` that a float represents exactly (CONTRACT.md 3.1);
a NaN, an infinity, a bool or an int without an exact float is refused: `usage.bad-argument`-like usage
errors for the entry's arguments, `runtime.capability-result` for what a capability returns.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from chronicle_asm import assemble_text
from chronicle_vm import ChronicleError, Host, Policy, instantiate
from chronicle_vm.capabilities.negotiation import negotiate
from chronicle_vm.core.model import fitting_version
from chronicle_vm.core.types import FLOAT, INT, STR
from chronicle_vm.runtime import LoadedModule
from chronicle_vm.verifier.rules import verify

SOURCE = """
.cap fx.rate (str, str) -> float
.cap fx.many () -> [float]
.cap fx.put (float, [float])
.func convert export (float, str) -> float
  .regs str, str, float
    loadk r2, "EUR"
    mov r3, r1
    capcall fx.rate, r2, r4
    fmul r4, r4, r0
    ret r4
.end
.func many export () -> [float]
  .regs [float]
    capcall fx.many, r0, r0
    ret r0
.end
.func echo export ([float]) -> [float]
    ret r0
.end
.func put export (float, [float]) -> [float]
    capcall fx.put, r0, r0
    ret r1
.end
"""

POLICY = """
version = 1
[capabilities."fx.rate"]
allow = true
[capabilities."fx.many"]
allow = true
[capabilities."fx.put"]
allow = true
"""


def _loaded() -> LoadedModule:
    # built in memory: float registers need binary format version 2 for bytes (the digest is only a label here)
    module = assemble_text(SOURCE, "fx.casm")
    return LoadedModule(verify(dataclasses.replace(module, version=fitting_version(module))), "0" * 64)


seen: list[tuple[float, list[float]]] = []


def _instance(rate: object, many: object = (), engine: str = "auto") -> Any:
    host = Host()

    @host.capability("fx.rate")
    def fx_rate(source: str, target: str) -> float:
        return rate  # type: ignore[return-value]

    @host.capability("fx.many")
    def fx_many() -> list[float]:
        return many  # type: ignore[return-value]

    @host.capability("fx.put")
    def fx_put(amount: float, amounts: list[float]) -> None:
        seen.append((amount, amounts))
        amounts.append(99.0)  # the host's copy: the plugin's array does not change

    return instantiate(_loaded(), host=host, policy=Policy.from_toml(POLICY), engine=engine)


ENGINES = ["reference", "compiled"]


def test_negotiation_grants_float_signatures() -> None:
    host = Host()
    host.register("fx.rate", lambda a, b: 1.0, params=(STR, STR), result=FLOAT)
    host.register("fx.many", list, params=(), result=FLOAT.array_of())
    host.register("fx.put", lambda a, b: None, params=(FLOAT, FLOAT.array_of()), result=None)
    decisions = negotiate(_loaded().verified, Policy.from_toml(POLICY), host)
    assert {d.name: str(getattr(d.decision, "value", d.decision)) for d in decisions.decisions} == {
        "fx.rate": "granted",
        "fx.many": "granted",
        "fx.put": "granted",
    }


def test_a_float_signature_differs_from_an_int_one() -> None:
    host = Host()
    host.register("fx.rate", lambda a, b: 1, params=(STR, STR), result=INT)
    host.register("fx.many", list, params=(), result=INT.array_of())
    host.register("fx.put", lambda a, b: None, params=(INT, FLOAT.array_of()), result=None)
    decisions = negotiate(_loaded().verified, Policy.from_toml(POLICY), host)
    assert {d.name: str(getattr(d.decision, "value", d.decision)) for d in decisions.decisions} == {
        "fx.rate": "type-invalid",
        "fx.many": "type-invalid",
        "fx.put": "type-invalid",
    }


@pytest.mark.parametrize("engine", ENGINES)
def test_float_arguments_results_and_capability_results(engine: str) -> None:
    result = _instance(1.25, engine=engine).call("convert", 3.0, "USD")
    assert type(result.value) is float and result.value == 3.75
    exact = _instance(2, engine=engine).call("convert", 3, "USD")  # ints a float holds exactly, both ways
    assert type(exact.value) is float and exact.value == 6.0
    signed = _instance(-1.0, engine=engine).call("convert", 0.0, "USD")
    assert math.copysign(1.0, signed.value) < 0  # -0.0 survives the boundary
    many = _instance(1.0, [0.5, 2, -0.0], engine=engine).call("many")
    assert [type(x) for x in many.value] == [float, float, float] and many.value == [0.5, 2.0, -0.0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rate", "why"),
    [
        (math.nan, "not finite"),
        (math.inf, "not finite"),
        (-math.inf, "not finite"),
        (True, "expected float, found bool"),
        ("1.5", "expected float, found str"),
        (2**53 + 1, "no exact float"),
        (None, "expected float"),
    ],
)
def test_a_capability_result_that_is_not_a_finite_float_is_refused(engine: str, rate: object, why: str) -> None:
    with pytest.raises(ChronicleError) as caught:
        _instance(rate, engine=engine).call("convert", 1.0, "USD")
    assert caught.value.code == "runtime.capability-result"
    assert why in caught.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_a_nonfinite_item_names_its_path(engine: str) -> None:
    with pytest.raises(ChronicleError) as caught:
        _instance(1.0, [1.0, 2.0, math.nan], engine=engine).call("many")
    assert caught.value.code == "runtime.capability-result"
    assert "[2]" in caught.value.message and "not finite" in caught.value.message


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bad", [math.nan, math.inf, True, "1.0", 2**63 + 1])
def test_entry_arguments_that_are_not_finite_floats_are_usage_errors(engine: str, bad: object) -> None:
    with pytest.raises(ChronicleError) as caught:
        _instance(1.0, engine=engine).call("echo", [1.0, bad])
    assert caught.value.category == "usage"


@pytest.mark.parametrize("engine", ENGINES)
def test_results_are_copies(engine: str) -> None:
    given = [1.5, 2.5]
    result = _instance(1.0, engine=engine).call("echo", given)
    assert result.value == given and result.value is not given


def test_traces_of_float_runs_are_the_same_bytes_on_both_engines() -> None:
    texts = set()
    for engine in ENGINES:
        result = _instance(0.1, [1e16, -0.0], engine=engine).call("convert", 3.0, "USD", trace=True)
        texts.add(result.trace.to_json())
        many = _instance(0.1, [1e16, -0.0], engine=engine).call("many", trace=True)
        texts.add(many.trace.to_json())
    assert len(texts) == 2
    joined = b"".join(sorted(texts))
    assert b'"result":0.1' in joined and b'"value":0.30000000000000004' in joined  # repr: the one text of a float
    assert b'"result":[1e+16,-0.0]' in joined


@pytest.mark.parametrize("engine", ENGINES)
def test_float_capability_arguments_are_copies(engine: str) -> None:
    seen.clear()
    result = _instance(1.0, engine=engine).call("put", -0.0, [0.5, 1e300])
    [(amount, amounts)] = seen
    assert type(amount) is float and math.copysign(1.0, amount) < 0
    assert amounts == [0.5, 1e300, 99.0] and result.value == [0.5, 1e300]


@pytest.mark.parametrize("engine", ENGINES)
def test_float_traces_replay_exactly_and_a_changed_bit_diverges(engine: str) -> None:
    from chronicle_vm.errors import ReplayError
    from chronicle_vm.trace.replay import replay

    recorded = _instance(-0.0, engine=engine).call("convert", 3.0, "USD", trace=True).trace.to_json()
    report = replay(recorded, _loaded(), engine=engine)
    assert report.exact and math.copysign(1.0, report.outcome["value"]) < 0  # -0.0 * 3.0 is -0.0, bit for bit
    forged = recorded.replace(b'"result":-0.0', b'"result":0.0')
    assert forged != recorded
    with pytest.raises(ReplayError):
        replay(forged, _loaded(), engine=engine)
