"""Bad input for structs, maps and floats: each a clear source error or a working compile, never a traceback,
a hang or unbounded memory (issue 18's list)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chronicle_lang import compile_source, render_diagnostic
from chronicle_vm.errors import SourceError

N = 10_000


def _outcome(source: str) -> list[str]:
    """The diagnostic codes of compiling `source` (none when it compiles), within five seconds of CPU."""
    start = time.process_time()
    codes: list[str] = []
    try:
        compile_source(source, "bad.chr")
    except SourceError as err:
        diags: list[dict[str, Any]] = err.details["diagnostics"]
        assert diags
        for d in diags:
            render_diagnostic(d)
        codes = [d["code"] for d in diags]
    assert time.process_time() - start < 5.0  # CPU time: a bound, not a benchmark (the machine is shared)
    return codes


def test_lang_deeply_nested_struct_literals_are_too_deep() -> None:
    source = "struct N { k: [N] }\npub fn main() { let x = " + "N { k: [" * N + "" + "] }" * N + "; }"
    assert _outcome(source) == ["source.too-deep"]


def test_lang_deeply_nested_map_literals_are_too_deep() -> None:
    source = "pub fn main() { let x = " + '{"a": ' * N + "1" + "}" * N + "; }"
    assert _outcome(source) == ["source.too-deep"]


def test_lang_maps_of_maps_of_maps_type_is_bounded() -> None:
    deep = "{str: " * 50 + "int" + "}" * 50
    assert _outcome(f"fn f(m: {deep}) {{ }}\npub fn main() {{ }}") == ["source.type-too-deep"]
    deeper = "{str: " * N + "int" + "}" * N
    assert _outcome(f"fn f(m: {deeper}) {{ }}\npub fn main() {{ }}") == ["source.too-deep"]


def test_lang_maps_of_maps_of_maps_within_the_bound_check() -> None:
    source = 'fn f(m: {str: {str: {str: int}}}) -> int { return m["a"]["b"]["c"]; }\npub fn main() { }'
    assert "source.type-mismatch" not in _outcome(source)


def test_lang_struct_with_thousands_of_fields() -> None:
    fields = ", ".join(f"f{i}: int" for i in range(5_000))
    assert "source.syntax" not in _outcome(f"struct Wide {{ {fields} }}\npub fn main() {{ }}")
    given = ", ".join(f"f{i}: {i}" for i in range(5_000))
    literal = f"struct Wide {{ {fields} }}\npub fn main() -> int {{ let w = Wide {{ {given} }}; return w.f4999; }}"
    codes = _outcome(literal)
    assert "source.too-many-registers" in codes or "source.syntax" not in codes


def test_lang_recursive_struct_through_a_map_is_fine() -> None:
    source = "struct T { kids: {str: T}, name: str }\npub fn main() { }"
    assert _outcome(source) == []


def test_lang_recursive_struct_by_value_is_an_error() -> None:
    assert _outcome("struct A { b: B }\nstruct B { a: A }\npub fn main() { }") == ["source.recursive-struct"]


@pytest.mark.parametrize("literal", ["1e999", "1e99999999999999999999", "9" * 400 + ".0", "-1e309"])
def test_lang_non_finite_float_literals_are_source_errors(literal: str) -> None:
    assert _outcome(f"pub fn main() {{ let x = {literal}; }}") == ["source.float-literal"]


def test_lang_float_literal_with_a_thousand_digits() -> None:
    # The shared literal lexer reads literals of up to 400 characters; a longer one is a clear source error.
    assert _outcome(f"pub fn main() {{ let x = {'0.' + '3' * 390}; }}") == []
    with pytest.raises(SourceError) as info:
        compile_source(f"pub fn main() {{ let x = {'0.' + '3' * 1000}; }}", "long.chr")
    (diagnostic,) = info.value.details["diagnostics"]
    assert diagnostic["code"] == "source.float-literal"
    assert "longer than 400 characters" in diagnostic["message"]
    huge = "1" + "0" * 100_000 + ".5"
    assert _outcome(f"pub fn main() {{ let x = {huge}; }}") == ["source.float-literal"]
