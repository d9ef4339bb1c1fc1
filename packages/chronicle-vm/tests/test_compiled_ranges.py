"""Range analysis and the once-per-segment depth test of the compiled engine, against the other engines.

The compiled engine drops the overflow check of `x - k` (k a positive constant) where a guard every way into the
arm passed says x >= lo and lo - k stays in 64 bits (engines/compiled.py, `_Translator._guard_bounds`).  Each
program here is built so that a wrong bound shows: the value overflows exactly at the edge the guard allows, on
the last iteration of a loop, or through a second way into the arm with a weaker guard.  Every case runs on the
oracle, the fused interpreter and the compiled engine (`agree`), and also checks the translation dropped or
kept the check, so the tests fail if the analysis stops applying as well as if it applies wrongly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Instruction, Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.core.values import I64_MAX, I64_MIN
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_compiled_chains import agree, fib_module

_CHECK = "< -9223372036854775808"  # the one-sided overflow check of subtracting a positive constant


def guarded_sub(bound: int, k: int, compare: str = "lt") -> Module:
    """main(x) = x if x < bound (x <= bound) else x - k."""
    code = (
        ins("loadk", 1, 0),
        ins(compare, 2, 0, 1),
        ins("jmpifnot", 2, 4),
        ins("ret", 0),
        ins("loadk", 1, 1),  # 4: x >= bound (x > bound) here
        ins("sub", 3, 0, 1),
        ins("ret", 3),
    )
    main = fn("main", code, registers=(INT, INT, BOOL, INT), params=1, result=INT, exported=True)
    return module(main, constants=(bound, k))


def source(mod: Module) -> str:
    return CompiledEngine(verify(mod), Limits()).translated_source(0)


@pytest.mark.parametrize(
    ("bound", "k", "compare", "dropped"),
    [
        (2, 1, "lt", True),  # fib's n - 1 after n < 2
        (I64_MIN + 3, 3, "lt", True),  # x >= MIN + 3: x - 3 >= MIN exactly
        (I64_MIN + 2, 3, "lt", False),  # x = MIN + 2 passes the guard and x - 3 wraps
        (I64_MIN + 2, 3, "le", True),  # x > MIN + 2: x - 3 >= MIN
        (I64_MIN + 1, 3, "le", False),
        (I64_MAX, I64_MAX, "lt", True),
    ],
)
def test_a_guard_bounds_the_subtraction_after_it(bound: int, k: int, compare: str, dropped: bool) -> None:
    mod = guarded_sub(bound, k, compare)
    assert (_CHECK not in source(mod)) is dropped
    for x in {bound - 1, bound, bound + 1, I64_MIN, I64_MIN + 1, I64_MIN + 2, I64_MIN + 3, I64_MAX, 0}:
        if I64_MIN <= x <= I64_MAX:
            agree(mod, "main", [x], Limits())


def two_ways_in(strong: int, weak: int) -> Module:
    """main(x, y): if y, guard x < strong, else guard x < weak; both guards' failure goes to `x - 3`."""
    code = (
        ins("jmpifnot", 1, 5),
        ins("loadk", 2, 0),
        ins("lt", 3, 0, 2),
        ins("jmpifnot", 3, 9),
        ins("ret", 0),
        ins("loadk", 2, 1),  # 5
        ins("lt", 3, 0, 2),
        ins("jmpifnot", 3, 9),
        ins("ret", 0),
        ins("loadk", 2, 2),  # 9: x >= min(strong, weak)
        ins("sub", 4, 0, 2),
        ins("ret", 4),
    )
    main = fn("main", code, registers=(INT, BOOL, INT, BOOL, INT), params=2, result=INT, exported=True)
    return module(main, constants=(strong, weak, 3))


def test_the_weakest_guard_into_an_arm_decides() -> None:
    strong, weak = I64_MIN + 10, I64_MIN + 1
    mod = two_ways_in(strong, weak)
    assert _CHECK in source(mod)  # MIN + 1 - 3 would wrap
    for x in (weak, weak + 1, weak + 2, strong, strong + 1, 0, I64_MAX):
        for y in (True, False):
            agree(mod, "main", [x, y], Limits())
    assert _CHECK not in source(two_ways_in(I64_MIN + 10, I64_MIN + 4))


