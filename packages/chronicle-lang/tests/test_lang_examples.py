"""Every examples/*.chr compiles, runs under its policy's limits with its stated result, and its policy grants it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chronicle_lang import compile_source, compile_to_module
from chronicle_testing.lang_run import check_program, run_chr
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.model import Module
from chronicle_vm.errors import SourceError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
PROGRAMS = sorted(EXAMPLES.glob("*.chr"))


def test_lang_examples_exist() -> None:
    names = {p.stem for p in PROGRAMS}
    assert {"hello", "runaway", "pricing", "text_transform", "bot", "game_mod"} <= names


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_lang_example_runs(path: Path) -> None:
    policy = Policy.from_file(path.with_suffix(".toml"))
    check_program(path.read_text(encoding="utf-8"), path.name, limits=policy.effective_limits(Limits()))


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_lang_example_policy_grants_what_it_declares(path: Path) -> None:
    policy = Policy.from_file(path.with_suffix(".toml"))
    declared = {cap.name for cap in compile_source(path.read_bytes(), path.name).capabilities}
    for name in declared:
        rule = policy.rule(name)
        assert rule is not None and rule.allow, f"{path.name} declares {name} but its policy does not grant it"
    assert set(policy.capabilities) <= declared, "a policy should grant only what its plugin declares"


def test_lang_hello_is_the_demo_plugin() -> None:
    ir = compile_source((EXAMPLES / "hello.chr").read_bytes(), "hello.chr")
    (main,) = [f for f in ir.functions if f.name == "main"]
    assert main.exported and main.param_count == 1 and str(main.registers[0]) == "int"
    assert "log.info" in {c.name for c in ir.capabilities}


def test_lang_docs_tutorial_plugin_runs() -> None:
    # The tutorial's code blocks, in order, make the plugin it describes.
    doc = (EXAMPLES.parent / "docs" / "language.md").read_text(encoding="utf-8")
    tutorial = doc[doc.index("## Tutorial") :]
    blocks = re.findall(r"```\n(.*?)```", tutorial, flags=re.DOTALL)
    source = "\n".join(b for b in blocks if "fn " in b or "cap " in b)
    report = run_chr(source, "reward", [12], path="reward.chr")
    assert report.error is None, str(report.error)
    assert report.value == 180
    assert report.host.logs == ["silver reward #1"]
    broken = source.replace("return points(orders, t);", "return pionts(orders, t);")
    with pytest.raises(SourceError) as info:
        compile_source(broken, "reward.chr")
    (diag,) = info.value.details["diagnostics"]
    assert (diag["code"], diag["line"], diag["col"], diag["hint"]) == (
        "source.unknown-function",
        31,
        12,
        "did you mean 'points'?",
    )


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_lang_example_module_verifies_and_round_trips(path: Path) -> None:
    module = compile_to_module(path.read_bytes(), path.name)
    verify(module)
    assert Module.from_bytes(module.to_bytes()) == module
    assert module.source_map.files == (path.name,)
    pairs = zip(module.source_map.functions, module.functions, strict=True)
    assert all(len(positions) == len(f.code) for positions, f in pairs)


def test_lang_docs_constants_example_compiles_and_folds() -> None:
    doc = (EXAMPLES.parent / "docs" / "language.md").read_text(encoding="utf-8")
    section = doc[doc.index("### Constants") :]
    block = re.findall(r"```\n(.*?)```", section, flags=re.DOTALL)[0]
    source = block + "pub fn main() -> str { return str(FEE_PPM) + LOUD + str(MASK); }\n"
    report = run_chr(source, "main", [], path="consts.chr")
    assert report.error is None, str(report.error)
    assert report.value == "25000hi!4095"


def test_lang_docs_operator_examples_hold() -> None:
    # The operator table's and the precedence note's examples, as one program.
    source = (
        "pub fn main() -> [bool] {\n"
        '    let checks = [1 << 63 == -9223372036854775808, -8 >> 1 == -4, -1 >> 63 == -1, ~5 == -6, "Z" < "a",\n'
        '        "ab" < "abc", "\\u{e9}" > "z", 6 & 1 == 0, 5 & 1 == 1];\n'
        '    push(checks, replace("aaaa", "aa", "b") == "bb");\n'
        '    push(checks, starts_with("x", "") && ends_with("x", ""));\n'
        "    return checks;\n"
        "}\n"
    )
    report = run_chr(source, "main", [], path="ops.chr")
    assert report.error is None, str(report.error)
    assert report.value == [True] * 11  # `x & 1 == 0` is `(x & 1) == 0`, unlike C


def _doc_programs() -> list[str]:
    doc = (EXAMPLES.parent / "docs" / "language.md").read_text(encoding="utf-8")
    return re.findall(r"```chr\n(.*?)```", doc, flags=re.DOTALL)


def test_lang_docs_have_whole_programs() -> None:
    assert len(_doc_programs()) >= 3


@pytest.mark.parametrize("source", _doc_programs(), ids=lambda s: s.split("\n", 1)[0][:40])
def test_lang_docs_program_runs(source: str) -> None:
    # Every ```chr block of docs/language.md is a whole program with its `// expect:` line.
    check_program(source, "doc.chr")
