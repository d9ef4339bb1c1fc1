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
from typing import Any

import pytest

from chronicle_cli import vm
from chronicle_lang import compile_to_module

SMALL = "pub fn main(n: int) -> int {\n    let s = 0;\n    for i in 0..n { s = s + i; }\n    return s;\n}\n"
HELLO = Path(__file__).parent.parent / "examples"

# Run in the child: the CLI's main, then the names of every imported module on the last line.
_CHILD = """
import contextlib, io, sys
missing = []  # modules imported but found by no finder: each such try searched every sys.path entry


class Missing:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        finders = [finder for finder in sys.meta_path if finder is not cls and hasattr(finder, "find_spec")]
        if all(finder.find_spec(name, path, target) is None for finder in finders):
            missing.append(name)
        return None


sys.meta_path.insert(0, Missing)
from chronicle_cli.vm import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(sys.argv[1:])
modules = sorted(sys.modules)
import re
# What start-up builds only at first use: whether each was built by the end of the run.
built = {
    "quoting table": bool(getattr(sys.modules.get("chronicle_vm.core.quoting"), "_ESCAPES", None)),
    "verifier plans": bool(getattr(sys.modules.get("chronicle_vm.verifier.rules"), "_PLANS", None)),
    "policy patterns": any(key[1] in {
        getattr(sys.modules.get("chronicle_vm.capabilities.policy"), name, None)
        for name in ("_BARE_KEY", "_POSITION", "_POSITION_SUFFIX", "_KEY_PART", "_UNICODE_ESCAPE")
    } for key in re._cache),
    "type-text pattern": any(
        key[1] == getattr(sys.modules.get("chronicle_vm.core.types"), "_TYPE_TOKEN", None) for key in re._cache
    ),
}
import json
print(json.dumps({"code": code, "out": out.getvalue(), "modules": modules, "built": built, "missing": missing}))
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
    "threading",  # its locks are _thread's; only a cancel handle (control.CancelHandle) or a deep run needs it
    "contextvars",
    "chronicle_vm.engines.deep",  # the worker thread of a run past the caller's Python stack, imported for it
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


def _built(report: dict[str, object]) -> dict[str, bool]:
    """What the child found built of what start-up defers (see _CHILD)."""
    built = report["built"]
    assert isinstance(built, dict)
    return {str(name): bool(value) for name, value in built.items()}


def _loaded(modules: set[str], name: str) -> bool:
    return name in modules or any(module.startswith(name + ".") for module in modules)


def test_a_small_run_imports_only_what_it_needs(tmp_path: Path) -> None:
    report, modules = _imported(tmp_path, "run", "small.cmod", "--arg", "10")
    assert report["code"] == 0 and "result: 45" in str(report["out"])
    assert "chronicle_vm.engines.compiled" in modules  # the engine that ran it
    leaked = [name for name in NOT_FOR_A_RUN if _loaded(modules, name)]
    assert leaked == []
    assert "tomllib" not in modules and "tomli" not in modules  # no --policy: deny-all needs no TOML parser
    assert not any(_built(report).values()), report["built"]  # see _CHILD: each costs start-up when eager
    # A module that is not there costs a search of all of sys.path (core.digest tried 3.12's _sha2 first: 0.5 ms).
    # `org`: the stdlib's copy module looks for Jython's on 3.11.
    missing = report["missing"]
    assert isinstance(missing, list) and set(missing) <= {"org"}, missing


def test_what_start_up_defers_is_still_built_when_needed(tmp_path: Path) -> None:
    """The deferred tables (see test above) are built by the runs that need them: the check can fail."""
    trap = "pub fn main(text: str) -> int {\n    return parse_int(text);\n}\n"  # traps quoting its argument
    (tmp_path / "trap.cmod").write_bytes(compile_to_module(trap, "trap.chr").to_bytes())
    (tmp_path / "bad.toml").write_text('version = 1\n[capabilities."kv.get"]\nalow = true\n', encoding="utf-8")
    report, _ = _imported(tmp_path, "run", "trap.cmod", "--arg", "x")
    assert report["code"] == 1 and _built(report)["quoting table"], report
    report, _ = _imported(tmp_path, "run", "small.cmod", "--arg", "1", "--policy", "bad.toml")
    assert report["code"] == 13 and _built(report)["policy patterns"], report


def test_a_run_offers_only_the_capabilities_its_module_declares(tmp_path: Path) -> None:
    """The CLI host reads the signature only of what negotiation will look up; a refusal still lists them all."""
    from chronicle_cli.host import build_host

    full = build_host(lambda _level, _message: None)
    only = build_host(lambda _level, _message: None, only={"kv.get", "nope.none"})
    assert [cap.name for cap in only.host] == ["kv.get"]

    def shown(cap: Any) -> tuple[object, ...]:
        return cap.name, cap.params, cap.result, cap.structs, cap.classes, cap.context, cap.deterministic

    assert shown(only.host.get("kv.get")) == shown(full.host.get("kv.get"))  # as when every one is offered
    assert only.host.structs == full.host.structs  # catalog.lookup's struct, whether it is offered or not
    unknown = "cap foo.bar(x: int) -> int;\npub fn main(n: int) -> int {\n    return foo.bar(n);\n}\n"
    (tmp_path / "unknown.cmod").write_bytes(compile_to_module(unknown, "unknown.chr").to_bytes())
    (tmp_path / "grant.toml").write_text('version = 1\n[capabilities."foo.bar"]\nallow = true\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, "--json", "run", "unknown.cmod", "--arg", "1", "--policy", "grant.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    hint = json.loads(json.loads(done.stdout.splitlines()[-1])["out"])["error"]["hint"]
    assert hint.endswith(", ".join(f"{cap.name}{cap.signature()}" for cap in full.host))


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


def test_the_heap_is_frozen_at_exit_only(tmp_path: Path) -> None:
    """common.run_main freezes the heap when the process exits (CPython's exit collections then skip it), not before."""
    (tmp_path / "small.cmod").write_bytes(compile_to_module(SMALL, "small.chr").to_bytes())
    child = (
        "import atexit, contextlib, gc, io, sys\n"
        "atexit.register(lambda: print('at exit', gc.get_freeze_count() > 0))  # runs after run_main's handler\n"
        "from chronicle_cli.vm import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    codes = [main(['run', 'small.cmod', '--arg', '3']) for _ in range(2)]\n"
        "print('codes', codes, 'frozen', gc.get_freeze_count())\n"
    )
    done = subprocess.run([sys.executable, "-c", child], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["codes [0, 0] frozen 0", "at exit True"]