def test_no_bound_through_a_fall_through_or_after_a_write() -> None:
    # 4 is reached by falling through from 3 as well as by the jump: no fact.
    falls = (
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),
        ins("jmpifnot", 2, 4),
        ins("nop"),
        ins("loadk", 1, 1),  # 4
        ins("sub", 3, 0, 1),
        ins("ret", 3),
    )
    # The guarded register is overwritten (x = MIN) before the subtraction.
    written = (
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),
        ins("jmpifnot", 2, 4),
        ins("ret", 0),
        ins("loadk", 0, 2),  # 4
        ins("loadk", 1, 1),
        ins("sub", 3, 0, 1),
        ins("ret", 3),
    )
    for code, arg in ((falls, I64_MIN), (written, 5)):
        main = fn("main", code, registers=(INT, INT, BOOL, INT), params=1, result=INT, exported=True)
        mod = module(main, constants=(2, 1, I64_MIN))
        assert _CHECK in source(mod)
        kind, outcome = agree(mod, "main", [arg], Limits())
        assert kind == "ok" and outcome.value == I64_MAX  # MIN - 1 wraps


def countdown(floor: int) -> Module:
    """main(x): do { x = x - 1 } while x >= floor; the guard at the bottom bounds the body at the top."""
    code = (
        ins("jmp", 4),
        ins("loadk", 1, 1),  # 1: the body, x >= floor here
        ins("sub", 0, 0, 1),
        ins("nop"),
        ins("loadk", 2, 0),  # 4
        ins("ge", 3, 0, 2),
        ins("jmpif", 3, 1),
        ins("ret", 0),
    )
    main = fn("main", code, registers=(INT, INT, INT, BOOL), params=1, result=INT, exported=True)
    return module(main, constants=(floor, 1))


def test_a_loop_that_overflows_only_on_its_last_iteration() -> None:
    safe = countdown(I64_MIN + 1)
    assert _CHECK not in source(safe)
    kind, outcome = agree(safe, "main", [I64_MIN + 5], Limits())
    assert kind == "ok" and outcome.value == I64_MIN
    # floor = MIN: the guard lets x = MIN into the body, whose x - 1 wraps to MAX on that iteration only; the
    # loop then runs on until max_instructions stops it, at the same instruction on every engine.
    edge = countdown(I64_MIN)
    assert _CHECK in source(edge)
    for limit in range(60):
        agree(edge, "main", [I64_MIN + 3], Limits(max_instructions=limit))


def changing_trip_count() -> Module:
    """main(n): i = 0; while i < n { if i == 3 { n = n + 4 }; i = i + 1 }; return i (the bound moves inside)."""
    code = (
        ins("loadk", 1, 0),  # i = 0
        ins("lt", 2, 1, 0),  # 1
        ins("jmpifnot", 2, 11),
        ins("loadk", 3, 1),
        ins("eq", 2, 1, 3),
        ins("jmpifnot", 2, 8),
        ins("loadk", 3, 2),
        ins("add", 0, 0, 3),
        ins("loadk", 3, 3),  # 8
        ins("add", 1, 1, 3),
        ins("jmp", 1),
        ins("ret", 1),  # 11
    )
    main = fn("main", code, registers=(INT, INT, BOOL, INT), params=1, result=INT, exported=True)
    return module(main, constants=(0, 3, 4, 1))


def test_a_loop_whose_trip_count_changes_inside_it() -> None:
    mod = changing_trip_count()
    kind, outcome = agree(mod, "main", [5], Limits())
    assert kind == "ok" and outcome.value == 9
    for limit in range(outcome.instructions + 2):
        agree(mod, "main", [5], Limits(max_instructions=limit))


def test_recursion_exactly_at_max_call_depth() -> None:
    # fib's recursive segment makes two calls: its fast copy tests the depth once, with the fuel.
    assert "and d:" in source(fib_module())
    for depth in range(1, 12):
        kind, outcome = agree(fib_module(), "main", [9], Limits(max_call_depth=depth))
        assert (kind == "ok") is (depth >= 9)
        if kind == "error":
            assert outcome[1] == "limit.call-depth"


def folding(read_later: int) -> Module:
    """main(x): k = 5; c = x < k; if c: return r{read_later} (x, k or c), else 2 * x (with c: a bool result)."""
    head = (ins("loadk", 1, 0), ins("lt", 2, 0, 1), ins("jmpifnot", 2, 4), ins("ret", read_later))
    if read_later == 2:
        code: tuple[Instruction, ...] = (*head, ins("loadb", 3, 1), ins("ret", 3))
        registers = (INT, INT, BOOL, BOOL)
    else:
        code = (*head, ins("loadk", 3, 1), ins("mul", 3, 0, 3), ins("ret", 3))
        registers = (INT, INT, BOOL, INT)
    result = BOOL if read_later == 2 else INT
    main = fn("main", code, registers=registers, params=1, result=result, exported=True)
    return module(main, constants=(5, 2))


@pytest.mark.parametrize(("read_later", "stored"), [(0, ()), (1, ("r1 = 5",)), (2, ("r2 = r0 < ",))])
def test_a_value_read_later_is_stored_and_one_read_once_is_folded(read_later: int, stored: tuple[str, ...]) -> None:
    mod = folding(read_later)
    text = source(mod)
    for line in ("r1 = 5", "r2 = r0 < "):
        assert (line in text) is (line in stored), (line, text)
    if read_later != 2:
        assert "r0 * 2" in text  # the loadk before the mul folds into it (an int constant is a literal)
    for x in (I64_MIN, -1, 4, 5, 6, I64_MAX):
        agree(mod, "main", [x], Limits())
        for limit in range(6):
            agree(mod, "main", [x], Limits(max_instructions=limit))


