"""upper, lower, trim and quoted trap text are the same on every Python: fixed Unicode 15.1 tables, no repr()."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from chronicle_lang import compile_to_module
from chronicle_vm.core.casemap import UNICODE_VERSION, fixed_lower, fixed_trim, fixed_upper
from chronicle_vm.core.quoting import quote_text
from chronicle_vm.errors import ExecutionError
from chronicle_vm.runtime import instantiate, load_module

ROOT = Path(__file__).resolve().parents[3]
ON_TABLE_PYTHON = unicodedata.unidata_version == UNICODE_VERSION
ENGINES = ("reference", "compiled")

_PROGRAM = """
pub fn up(s: str) -> str { return upper(s); }
pub fn down(s: str) -> str { return lower(s); }
pub fn trimmed(s: str) -> str { return trim(s); }
pub fn number(s: str) -> int { return parse_int(s); }
"""
_MODULE = compile_to_module(_PROGRAM, "text.chr").to_bytes()


def _call(engine: str, entry: str, text: str) -> object:
    return instantiate(load_module(_MODULE), engine=engine).call(entry, text).value  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_character_added_in_unicode_14_maps_on_every_python(engine: str) -> None:
    # U+10597 VITHKUQI SMALL LETTER A: Python 3.10 (Unicode 13.0) left it unchanged.
    assert _call(engine, "up", "a\U00010597") == "A\U00010570"
    assert _call(engine, "down", "\U00010570B") == "\U00010597b"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("entry", "text", "expected"),
    [
        ("up", "straße", "STRASSE"),
        ("up", "ŉ", "ʼN"),
        ("down", "ΑΣ", "ας"),  # final sigma, as str.lower() does
        ("down", "Σ", "σ"),
        ("down", "ΑΣΑ", "ασα"),
        ("down", "Α'Σ", "α'ς"),  # the apostrophe is case-ignorable
        ("down", "ΑΣ'Α", "ασ'α"),
        ("down", "İ", "i\u0307"),
        ("trimmed", "\u3000\u2029 x \x1f\x85", "x"),
        ("trimmed", "\u200bx\u200b", "\u200bx\u200b"),  # a zero-width space is not whitespace
    ],
)
def test_full_mappings_final_sigma_and_whitespace(engine: str, entry: str, text: str, expected: str) -> None:
    assert _call(engine, entry, text) == expected


@pytest.mark.parametrize("engine", ENGINES)
def test_trap_messages_quote_text_the_same_on_every_python(engine: str) -> None:
    with pytest.raises(ExecutionError) as caught:
        _call(engine, "number", "\U00010570\u202e")
    # repr() would escape U+10570 on Python 3.10 only; the bidi override is escaped on every Python.
    assert "'\U00010570\\u202e'" in caught.value.message


def test_quote_text_looks_like_repr_for_printable_text() -> None:
    for text in ["abc", "it's", 'say "hi"', "both ' \"", "tab\tnew\nline\\", "é☃\U0001f600"]:
        assert quote_text(text) == repr(text)
    assert quote_text("\x1b[2J\x85\ud800\u2028") == "'\\x1b[2J\\x85\\ud800\\u2028'"


def test_ascii_text_takes_the_fast_path_with_the_same_result() -> None:
    text = "Hello, World! 123 \t"
    assert (fixed_upper(text), fixed_lower(text), fixed_trim(text)) == (text.upper(), text.lower(), text.strip())


@pytest.mark.skipif(not ON_TABLE_PYTHON, reason=f"needs a Python with Unicode {UNICODE_VERSION}")
def test_the_tables_equal_this_pythons_methods_for_every_code_point() -> None:
    for point in range(0x110000):
        ch = chr(point)
        assert fixed_upper(ch) == ch.upper() and fixed_lower(ch) == ch.lower(), hex(point)
        assert fixed_lower("A" + ch + "\u03a3") == ("A" + ch + "\u03a3").lower(), hex(point)
        assert fixed_trim(ch + "x" + ch) == (ch + "x" + ch).strip(), hex(point)


@pytest.mark.skipif(not ON_TABLE_PYTHON, reason=f"needs a Python with Unicode {UNICODE_VERSION}")
def test_the_generated_tables_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "testing" / "gen_casemap.py"), "--check"], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stdout


def test_lazy_tables_agree_with_the_generated_data() -> None:
    """casemap reads its tables on first use: its version and its ASCII shortcut for trim match the data."""
    from chronicle_vm.core import casemap_data

    assert UNICODE_VERSION == casemap_data.UNICODE_VERSION
    ascii_space = {c for c in casemap_data.WHITESPACE if c.isascii()}
    assert ascii_space == {chr(i) for i in range(128) if chr(i).isspace()}
    every_ascii = "".join(chr(i) for i in range(128))
    assert fixed_trim(every_ascii) == every_ascii.strip(casemap_data.WHITESPACE)
