"""`policy suggest` and `report` through the CLI on version-2 traces of a real plugin and a product's own host.

The plugin's capabilities take a float, a map and a struct; two traced runs give a suggestion whose comments
show those values by their declared types, the plugin runs again under the suggested policy with the same
result, and the report writes them as `inspect` does.  Hostile edits of the traces exit 15 with a structured
error, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PLUGIN = """\
struct Item { sku: str, qty: int, unit: float }
cap fx.convert(amount: float, currency: str) -> float;
cap stock.put(counts: {str: int}) -> bool;
cap shop.price(item: Item) -> float;

pub fn main(order: [Item], currency: str) -> {str: float} {
    let out: {str: float} = {};
    let counts: {str: int} = {};
    for it in order {
        counts[it.sku] = get(counts, it.sku, 0) + it.qty;
        let each = shop.price(it);
        out[it.sku] = fx.convert(each * float(it.qty), currency);
    }
    stock.put(counts);
    return out;
}
"""

HOST = '''\
"""The shop's own host for the operator tests."""
from dataclasses import dataclass

from chronicle_vm.capabilities.host import Host

host = Host()


@dataclass(frozen=True)
class Item:
    sku: str
    qty: int
    unit: float


@host.capability("fx.convert")
def convert(amount: float, currency: str) -> float:
    return amount * (2.0 if currency == "USD" else 1.0)


@host.capability("stock.put")
def put(counts: dict[str, int]) -> bool:
    return len(counts) > 1


@host.capability("shop.price")
def price(item: Item) -> float:
    return item.unit + 0.5
'''

POLICY = "version = 1\n" + "".join(
    f'[capabilities."{name}"]\nallow = true\n' for name in ("fx.convert", "stock.put", "shop.price")
)
ORDERS = (
    ('[{"sku": "apple", "qty": 2, "unit": 1.5}, {"sku": "pear", "qty": 1, "unit": 0.1}]', "EUR"),
    ('[{"sku": "fig", "qty": 3, "unit": 1e-3}]', "USD"),
)


@pytest.fixture(scope="module")
def shop(cli: Any, workdir: Path) -> Path:
    (workdir / "shop.chr").write_text(PLUGIN, encoding="utf-8")
    (workdir / "shop_host.py").write_text(HOST, encoding="utf-8")
    (workdir / "shop.toml").write_text(POLICY, encoding="utf-8")
    built = cli("chronc", "shop.chr", "-o", "shop.cmod")
    assert built.returncode == 0, built.stderr
    for index, (order, currency) in enumerate(ORDERS):
        traced = cli(
            "chronicle-vm", "trace", "shop.cmod", "--policy", "shop.toml", "--host", "shop_host:host",
            "--arg", order, "--arg", currency, "-o", f"shop{index}.json", "--json",
        )  # fmt: skip
        assert traced.returncode == 0, traced.stderr
    return workdir


def test_the_suggestion_reads_floats_maps_and_structs_by_type(cli: Any, shop: Path) -> None:
    suggested = cli("chronicle-vm", "policy", "suggest", "shop0.json", "shop1.json", "-o", "shop.suggested.toml",
                    "--json")  # fmt: skip
    assert suggested.returncode == 0, suggested.stderr
    caps = suggested.json()["suggestion"]["capabilities"]
    assert caps["fx.convert"]["observed"]["1"] == {
        "kind": "float",
        "calls": 3,
        "values": [4.0, 0.6, 1.5030000000000001],
    }
    assert caps["stock.put"]["observed"]["1"] == {"kind": "map", "calls": 2, "min_entries": 1, "max_entries": 2}
    assert caps["shop.price"]["observed"]["1"]["example"] == 'Item { sku: "apple", qty: 2, unit: 1.5 }'
    text = (shop / "shop.suggested.toml").read_text(encoding="utf-8")
    assert "3 calls passed 4.0, 0.6, 1.5030000000000001" in text
    assert "fx.convert(float, str) -> float" in text and "shop.price(Item) -> float" in text
    again = cli(
        "chronicle-vm", "run", "shop.cmod", "--policy", "shop.suggested.toml", "--host", "shop_host:host",
        "--arg", ORDERS[0][0], "--arg", ORDERS[0][1], "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.json()["value"] == {"apple": 4.0, "pear": 0.6}


def test_the_report_writes_values_by_type(cli: Any, shop: Path) -> None:
    written = cli("chronicle-vm", "report", "shop0.json", "-o", "shop0.html", "--module", "shop.cmod", "--json")
    assert written.returncode == 0, written.stderr
    page = (shop / "shop0.html").read_text(encoding="utf-8")
    assert "Item { sku: &quot;apple&quot;, qty: 2, unit: 1.5 }" in page  # fields in declared order
    assert "{&quot;apple&quot;: 2, &quot;pear&quot;: 1}" in page  # the stock map, in insertion order
    assert "(Item) -&gt; float" in page and "Item { sku: str, qty: int, unit: float }" in page
    assert "struct#" not in page


def _edit(shop: Path, name: str, change: Any) -> str:
    doc = json.loads((shop / "shop0.json").read_bytes())
    change(doc)
    text = json.dumps(doc).replace('"@deep@"', "[" * 5000 + "]" * 5000)  # too deep for json.dumps to write
    (shop / name).write_text(text, encoding="utf-8")
    return name


def _calls(doc: dict[str, Any], capability: str) -> list[dict[str, Any]]:
    return [event for event in doc["events"] if event.get("capability") == capability]


EDITS = {
    "float-as-text": lambda doc: _calls(doc, "fx.convert")[0]["args"].__setitem__(0, "4.0"),
    "map-as-object": lambda doc: _calls(doc, "stock.put")[0]["args"].__setitem__(0, {"apple": 2}),
    "struct-missing-field": lambda doc: _calls(doc, "shop.price")[0]["args"][0].pop("unit"),
    "huge-map-then-bad-pair": lambda doc: _calls(doc, "stock.put")[0]["args"][0].extend(
        [*([f"k{i}", i] for i in range(100_000)), ["k"]]
    ),
    "deep-nesting": lambda doc: _calls(doc, "stock.put")[0]["args"].__setitem__(0, "@deep@"),
    "wrong-struct-table": lambda doc: doc["provenance"].__setitem__("structs", [{"name": "Item", "fields": 7}]),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_hostile_version_2_traces_exit_15_with_a_structured_error(cli: Any, shop: Path, edit: str) -> None:
    name = _edit(shop, f"hostile-{edit}.json", EDITS[edit])
    for command in (("policy", "suggest", name), ("report", name, "-o", f"{name}.html")):
        result = cli("chronicle-vm", *command, "--json")
        assert result.returncode == 15, result.stdout + result.stderr
        error = result.json()["error"]
        assert error["category"] == "replay" and error["code"].startswith("replay."), error
        assert "Traceback" not in result.stderr
