"""The #17 operators over existing types: bitwise ints, string order, chr/affixes/replace, array sort/slice/edit.

Every case runs on every engine (reference one-step oracle, fused interpreter with and
without superinstructions, compiled) and must give the same value or the same trap
(code, message, location) and the same instruction count; values are checked against
plain Python with 64-bit wrapping, fuel against docs/isa.md's formulas worked by hand.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_asm import assemble_text, disassemble
from chronicle_testing.engine_runs import every_engine
from chronicle_testing.engine_runs import outcome as run_outcome
from chronicle_vm.core.values import wrap_i64
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.errors import VerifyError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


_engines = every_engine


_outcome = run_outcome


def run_all(source: str, args: list[Any], limits: Limits | None = None) -> tuple[Any, ...]:
    """The one outcome every engine gives (the test fails when two engines differ)."""
    verified = verify(assemble_text(source, "ops.casm"))
    outcomes = {name: _outcome(engine, list(args)) for name, engine in _engines(verified, limits or Limits()).items()}
    first = outcomes["reference"]
    for name, outcome in outcomes.items():
        assert outcome == first, (name, outcome, first)
    return first


def binary(op: str, left: str, right: str, result: str) -> str:
    return f".func main export ({left}, {right}) -> {result}\n  .regs {result}\n    {op} r2, r0, r1\n    ret r2\n.end\n"


def _shl(x: int, n: int) -> int:
    return wrap_i64(x << n)


BITWISE = {
    "band": lambda x, y: x & y,
    "bor": lambda x, y: x | y,
    "bxor": lambda x, y: x ^ y,
}


@pytest.mark.parametrize("op", sorted(BITWISE))
@pytest.mark.parametrize(("x", "y"), [(0xF0F0, 0x0FF0), (-1, 12345), (-(2**63), 2**63 - 1), (-6, -3)])
def test_bitwise_agrees_with_python(op: str, x: int, y: int) -> None:
    assert run_all(binary(op, "int", "int", "int"), [x, y]) == ("ok", BITWISE[op](x, y), 2)


@pytest.mark.parametrize("x", [0, 1, -1, 2**63 - 1, -(2**63)])
def test_bnot_is_minus_x_minus_one(x: int) -> None:
    source = ".func main export (int) -> int\n  .regs int\n    bnot r1, r0\n    ret r1\n.end\n"
    assert run_all(source, [x]) == ("ok", ~x, 2)


@pytest.mark.parametrize(("x", "n"), [(1, 63), (3, 62), (-1, 1), (0x1234, 0), (2**62, 1), (-(2**63), 1), (5, 40)])
def test_shifts_wrap_left_and_keep_the_sign_right(x: int, n: int) -> None:
    assert run_all(binary("shl", "int", "int", "int"), [x, n]) == ("ok", _shl(x, n), 2)
    assert run_all(binary("shr", "int", "int", "int"), [x, n]) == ("ok", x >> n, 2)


@pytest.mark.parametrize("op", ["shl", "shr"])
@pytest.mark.parametrize("n", [-1, 64, 2**63 - 1, -(2**63)])
def test_a_shift_count_outside_0_63_traps_at_the_instruction(op: str, n: int) -> None:
    outcome = run_all(binary(op, "int", "int", "int"), [7, n])
    assert outcome[:2] == ("error", "runtime.shift-count")
    assert f"{op} by {n}" in outcome[2]
    assert outcome[3]["index"] == 0 and outcome[4] == 1


def test_a_constant_shift_count_outside_the_range_still_traps() -> None:
    # The compiled engine skips the range test for a known count in 0..63: a known 64 must keep it.
    source = (
        ".func main export (int) -> int\n  .regs int, int\n    loadk r1, 64\n    shl r2, r0, r1\n    ret r2\n.end\n"
    )
    assert run_all(source, [1])[:2] == ("error", "runtime.shift-count")
    ok = ".func main export (int) -> int\n  .regs int, int\n    loadk r1, 8\n    shl r2, r0, r1\n    ret r2\n.end\n"
    assert run_all(ok, [2**60]) == ("ok", _shl(2**60, 8), 3)


ORDERS = {"lt": str.__lt__, "le": str.__le__, "gt": str.__gt__, "ge": str.__ge__}


@pytest.mark.parametrize("op", sorted(ORDERS))
@pytest.mark.parametrize(
    ("x", "y"),
    [("Z", "a"), ("a", "Z"), ("abc", "abd"), ("ab", "abc"), ("", ""), ("\u00e9", "z"), ("\U0001f600", "\uffff")],
)
def test_strings_order_by_code_point(op: str, x: str, y: str) -> None:
    assert run_all(binary(op, "str", "str", "bool"), [x, y]) == ("ok", ORDERS[op](x, y), 2)


@pytest.mark.parametrize("op", sorted(ORDERS))
def test_string_order_costs_the_shorter_length(op: str) -> None:
    long, short = "a" * 1000, "a" * 40 + "b"
    # min(1000, 41) // 16 = 2 extra units, then ret.
    assert run_all(binary(op, "str", "str", "bool"), [long, short])[2] == 1 + 2 + 1
    assert run_all(binary(op, "str", "str", "bool"), [long, long])[2] == 1 + 1000 // 16 + 1
    # A compare-and-branch of strings is not fused away from its charge.
    source = (
        ".func main export (str, str) -> int\n  .regs bool, int\n"
        f"    {op} r2, r0, r1\n    jmpif r2, yes\n    loadk r3, 0\n    ret r3\n"
        "yes:\n    loadk r3, 1\n    ret r3\n.end\n"
    )
    expected = 1 if ORDERS[op](long, short) else 0
    assert run_all(source, [long, short]) == ("ok", expected, 1 + 2 + 3)


def test_string_order_stops_before_an_unpaid_compare() -> None:
    limits = Limits(max_instructions=10)
    outcome = run_all(binary("lt", "str", "str", "bool"), ["x" * 320, "x" * 320], limits)
    assert outcome[:2] == ("error", "limit.instructions")


def _unary(op: str, arg: str, result: str) -> str:
    return f".func main export ({arg}) -> {result}\n  .regs {result}\n    {op} r1, r0\n    ret r1\n.end\n"


@pytest.mark.parametrize("code", [0, 65, 0xE9, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF])
def test_chr_gives_the_code_point(code: int) -> None:
    assert run_all(_unary("chr", "int", "str"), [code]) == ("ok", chr(code), 2)


@pytest.mark.parametrize("code", [-1, 0xD800, 0xDFFF, 0x110000, 2**63 - 1])
def test_chr_outside_the_unicode_scalar_values_traps(code: int) -> None:
    outcome = run_all(_unary("chr", "int", "str"), [code])
    assert outcome[:2] == ("error", "runtime.bad-operand")
    assert "chr expects a Unicode scalar value" in outcome[2]


def test_chr_obeys_max_string_len_and_allocation() -> None:
    assert run_all(_unary("chr", "int", "str"), [65], Limits(max_string_len=0))[1] == "limit.string-len"
    assert run_all(_unary("chr", "int", "str"), [65], Limits(max_allocation=64))[1] == "limit.allocation"


@pytest.mark.parametrize(("text", "affix"), [("hello", "he"), ("hello", "lo"), ("he", "hello"), ("", ""), ("abc", "")])
def test_affixes(text: str, affix: str) -> None:
    assert run_all(binary("startswith", "str", "str", "bool"), [text, affix]) == ("ok", text.startswith(affix), 2)
    assert run_all(binary("endswith", "str", "str", "bool"), [text, affix]) == ("ok", text.endswith(affix), 2)


def test_affix_cost_is_the_shorter_length() -> None:
    outcome = run_all(binary("startswith", "str", "str", "bool"), ["a" * 500, "a" * 320])
    assert outcome == ("ok", True, 1 + 320 // 16 + 1)


REPLACE = ".func main export (str, str, str) -> str\n  .regs str\n    replace r3, r0, r1\n    ret r3\n.end\n"


@pytest.mark.parametrize(
    ("text", "old", "new"),
    [
        ("a-b-c", "-", "+"),
        ("aaaa", "aa", "b"),
        ("abc", "x", "yy"),
        ("", "a", "b"),
        ("abab", "ab", ""),
        ("aa", "a", "aa"),
    ],
)
def test_replace_replaces_every_occurrence(text: str, old: str, new: str) -> None:
    result = text.replace(old, new)
    fuel = 1 + (len(text) + len(result)) // 16 + 1
    assert run_all(REPLACE, [text, old, new]) == ("ok", result, fuel)


def test_replace_with_an_empty_old_traps() -> None:
    outcome = run_all(REPLACE, ["abc", "", "x"])
    assert outcome[:2] == ("error", "runtime.empty-pattern")
    assert outcome[4] == 1


def test_replace_checks_max_string_len_before_building() -> None:
    # 1000 "a" each replaced by 100 characters: 100,000 characters, over a limit of 50,000.
    outcome = run_all(REPLACE, ["a" * 1000, "a", "b" * 100], Limits(max_string_len=50_000))
    assert outcome[:2] == ("error", "limit.string-len")
    assert "100000 characters" in outcome[2]
    # The charge is capped at max_string_len + 1 characters of output, like repeat's.
    assert outcome[4] == 1 + (1000 + 50_001) // 16


def test_replace_counts_its_result_against_allocation() -> None:
    outcome = run_all(REPLACE, ["a" * 100, "a", "b" * 50], Limits(max_allocation=10_000))
    assert outcome[:2] == ("error", "limit.allocation")


SORT = _unary("sort", "[int]", "[int]")


@pytest.mark.parametrize("items", [[], [3], [3, 1, 2], [5, -1, 5, 0, -(2**63)], list(range(100, 0, -1))])
def test_sort_gives_a_new_sorted_array(items: list[int]) -> None:
    n = len(items)
    assert run_all(SORT, [items]) == ("ok", sorted(items), 1 + (n * n.bit_length()) // 16 + 1)


def test_sort_of_strings_is_by_code_point_and_charged_by_characters() -> None:
    items = ["b", "Z", "a", "\u00e9", "ab", ""]
    units = (len(items) + sum(map(len, items))) * len(items).bit_length()
    assert run_all(_unary("sort", "[str]", "[str]"), [items]) == ("ok", sorted(items), 1 + units // 16 + 1)


def test_sort_leaves_its_operand_alone_and_counts_allocation() -> None:
    source = ".func main export ([int]) -> [int]\n  .regs [int]\n    sort r1, r0\n    ret r0\n.end\n"
    assert run_all(source, [[3, 1, 2]])[1] == [3, 1, 2]
    assert run_all(SORT, [list(range(200))], Limits(max_allocation=1000))[1] == "limit.allocation"


ASLICE = ".func main export ([int], int, int) -> [int]\n  .regs [int]\n    aslice r3, r0, r1\n    ret r3\n.end\n"


@pytest.mark.parametrize(("lo", "hi"), [(1, 3), (-5, 2), (2, 100), (3, 1), (0, 0), (-(2**63), 2**63 - 1)])
def test_array_slice_is_clamped_like_the_string_slice(lo: int, hi: int) -> None:
    items = [10, 20, 30, 40]
    clamp = [min(max(x, 0), len(items)) for x in (lo, hi)]
    assert run_all(ASLICE, [items, lo, hi])[:2] == ("ok", items[clamp[0] : clamp[1]])


def test_array_slice_is_charged_by_the_items_copied() -> None:
    assert run_all(ASLICE, [list(range(1000)), 100, 900])[2] == 1 + 800 // 16 + 1


INSERT = ".func main export ([int], int, int) -> [int]\n    insert r0, r1, r2\n    ret r0\n.end\n"


@pytest.mark.parametrize("index", [0, 1, 3])
def test_insert_takes_0_to_len(index: int) -> None:
    items = [1, 2, 3]
    expected = [*items[:index], 99, *items[index:]]
    assert run_all(INSERT, [items, index, 99]) == ("ok", expected, 2)


@pytest.mark.parametrize("index", [-1, 4, 2**63 - 1])
def test_insert_outside_0_to_len_traps(index: int) -> None:
    outcome = run_all(INSERT, [[1, 2, 3], index, 99])
    assert outcome[:2] == ("error", "runtime.index-out-of-range")
    assert f"insert index {index} is outside 0..3" in outcome[2]


def test_insert_obeys_max_array_len_and_is_charged_by_the_items_moved() -> None:
    assert run_all(INSERT, [[1, 2, 3], 0, 9], Limits(max_array_len=3))[1] == "limit.array-len"
    assert run_all(INSERT, [list(range(1000)), 0, 9])[2] == 1 + 1000 // 16 + 1
    assert run_all(INSERT, [list(range(1000)), 1000, 9])[2] == 2


REMOVE = ".func main export ([int], int) -> int\n  .regs int\n    removeat r2, r0, r1\n    ret r2\n.end\n"


def test_remove_at_gives_the_removed_item() -> None:
    assert run_all(REMOVE, [[5, 6, 7], 1]) == ("ok", 6, 2)
    assert run_all(REMOVE, [list(range(1000)), 0]) == ("ok", 0, 1 + 999 // 16 + 1)


@pytest.mark.parametrize(("items", "index"), [([5, 6, 7], 3), ([5], -1), ([], 0)])
def test_remove_at_outside_0_to_len_minus_1_traps(items: list[int], index: int) -> None:
    outcome = run_all(REMOVE, [items, index])
    assert outcome[:2] == ("error", "runtime.index-out-of-range")
    assert f"index {index} is out of range for an array of length {len(items)}" in outcome[2]


def test_copy_is_shallow_and_new() -> None:
    # r1 = copy(r0); push 9 onto the copy; the original keeps its length, the inner arrays are shared.
    source = (
        ".func main export ([[int]]) -> int\n  .regs [[int]], [int], int, int\n"
        "    copy r1, r0\n    loadk r3, 0\n    getidx r2, r1, r3\n    push r2, r3\n"
        "    push r1, r2\n    len r4, r0\n    getidx r2, r0, r3\n    len r3, r2\n"
        "    add r4, r4, r3\n    ret r4\n.end\n"
    )
    # len(original) 1 + len(original[0]) 2 (it got the push through the shared inner array) = 3
    assert run_all(source, [[[1]]])[:2] == ("ok", 3)
    assert run_all(_unary("copy", "[int]", "[int]"), [list(range(320))])[2] == 1 + 320 // 16 + 1
    assert run_all(_unary("copy", "[int]", "[int]"), [list(range(200))], Limits(max_allocation=1000))[1] == (
        "limit.allocation"
    )


# -- the verifier: one negative test per new rule --------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (binary("lt", "bool", "bool", "bool"), "must be an ordered type (int, str or float)"),
        (binary("ge", "[int]", "[int]", "bool"), "must be an ordered type"),
        (binary("lt", "int", "str", "bool"), "must agree on T"),
        (_unary("sort", "[bool]", "[bool]"), "must be an array of an ordered type"),
        (_unary("sort", "[[int]]", "[[int]]"), "must be an array of an ordered type"),
        (_unary("sort", "[int]", "[str]"), "must agree on T"),
        (_unary("copy", "[int]", "[str]"), "must agree on T"),
        (_unary("chr", "str", "str"), "must be int"),
        (binary("band", "int", "bool", "int"), "must be int"),
        (binary("startswith", "str", "int", "bool"), "must be str"),
        (
            ".func main export (str, int, int) -> str\n  .regs str\n    replace r3, r0, r1\n    ret r3\n.end\n",
            "reads str registers r1 and r2",
        ),
        (
            ".func main export ([int], str, str) -> [int]\n  .regs [int]\n    aslice r3, r0, r1\n    ret r3\n.end\n",
            "reads int registers r1 and r2",
        ),
        (
            ".func main export ([int], int, str) -> int\n    insert r0, r1, r2\n    ret r1\n.end\n",
            "(the element type of operand a)",
        ),
        (
            ".func main export ([int], int) -> str\n  .regs str\n    removeat r2, r0, r1\n    ret r2\n.end\n",
            "(the element type of operand b)",
        ),
    ],
)
def test_the_verifier_refuses_operands_of_the_wrong_type(source: str, message: str) -> None:
    with pytest.raises(VerifyError) as caught:
        verify(assemble_text(source, "bad.casm"))
    assert message in str(caught.value)


def test_disassembly_of_the_new_instructions_assembles_byte_identically() -> None:
    source = (
        ".func main export (int, int, str, str, str, [int], [str]) -> int\n"
        "  .regs int, bool, str, [int], [str], int\n"
        "    band r7, r0, r1\n    bor r7, r7, r1\n    bxor r7, r7, r0\n    bnot r7, r7\n"
        "    shl r7, r7, r1\n    shr r7, r7, r1\n    lt r8, r2, r3\n    ge r8, r0, r1\n"
        "    chr r9, r0\n    startswith r8, r2, r3\n    endswith r8, r2, r3\n    replace r9, r2, r3\n"
        "    sort r10, r5\n    sort r11, r6\n    aslice r10, r5, r0\n    insert r5, r0, r1\n"
        "    removeat r12, r5, r0\n    copy r11, r6\n    ret r7\n.end\n"
    )
    module = assemble_text(source, "all.casm")
    verify(module)
    assert assemble_text(disassemble(module), "again.casm").to_bytes() == module.to_bytes()


# -- a differential property: random straight-line programs of the bitwise and shift ops ------------------------

_OPS = ("band", "bor", "bxor", "bnot", "shl", "shr", "add", "mul")


def _python(op: str, x: int, y: int) -> int:
    if op in BITWISE:
        return BITWISE[op](x, y)
    if op == "bnot":
        return ~x
    if op in ("shl", "shr"):
        if not 0 <= y <= 63:
            raise ValueError(op, y)
        return _shl(x, y) if op == "shl" else x >> y
    return wrap_i64(x + y if op == "add" else x * y)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(_OPS), st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), max_size=12),
    st.lists(st.one_of(I64, st.integers(-2, 70)), min_size=4, max_size=4),
)
def test_random_bitwise_programs_agree_with_python_on_every_engine(
    program: list[tuple[str, int, int, int]], inputs: list[int]
) -> None:
    lines = [f"    {op} r{a}, r{b}" + ("" if op == "bnot" else f", r{c}") for op, a, b, c in program]
    source = ".func main export (int, int, int, int) -> int\n" + "\n".join(lines) + "\n    ret r0\n.end\n"
    regs = list(inputs)
    expected: tuple[Any, ...]
    try:
        for op, a, b, c in program:
            regs[a] = _python(op, regs[b], regs[c])
        expected = ("ok", regs[0], len(program) + 1)
    except ValueError:
        expected = ("error", "runtime.shift-count")
    outcome = run_all(source, inputs)
    assert outcome[: len(expected)] == expected


# -- a differential property: random programs of the array and string instructions, at random fuel ---------------
# Registers: r0 [int] (the array), r1 r2 int (an index or a bound pair), r3 r4 r5 str (r4, r5: replace's pair),
# r6 bool, r7 int (scratch), r8 [int] (scratch array).

_ARRAY_OPS = (
    "insert r0, r1, r2",
    "removeat r7, r0, r1",
    "aslice r8, r0, r1",
    "sort r8, r0",
    "copy r8, r0",
    "mov r0, r8",
    "push r0, r2",
    "len r1, r0",
    "replace r3, r3, r4",
    "chr r5, r2",
    "startswith r6, r3, r4",
    "endswith r6, r3, r5",
    "lt r6, r3, r4",
    "ge r6, r4, r3",
    "concat r3, r3, r5",
    "add r2, r2, r1",
)


def _array_step(op: str, m: dict[str, Any]) -> str | None:
    """One array instruction of the model on registers `m`; gives a trap's code or None."""
    xs, r1, r2 = m["r0"], m["r1"], m["r2"]
    if op == "insert":
        if not 0 <= r1 <= len(xs):
            return "runtime.index-out-of-range"
        xs.insert(r1, r2)
    elif op == "removeat":
        if not 0 <= r1 < len(xs):
            return "runtime.index-out-of-range"
        xs.pop(r1)
    elif op == "aslice":
        lo, hi = (min(max(v, 0), len(xs)) for v in (r1, r2))
        m["r8"] = xs[lo:hi]
    elif op in ("sort", "copy"):
        m["r8"] = sorted(xs) if op == "sort" else list(xs)
    elif op == "mov":
        m["r0"] = m["r8"]
    elif op == "push":
        xs.append(r2)
    elif op == "len":
        m["r1"] = len(xs)
    return None


