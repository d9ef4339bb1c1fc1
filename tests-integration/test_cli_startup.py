"""Start-up stays fast: `chronicle-vm run` loads only what a run needs (issue 20: at most 0.1 s above bare Python).

The wall-time figure is the `startup` benchmark's (benchmarks/bench_startup.py);
these tests keep its causes from coming back: a real subprocess runs a
small plugin through the CLI's `main` and lists the modules it imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from chronicle_cli import vm
from chronicle_lang import compile_to_module

SMALL = "pub fn main(n: int) -> int {\n    let s = 0;\n    for i in 0..n { s = s + i; }\n    return s;\n}\n"
HELLO = Path(__file__).parent.parent / "examples"

# Run in the child: the CLI's main, then the names of every imported module on the last line.
_CHILD = """
import contextlib, io, sys
from chronicle_cli.vm import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
modules = sorted(sys.modules)
import json
print(json.dumps({"code": code, "out": out.getvalue(), "modules": modules}))
"""

#: Never needed by a run of the compiled engine without a trace (each is a cost start-up used to pay).
NOT_FOR_A_RUN = (
    "rich",
    "lark",
    "chronicle_asm",
    "chronicle_lang",
    "chronicle_cli.batch_cli",
    "chronicle_cli.batch",
    "chronicle_cli.operator_commands",
    "chronicle_cli.render",
    "chronicle_vm.engines.oracle",
    "chronicle_vm.engines.reference",  # the fused interpreter: a compiled run loads it only to fall back
    "chronicle_vm.trace.document",
    "chronicle_vm.trace.replay",
    "chronicle_vm.core.casemap_data",
    "asyncio",
    "construct",  # decoding runs the reader generated from the schemas (binary/_reader_gen.py)
    "chronicle_vm.binary.schema",
    "chronicle_vm.binary.encode",
    "hashlib",  # digests use CPython's own SHA-256 (core.digest), not OpenSSL's
    "shutil",  # argparse's formatters ask os for the terminal width (common.Parser)
    "queue",  # only a run that goes deep starts a worker thread (engines.deep)
    "json",  # only --json output, JSON arguments and JSON texts of values load it
    "sqlite3",
)


def _imported(tmp_path: Path, *args: str) -> tuple[dict[str, object], set[str]]:
    (tmp_path / "small.cmod").write_bytes(compile_to_module(SMALL, "small.chr").to_bytes())
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    return report, set(report["modules"])


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(module.startswith(name + ".") for module in modules)


def test_a_small_run_imports_only_what_it_needs(tmp_path: Path) -> None:
    report, modules = _imported(tmp_path, "run", "small.cmod", "--arg", "10")
    assert report["code"] == 0 and "result: 45" in str(report["out"])
    assert "chronicle_vm.engines.compiled" in modules  # the engine that ran it
    leaked = [name for name in NOT_FOR_A_RUN if _loaded(modules, name)]
    assert leaked == []
    assert "tomllib" not in modules and "tomli" not in modules  # no --policy: deny-all needs no TOML parser


def test_a_run_with_a_policy_and_the_cli_host_stays_lean(tmp_path: Path) -> None:
    policy = str(HELLO / "hello.toml")
    (tmp_path / "hello.cmod").write_bytes(
        compile_to_module((HELLO / "hello.chr").read_text(encoding="utf-8"), "hello.chr").to_bytes()
    )
    report, modules = _imported(tmp_path, "run", "hello.cmod", "--policy", policy, "--arg", "5")
    assert report["code"] == 0, report
    leaked = [name for name in NOT_FOR_A_RUN if name != "sqlite3" and _loaded(modules, name)]
    assert leaked == []


def test_a_traced_run_loads_the_recorder(tmp_path: Path) -> None:
    report, modules = _imported(tmp_path, "run", "small.cmod", "--arg", "3", "--trace-out", "t.json")
    assert report["code"] == 0 and (tmp_path / "t.json").exists()
    assert "chronicle_vm.trace.document" in modules


def test_the_reference_engine_is_loaded_when_asked_for(tmp_path: Path) -> None:
    report, modules = _imported(tmp_path, "run", "small.cmod", "--arg", "3", "--engine", "reference")
    assert report["code"] == 0 and "result: 3" in str(report["out"])
    assert "chronicle_vm.engines.oracle" in modules


def _commands(parser: object) -> set[str]:
    for action in getattr(parser, "_actions", ()):
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    return set()


def test_the_command_table_matches_the_parser() -> None:
    """`main` builds only the named command's group; the table of groups must name every command exactly."""
    assert _commands(vm.build_parser()) == set(vm.COMMAND_GROUPS)
    for name, group in vm.COMMAND_GROUPS.items():
        same_group = {other for other, other_group in vm.COMMAND_GROUPS.items() if other_group == group}
        assert _commands(vm.build_parser(name)) == same_group


@pytest.mark.parametrize(
    ("args", "word"),
    [
        (["run", "m.cmod"], "run"),
        (["--json", "trace", "m.cmod"], "trace"),
        (["--color", "never", "audit"], "audit"),
        (["--color=never", "policy", "suggest"], "policy"),
        (["--help"], None),
        (["-h", "run"], None),
        (["--version"], None),
        (["frobnicate"], None),
        ([], None),
    ],
)
def test_command_word(args: list[str], word: str | None) -> None:
    assert vm.command_word(args) == word
