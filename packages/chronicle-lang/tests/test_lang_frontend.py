"""`.chr` and `.casm` share one front end: the same literal grammar, the same UTF-8 rule, the same diagnostics."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_asm import assemble_text
from chronicle_asm.source import format_string, parse_int_literal, render_text, unescape
from chronicle_lang import compile_to_module
from chronicle_vm.errors import SourceError

_LITERAL_BODY = re.compile(r'(?:[^"\\\n]|\\.)*')  # what both lexers take between the quotes
_BODIES = st.text(alphabet=st.sampled_from(list("ab \\\"'ntr0u{}1F")), max_size=12)


def _chr_string(body: str) -> str | None:
    source = f'pub fn main() -> str {{ return "{body}"; }}\n'
    try:
        module = compile_to_module(source, "p.chr")
    except SourceError as error:
        assert error.code in {"source.invalid-escape", "source.unterminated-string", "source.syntax"}
        return None
    (text,) = [c for c in module.constants if isinstance(c, str)]
    return text


def _casm_string(body: str) -> str | None:
    source = f'.const s "{body}"\n.func main export () -> str\n  .regs str\n    loadk r0, s\n    ret r0\n.end\n'
    try:
        module = assemble_text(source, "p.casm")
    except SourceError:
        return None
    return str(module.constants[0])


@given(_BODIES)
def test_both_languages_read_a_string_literal_alike(body: str) -> None:
    value, problems = unescape(body)
    if problems or not _LITERAL_BODY.fullmatch(body):
        return  # malformed literals are refused by both (each with its own diagnostic)
    assert _chr_string(body) == value
    assert _casm_string(body) == value


def test_single_quote_escape_is_known_to_both() -> None:
    assert _chr_string("it\\'s") == "it's"
    assert _casm_string("it\\'s") == "it's"


@given(st.text(max_size=20))
def test_format_string_reads_back(value: str) -> None:
    literal = format_string(value)
    text, problems = unescape(literal[1:-1])
    assert not problems
    assert text == value


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("1_000", 1000), ("0xff", 255), ("0XF_F", 255), ("-5", -5), ("1__0", None), ("_1", None), ("0x", None)],
)
def test_int_literals(text: str, value: int | None) -> None:
    assert parse_int_literal(text) == value


def test_invalid_utf8_is_one_rule_for_both() -> None:
    data = b"pub fn main() -> int {\n  return 1; // \xff\n}\n"
    with pytest.raises(SourceError) as chr_error:
        compile_to_module(data, "p.chr")
    from chronicle_asm.source import decode_source

    with pytest.raises(SourceError) as casm_error:
        decode_source(data, "p.chr")
    assert chr_error.value.code == casm_error.value.code == "source.invalid-utf8"
    assert chr_error.value.details["diagnostics"] == casm_error.value.details["diagnostics"]
    (diag,) = chr_error.value.details["diagnostics"]
    assert (diag["line"], diag["col"]) == (2, 16)
    assert render_text(diag).startswith("p.chr:2:16: error: invalid UTF-8 byte 0xff [source.invalid-utf8]")