def _string_step(op: str, m: dict[str, Any]) -> str | None:
    """One string or int instruction of the model (comparisons change nothing the result shows)."""
    if op == "replace":
        if not m["r4"]:
            return "runtime.empty-pattern"
        m["r3"] = m["r3"].replace(m["r4"], m["r5"])
    elif op == "chr":
        if not 0 <= m["r2"] <= 0x10FFFF or 0xD800 <= m["r2"] <= 0xDFFF:
            return "runtime.bad-operand"
        m["r5"] = chr(m["r2"])
    elif op == "concat":
        m["r3"] = m["r3"] + m["r5"]
    elif op == "add":
        m["r2"] = wrap_i64(m["r2"] + m["r1"])
    return None


def _model(program: list[str], items: list[int], ints: list[int], texts: list[str]) -> tuple[Any, ...]:
    """The same program in plain Python: ("ok", r0) or ("error", code) for a trap (limits are the default)."""
    m: dict[str, Any] = {"r0": list(items), "r8": []}  # r8 starts as a fresh empty array
    m.update(zip(("r1", "r2", "r3", "r4", "r5"), (*ints, *texts), strict=True))
    for line in program:
        op = line.split()[0]
        trap = _array_step(op, m) or _string_step(op, m)
        if trap is not None:
            return ("error", trap)
    return ("ok", m["r0"])


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.sampled_from(_ARRAY_OPS), max_size=14),
    st.lists(st.integers(-50, 50), max_size=6),
    st.lists(st.one_of(st.integers(-3, 8), st.integers(0, 0x10FFFF + 2)), min_size=2, max_size=2),
    st.lists(st.text(alphabet="ab\u00e9\U0001f600", max_size=4), min_size=3, max_size=3),
    st.one_of(st.none(), st.integers(1, 40)),
)
def test_random_array_and_string_programs_agree_on_every_engine_and_with_python(
    program: list[str], items: list[int], ints: list[int], texts: list[str], fuel: int | None
) -> None:
    source = (
        ".func main export ([int], int, int, str, str, str) -> [int]\n  .regs bool, int, [int]\n"
        + "".join(f"    {line}\n" for line in program)
        + "    ret r0\n.end\n"
    )
    limits = Limits(max_instructions=fuel) if fuel is not None else Limits()
    outcome = run_all(source, [items, *ints, *texts], limits)  # every engine alike: value, trap, location, count
    if fuel is None:
        assert outcome[:2] == _model(program, items, ints, texts)
    elif outcome[0] == "error" and outcome[1] == "limit.instructions":
        assert outcome[4] <= fuel


def test_array_slice_counts_its_result_against_allocation() -> None:
    outcome = run_all(ASLICE, [list(range(500)), 0, 500], Limits(max_allocation=2000))
    assert outcome[:2] == ("error", "limit.allocation")


@pytest.mark.parametrize("line", ["sort r1, r0", "chr r2, r3", "insert r0, r3, r3", "band r3, r3, r3", "lt r4, r2, r2"])
def test_long_runs_of_the_new_instructions_are_translated_not_left_to_the_interpreter(line: str) -> None:
    # The compiled engine falls back to the interpreter for a function whose source outgrows its budget (per
    # instruction); a template too verbose would silently lose the fast path for such functions.
    from chronicle_vm.engines import compiled

    source = (
        ".func main export ([int]) -> int\n  .regs [int], str, int, bool\n"
        + f"    {line}\n" * 3000
        + "    ret r3\n.end\n"
    )
    engine = CompiledEngine(verify(assemble_text(source, "long.casm")), Limits())
    assert compiled._translate(engine, 0, False) is not None
