"""--arg reading by declared types and the base limits of a run, in process."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_cli.options import base_limits, parse_entry_args
from chronicle_vm.core.types import BOOL, FLOAT, INT, STR, ValueType, array_type
from chronicle_vm.errors import UsageError
from chronicle_vm.limits import DEFAULT_LIMITS, HARD_LIMITS, Limits

INT_ARRAY = array_type(INT.base, 1)
STR_MATRIX = array_type(STR.base, 2)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-7", -7),
        ("+3", 3),
        ("0x2a", 42),
        ("-0X10", -16),
        ("1_000", 1000),
        ("007", 7),
        (str(2**63 - 1), 2**63 - 1),
        (str(-(2**63)), -(2**63)),
    ],
)
def test_ints(text: str, value: int) -> None:
    assert parse_entry_args([text], [INT], "main") == [value]


@pytest.mark.parametrize("text", ["", "x", "1.5", "1e3", "0x", "1__0", "_1", str(2**63), "--1", "true"])
def test_bad_ints_are_usage_errors_naming_the_argument(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_entry_args(["1", text], [INT, INT], "main")
    assert caught.value.code == "usage.bad-argument"
    assert "argument 2 of `main` is int" in caught.value.message
    assert caught.value.details["position"] == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5", 1.5), ("-2", -2.0), ("6.02e23", 6.02e23), ("-0.0", -0.0), (" 0.1 ", 0.1), ("1e-400", 0.0)],
)
def test_floats(text: str, value: float) -> None:
    [read] = parse_entry_args([text], [FLOAT], "main")
    assert type(read) is float and read.hex() == value.hex()


@pytest.mark.parametrize("text", ["", "nan", "inf", "-Infinity", "1e999", "1.", ".5", "1_0", "0x10", "true", "1,5"])
def test_bad_floats_are_usage_errors_naming_the_argument(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_entry_args([text], [FLOAT], "main")
    assert caught.value.code == "usage.bad-argument"
    assert "argument 1 of `main` is float" in caught.value.message


def test_float_arrays_are_json() -> None:
    assert parse_entry_args(["[1.5, -0.25, 2]"], [FLOAT.array_of()], "main") == [[1.5, -0.25, 2]]


def test_bools_strings_and_arrays() -> None:
    values = parse_entry_args(
        ["true", "false", "hello world", "", "[1, 2]", '[["a"], []]'],
        [BOOL, BOOL, STR, STR, INT_ARRAY, STR_MATRIX],
        "f",
    )
    assert values == [True, False, "hello world", "", [1, 2], [["a"], []]]


@pytest.mark.parametrize(
    ("text", "vtype"),
    [
        ("True", BOOL),
        ("1", BOOL),
        ("1, 2", INT_ARRAY),
        ('{"a": 1}', INT_ARRAY),
        ("[" * 100_000, INT_ARRAY),
        ("[1,", INT_ARRAY),
    ],
)
def test_values_that_do_not_fit_are_usage_errors(text: str, vtype: ValueType) -> None:
    with pytest.raises(UsageError) as caught:
        parse_entry_args([text], [vtype], "main")
    assert caught.value.code == "usage.bad-argument"
    assert caught.value.details["expected"] == str(vtype)


def test_extra_texts_are_left_for_the_runtime_to_count() -> None:
    assert parse_entry_args(["1", "2"], [INT], "main") == [1, "2"]


def _namespace(**given: object) -> argparse.Namespace:
    values: dict[str, object] = dict.fromkeys(Limits.names())
    values["unbounded"] = False
    values.update(given)
    return argparse.Namespace(**values)


def test_base_limits_are_the_defaults_lowered_by_flags() -> None:
    assert base_limits(_namespace()) == DEFAULT_LIMITS
    lowered = base_limits(_namespace(max_instructions=100, max_call_depth=10**9))
    assert lowered.max_instructions == 100
    assert lowered.max_call_depth == DEFAULT_LIMITS.max_call_depth  # a flag never raises a limit


def test_unbounded_means_the_hard_ceilings_still_lowered_by_flags() -> None:
    lifted = base_limits(_namespace(unbounded=True))
    # max_trace_bytes keeps its default: a larger trace would be one the CLI's own replay refuses (64 MiB).
    assert lifted == replace(HARD_LIMITS, max_trace_bytes=DEFAULT_LIMITS.max_trace_bytes)
    assert lifted.max_output_bytes == HARD_LIMITS.max_output_bytes
    assert base_limits(_namespace(unbounded=True, max_registers=8)).max_registers == 8
    assert base_limits(_namespace(unbounded=True, max_trace_bytes=1000)).max_trace_bytes == 1000


def test_the_bytes_limits_are_flags() -> None:
    limits = base_limits(_namespace(max_output_bytes=1_000, max_trace_bytes=2_000))
    assert (limits.max_output_bytes, limits.max_trace_bytes) == (1_000, 2_000)


_TYPES = st.builds(array_type, st.sampled_from([INT.base, BOOL.base, STR.base]), st.integers(0, 3))


@given(st.lists(st.text(max_size=40), max_size=4), st.lists(_TYPES, max_size=4))
def test_any_text_is_read_or_refused_as_a_usage_error(texts: list[str], params: list[ValueType]) -> None:
    try:
        values = parse_entry_args(texts, params, "main")
    except UsageError as error:
        assert error.code == "usage.bad-argument"
        return
    assert len(values) == len(texts)
    for value, vtype in zip(values, params, strict=False):
        if vtype.depth:
            assert isinstance(value, list)
        elif vtype.base is INT.base:
            assert type(value) is int and -(2**63) <= value < 2**63
        elif vtype.base is BOOL.base:
            assert type(value) is bool
        else:
            assert type(value) is str