@pytest.mark.parametrize("op", ["div", "mod"])
@pytest.mark.parametrize("divisor", [0, -1, 7])
def test_a_constant_divisor_folds_and_still_traps_on_zero(op: str, divisor: int) -> None:
    code = (ins("loadk", 1, 0), ins(op, 2, 0, 1), ins("ret", 2))
    main = fn("main", code, registers=(INT, INT, INT), params=1, result=INT, exported=True)
    mod = module(main, constants=(divisor,))
    assert "r1 = " not in source(mod)
    for x in (I64_MIN, -8, 0, 9, I64_MAX):
        agree(mod, "main", [x], Limits())


@pytest.mark.parametrize("constant", [I64_MIN, I64_MIN + 1, -5, -1, 0, 3, I64_MAX])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "mod", "lt", "ge", "eq"])
def test_an_int_constant_is_a_literal_in_the_source_negative_ones_too(constant: int, op: str) -> None:
    code = (ins("loadk", 1, 0), ins(op, 2, 0, 1), ins("ret", 2))
    result = BOOL if op in ("lt", "ge", "eq") else INT
    main = fn("main", code, registers=(INT, INT, result), params=1, result=result, exported=True)
    mod = module(main, constants=(constant,))
    text = source(mod)
    assert "k0" not in text and (str(constant) if constant >= 0 else f"({constant})") in text
    for x in (I64_MIN, -7, -1, 0, 1, 9, I64_MAX):
        agree(mod, "main", [x], Limits())


@pytest.mark.parametrize("op", ["add", "sub"])
@pytest.mark.parametrize("k", [1, 5, 2**30, I64_MAX])
def test_a_one_sided_check_behind_a_one_digit_test_wraps_exactly(op: str, k: int) -> None:
    # `x + k` (k > 0) tests `x > 2**30 - 1` first, then the 64-bit edge; `x - k` the same downwards.
    code = (ins("loadk", 1, 0), ins(op, 2, 0, 1), ins("ret", 2))
    main = fn("main", code, registers=(INT, INT, INT), params=1, result=INT, exported=True)
    mod = module(main, constants=(k,))
    assert "1073741823" in source(mod)
    edges = {I64_MAX, I64_MAX - k, I64_MAX - k + 1, I64_MIN, I64_MIN + k, I64_MIN + k - 1, 0, 2**30, -(2**30)}
    for x in edges | {2**30 - 1 - k, 2**30 - k, -(2**30) + k, 1 - 2**30 + k}:
        if I64_MIN <= x <= I64_MAX:
            agree(mod, "main", [x], Limits())


def side_exit_into(target: tuple[Instruction, ...]) -> Module:
    """main(x): a side exit early in a long segment into an arm entered by nothing else (its refund deferred)."""
    code = (
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),
        ins("jmpifnot", 2, 9),  # six prepaid instructions still to come: the arm at 9 owes them
        ins("add", 0, 0, 0),
        ins("add", 0, 0, 0),
        ins("add", 0, 0, 0),
        ins("add", 0, 0, 0),
        ins("add", 0, 0, 0),
        ins("ret", 0),
        *target,  # 9
    )
    main = fn("main", code, registers=(INT, INT, BOOL), params=1, result=INT, exported=True)
    return module(main, constants=(3,))


@pytest.mark.parametrize(
    "target",
    [
        (ins("ret", 0),),  # a one-instruction arm: gives the six back first
        (ins("add", 0, 0, 0), ins("ret", 0)),  # charges 2 - 6: a net refund
        (*(ins("add", 0, 0, 0) for _ in range(8)), ins("ret", 0)),  # charges 9 - 6
    ],
)
def test_a_deferred_refund_keeps_every_count_exact(target: tuple[Instruction, ...]) -> None:
    mod = side_exit_into(target)
    if len(target) > 1:
        assert f"FUEL >= {len(target) - 6}" in source(mod)
    for x in (1, 5):
        kind, outcome = agree(mod, "main", [x], Limits())
        assert kind == "ok"
        for limit in range(outcome.instructions + 2):
            agree(mod, "main", [x], Limits(max_instructions=limit))


