"""chronc and chrasm end to end: outputs, diagnostics with source lines and carets, --json shapes, exit codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_chronc_writes_next_to_the_source_by_default(workdir: Path) -> None:
    # The workdir fixture ran `chronc X.chr` for every fixture: each output sits next to its source.
    for name in ("greet", "chatty", "spin", "divide", "types"):
        data = (workdir / f"{name}.cmod").read_bytes()
        assert data[:4] == b"CHRM"


def test_chronc_json_reports_output_and_entry_points(cli: Any, workdir: Path) -> None:
    result = cli("chronc", "greet.chr", "-o", "greet2.cmod", "--json")
    assert result.returncode == 0, result.stderr
    payload = result.json()
    assert payload["status"] == "ok"
    assert payload["output"] == "greet2.cmod"
    assert payload["entry_points"] == ["main"]
    assert payload["emit"] == "cmod"
    assert (workdir / "greet2.cmod").read_bytes() == (workdir / "greet.cmod").read_bytes()


def test_chronc_emit_casm_then_chrasm_gives_the_same_module(cli: Any, workdir: Path) -> None:
    first = cli("chronc", "divide.chr", "--emit", "casm", "-o", "divide.casm")
    assert first.returncode == 0, first.stderr
    assert ".func main export (int, int) -> int" in (workdir / "divide.casm").read_text()
    second = cli("chrasm", "divide.casm", "-o", "divide-again.cmod")
    assert second.returncode == 0, second.stderr
    assert (workdir / "divide-again.cmod").read_bytes() == (workdir / "divide.cmod").read_bytes()


def test_chronc_writes_to_stdout_with_a_dash(cli: Any) -> None:
    result = cli("chronc", "divide.chr", "--emit", "casm", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert ".func main export (int, int) -> int" in result.stdout
    refused = cli("chronc", "divide.chr", "-o", "-", "--json")
    assert refused.returncode == 2
    assert refused.json()["error"]["code"] == "usage.arguments"


def test_chronc_source_errors_show_every_problem_with_its_line_and_caret(cli: Any, workdir: Path) -> None:
    result = cli("chronc", "broken.chr")
    assert result.returncode == 10
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert "broken.chr:2:13: error: unknown name 'missing' [source.unknown-name]" in lines
    assert "2 |     let x = missing + 1;" in lines
    assert "  |             ^~~~~~~" in lines
    assert any(line.startswith("broken.chr:3:12: error:") for line in lines)
    assert not (workdir / "broken.cmod").exists()


def test_chronc_json_source_error_shape(cli: Any) -> None:
    result = cli("chronc", "broken.chr", "--json")
    assert result.returncode == 10
    payload = result.json()
    assert payload["status"] == "error"
    error = payload["error"]
    assert error["category"] == "source"
    assert error["code"] == "source.unknown-name"  # the first problem's code
    found = [(d["code"], d["line"], d["col"]) for d in error["diagnostics"]]
    assert found == [("source.unknown-name", 2, 13), ("source.type-mismatch", 3, 12)]
    assert error["diagnostics"][0]["source_line"] == "    let x = missing + 1;"


def test_chrasm_reports_every_problem(cli: Any) -> None:
    result = cli("chrasm", "broken.casm", "--json")
    assert result.returncode == 10
    error = result.json()["error"]
    codes = [(d["code"], d["line"]) for d in error["diagnostics"]]
    assert codes == [("source.asm-unknown-opcode", 3), ("source.asm-unknown-label", 4)]


def test_chrasm_disassembles_to_stdout_and_round_trips(cli: Any, workdir: Path) -> None:
    shown = cli("chrasm", "--disassemble", "pure.cmod")
    assert shown.returncode == 0, shown.stderr
    assert ".func main export (int, int) -> int" in shown.stdout
    (workdir / "pure-again.casm").write_text(shown.stdout)
    again = cli("chrasm", "pure-again.casm", "-o", "pure-again.cmod", "--json")
    assert again.returncode == 0, again.stderr
    assert again.json()["output"] == "pure-again.cmod"
    assert (workdir / "pure-again.cmod").read_bytes() == (workdir / "pure.cmod").read_bytes()


def test_chrasm_disassemble_json_carries_the_text(cli: Any) -> None:
    result = cli("chrasm", "-d", "pure.cmod", "--json")
    payload = result.json()
    assert payload["status"] == "ok"
    assert "add r2, r0, r1" in payload["casm"]


def test_chrasm_disassemble_of_a_non_module_is_a_decode_error(cli: Any) -> None:
    result = cli("chrasm", "--disassemble", "pure.casm")
    assert result.returncode == 11
    assert result.stderr.startswith("error[decode.bad-magic]: pure.casm: ")
    assert "this looks like a .casm source" in result.stderr
