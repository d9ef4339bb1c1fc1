"""Maps and structs on the command line (#17): the `--arg` forms of CONTRACT.md section 4 and the `"value"` out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chronicle_cli.options import parse_entry_args
from chronicle_cli.vm import main
from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import BOOL, INT, STR, StructDef, StructField, map_type, struct_type
from chronicle_vm.errors import UsageError

ITEM = StructDef("Item", (StructField("sku", STR), StructField("qty", INT)))
TABLE = (ITEM,)


def _ins(name: str, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    return Instruction(OPS_BY_NAME[name].op.value, a, b, c)


def _module() -> Module:
    """`main(item: Item, counts: {int: bool}) -> {str: Item}`: {item.sku: item}, after counts gets 7: true."""
    registers = (struct_type(0), map_type(INT, BOOL), map_type(STR, struct_type(0)), STR, INT, BOOL)
    code = (
        _ins("mapnew", 2),
        _ins("getfield", 3, 0, 0),
        _ins("mapset", 2, 3, 0),
        _ins("loadk", 4, 0),
        _ins("loadb", 5, 1),
        _ins("mapset", 1, 4, 5),
        _ins("ret", 2),
    )
    main_fn = Function("main", True, 2, map_type(STR, struct_type(0)), registers, code)
    return Module(constants=(7,), functions=(main_fn,), source_map=SourceMap((), ((),)), structs=TABLE)


def _run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "values.cmod"
    path.write_bytes(_module().to_bytes())
    code = main(["--json", "run", str(path), *args])
    return code, json.loads(capsys.readouterr().out)


def test_structs_and_maps_go_in_and_come_out_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run(tmp_path, capsys, "--arg", '{"qty": 2, "sku": "x"}', "--arg", "[[1, true]]")
    assert code == 0, out
    assert out["value"] == {"x": {"sku": "x", "qty": 2}}  # a str-keyed map is an object; a struct by field name


@pytest.mark.parametrize(
    ("item", "counts", "words"),
    [
        ('{"sku": "x"}', "[]", "exactly the fields"),
        ('{"sku": "x", "qty": true}', "[]", "expected int"),
        ('{"sku": "x", "qty": 1}', '{"1": true}', "pairs"),
        ('{"sku": "x", "qty": 1}', "[[1, true], [1, false]]", "twice"),
        ("[1]", "[]", "JSON object"),
    ],
)
def test_bad_forms_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], item: str, counts: str, words: str
) -> None:
    code, out = _run(tmp_path, capsys, "--arg", item, "--arg", counts)
    assert code == 2, out
    assert out["status"] == "error" and out["error"]["category"] == "usage"
    assert words in out["error"]["message"], out["error"]["message"]


def test_parse_entry_args_reads_maps_by_key_type() -> None:
    values = parse_entry_args(['{"b": 1, "a": 2}', "[[3, 4]]"], [map_type(STR, INT), map_type(INT, INT)], "f")
    assert values == [{"b": 1, "a": 2}, {3: 4}]
    assert list(values[0]) == ["b", "a"]  # insertion order kept
    with pytest.raises(UsageError, match="argument 1 of `f`"):
        parse_entry_args(["not json"], [map_type(STR, INT)], "f")


def test_a_wrong_struct_names_it_and_the_message_stays_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fields = {"sku": "x", **{"k" * 60 + str(i): 1 for i in range(3_000)}}  # qty missing, 3,000 keys too many
    code, out = _run(tmp_path, capsys, "--arg", json.dumps(fields), "--arg", "[]")
    assert code == 2, out
    message = out["error"]["message"]
    assert "argument 1 of `main` is Item;" in message and out["error"]["expected"] == "Item"  # not struct#0
    assert "missing 'qty'" in message and "and 2,995 more" in message
    assert len(message) < 1_000
