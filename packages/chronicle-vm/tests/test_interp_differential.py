"""Differential property: random programs run by the VM agree with a direct Python evaluation of the same program.

The Python side is written from docs/isa.md alone (wrap to 64 bits, floor
division, traps on zero divisors), never from the interpreter's code.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.model import Instruction, Module
from chronicle_vm.core.types import BOOL, INT
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

INT_REGS = 6  # r0..r5 ints (r0, r1 are parameters)
BOOL_REGS = 2  # r6, r7
ARITH = ("add", "sub", "mul", "div", "mod")
COMPARE = ("lt", "le", "gt", "ge", "eq", "ne")
EDGE_INTS = st.sampled_from([0, 1, -1, 2, 3, 7, -7, 2**31, 2**62, 2**63 - 1, -(2**63), -(2**63) + 1])
INTS = st.one_of(EDGE_INTS, st.integers(-(2**63), 2**63 - 1))


def wrap(value: int) -> int:
    return ((value + 2**63) % 2**64) - 2**63


@dataclass(frozen=True)
class Step:
    op: str
    a: int
    b: int
    c: int


class Trap(Exception):
    pass


@st.composite
def programs(draw: st.DrawFn) -> tuple[list[Step], list[int]]:
    steps: list[Step] = []
    length = draw(st.integers(1, 25))
    for position in range(length):
        kind = draw(st.sampled_from(["arith", "arith", "neg", "const", "compare", "not", "skip", "mov"]))
        ireg = st.integers(0, INT_REGS - 1)
        breg = st.integers(INT_REGS, INT_REGS + BOOL_REGS - 1)
        if kind == "arith":
            steps.append(Step(draw(st.sampled_from(ARITH)), draw(ireg), draw(ireg), draw(ireg)))
        elif kind == "neg":
            steps.append(Step("neg", draw(ireg), draw(ireg), 0))
        elif kind == "const":
            steps.append(Step("loadk", draw(ireg), draw(st.integers(0, 3)), 0))
        elif kind == "compare":
            steps.append(Step(draw(st.sampled_from(COMPARE)), draw(breg), draw(ireg), draw(ireg)))
        elif kind == "not":
            steps.append(Step("not", draw(breg), draw(breg), 0))
        elif kind == "mov":
            steps.append(Step("mov", draw(ireg), draw(ireg), 0))
        else:  # a forward conditional jump over 0..3 following steps (targets resolved below)
            op = draw(st.sampled_from(["jmpif", "jmpifnot"]))
            steps.append(Step(op, draw(breg), position + 1 + draw(st.integers(0, 3)), 0))
    constants = draw(st.lists(INTS, min_size=4, max_size=4))
    return steps, constants


def build(steps: list[Step], constants: list[int]) -> Module:
    end = len(steps)
    code: list[Instruction] = []
    for step in steps:
        if step.op in {"jmpif", "jmpifnot"}:
            code.append(ins(step.op, step.a, min(step.b, end)))
        else:
            code.append(ins(step.op, step.a, step.b, step.c))
    code.append(ins("ret", 2))
    registers = (INT,) * INT_REGS + (BOOL,) * BOOL_REGS
    main = fn("main", code, registers=registers, params=2, result=INT, exported=True)
    return module(main, constants=constants)


def evaluate(steps: list[Step], constants: list[int], x: int, y: int) -> tuple[int, int]:
    """Direct evaluation: (result, instructions executed); raises Trap on a zero divisor."""
    regs: list[int | bool] = [x, y, 0, 0, 0, 0, False, False]
    pc = 0
    executed = 0
    while pc < len(steps):
        step = steps[pc]
        executed += 1
        pc += 1
        if step.op in {"jmpif", "jmpifnot"}:
            if bool(regs[step.a]) == (step.op == "jmpif"):
                pc = min(step.b, len(steps))
            continue
        regs[step.a] = _step_result(step, regs, constants)
    return int(regs[2]), executed + 1


def _step_result(step: Step, regs: list[int | bool], constants: list[int]) -> int | bool:
    """The value a non-jump step writes to its register a."""
    b = regs[step.b] if step.op != "loadk" else 0
    c = regs[step.c]
    if step.op == "add":
        return wrap(int(b) + int(c))
    if step.op == "sub":
        return wrap(int(b) - int(c))
    if step.op == "mul":
        return wrap(int(b) * int(c))
    if step.op in {"div", "mod"}:
        if c == 0:
            raise Trap
        return wrap(int(b) // int(c)) if step.op == "div" else wrap(int(b) % int(c))
    if step.op == "neg":
        return wrap(-int(b))
    if step.op == "loadk":
        return constants[step.b]
    if step.op == "mov":
        return regs[step.b]
    if step.op == "not":
        return not regs[step.b]
    if step.op in COMPARE:
        left, right = int(b), int(c)
        return {
            "lt": left < right,
            "le": left <= right,
            "gt": left > right,
            "ge": left >= right,
            "eq": left == right,
            "ne": left != right,
        }[step.op]
    return regs[step.a]


@given(programs(), INTS, INTS)
def test_vm_agrees_with_python(program: tuple[list[Step], list[int]], x: int, y: int) -> None:
    steps, constants = program
    verified = verify(build(steps, constants))
    try:
        expected: tuple[int, int] | str = evaluate(steps, constants, x, y)
    except Trap:
        expected = "runtime.division-by-zero"
    for engine in (Oracle(verified, Limits()), Interpreter(verified, Limits()), CompiledEngine(verified, Limits())):
        try:
            outcome = engine.call("main", [x, y])
            actual: tuple[int, int] | str = (int(outcome.value), outcome.instructions)  # type: ignore[arg-type]
        except ChronicleError as exc:
            actual = exc.code
        assert actual == expected, type(engine).__name__