def test_an_exact_argument_is_computed_in_the_call_and_an_unbounded_one_is_not() -> None:
    assert "P0(e, (r0 - 1))" in source(fib_module())  # n - 1 after n < 2: no check, no store (e = d - 1 once)
    ident = fn("ident", (ins("ret", 0),), registers=(INT,), params=1, result=INT)
    code = (ins("loadk", 1, 0), ins("sub", 2, 0, 1), ins("call", 1, 2, 3), ins("ret", 3))
    main = fn("main", code, registers=(INT, INT, INT, INT), params=1, result=INT, exported=True)
    mod = module(main, ident, constants=(1,))
    text = source(mod)
    assert "r2 = r0 - 1" in text and _CHECK in text  # unbounded x - 1: checked and stored before the call
    for x in (I64_MIN, 0, I64_MAX):
        agree(mod, "main", [x], Limits())
    for x in (0, 1, 2, 12):
        for depth in (1, 2, 5, 13):
            agree(fib_module(), "main", [x], Limits(max_call_depth=depth))


def test_prepaid_call_sites_call_the_variant_without_the_entry_charge() -> None:
    engine = CompiledEngine(verify(fib_module()), Limits())
    plain, prepaid = engine.translated_source(0), engine.translated_source(0, prepaid=True)
    assert "def f0(d, r0):" in plain and "def p0(d, r0):" in prepaid  # no `c` argument, no `if c` test
    assert "FUEL >= 6:" in plain and "FUEL >= 6:" not in prepaid  # the entry segment: charged only in the plain one
    assert "r4 = P0(" in plain and "r4 = P0(" in prepaid and "r4 = F0(" in prepaid  # the slow copy pays itself
    for limit in (0, 1, 3, 4, 5, 20, 21, 100):
        for x in (0, 1, 2, 7):
            agree(fib_module(), "main", [x], Limits(max_instructions=limit))


def test_a_fold_in_one_copy_of_a_segment_does_not_leak_into_the_next() -> None:
    # One segment (pc 3 is a jump target): r1 is read at pc 0, then loaded and read by the segment's last
    # instruction, which is emitted once after the copies.  The slow copy must read r1 at pc 0, not the constant.
    code = (
        ins("add", 3, 0, 1),
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),  # the segment's last: pc 3 is a jump target
        ins("jmpifnot", 2, 6),  # 3
        ins("loadb", 2, 0),
        ins("jmp", 3),
        ins("ret", 3),  # 6
    )
    main = fn("main", code, registers=(INT, INT, BOOL, INT), params=2, result=INT, exported=True)
    mod = module(main, constants=(1000,))
    for limit in (0, 1, 2, 3, 4, 5, 6, 100):
        for x, y in ((1, 2), (5, 7), (2000, 1)):
            agree(mod, "main", [x, y], Limits(max_instructions=limit))


@st.composite
def straight_programs(draw: st.DrawFn) -> tuple[Module, int, int, int]:
    """Short int programs of loadk / add / sub / lt+branch over four registers, with a loop back to pc 0 or
    not: folds, guards and deferred refunds in every copy of every segment, at every fuel limit."""
    body: list[Instruction] = []
    for _ in range(draw(st.integers(2, 9))):
        kind = draw(st.sampled_from(("loadk", "add", "sub", "guard")))
        a, b, c = (draw(st.integers(0, 3)) for _ in range(3))
        if kind == "loadk":
            body.append(ins("loadk", a, draw(st.integers(0, 3))))
        elif kind == "guard":
            body.append(ins("loadk", c, draw(st.integers(0, 3))))
            body.append(ins(draw(st.sampled_from(("lt", "le", "ge", "gt"))), 4, b, c))
            body.append(ins(draw(st.sampled_from(("jmpif", "jmpifnot"))), 4, 0))  # target patched below
        else:
            body.append(ins(kind, a, b, c))
    size = len(body)
    exit_at = size + 1  # `ret r0` after a `ret r1`: a target nothing falls into
    code = [
        Instruction(i.op, i.a, exit_at if draw(st.booleans()) else pc + 1, i.c)
        if i.op in (Op.JMPIF.value, Op.JMPIFNOT.value)
        else i
        for pc, i in enumerate(body)
    ]
    code += [ins("ret", 1), ins("ret", 0)]
    main = fn("main", tuple(code), registers=(INT, INT, INT, INT, BOOL), params=2, result=INT, exported=True)
    constants = (2, 1, I64_MIN + 2, I64_MAX)
    x = draw(st.sampled_from((0, 3, -5, I64_MIN, I64_MIN + 3, I64_MAX)))
    y = draw(st.sampled_from((1, -1, I64_MAX, I64_MIN)))
    return module(main, constants=constants), x, y, draw(st.integers(0, 25))


@settings(max_examples=150, deadline=None)
@given(straight_programs())
def test_random_folds_and_guards_agree_at_every_limit(case: tuple[Module, int, int, int]) -> None:
    mod, x, y, limit = case
    agree(mod, "main", [x, y], Limits(max_instructions=limit))
    agree(mod, "main", [x, y], Limits())
