"""Version-2 traces end to end on every engine: a run with floats (and maps and structs, once their rows land)
is recorded, written, loaded and replayed exactly; a tampered value or header is a ReplayError.

These need the registry's real rows and the engines' support for the kinds: a kind without its row is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.type_registry import ROWS
from chronicle_vm.core.types import FLOAT, INT, STR, StructDef, StructField, TypeKind, map_type, struct_type
from chronicle_vm.errors import ChronicleError, ReplayError
from chronicle_vm.runtime import instantiate, load_module
from chronicle_vm.trace.document import canonical_json, load_trace
from chronicle_vm.trace.replay import replay

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text(encoding="utf-8"))
ENGINES = ("reference", "compiled")

pytestmark = pytest.mark.skipif(TypeKind.FLOAT not in ROWS, reason="the float row has not landed")

RATE = Capability("fx.rate", (STR, FLOAT), FLOAT)
MAIN = Function(
    "main",
    True,
    2,
    FLOAT,
    (STR, FLOAT, FLOAT),
    (Instruction(int(Op.CAPCALL), 0, 0, 2), Instruction(int(Op.RET), 2)),
)
MODULE = Module(capabilities=(RATE,), functions=(MAIN,), source_map=SourceMap((), ((),)))
POLICY = Policy.from_toml('version = 1\n[capabilities."fx.rate"]\nallow = true\n')


def record(engine: str, answer: float, currency: str = "EUR", amount: float = -0.0) -> tuple[bytes, bytes]:
    data = MODULE.to_bytes()
    host = Host()
    host.register("fx.rate", lambda currency, amount: answer, params=[STR, FLOAT], result=FLOAT)
    instance = instantiate(load_module(data), host=host, policy=POLICY, engine=engine)  # type: ignore[arg-type]
    result = instance.call("main", currency, amount, trace=True)
    assert result.trace is not None
    assert struct.pack("<d", result.value) == struct.pack("<d", answer)
    return data, result.trace.to_json()


def edited(trace: bytes, change: Any) -> bytes:
    doc = json.loads(trace)
    change(doc)
    return canonical_json(doc)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_float_run_records_a_version_2_trace_that_replays_exactly(engine: str) -> None:
    module, trace = record(engine, -0.0)
    doc = json.loads(trace)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert (doc["version"], doc["provenance"]["structs"]) == (2, [])
    assert doc["entry"] == {"function": "main", "args": ["EUR", -0.0], "signature": "(str, float) -> float"}
    assert b'"result":-0.0' in trace and b'"value":-0.0' in trace
    for replayer in ENGINES:
        assert replay(trace, module, engine=replayer).exact  # type: ignore[arg-type]
    other = record("reference" if engine == "compiled" else "compiled", -0.0)[1]
    assert other == trace  # both engines write the same bytes


def test_every_bit_of_a_recorded_float_counts() -> None:
    module, trace = record("reference", 0.1)
    changed = edited(trace, lambda d: d["events"][0].update(result=0.10000000000000002))
    with pytest.raises(ReplayError) as caught:
        replay(changed, module)
    assert caught.value.code == "replay.outcome"  # the plugin returned what it was given: a different float
    sign = edited(record("reference", 1.0, amount=0.0)[1], lambda d: d["entry"]["args"].__setitem__(1, -0.0))
    with pytest.raises(ReplayError) as caught:
        replay(sign, module)
    assert caught.value.code == "replay.divergence"  # the call's argument is -0.0 now, the record says 0.0


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda d: d["events"][0].update(result="0.5"), "replay.bad-value"),
        (lambda d: d["events"][0]["args"].__setitem__(1, True), "replay.bad-value"),
        (lambda d: d["entry"].update(signature="(str, float) -> int"), "replay.bad-value"),
        (lambda d: d["entry"].update(signature="(str, int) -> float"), "replay.entry"),
        (lambda d: d["provenance"]["structs"].append({"name": "X", "fields": []}), "replay.provenance"),
        (lambda d: d.update(version=1), "replay.schema"),
        (lambda d: d.update(version=3), "replay.version"),
    ],
)
def test_tampered_version_2_traces_are_refused(change: Any, code: str) -> None:
    module, trace = record("reference", 1.5, amount=2.0)
    with pytest.raises(ReplayError) as caught:
        replay(edited(trace, change), module)
    assert caught.value.code == code, caught.value.message


def test_a_version_1_trace_of_a_version_2_module_is_refused() -> None:
    module, trace = record("reference", 1.5)

    def as_v1(doc: dict[str, Any]) -> None:
        doc["version"] = 1
        del doc["provenance"]["structs"]
        del doc["entry"]["signature"]
        doc["entry"]["args"][1] = 1
        doc["events"][0]["args"][1] = 1
        doc["events"][0]["result"] = 1
        doc["outcome"]["value"] = 1

    loaded = load_trace(edited(trace, as_v1))
    with pytest.raises(ReplayError) as caught:
        replay(loaded, module)
    assert caught.value.code == "replay.version"


@given(st.binary(max_size=32), st.integers(0, 10_000), st.sampled_from(["reference", "compiled"]))
@settings(max_examples=150, deadline=None)
def test_mutated_version_2_traces_replay_or_fail_with_a_replay_error(noise: bytes, at: int, engine: str) -> None:
    module, trace = _SAMPLE
    at %= len(trace)
    mutated = trace[:at] + noise + trace[at + len(noise) :]
    try:
        replay(mutated, module, engine=engine)  # type: ignore[arg-type]
    except ChronicleError as error:
        assert isinstance(error, ReplayError), error


_SAMPLE = record("reference", 0.1, "E\u00e9R", -2.5) if TypeKind.FLOAT in ROWS else (b"", b"")


PRICES = Capability("prices.get", (STR,), map_type(STR, FLOAT))
LOOKUP = Function(
    "main",
    True,
    1,
    map_type(STR, FLOAT),
    (STR, map_type(STR, FLOAT)),
    (Instruction(int(Op.CAPCALL), 0, 0, 1), Instruction(int(Op.RET), 1)),
)
PRICED = Module(capabilities=(PRICES,), functions=(LOOKUP,), source_map=SourceMap((), ((),)))


@pytest.mark.skipif(TypeKind.MAP not in ROWS, reason="the map row has not landed")
@pytest.mark.parametrize("engine", ENGINES)
def test_a_map_result_replays_in_its_recorded_order(engine: str) -> None:
    data = PRICED.to_bytes()
    host = Host()
    answer = {"zeta": 0.5, "alpha": -0.0, "mid": 1e16}
    host.register("prices.get", lambda key: dict(answer), params=[STR], result=map_type(STR, FLOAT))
    policy = Policy.from_toml('version = 1\n[capabilities."prices.get"]\nallow = true\n')
    instance = instantiate(load_module(data), host=host, policy=policy, engine=engine)  # type: ignore[arg-type]
    result = instance.call("main", "k", trace=True)
    assert list(result.value) == ["zeta", "alpha", "mid"]
    assert result.trace is not None
    trace = result.trace.to_json()
    assert b'"result":[["zeta",0.5],["alpha",-0.0],["mid",1e+16]]' in trace
    assert replay(trace, data, engine=engine).exact  # type: ignore[arg-type]
    swapped = edited(trace, lambda d: d["events"][0]["result"].reverse())
    with pytest.raises(ReplayError) as caught:
        replay(swapped, data, engine=engine)  # type: ignore[arg-type]
    assert caught.value.code == "replay.outcome"  # the plugin returned the map it got: in another order


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    qty: int
    prices: dict[str, int]


ITEM_DEF = StructDef(
    "Item", (StructField("sku", STR), StructField("qty", INT), StructField("prices", map_type(STR, INT)))
)
LOOKED_UP = Module(
    capabilities=(Capability("catalog.lookup", (STR,), struct_type(0)),),
    functions=(
        Function(
            "main",
            True,
            1,
            struct_type(0),
            (STR, struct_type(0)),
            (Instruction(int(Op.CAPCALL), 0, 0, 1), Instruction(int(Op.RET), 1)),
        ),
    ),
    source_map=SourceMap((), ((),)),
    structs=(ITEM_DEF,),
)


@pytest.mark.skipif(TypeKind.STRUCT not in ROWS, reason="the struct row has not landed")
@pytest.mark.parametrize("engine", ENGINES)
def test_a_struct_result_is_recorded_by_field_name_and_replays(engine: str) -> None:
    data = LOOKED_UP.to_bytes()
    host = Host()

    def lookup(sku: str) -> Item:
        return Item(sku, 1, {"eur": 3, "chf": 4})

    host.capability("catalog.lookup")(lookup)
    policy = Policy.from_toml('version = 1\n[capabilities."catalog.lookup"]\nallow = true\n')
    instance = instantiate(load_module(data), host=host, policy=policy, engine=engine)  # type: ignore[arg-type]
    result = instance.call("main", "a-1", trace=True)
    assert result.trace is not None
    trace = result.trace.to_json()
    doc = json.loads(trace)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["provenance"]["structs"] == [
        {
            "name": "Item",
            "fields": [
                {"name": "sku", "type": "str"},
                {"name": "qty", "type": "int"},
                {"name": "prices", "type": "{str: int}"},
            ],
        }
    ]
    assert doc["events"][0]["result"] == {"sku": "a-1", "qty": 1, "prices": [["eur", 3], ["chf", 4]]}
    assert doc["outcome"]["value"] == doc["events"][0]["result"]
    assert replay(trace, data, engine=engine).exact  # type: ignore[arg-type]
    for change in (
        lambda d: d["events"][0]["result"].pop("qty"),
        lambda d: d["events"][0]["result"].update(extra=1),
        lambda d: d["events"][0]["result"].update(prices={"eur": 3}),
    ):
        with pytest.raises(ReplayError) as caught:
            replay(edited(trace, change), data, engine=engine)  # type: ignore[arg-type]
        assert (caught.value.code, caught.value.details["path"]) == ("replay.bad-value", "$.events[0].result")
