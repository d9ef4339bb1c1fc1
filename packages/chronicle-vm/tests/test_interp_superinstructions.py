"""Superinstructions are invisible: with and without them, every run gives the same result, count and error.

The pre-decoder fuses `loadk` + arithmetic and compare + branch pairs
(interp._fuse).  These tests pin that the fused interpreter agrees with the
unfused one (`superinstructions=False`) exactly, including a run stopped by
max_instructions between the two halves of a pair, and that the fusions
they rely on really happen.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module, positions
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Instruction, Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.engines.reference import (
    _ADDK,
    _BRANCH_IF_FALSE,
    _BRANCH_IF_TRUE,
    _DIVK,
    _MODK,
    _MULK,
    _SUBK,
    Interpreter,
)
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.verifier.rules import verify

INT_REGS = 6  # r0..r5
BOOL_REG = 6
COMPARES = ("lt", "le", "gt", "ge", "eq", "ne")
CONSTANTS = (0, 1, -1, 7, 2**63 - 1, -(2**63))


def outcome(mod: Module, args: list[int], limits: Limits, fused: bool) -> tuple[str, Any]:
    engine = Interpreter(verify(mod), limits, superinstructions=fused)
    try:
        result = engine.call("main", args)
    except ChronicleError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)
    return "ok", result


def agree(mod: Module, args: list[int], limits: Limits = HARD_LIMITS) -> tuple[str, Any]:
    plain = outcome(mod, args, limits, fused=False)
    assert outcome(mod, args, limits, fused=True) == plain
    return plain


def every_pair_loop() -> Module:
    """main(n): a loop running n times whose body holds every kind of fused pair, twice nested."""
    k = {value: i for i, value in enumerate(CONSTANTS)}
    body = [
        ins("loadk", 1, k[1]),  # 0
        ins("loadk", 2, k[7]),  # 1 acc = 7
        # loop head at 2
        ins("loadk", 3, k[7]),
        ins("add", 2, 2, 3),  # acc + 7          (_ADDK)
        ins("loadk", 3, k[1]),
        ins("sub", 2, 2, 3),  # acc - 1          (_SUBK)
        ins("loadk", 3, k[-1]),
        ins("mul", 2, 3, 2),  # -1 * acc, left   (_MULK)
        ins("loadk", 3, k[7]),
        ins("mod", 4, 2, 3),  # acc % 7          (_MODK)
        ins("loadk", 3, k[-1]),
        ins("div", 4, 4, 3),  # x // -1          (_DIVK)
        ins("loadk", 3, k[2**63 - 1]),
        ins("add", 5, 3, 2),  # wraps, left      (_ADDK)
    ]
    # compare + branch on every comparison, both senses
    for position, compare in enumerate(COMPARES):
        after = len(body) + 2
        body.append(ins(compare, BOOL_REG, 2, 5 if position % 2 else 4))
        body.append(ins("jmpif" if position % 3 else "jmpifnot", BOOL_REG, after))
    body += [
        ins("loadk", 3, k[1]),
        ins("sub", 0, 0, 3),  # n - 1
        ins("loadk", 3, k[0]),
        ins("gt", BOOL_REG, 0, 3),
        ins("jmpif", BOOL_REG, 2),  # loop while n > 0
        ins("ret", 2),
    ]
    main = fn("main", body, registers=(INT,) * INT_REGS + (BOOL,), params=1, result=INT, exported=True)
    return module(main, constants=CONSTANTS, files=("pairs.chr",), source=(positions(main),))


def test_the_pre_decoder_fuses_every_kind_of_pair() -> None:
    engine = Interpreter(verify(every_pair_loop()), HARD_LIMITS)
    ops = {decoded[0] for decoded in engine._functions[0].code}
    assert {_ADDK, _SUBK, _MULK, _MODK, _DIVK} <= ops
    assert _BRANCH_IF_TRUE[Op.GT] in ops
    assert set(_BRANCH_IF_FALSE.values()) & ops
    plain = Interpreter(verify(every_pair_loop()), HARD_LIMITS, superinstructions=False)
    assert all(decoded[0] < 0x50 for decoded in plain._functions[0].code)


def test_a_zero_divisor_constant_is_not_fused_and_still_traps() -> None:
    code = [ins("loadk", 1, 0), ins("mod", 2, 0, 1), ins("ret", 2)]
    main = fn("main", code, registers=(INT, INT, INT), params=1, result=INT, exported=True)
    mod = module(main, constants=(0,), files=("z.chr",), source=(positions(main),))
    kind, error = agree(mod, [5])
    assert kind == "error"
    assert error[1] == "runtime.division-by-zero"
    assert error[3]["location"]["index"] == 1
    assert error[3]["instructions"] == 2


def test_every_instruction_limit_agrees_with_the_unfused_run() -> None:
    mod = every_pair_loop()
    kind, full = agree(mod, [3])
    assert kind == "ok"
    for limit in range(full.instructions + 2):
        kind, result = agree(mod, [3], Limits(max_instructions=limit))
        if limit < full.instructions:
            assert result[1] == "limit.instructions"
            assert result[3]["instructions"] == limit


@st.composite
def fusable_programs(draw: st.DrawFn) -> tuple[Module, list[int], int]:
    """Straight-line code rich in fusable pairs, forward branches included, then `ret`."""
    code: list[Instruction] = []
    ireg = st.integers(0, INT_REGS - 1)
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["constant-op", "constant-op", "compare-branch", "op"]))
        if kind == "constant-op":
            temp = draw(ireg)
            code.append(ins("loadk", temp, draw(st.integers(0, len(CONSTANTS) - 1))))
            op = draw(st.sampled_from(["add", "sub", "mul", "mod", "div"]))
            other = draw(ireg)
            left, right = (temp, other) if draw(st.booleans()) else (other, temp)
            code.append(ins(op, draw(ireg), left, right))
        elif kind == "compare-branch":
            code.append(ins(draw(st.sampled_from(COMPARES)), BOOL_REG, draw(ireg), draw(ireg)))
            code.append(ins(draw(st.sampled_from(["jmpif", "jmpifnot"])), BOOL_REG, -1))  # target set below
        else:
            op = draw(st.sampled_from(["add", "mul", "neg", "mov"]))
            code.append(ins(op, draw(ireg), draw(ireg), draw(ireg) if op in ("add", "mul") else 0))
    end = len(code)
    for i, instruction in enumerate(code):
        if instruction.b == -1 and instruction.op in (Op.JMPIF, Op.JMPIFNOT):
            code[i] = Instruction(instruction.op, instruction.a, draw(st.integers(i + 1, end)), 0)
    code.append(ins("ret", draw(ireg)))
    main = fn("main", code, registers=(INT,) * INT_REGS + (BOOL,), params=2, result=INT, exported=True)
    mod = module(main, constants=CONSTANTS, files=("p.chr",), source=(positions(main),))
    ints = st.one_of(st.sampled_from(CONSTANTS), st.integers(-(2**63), 2**63 - 1))
    return mod, [draw(ints), draw(ints)], draw(st.integers(0, len(code) + 1))


@given(fusable_programs())
def test_fused_and_unfused_runs_agree_on_random_programs(case: tuple[Module, list[int], int]) -> None:
    mod, args, limit = case
    agree(mod, args)
    agree(mod, args, Limits(max_instructions=limit))
