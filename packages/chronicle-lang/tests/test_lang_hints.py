"""Hints for habits from other languages, one by one, and the recovery that checks the items after a syntax error."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chronicle_lang import compile_source
from chronicle_lang.diagnostics import MAX_DIAGNOSTICS
from chronicle_lang.hints import top_level_hint
from chronicle_vm.errors import SourceError


def _diagnostics(source: str) -> list[dict[str, Any]]:
    with pytest.raises(SourceError) as info:
        compile_source(source, "h.chr")
    found: list[dict[str, Any]] = info.value.details["diagnostics"]
    return found


def _only(source: str) -> dict[str, Any]:
    (diagnostic,) = _diagnostics(source)
    return diagnostic


def _fn(body: str, signature: str = "f(x: int, s: str, b: bool, n: int) -> int") -> str:
    return f"pub fn {signature} {{\n    {body}\n    return 0;\n}}\n"


# (source, code, line, col, the hint's text): each habit reports once, where it is written, pointing the right way.
HABITS = [
    pytest.param(_fn("x += 1;"), "source.syntax", 2, 8, "there is no '+=': write 'x = x + 1;'", id="plus-equal"),
    pytest.param(_fn("x -= n;"), "source.syntax", 2, 8, "there is no '-=': write 'x = x - n;'", id="minus-equal"),
    pytest.param(_fn("x *= 2;"), "source.syntax", 2, 8, "write 'x = x * 2;'", id="times-equal"),
    pytest.param(_fn("x /= 2;"), "source.syntax", 2, 8, "write 'x = x / 2;'", id="divide-equal"),
    pytest.param(_fn("x %= 2;"), "source.syntax", 2, 8, "write 'x = x % 2;'", id="modulo-equal"),
    pytest.param(_fn("if b { } elif b { }"), "source.syntax", 2, 19, "write 'else if'", id="elif"),
    pytest.param(_fn("if b and b { }"), "source.syntax", 2, 10, "there is no 'and' operator: write '&&'", id="and"),
    pytest.param(_fn("if b or b { }"), "source.syntax", 2, 10, "there is no 'or' operator: write '||'", id="or"),
    pytest.param(_fn("if not b { }"), "source.syntax", 2, 12, "there is no 'not' operator: write '!'", id="not"),
    pytest.param(_fn("let y = b ? 1 : 2;"), "source.unexpected-character", 2, 15, "use an if statement", id="ternary"),
    pytest.param(_fn("let y = 1 if b else 2;"), "source.syntax", 2, 15, "use an if statement", id="if-else-expr"),
    pytest.param(_fn("for i in 0..=n { }"), "source.syntax", 2, 17, "write '0..n + 1' to include n", id="inclusive"),
    pytest.param(_fn("return null;"), "source.unknown-name", 2, 12, "there is no 'null'", id="null"),
    pytest.param(_fn("return None;"), "source.unknown-name", 2, 12, "there is no 'None'", id="None"),
    pytest.param(_fn("return nil;"), "source.unknown-name", 2, 12, "there is no 'nil'", id="nil"),
    pytest.param(_fn("return s.len();"), "source.method-call", 2, 12, "call the builtin 'len(s)'", id="len-method"),
    pytest.param(
        _fn('return s.find("a");'), "source.method-call", 2, 12, "call the builtin 'find(s, ...)'", id="find-method"
    ),
    pytest.param(
        _fn("return s.width();"),
        "source.method-call",
        2,
        12,
        "write a function and call it as 'width(s, ...)'",
        id="method",
    ),
    pytest.param(_fn("return s.size();"), "source.method-call", 2, 12, "call the builtin 'len(s)'", id="size-method"),
    pytest.param(
        _fn("let t = s.substring(1, 2);"), "source.method-call", 2, 13, "the builtin 'slice(s, ...)'", id="substring"
    ),
    pytest.param(_fn("let t = s.append(1);"), "source.method-call", 2, 13, "the builtin 'push(s, ...)'", id="append"),
    pytest.param(
        "let limit = 10;\n" + _fn("return x;"),
        "source.syntax",
        1,
        1,
        "a 'let' belongs inside a function; a module-level value is a constant: 'const NAME: int = 1;'",
        id="top-level-let",
    ),
    pytest.param(
        "const LIMIT: int = 10;\n" + _fn("LIMIT = 11;"),
        "source.assign-to-const",
        3,
        5,
        "copy it into a variable first: 'let limit = LIMIT;'",
        id="assign-to-const",
    ),
    pytest.param(
        'const N: int = len("abc");\n' + _fn("return N;"),
        "source.not-constant",
        1,
        16,
        "a constant's value is literals, earlier constants and operators; compute this in a function",
        id="const-call",
    ),
    pytest.param(
        "const A: int = B + 1;\nconst B: int = 2;\n" + _fn("return A;"),
        "source.not-constant",
        1,
        16,
        "declare 'B' first: a constant sees only the constants above it",
        id="const-order",
    ),
    pytest.param(
        "const H: [int] = 1;\n" + _fn("return x;"),
        "source.type-mismatch",
        1,
        10,
        "build arrays, maps and structs in the function that uses them",
        id="const-array",
    ),
    pytest.param(_fn("if b & b { }"), "source.type-mismatch", 2, 10, "for bools write '&&'", id="bitwise-and-bools"),
    pytest.param(_fn("if b | b { }"), "source.type-mismatch", 2, 10, "for bools write '||'", id="bitwise-or-bools"),
    pytest.param(
        _fn("if s < n { }", "f(s: str, n: int) -> int"),
        "source.type-mismatch",
        2,
        10,
        "'str(n) < s' or 'parse_int(s) < n'",
        id="str-less-than-int",
    ),
    pytest.param(
        "def helper(x: int) -> int { return x; }\n" + _fn("return helper(x);"),
        "source.syntax",
        1,
        1,
        "functions are declared with 'fn'",
        id="def",
    ),
    pytest.param(_fn("if x === n { }"), "source.syntax", 2, 12, "there is no '==='", id="triple-equal"),
    pytest.param(_fn("if b == True { }"), "source.unknown-name", 2, 13, "written in lower case: 'true'", id="True"),
    pytest.param(_fn("y = 5;"), "source.unknown-name", 2, 5, "declare it first: 'let y = 5;'", id="undeclared"),
    pytest.param(
        _fn("if s == n { }", "f(s: str, n: int) -> int"),
        "source.type-mismatch",
        2,
        10,
        "'str(n) == s' or 'parse_int(s) == n'",
        id="str-equals-int",
    ),
    pytest.param(
        _fn("if n != s { }", "f(s: str, n: int) -> int"),
        "source.type-mismatch",
        2,
        10,
        "'str(n) != s' or 'parse_int(s) != n'",
        id="int-differs-str",
    ),
    pytest.param(
        "struct P { x: int }\n" + _fn("if x == P { x: 1 }.x { }"),
        "source.syntax",
        3,
        18,
        "a struct literal in an if, while or for header needs parentheses: (P { ... })",
        id="struct-literal-in-header",
    ),
    pytest.param(
        _fn("let y = n + 1.5;"),
        "source.mixed-numbers",
        2,
        15,
        "convert the int: float(n)",
        id="int-plus-float",
    ),
    pytest.param(
        _fn("let y: float = 2;"), "source.mixed-numbers", 2, 20, "write it as a float: 2.0", id="int-for-float"
    ),
    pytest.param(
        "struct Item { qty: int }\n" + _fn("return it.qtty;", "f(it: Item) -> int"),
        "source.unknown-field",
        3,
        15,
        "did you mean 'qty'?",
        id="unknown-field",
    ),
]


@pytest.mark.parametrize(("source", "code", "line", "col", "hint"), HABITS)
def test_habit_hint(source: str, code: str, line: int, col: int, hint: str) -> None:
    diagnostic = _only(source)
    assert diagnostic["code"] == code
    assert (diagnostic["line"], diagnostic["col"]) == (line, col)
    assert hint in diagnostic["hint"]


def test_undeclared_assignment_is_reported_once() -> None:
    diagnostic = _only(_fn("total = 5;\n    total = total + 1;\n    return total;", "f() -> int"))
    assert diagnostic["message"] == "unknown name 'total'"
    assert diagnostic["line"] == 2


def test_undeclared_assignment_of_itself_is_reported_once_without_quoting_itself() -> None:
    diagnostic = _only(_fn("y = y + 1;", "f() -> int"))
    assert (diagnostic["line"], diagnostic["col"]) == (2, 5)
    assert diagnostic["hint"] == "declare it first: 'let y = ...;'"


def test_compound_assignment_hint_stays_linear_on_a_long_line() -> None:
    started = time.process_time()
    diagnostic = _only(_fn("x" + " " * 300_000 + "+= 1;"))
    assert diagnostic["hint"].startswith("there is no '+='")
    assert time.process_time() - started < 5


def test_undeclared_assignment_near_a_declared_name_offers_both() -> None:
    diagnostic = _only(_fn("let count = 1;\n    coutn = 2;", "f() -> int"))
    assert diagnostic["hint"] == "did you mean 'count'? or declare it first: 'let coutn = 2;'"


def test_missing_semicolon_before_if_is_not_taken_for_a_conditional_expression() -> None:
    diagnostic = _only(_fn("let y = 1\n    if true { }", "f() -> int"))
    assert diagnostic["hint"] == "add ';' here (the next line starts with 'if')"


def test_capability_named_like_a_variable_method_still_reports_the_capability() -> None:
    # `kv.get` where no variable `kv` exists: an undeclared capability, as before.
    diagnostic = _only(_fn('let v = kv.get("a");', "f() -> int"))
    assert diagnostic["code"] == "source.unknown-capability"
    assert diagnostic["hint"] == "declare it first, e.g. 'cap kv.get(...);'"


def test_a_broken_const_is_reported_once_and_its_uses_are_not_unknown() -> None:
    source = "const N: int = ;\npub fn main() -> int { let s: str = 1; return N; }\n"
    got = [(d["code"], d["line"]) for d in _diagnostics(source)]
    assert got == [("source.syntax", 1), ("source.type-mismatch", 2)]


def test_top_level_let_hint_names_const_once_the_grammar_has_it() -> None:
    assert top_level_hint("let", has_const=True) == (
        "a 'let' belongs inside a function; a module-level value is a constant: 'const NAME: int = 1;'"
    )
    assert top_level_hint("const", has_const=True) is None  # then a const is parsed, not hinted at
    assert top_level_hint("}", has_const=False) is None


def test_declarations_from_other_languages_start_items_so_the_rest_is_checked() -> None:
    source = "def helper(x: int) -> int {\n    return x;\n}\nconst N: int = 1;\n"
    source += "pub fn main() -> int { let s: str = 1; return helper(1); }\n"
    got = [(d["code"], d["line"]) for d in _diagnostics(source)]
    # `helper` is not reported unknown: its (foreign) declaration was reported instead; the const is one.
    assert got == [("source.syntax", 1), ("source.type-mismatch", 5)]


# --- recovery -------------------------------------------------------------


def test_a_syntax_error_hides_no_type_error_in_the_other_items() -> None:
    source = (
        "fn broken() -> int { return 1 +; }\n"
        "pub fn main() -> int { let s: str = 1; return 0; }\n"
        "fn later() -> bool { return 1; }\n"
    )
    got = [(d["code"], d["line"]) for d in _diagnostics(source)]
    assert got == [("source.syntax", 1), ("source.type-mismatch", 2), ("source.type-mismatch", 3)]


def test_a_function_with_a_broken_body_keeps_its_signature() -> None:
    source = (
        "fn broken(x: int) -> str { let y = ; }\n"
        "pub fn main() -> int { let a = broken(1); let b: int = broken(1); broken(1, 2); return 0; }\n"
    )
    got = [(d["code"], d["line"], d["col"]) for d in _diagnostics(source)]
    # No missing-return for the unchecked body, no unknown function; the signature is checked.
    assert got == [("source.syntax", 1, 36), ("source.type-mismatch", 2, 56), ("source.argument-count", 2, 67)]


def test_calls_of_an_item_whose_header_did_not_parse_are_not_unknown() -> None:
    source = (
        "cap kv.get(key str) -> str;\n"
        "fn broken(x int) -> int { return x; }\n"
        'pub fn main() -> int { let v = kv.get("k"); return broken(v) + unknown(1); }\n'
    )
    got = [(d["code"], d["line"]) for d in _diagnostics(source)]
    assert got == [("source.syntax", 1), ("source.syntax", 2), ("source.unknown-function", 3)]


def test_a_missing_brace_breaks_one_function_not_the_ones_after_it() -> None:
    source = (
        "fn a() {\n    let x = 1;\n\nfn b() -> int { return 1; }\n\npub fn main() -> int { a(); return b() + c(); }\n"
    )
    first, second = _diagnostics(source)
    assert (first["code"], first["line"], first["col"]) == ("source.syntax", 2, 15)
    assert first["found"] == "the next declaration ('fn')"
    assert first["hint"] == "is a '}' missing?"
    assert (second["code"], second["message"]) == ("source.unknown-function", "unknown function 'c'")


def test_recovered_positions_match_the_original_text() -> None:
    # Blanking a broken item keeps every offset: an error after it, on the same line, is placed exactly.
    source = "fn a() { x } fn b() -> int { return true; }\n"
    got = [(d["code"], d["line"], d["col"]) for d in _diagnostics(source)]
    assert got == [("source.syntax", 1, 12), ("source.type-mismatch", 1, 37)]


def test_recovery_stays_bounded_and_fast_on_a_large_broken_file() -> None:
    # 2,000 functions, every other one broken: every item reported up to the bound, in linear time.
    parts = []
    for i in range(2000):
        body = "return 1 +;" if i % 2 else "let s: str = 1; return 0;"
        parts.append(f"fn f{i}(n: int) -> int {{\n    {body}\n}}\n")
    started = time.process_time()
    with pytest.raises(SourceError) as info:
        compile_source("".join(parts), "big.chr")
    elapsed = time.process_time() - started
    assert len(info.value.details["diagnostics"]) == MAX_DIAGNOSTICS
    assert info.value.details["dropped"] > 0
    assert elapsed < 10


def test_constant_strings_are_bounded_one_by_one_and_together() -> None:
    # Doubling a string constant 21 times passes 1,048,576 characters: a const-fold error, not a huge module.
    lines = ['const A0: str = "x";'] + [f"const A{i}: str = A{i - 1} + A{i - 1};" for i in range(1, 22)]
    source = "\n".join(lines) + "\npub fn main() -> int { return len(A21); }\n"
    (diagnostic,) = _diagnostics(source)
    assert (diagnostic["code"], diagnostic["line"]) == ("source.const-fold", 22)
    # Copies of a 524,288-character one (A19) pass the total bound (1 << 22 characters) at the sixth.
    lines = lines[:20] + [f"const B{i}: str = A19 + {str(i)!r};".replace("'", '"') for i in range(8)]
    source = "\n".join(lines) + "\npub fn main() -> int { return len(B7); }\n"
    got = [(d["code"], d["line"]) for d in _diagnostics(source)]
    assert got == [("source.const-fold", 26), ("source.const-fold", 27), ("source.const-fold", 28)]
