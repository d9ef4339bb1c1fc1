"""No file a module or trace names is opened unless asked (`--source DIR`); plugin text reaches terminals escaped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from chronicle_lang import compile_to_module

# Traps on line 3 (division by zero) when called with d = 0.
_DIVIDE = "// line 1\npub fn main(n: int, d: int) -> int {\n    return n / d; // \x1b[2J\x1b[31mFAKE \u202eevil\n}\n"


def _module(folder: Path, source_name: str, text: str = _DIVIDE) -> str:
    path = folder / f"m{abs(hash(source_name))}.cmod"
    path.write_bytes(compile_to_module(text, source_name).to_bytes())
    return path.name


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """A file outside the source folder whose line 3 must never be printed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "secret.txt"
    target.write_text("one\ntwo\nTOP-SECRET-LINE\n", encoding="utf-8")
    return target


@pytest.mark.parametrize("use_source", [False, True])
def test_an_absolute_source_map_name_is_never_opened(
    cli_at: Any, tmp_path: Path, secret: Path, use_source: bool
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    name = _module(work, str(secret))
    extra = ("--source", ".") if use_source else ()
    result = cli_at(work, "chronicle-vm", "run", name, "--arg", "1", "--arg", "0", *extra)
    assert result.returncode == 1
    assert "secret.txt:3:" in result.stderr  # the location is still named
    assert "TOP-SECRET-LINE" not in result.stderr


@pytest.mark.parametrize("kind", ["dotdot", "symlink", "fifo", "proc"])
def test_names_leaving_the_source_folder_are_not_opened(cli_at: Any, tmp_path: Path, secret: Path, kind: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    if kind == "dotdot":
        name = _module(work, "../outside/secret.txt")
    elif kind == "symlink":
        os.symlink(secret, work / "link.chr")
        name = _module(work, "link.chr")
    elif kind == "fifo":
        os.mkfifo(work / "pipe.chr")  # nobody writes: opening it blocking would hang
        name = _module(work, "pipe.chr")
    else:
        name = _module(work, "../../../../../../../proc/self/environ")
    result = cli_at(work, "chronicle-vm", "run", name, "--arg", "1", "--arg", "0", "--source", ".", timeout=30)
    assert result.returncode == 1
    assert "TOP-SECRET-LINE" not in result.stderr
    assert " | " not in result.stderr  # no line was quoted
    assert "PATH=" not in result.stderr


def test_a_line_under_the_source_folder_is_quoted_escaped(cli_at: Any, tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "divide.chr").write_text(_DIVIDE, encoding="utf-8")
    name = _module(work, "divide.chr")
    result = cli_at(work, "chronicle-vm", "run", name, "--arg", "1", "--arg", "0", "--source", "src")
    assert result.returncode == 1
    assert "3 |     return n / d;" in result.stderr
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert "\\x1b[2J" in result.stderr and "\\u202e" in result.stderr


def test_a_plain_result_line_escapes_c1_and_bidi_controls(cli_at: Any, tmp_path: Path) -> None:
    source = 'pub fn main() -> str {\n    return "ok\\u{9b}2J\\u{202e}\\u{1b}[31m";\n}\n'
    name = _module(tmp_path, "r.chr", source)
    result = cli_at(tmp_path, "chronicle-vm", "run", name)
    assert result.returncode == 0, result.stderr
    line = result.stdout.splitlines()[0]
    assert line == 'result: "ok\\x9b2J\\u202e\\u001b[31m"'


def test_a_log_line_and_a_capability_error_are_escaped(cli_at: Any, tmp_path: Path) -> None:
    source = 'cap log.info(msg: str);\npub fn main() {\n    log.info("a\\u{85}\\u{2066}\\u{7}b");\n}\n'
    name = _module(tmp_path, "l.chr", source)
    policy = tmp_path / "p.toml"
    policy.write_text('version = 1\n[capabilities."log.info"]\nallow = true\n', encoding="utf-8")
    result = cli_at(tmp_path, "chronicle-vm", "run", name, "--policy", "p.toml")
    assert result.returncode == 0, result.stderr
    assert "[info] a\\x85\\u2066\\x07b" in result.stdout
    assert "\x85" not in result.stdout and "\u2066" not in result.stdout and "\x07" not in result.stdout


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/stdin", "fifo"])
def test_devices_and_fifos_as_inputs_are_refused_at_once(cli_at: Any, tmp_path: Path, device: str) -> None:
    if device == "fifo":
        os.mkfifo(tmp_path / "pipe")
        device = "pipe"
    for args in (("run", device), ("replay", device, "--module", device), ("run", "x.cmod", "--policy", device)):
        if "x.cmod" in args:
            _module(tmp_path, "x.chr", "pub fn main() {}\n")
            os.replace(next(tmp_path.glob("m*.cmod")), tmp_path / "x.cmod")
        result = cli_at(tmp_path, "chronicle-vm", *args, "--json", timeout=30)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.json()["error"]["code"] == "usage.not-a-file"


def test_an_oversized_module_is_refused_before_reading(cli_at: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.cmod"
    with open(big, "wb") as handle:
        handle.truncate(5 * 1024**3)  # sparse: 5 GB claimed, nothing written
    result = cli_at(tmp_path, "chronicle-vm", "verify", "big.cmod", "--json")
    assert result.returncode == 11
    assert result.json()["error"]["code"] == "decode.too-large"
    trace = tmp_path / "big.json"
    with open(trace, "wb") as handle:
        handle.truncate(5 * 1024**3)
    result = cli_at(tmp_path, "chronicle-vm", "inspect", "big.json", "--json")
    assert result.returncode == 15
    assert result.json()["error"]["code"] == "replay.too-large"
