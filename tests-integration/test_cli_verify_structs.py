"""`chronicle-vm verify` of a version-2 module: the struct table and signatures with struct names."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from chronicle_cli.render import render_verify
from chronicle_cli.vm import _module_summary
from chronicle_vm.core.type_registry import ROWS
from chronicle_vm.core.types import TypeKind
from chronicle_vm.runtime import LoadedModule
from chronicle_vm.verifier.rules import verify

RunCli = Callable[..., Any]

CASM = """
.struct Item (sku: str, qty: int, unit: float)
.struct Order (id: str, items: [Item], tags: {str: bool})
.cap catalog.lookup (str) -> Item

.func quote export (Order, str) -> {str: float}
  .regs {str: float}
    ret r2
.end
"""


def _assembled(folder: Path, cli_at: RunCli) -> Path:
    (folder / "order.casm").write_text(CASM, encoding="utf-8")
    result = cli_at(folder, "chrasm", "order.casm")
    assert result.returncode == 0, result.stderr
    return folder / "order.cmod"


def test_summary_names_structs_in_signatures(tmp_path: Path, cli_at: RunCli) -> None:
    from chronicle_vm import Module

    data = _assembled(tmp_path, cli_at).read_bytes()
    module = Module.from_bytes(data)
    assert module.version == 2
    summary = _module_summary("order.cmod", data, LoadedModule(verify(module), "0" * 64))
    assert summary["format_version"] == 2
    assert summary["entry_points"] == [{"name": "quote", "signature": "(Order, str) -> {str: float}"}]
    assert summary["capabilities"] == [{"name": "catalog.lookup", "signature": "(str) -> Item"}]
    assert summary["structs"] == [
        {
            "name": "Item",
            "fields": [
                {"name": "sku", "type": "str"},
                {"name": "qty", "type": "int"},
                {"name": "unit", "type": "float"},
            ],
        },
        {
            "name": "Order",
            "fields": [
                {"name": "id", "type": "str"},
                {"name": "items", "type": "[Item]"},
                {"name": "tags", "type": "{str: bool}"},
            ],
        },
    ]
    out = io.StringIO()
    render_verify(Console(file=out, width=200, color_system=None), summary)
    text = out.getvalue()
    assert "structs" in text and "items: [Item]" in text and "(Order, str) -> {str: float}" in text


def test_verify_command_on_a_struct_module(tmp_path: Path, cli_at: RunCli) -> None:
    _assembled(tmp_path, cli_at)
    result = cli_at(tmp_path, "chronicle-vm", "verify", "order.cmod", "--json")
    runnable = all(kind in ROWS for kind in (TypeKind.FLOAT, TypeKind.MAP, TypeKind.STRUCT))
    if not runnable:  # until every kind has its registry row the module is refused, cleanly
        assert result.returncode == 12, result.stderr
        assert result.json()["error"]["code"] == "verify.type-invalid"
        return
    assert result.returncode == 0, result.stderr
    module = result.json()["module"]
    assert module["format_version"] == 2
    assert module["structs"][1]["fields"][1] == {"name": "items", "type": "[Item]"}
    human = cli_at(tmp_path, "chronicle-vm", "verify", "order.cmod")
    assert "Order" in human.stdout and "catalog.lookup" in human.stdout


def test_verify_of_a_version_one_module_has_no_struct_key(tmp_path: Path, cli_at: RunCli) -> None:
    (tmp_path / "plain.casm").write_text(".func main export () -> int\n  .regs int\n    ret r0\n.end\n")
    assert cli_at(tmp_path, "chrasm", "plain.casm").returncode == 0
    result = cli_at(tmp_path, "chronicle-vm", "verify", "plain.cmod", "--json")
    assert result.returncode == 0
    assert "structs" not in result.json()["module"]
    assert result.json()["module"]["format_version"] == 1
