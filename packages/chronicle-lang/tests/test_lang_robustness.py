"""Any input ends in IR or one SourceError with well-formed diagnostics: deep nesting, huge literals, noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_asm.ir import IRModule
from chronicle_lang import MAX_DEPTH, compile_source, render_diagnostic
from chronicle_vm.errors import SourceError

N = 10_000
_KEYS = {"code", "message", "file", "line", "col", "end_line", "end_col", "source_line"}


def _diagnostics(source: str | bytes, **kwargs: Any) -> list[dict[str, Any]]:
    with pytest.raises(SourceError) as info:
        compile_source(source, "deep.chr", **kwargs)
    diags: list[dict[str, Any]] = info.value.details["diagnostics"]
    assert diags
    assert info.value.code == diags[0]["code"]  # the error's code is the first problem's
    for d in diags:
        assert set(d) >= _KEYS
        assert d["code"].startswith("source.")
        render_diagnostic(d)
    return diags


def _codes(source: str | bytes, **kwargs: Any) -> list[tuple[str, int, int]]:
    return [(d["code"], d["line"], d["col"]) for d in _diagnostics(source, **kwargs)]


def test_lang_robust_deep_parentheses_compile() -> None:
    # Parentheses add no tree level, so they compile at any depth.
    ir = compile_source("pub fn main() -> int { return " + "(" * N + "41 + 1" + ")" * N + "; }")
    assert ir.functions[0].name == "main"


def test_lang_robust_unclosed_parentheses() -> None:
    prefix = "pub fn main() -> int { return "
    assert _codes(prefix + "(" * N + "1; }") == [("source.syntax", 1, len(prefix) + N + 2)]


_DEEP = {
    "blocks": "pub fn main() { " + "{" * N + "}" * N + " }",
    "ifs": "pub fn main() { " + "if true { " * N + "}" * N + " }",
    "whiles": "pub fn main() { " + "while false { " * N + "}" * N + " }",
    "negation": "pub fn main() -> int { return " + "-" * N + "1; }",
    "not": "pub fn main() -> bool { return " + "!" * N + "true; }",
    "sum": "pub fn main() -> int { return " + "+".join(["1"] * N) + "; }",
    "arrays": "pub fn main() { let x = " + "[" * N + "1" + "]" * N + "; }",
    "indexing": "pub fn main() -> int { let x = [1]; return x" + "[0]" * N + "; }",
    "calls": "fn f(x: int) -> int { return x; } pub fn main() -> int { return " + "f(" * N + "1" + ")" * N + "; }",
}


@pytest.mark.parametrize("name", sorted(_DEEP))
def test_lang_robust_deep_nesting_is_one_diagnostic(name: str) -> None:
    diags = _diagnostics(_DEEP[name])
    assert [d["code"] for d in diags] == ["source.too-deep"], name
    assert diags[0]["line"] == 1
    assert str(MAX_DEPTH) in diags[0]["message"]


def test_lang_robust_nesting_just_inside_the_bound_compiles() -> None:
    depth = MAX_DEPTH // 2 - 5  # an if and its block are two levels
    source = "pub fn main() -> int { " + "if true { " * depth + "return 1; " + "}" * depth + " return 0; }"
    compile_source(source)


def test_lang_robust_one_megabyte_string_literal() -> None:
    text = "ab\u00e9" * (1 << 18)
    ir = compile_source('pub fn main() -> str { return "' + text + '"; }')
    values = [
        op.value for instr in ir.functions[0].body for op in getattr(instr, "operands", ()) if hasattr(op, "value")
    ]
    assert text in values


def test_lang_robust_one_megabyte_unterminated_string() -> None:
    prefix = "pub fn main() -> str {\n    return "
    assert _codes(prefix + '"' + "a" * (1 << 20) + ";\n}\n") == [("source.unterminated-string", 2, 12)]


def test_lang_robust_long_line_is_echoed_as_a_window() -> None:
    source = 'pub fn main() -> int { let s = "' + "x" * 5000 + '"; return s; }'
    (diag,) = _diagnostics(source)
    assert diag["code"] == "source.type-mismatch"
    assert len(diag["source_line"]) <= 200
    assert "^" in render_diagnostic(diag)


def test_lang_robust_invalid_utf8_bytes() -> None:
    source = b'pub fn main() -> str {\n    return "caf\xc3\xa9 \xff";\n}\n'
    assert _codes(source) == [("source.invalid-utf8", 2, 18)]


def test_lang_robust_bytes_input_compiles() -> None:
    ir = compile_source('\ufeffpub fn main() -> str { return "caf\u00e9"; }'.encode())
    assert ir.functions[0].exported


def test_lang_robust_thousands_of_functions() -> None:
    count = 3_000  # the 100,000 case below is marked slow
    source = "\n".join(f"fn f{i}(x: int) -> int {{ return x + {i}; }}" for i in range(count))
    ir = compile_source(source)
    assert len(ir.functions) == count


@pytest.mark.slow
def test_lang_robust_hundred_thousand_functions() -> None:
    ir = compile_source("\n".join(f"fn f{i}() {{}}" for i in range(100_000)))
    assert len(ir.functions) == 100_000


def test_lang_robust_too_many_registers() -> None:
    lets = " ".join(f"let v{i} = {i};" for i in range(20))
    source = f"pub fn main() -> int {{ {lets} return v0; }}"
    compile_source(source, max_registers=20)
    assert _codes(source, max_registers=19) == [("source.too-many-registers", 1, 8)]


def test_lang_robust_diagnostics_are_capped() -> None:
    source = "pub fn main() { " + " ".join(f"x{i} = 1;" for i in range(500)) + " }"
    with pytest.raises(SourceError) as info:
        compile_source(source)
    assert len(info.value.details["diagnostics"]) == 100
    assert info.value.details["dropped"] == 400
    assert info.value.message.startswith("500 errors in <input>")


_VOCAB = [
    "fn", "pub", "cap", "let", "if", "else", "while", "for", "in", "..", "return", "break", "continue",
    "main", "x", "xs", "log", ".", "info", "(", ")", "{", "}", "[", "]", ",", ";", ":", "->", "=",
    "==", "!=", "<", "<=", "+", "-", "*", "/", "%", "!", "&&", "||", "int", "str", "bool", "[int]",
    "0", "1", "0x1f", "9223372036854775808", '"s"', '"\\q"', "true", "false", "len", "push", "str",
    "\n", " ", "//c\n", '"', "\x00", "é",
]  # fmt: skip


def _check_any(source: str | bytes) -> None:
    try:
        ir = compile_source(source, "fuzz.chr")
    except SourceError as err:
        assert err.code == err.details["diagnostics"][0]["code"]
        for d in err.details["diagnostics"]:
            assert set(d) >= _KEYS
            render_diagnostic(d)
    else:
        assert isinstance(ir, IRModule)


@given(st.lists(st.sampled_from(_VOCAB), max_size=60).map(" ".join))
def test_lang_robust_token_soup_never_crashes(source: str) -> None:
    _check_any(source)


@given(st.text(max_size=200))
def test_lang_robust_random_text_never_crashes(source: str) -> None:
    _check_any(source)


@given(st.binary(max_size=200))
def test_lang_robust_random_bytes_never_crash(source: bytes) -> None:
    _check_any(source)


def test_lang_robust_render_diagnostic_format() -> None:
    (diag,) = _diagnostics("pub fn main() -> int {\n\treturn totl;\n}\n".replace("totl", "total"))
    assert render_diagnostic(diag) == (
        "deep.chr:2:9: error: unknown name 'total' [source.unknown-name]\n2 | \treturn total;\n  | \t       ^~~~~"
    )


_SEEDS = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.chr")) + sorted(
    (Path(__file__).parent / "programs").glob("*/*.chr")
)
_WORDS = ["x", "xs", "1", '"s"', "true", "[]", "+", "==", "(", ")", "{", "}", ";", "return", "let y =", "len(", ","]


@given(
    st.sampled_from(_SEEDS),
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 12), st.sampled_from(["", *_WORDS])), min_size=1, max_size=4),
)
def test_lang_robust_mutated_programs_never_crash(seed: Path, edits: list[tuple[float, int, str]]) -> None:
    # Small edits of real programs mostly still parse, so they reach the checker and the lowering.
    text = seed.read_text(encoding="utf-8")
    for where, length, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at + length :]
    _check_any(text)


def test_lang_robust_expressions_just_inside_the_bound_compile_under_a_low_recursion_limit() -> None:
    import sys

    terms = MAX_DEPTH - 10
    sources = [
        "pub fn main() -> int { return " + "+".join(["1"] * terms) + "; }",
        "pub fn main() -> int { return " + "-" * terms + "1; }",
        "pub fn main(x: int) -> bool { return " + "!" * terms + "(x > 0); }",
    ]
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(300)  # the compiler makes its own room and gives the limit back
    try:
        for source in sources:
            compile_source(source)
        assert sys.getrecursionlimit() == 300
    finally:
        sys.setrecursionlimit(old)


def test_lang_robust_lone_surrogate_in_text() -> None:
    assert _codes('pub fn main() -> str {\n  return "a\ud800";\n}') == [("source.invalid-utf8", 2, 12)]
