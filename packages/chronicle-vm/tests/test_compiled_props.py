"""Differential property: random verified programs give the same outcome on the compiled engine and the interpreter.

The generator emits only verifiable code (type-correct registers, targets
inside the function, a final `ret`), with loops, calls (recursion included),
capability calls, strings and arrays, run under small random limits so that
traps and every limit are reached often.  Both engines must agree on the
result or the error (code, message, details) and the instruction count, and
make the same capability calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing.verify_builders import fn, ins, module, positions
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Instruction, Module
from chronicle_vm.core.types import BOOL, INT, STR, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

INT_ARRAY = array_type(INT.base, 1)
STR_ARRAY = array_type(STR.base, 1)
# r0..r5 int (r0, r1 parameters), r6..r7 bool, r8..r9 str, r10..r11 [int], r12 [str]
REGISTERS = (INT,) * 6 + (BOOL,) * 2 + (STR,) * 2 + (INT_ARRAY,) * 2 + (STR_ARRAY,)
INTS = st.integers(0, 5)
BOOLS = st.integers(6, 7)
STRS = st.integers(8, 9)
ARRAYS = st.integers(10, 11)
CONSTANTS = (0, 1, -1, 3, 2**63 - 1, -(2**63), 1000, "", "ab", " 12 ", ",", "x,y", "boom")
INT_CONSTANTS = st.sampled_from([i for i, k in enumerate(CONSTANTS) if type(k) is int])
STRING_OPS = ("concat", "tostr", "len", "slice", "contains", "find", "parseint", "upper", "trim", "split", "join")
STRING_OPS_2 = ("repeat", "charat", "eq")
STR_CONSTANTS = st.sampled_from([i for i, k in enumerate(CONSTANTS) if type(k) is str])


@st.composite
def instruction(draw: st.DrawFn, length: int, functions: int) -> Instruction:
    kind = draw(
        st.sampled_from(
            ["arith"] * 6
            + ["compare"] * 3
            + ["jump"] * 3
            + ["const", "const", "neg", "not", "mov", "call", "capcall", "string", "string", "array", "array", "trap"]
        )
    )
    if kind == "arith":
        return ins(draw(st.sampled_from(["add", "sub", "mul", "div", "mod"])), draw(INTS), draw(INTS), draw(INTS))
    if kind == "compare":
        return ins(draw(st.sampled_from(["lt", "le", "gt", "ge", "eq", "ne"])), draw(BOOLS), draw(INTS), draw(INTS))
    if kind == "const":
        if draw(st.booleans()):
            return ins("loadk", draw(INTS), draw(INT_CONSTANTS))
        if draw(st.booleans()):
            return ins("loadk", draw(STRS), draw(STR_CONSTANTS))
        return ins("loadb", draw(BOOLS), draw(st.integers(0, 1)))
    if kind == "neg":
        return ins("neg", draw(INTS), draw(INTS))
    if kind == "not":
        return ins("not", draw(BOOLS), draw(BOOLS))
    if kind == "mov":
        pool = draw(st.sampled_from([INTS, BOOLS, STRS, ARRAYS]))
        return ins("mov", draw(pool), draw(pool))
    if kind in ("jump", "call", "capcall", "trap"):
        return _control_instruction(draw, kind, length, functions)
    if kind == "string":
        return _string_instruction(draw)
    return _array_instruction(draw)


def _control_instruction(draw: st.DrawFn, kind: str, length: int, functions: int) -> Instruction:
    target = st.integers(0, length - 1)
    if kind == "jump":
        choice = draw(st.sampled_from(["jmp", "jmpif", "jmpifnot"]))
        if choice == "jmp":
            return ins("jmp", draw(target))
        return ins(choice, draw(BOOLS), draw(target))
    if kind == "call":
        return ins("call", draw(st.integers(0, functions - 1)), draw(st.integers(0, 4)), draw(INTS))
    if kind == "capcall":
        if draw(st.booleans()):
            return ins("capcall", 0, draw(INTS), draw(INTS))
        return ins("capcall", 1, draw(STRS), draw(STRS))
    return ins("trap", draw(STR_CONSTANTS))


def _string_instruction(draw: st.DrawFn) -> Instruction:
    op = draw(st.sampled_from(STRING_OPS + STRING_OPS_2))
    s, t = draw(STRS), draw(STRS)
    if op == "concat":
        return ins(op, s, t, draw(STRS))
    if op == "tostr":
        return ins(op, s, draw(st.one_of(INTS, BOOLS, STRS)))
    if op in ("len", "parseint"):
        return ins(op, draw(INTS), t)
    if op == "slice":
        return ins(op, s, t, draw(st.integers(0, 4)))
    if op in ("contains", "eq"):
        return ins(op, draw(BOOLS), s, t)
    if op == "find":
        return ins(op, draw(INTS), s, t)
    if op in ("upper", "trim"):
        return ins(op, s, t)
    if op == "split":
        return ins(op, 12, s, t)
    if op == "join":
        return ins(op, s, 12, t)
    return ins(op, s, t, draw(INTS))  # repeat, charat


def _array_instruction(draw: st.DrawFn) -> Instruction:
    op = draw(st.sampled_from(["newarr", "push", "pop", "getidx", "setidx", "len"]))
    array = draw(ARRAYS)
    if op == "newarr":
        return ins(op, array)
    if op == "push":
        return ins(op, array, draw(INTS))
    if op == "pop":
        return ins(op, draw(INTS), array)
    if op == "getidx":
        return ins(op, draw(INTS), array, draw(INTS))
    if op == "setidx":
        return ins(op, array, draw(INTS), draw(INTS))
    return ins(op, draw(INTS), array)


@st.composite
def programs(draw: st.DrawFn) -> Module:
    count = draw(st.integers(1, 3))
    functions = []
    for index in range(count):
        length = draw(st.integers(1, 30))
        code = [draw(instruction(length + 1, count)) for _ in range(length)]
        code.append(ins("ret", draw(INTS)))
        name = "main" if index == 0 else f"f{index}"
        functions.append(fn(name, code, registers=REGISTERS, params=2, result=INT, exported=index == 0))
    caps = (Capability("host.number", (INT,), INT), Capability("host.text", (STR,), STR))
    source = tuple(positions(f, i % 2, 1 + 100 * i) for i, f in enumerate(functions))
    return module(*functions, constants=CONSTANTS, capabilities=caps, files=("a.chr", "b.chr"), source=source)


LIMITS = st.builds(
    Limits,
    max_instructions=st.one_of(st.integers(0, 60), st.integers(60, 3000)),
    max_call_depth=st.integers(1, 12),
    max_registers=st.sampled_from([13, 13, 12]),
    max_stack_registers=st.sampled_from([13 * 3, 1000]),
    max_array_len=st.integers(0, 20),
    max_string_len=st.integers(0, 40),
    max_allocation=st.one_of(st.integers(0, 50), st.just(10_000)),
)


def handlers(log: list[tuple[Any, ...]]) -> tuple[Any, Any]:
    def number(args: Sequence[Value], site: CallSite) -> int:
        log.append(("number", list(args), site))
        value = args[0]
        assert isinstance(value, int)
        return (value * 3 + site.instructions) % 1000

    def text(args: Sequence[Value], site: CallSite) -> str:
        log.append(("text", list(args), site))
        return f"{args[0]}:{site.pc}"

    return number, text


def run(engine: Oracle | Interpreter | CompiledEngine, args: list[int]) -> tuple[str, Any]:
    try:
        result = engine.call("main", args)
    except ChronicleError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)
    return "ok", result


@settings(deadline=None)
@given(programs(), LIMITS, st.integers(-5, 5), st.integers(-(2**63), 2**63 - 1))
def test_compiled_engine_agrees_with_the_interpreter(mod: Module, limits: Limits, x: int, y: int) -> None:
    verified = verify(mod)
    reference_log: list[tuple[Any, ...]] = []
    compiled_log: list[tuple[Any, ...]] = []
    fused_log: list[tuple[Any, ...]] = []
    expected = run(Oracle(verified, limits, handlers(reference_log)), [x, y])
    assert run(Interpreter(verified, limits, handlers(fused_log)), [x, y]) == expected
    got = run(CompiledEngine(verified, limits, handlers(compiled_log)), [x, y])
    assert got == expected
    assert compiled_log == reference_log
    assert fused_log == reference_log
