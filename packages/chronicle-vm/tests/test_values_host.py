"""Maps and structs through the embedding API (#17): capabilities with dataclass and dict annotations, negotiation
by struct shape, deep checks of host results naming the path, copies both ways, typed entry results."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chronicle_vm import ExecutionError, Host, Policy, instantiate, load_module
from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.errors import PolicyError, UsageError

ENGINES = ("reference", "compiled")
# the module's table: Item first (the host's may order or name its structs otherwise)
ITEM = StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("prices", map_type(STR, INT))))
POLICY = Policy.from_toml('version = 1\n[capabilities."catalog.lookup"]\nallow = true\n')


@dataclasses.dataclass(frozen=True)
class Item:
    sku: str
    qty: int
    prices: dict[str, int]


@dataclasses.dataclass
class WrongItem:
    sku: str
    qty: str
    prices: dict[str, int]


def _ins(name: str, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    return Instruction(OPS_BY_NAME[name].op.value, a, b, c)


def _module() -> bytes:
    """`main(sku: str) -> Item`: looks the item up, sets its qty to 2 and its price of "eur" to 5, returns it."""
    registers = (STR, struct_type(0), INT, map_type(STR, INT), STR, INT)
    code = (
        _ins("capcall", 0, 0, 1),
        _ins("loadk", 2, 0),
        _ins("setfield", 1, 1, 2),
        _ins("getfield", 3, 1, 2),
        _ins("loadk", 4, 1),
        _ins("loadk", 5, 2),
        _ins("mapset", 3, 4, 5),
        _ins("ret", 1),
    )
    main = Function("main", True, 1, struct_type(0), registers, code)
    capability = Capability("catalog.lookup", (STR,), struct_type(0))
    mod = Module(
        constants=(2, "eur", 5),
        capabilities=(capability,),
        functions=(main,),
        source_map=SourceMap((), ((),)),
        structs=(ITEM,),
    )
    return mod.to_bytes()


def _host(returned: Any, annotation: type = Item) -> tuple[Host, list[Any]]:
    host = Host()
    given: list[Any] = []

    def lookup(sku: str) -> Any:
        given.append(returned)
        return returned

    lookup.__annotations__ = {"sku": str, "return": annotation}
    host.capability("catalog.lookup")(lookup)
    return host, given


@pytest.mark.parametrize("engine", ENGINES)
def test_a_dataclass_result_is_checked_copied_and_the_entry_result_is_the_hosts_dataclass(engine: str) -> None:
    prices = {"usd": 3}
    host, _ = _host(Item("x", 1, prices))
    instance = instantiate(load_module(_module()), host=host, policy=POLICY, engine=engine)  # type: ignore[arg-type]
    result = instance.call("main", "x", trace=False)
    assert result.value == Item("x", 2, {"usd": 3, "eur": 5})
    assert type(result.value) is Item
    assert prices == {"usd": 3}  # the plugin changed its copy, never the host's dict


@pytest.mark.parametrize("engine", ENGINES)
def test_a_dict_with_exactly_the_fields_is_a_struct(engine: str) -> None:
    host, _ = _host({"prices": {}, "qty": 1, "sku": "y"})
    instance = instantiate(load_module(_module()), host=host, policy=POLICY, engine=engine)  # type: ignore[arg-type]
    assert instance.call("main", "y", trace=False).value == Item("y", 2, {"eur": 5})


@pytest.mark.parametrize(
    ("returned", "path"),
    [
        ({"sku": "x", "qty": 1, "prices": {"a": True}}, "result of catalog.lookup.prices['a']"),
        ({"sku": "x", "qty": 1, "prices": {1: 1}}, "result of catalog.lookup.prices key 1"),
        ({"sku": "x", "qty": 1}, "exactly the fields"),
        (WrongItem("x", "1", {}), "result of catalog.lookup.qty"),
        ([1, 2, 3], "expected struct Item"),
    ],
)
def test_bad_host_results_name_the_path(returned: Any, path: str) -> None:
    host, _ = _host(returned)
    instance = instantiate(load_module(_module()), host=host, policy=POLICY)
    with pytest.raises(ExecutionError) as caught:
        instance.call("main", "x", trace=False)
    assert caught.value.code == "runtime.capability-result"
    assert path in caught.value.message, caught.value.message


def test_a_cyclic_host_result_is_refused() -> None:
    prices: dict[str, Any] = {}
    item = {"sku": "x", "qty": 1, "prices": prices}
    prices["self"] = item  # a dict that holds its own struct: wrong type too, but found without recursing
    host, _ = _host(item)
    instance = instantiate(load_module(_module()), host=host, policy=POLICY)
    with pytest.raises(ExecutionError) as caught:
        instance.call("main", "x", trace=False)
    assert caught.value.code == "runtime.capability-result"


def test_negotiation_compares_struct_shapes_and_names_the_field() -> None:
    host, _ = _host(WrongItem("x", "1", {}), WrongItem)
    with pytest.raises(PolicyError) as caught:
        instantiate(load_module(_module()), host=host, policy=POLICY)
    decision = caught.value.details["decisions"][0]
    assert decision["decision"] == "type-invalid"
    assert "Item.qty" in decision["reason"] and "int vs str" in decision["reason"]


def test_negotiation_accepts_the_same_shape_under_another_name() -> None:
    @dataclasses.dataclass
    class Product:
        sku: str
        qty: int
        prices: dict[str, int]

    host, _ = _host(Product("x", 1, {}), Product)
    instance = instantiate(load_module(_module()), host=host, policy=POLICY)
    assert instance.call("main", "x", trace=False).value == Product("x", 2, {"eur": 5})


def _audit_module() -> bytes:
    """`main(item: Item) -> int`: sends the item to `audit.log(Item)`, then returns its qty."""
    registers = (struct_type(0), INT)
    code = (_ins("capcall", 0, 0, 0), _ins("getfield", 1, 0, 1), _ins("ret", 1))
    main = Function("main", True, 1, INT, registers, code)
    mod = Module(
        capabilities=(Capability("audit.log", (struct_type(0),), None),),
        functions=(main,),
        source_map=SourceMap((), ((),)),
        structs=(ITEM,),
    )
    return mod.to_bytes()


@pytest.mark.parametrize("engine", ENGINES)
def test_struct_arguments_reach_the_host_as_its_dataclass_and_entry_arguments_take_dataclasses(engine: str) -> None:
    host = Host()
    seen: list[Any] = []

    @host.capability("audit.log")
    def log(item: Item) -> None:
        seen.append(item)
        item.prices["stolen"] = 1  # the host's copy: the plugin's map is not this dict

    policy = Policy.from_toml('version = 1\n[capabilities."audit.log"]\nallow = true\n')
    instance = instantiate(load_module(_audit_module()), host=host, policy=policy, engine=engine)  # type: ignore[arg-type]
    given = Item("x", 3, {"usd": 1})
    assert instance.call("main", given, trace=False).value == 3
    assert seen == [Item("x", 3, {"usd": 1, "stolen": 1})] and type(seen[0]) is Item
    assert given.prices == {"usd": 1}  # the entry argument was copied in
    assert instance.call("main", {"sku": "y", "qty": 4, "prices": {}}, trace=False).value == 4
    with pytest.raises(UsageError) as caught:
        instance.call("main", {"sku": "y", "qty": True, "prices": {}}, trace=False)
    assert "qty" in caught.value.message


@pytest.mark.parametrize("engine", ENGINES)
def test_a_traced_struct_call_records_the_hosts_answer_and_replays_exactly(engine: str) -> None:
    from chronicle_vm.trace.replay import replay

    host, _ = _host(Item("x", 1, {"usd": 3}))
    instance = instantiate(load_module(_module()), host=host, policy=POLICY, engine=engine)  # type: ignore[arg-type]
    result = instance.call("main", "x", trace=True)
    assert result.trace is not None
    data = result.trace.to_json()
    # the answer as the host gave it, not as the plugin changed it afterwards (qty 2, "eur" added)
    assert b'"result":{"prices":[["usd",3]],"qty":1,"sku":"x"}' in data
    report = replay(data, _module(), engine=engine)  # type: ignore[arg-type]
    assert report.exact and report.outcome["value"] == {"sku": "x", "qty": 2, "prices": [["usd", 3], ["eur", 5]]}
