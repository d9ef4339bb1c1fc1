"""Version-2 traces from the recorder, and replay's answers from them: record -> JSON -> load -> replay import.

The recorder and replay's handlers are driven directly with VM values (structs
as lists of fields, maps as dicts), without an engine in between.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import FLOAT, INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.errors import ReplayError, ResourceLimitError
from chronicle_vm.limits import DEFAULT_LIMITS
from chronicle_vm.trace.document import Recorder, Trace, load_trace
from chronicle_vm.trace.replay import _Replayer
from chronicle_vm.trace.typed import TraceTypes

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = json.loads((ROOT / "docs" / "trace.schema.json").read_text(encoding="utf-8"))

ITEM = struct_type(0)
STRUCTS = (StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("unit", FLOAT))),)
LINES = map_type(STR, ITEM)
ECHO = Capability("data.echo", (LINES, FLOAT), LINES)
MAIN = Function(
    "main", True, 1, LINES, (LINES, LINES, FLOAT), (Instruction(int(Op.CAPCALL), 0, 0, 1), Instruction(int(Op.RET), 1))
)
MODULE = Module(capabilities=(ECHO,), functions=(MAIN,), structs=STRUCTS, source_map=SourceMap((), ((),)))
SITE = CallSite(0, 0, 0, 1)


def decisions() -> list[dict[str, Any]]:
    signature = ECHO.signature()
    return [
        {"name": ECHO.name, "declared_signature": signature, "decision": "granted", "reason": "", "max_calls": None}
    ]


def record(arg: dict[str, Any], rate: float, answer: dict[str, Any]) -> Trace:
    """The trace of main(arg) that called data.echo(arg, rate) -> answer once and returned the answer."""
    recorder = Recorder(
        MODULE,
        module_digest=MODULE.digest(),
        policy_digest=None,
        limits=DEFAULT_LIMITS,
        decisions=decisions(),
        runtime_version="0",
    )
    (handler,) = recorder.wrap([lambda args, site: answer])
    assert handler is not None
    got = handler([arg, rate], SITE)
    arg.clear()  # the plugin changes its map after the call: the record keeps what was sent
    return recorder.returned("main", [dict(answer)], got, 7)


def replayer(trace: Trace) -> _Replayer:
    loaded = load_trace(trace.to_json())
    types = TraceTypes.from_header(loaded.provenance, loaded.entry)
    return _Replayer(MODULE, loaded.events, DEFAULT_LIMITS, loaded.provenance["capabilities"], types=types, entry=MAIN)


def test_the_trace_of_a_version_2_module_is_version_2_and_replays_every_bit_and_order() -> None:
    answer = {"z": ["z-1", 2, -0.0], "a": ["a-1", 1, 0.1]}
    trace = record({"b": ["b", 0, 1e16], "a": ["a", 1, 5e-324]}, -0.0, answer)
    data = trace.to_json()
    doc = json.loads(data)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["version"] == 2
    assert doc["provenance"]["structs"] == [
        {
            "name": "Item",
            "fields": [
                {"name": "sku", "type": "str"},
                {"name": "qty", "type": "int"},
                {"name": "unit", "type": "float"},
            ],
        }
    ]
    assert doc["entry"]["signature"] == "({str: Item}) -> {str: Item}"  # structs by name, as signatures write them
    event = doc["events"][0]
    assert event["args"] == [
        [["b", {"qty": 0, "sku": "b", "unit": 1e16}], ["a", {"qty": 1, "sku": "a", "unit": 5e-324}]],
        -0.0,
    ]
    assert b'"args":[[["b",{"qty":0,"sku":"b","unit":1e+16}],["a",{"qty":1,"sku":"a","unit":5e-324}]],-0.0]' in data
    assert load_trace(data).to_json() == data
    (handler,) = replayer(trace).handlers()
    got = handler([{"b": ["b", 0, 1e16], "a": ["a", 1, 5e-324]}, -0.0], SITE)
    assert got == answer and list(got) == ["z", "a"]
    assert struct.pack("<d", got["z"][2]) == struct.pack("<d", -0.0)


@pytest.mark.parametrize(
    "actual",
    [
        ({"a": ["a", 1, 5e-324], "b": ["b", 0, 1e16]}, -0.0),  # the same entries in another order
        ({"b": ["b", 0, 1e16], "a": ["a", 1, 5e-324]}, 0.0),  # 0.0 for -0.0
        ({"b": ["b", 0, 1e16], "a": ["a", 1, 0.0]}, -0.0),
        ({"b": ["b", 0, 1e16], "a": ["a", True, 5e-324]}, -0.0),  # a bool for an int
    ],
)
def test_replay_diverges_on_any_bit_or_order_difference(actual: tuple[dict[str, Any], float]) -> None:
    trace = record({"b": ["b", 0, 1e16], "a": ["a", 1, 5e-324]}, -0.0, {})
    (handler,) = replayer(trace).handlers()
    with pytest.raises(ReplayError) as caught:
        handler(list(actual), SITE)
    assert (caught.value.code, caught.value.details["seq"]) == ("replay.divergence", 0)


def test_a_recorded_result_is_imported_within_the_recorded_limits() -> None:
    trace = record({}, 1.0, {str(i): ["x", i, 0.5] for i in range(5)})
    doc = trace.to_dict()
    doc["provenance"]["limits"]["max_array_len"] = 3
    loaded = load_trace(json.dumps(doc))
    types = TraceTypes.from_header(loaded.provenance, loaded.entry)
    limits = DEFAULT_LIMITS.tightened(DEFAULT_LIMITS.__class__(max_array_len=3))
    state = _Replayer(MODULE, loaded.events, limits, loaded.provenance["capabilities"], types=types, entry=MAIN)
    (handler,) = state.handlers()
    with pytest.raises(ReplayError) as caught:
        handler([{}, 1.0], SITE)
    assert caught.value.code == "replay.bad-value"


def test_a_value_too_deep_to_write_is_a_limit_error_not_a_crash() -> None:
    node = struct_type(0)
    tree = (StructDef("Node", (StructField("kids", node.array_of()),)),)
    walk = Capability("tree.walk", (node,), None)
    deep_module = Module(
        capabilities=(walk,),
        functions=(Function("main", True, 0, None, (), (Instruction(int(Op.RET), 0),)),),
        source_map=SourceMap((), ((),)),
        structs=tree,
    )
    decision = {"name": "tree.walk", "declared_signature": walk.signature(), "decision": "granted", "reason": ""}
    recorder = Recorder(
        deep_module,
        module_digest="0" * 64,
        policy_digest=None,
        limits=DEFAULT_LIMITS,
        decisions=[{**decision, "max_calls": None}],
        runtime_version="0",
    )
    (handler,) = recorder.wrap([lambda args, site: None])
    assert handler is not None
    chain: list[Any] = [[]]
    for _ in range(150):
        chain = [[chain]]  # Node { kids: [previous] }, 300 levels of JSON
    cyclic: list[Any] = [[]]
    cyclic[0].append(cyclic)  # a struct holding itself through its array: the plugin can build one
    with pytest.raises(ResourceLimitError) as stopped:
        handler([cyclic], SITE)  # its JSON text is endless: charged above every budget, the call stops the run
    assert stopped.value.code == "limit.trace-bytes"
    recorder.calls.clear()
    recorder.failure = None
    recorder.budget.meter[0] = 0
    handler([chain], SITE)
    trace = recorder.returned("main", [], None, 1)
    with pytest.raises(ResourceLimitError) as caught:
        trace.to_json()
    assert caught.value.code == "limit.trace-depth"


KEYS = st.text(max_size=3)
ITEMS = st.tuples(
    st.text(max_size=3), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False)
).map(list)


@given(
    st.dictionaries(KEYS, ITEMS, max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dictionaries(KEYS, ITEMS, max_size=5),
)
@settings(max_examples=60, deadline=None)
def test_record_json_load_replay_round_trip(arg: dict[str, Any], rate: float, answer: dict[str, Any]) -> None:
    order = list(answer)
    sent = {key: list(item) for key, item in arg.items()}
    trace = record(arg, rate, answer)
    loaded = load_trace(trace.to_json())
    assert loaded.to_json() == trace.to_json()
    (handler,) = replayer(trace).handlers()
    got = handler([sent, rate], SITE)
    assert list(got) == order
    for key in order:
        assert got[key][:2] == answer[key][:2]
        assert struct.pack("<d", got[key][2]) == struct.pack("<d", answer[key][2])


@given(st.dictionaries(KEYS, ITEMS, max_size=5))
@settings(max_examples=60, deadline=None)
def test_the_trace_budget_charge_bounds_the_json_text_of_structs_and_maps(value: dict[str, Any]) -> None:
    from chronicle_vm.core.payload import struct_item_bytes, value_bytes
    from chronicle_vm.trace.document import canonical_json

    types = TraceTypes.for_module(MODULE)
    written = canonical_json(types.to_json(value, LINES))
    assert value_bytes(value, struct_item_bytes(STRUCTS)) >= len(written)
