"""Floats (#17): every float opcode and trap on every engine, against plain Python with the finite rule.

Every case runs on the reference one-step oracle, the fused interpreter (with and without
superinstructions) and the compiled engine: the value bit for bit (floats are compared by
`float.hex`, so -0.0 is not 0.0), or the same trap (code, message, location) and the same
instruction count.  The expected values come from `model`, a plain-Python statement of
docs/isa.md's float rules written apart from chronicle_vm.engines.semantics.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_asm import assemble_text
from chronicle_testing.engine_runs import every_engine
from chronicle_testing.engine_runs import outcome as run_outcome
from chronicle_vm.core.model import Module, fitting_version
from chronicle_vm.errors import VerifyError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MAX = 1.7976931348623157e308
TINY = 5e-324
FINITE = st.floats(allow_nan=False, allow_infinity=False)
SPECIAL = st.sampled_from(
    [0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 3.5, MAX, -MAX, TINY, -TINY, 1e308, 2.0**63, -(2.0**63)]
)
FLOATS = st.one_of(FINITE, SPECIAL)


def _bits(value: Any) -> Any:
    """Values with every float replaced by its exact bits, so that -0.0 and 0.0 differ."""
    if type(value) is float:
        return ("float", value.hex())
    if type(value) is list:
        return [_bits(item) for item in value]
    return value


_engines = every_engine


def _outcome(engine: Any, args: list[Any]) -> tuple[Any, ...]:
    return run_outcome(engine, args, _bits)  # floats compared bit for bit


def run_module(module: Module, args: list[Any], limits: Limits | None = None) -> tuple[Any, ...]:
    """The one outcome every engine gives (the test fails when two engines differ)."""
    verified = verify(module)
    outcomes = {name: _outcome(engine, list(args)) for name, engine in _engines(verified, limits or Limits()).items()}
    first = outcomes["reference"]
    for name, outcome in outcomes.items():
        assert outcome == first, (name, outcome, first)
    return first


def assemble(source: str, constants: tuple[Any, ...] = ()) -> Module:
    """`.casm` as a module of the format version that holds it (version 2 for float registers and constants)."""
    module = assemble_text(source, "floats.casm")
    if constants:  # float constants put in the pool here (the .casm float literal is the format branch's)
        module = dataclasses.replace(module, constants=constants)
    return dataclasses.replace(module, version=fitting_version(module))


def run_all(source: str, args: list[Any], limits: Limits | None = None, constants: tuple[Any, ...] = ()) -> Any:
    module = assemble(source, constants)
    assert Module.from_bytes(module.to_bytes()) == module  # every float module here fits binary format version 2
    return run_module(module, args, limits)


def binary(op: str, left: str = "float", right: str = "float", result: str = "float") -> str:
    return f".func main export ({left}, {right}) -> {result}\n  .regs {result}\n    {op} r2, r0, r1\n    ret r2\n.end\n"


def unary(op: str, operand: str = "float", result: str = "float") -> str:
    return f".func main export ({operand}) -> {result}\n  .regs {result}\n    {op} r1, r0\n    ret r1\n.end\n"


# -- the plain-Python model ------------------------------------------------------------------------------------------


class Trap(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _finite(value: float) -> float:
    if math.isinf(value) or math.isnan(value):
        raise Trap("runtime.float-nonfinite")
    return value


def _int_result(value: int) -> int:
    if not I64_MIN <= value <= I64_MAX:
        raise Trap("runtime.float-range")
    return value


def _nonzero(value: float) -> float:
    if value == 0:
        raise Trap("runtime.division-by-zero")
    return value


def _signed_key(value: float) -> tuple[float, float]:
    return (value, math.copysign(1.0, value))  # -0.0 orders before 0.0


MODEL: dict[str, Any] = {
    "fadd": lambda x, y: _finite(x + y),
    "fsub": lambda x, y: _finite(x - y),
    "fmul": lambda x, y: _finite(x * y),
    "fdiv": lambda x, y: _finite(x / _nonzero(y)),
    "fmod": lambda x, y: _finite(x % _nonzero(y)),
    "fmin": lambda x, y: min((x, y), key=_signed_key),
    "fmax": lambda x, y: max((y, x), key=_signed_key),
    "fneg": lambda x: -x,
    "fabs": math.fabs,
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else _finite(math.nan),
    "ftoi": lambda x: _int_result(math.trunc(x)),
    "floor": lambda x: _int_result(math.floor(x)),
    "ceil": lambda x: _int_result(math.ceil(x)),
    "round": lambda x: _int_result(round(x)),
}
BINARY = ("fadd", "fsub", "fmul", "fdiv", "fmod", "fmin", "fmax")
TO_FLOAT = ("fneg", "fabs", "sqrt")
TO_INT = ("ftoi", "floor", "ceil", "round")


def model(op: str, *args: float) -> tuple[str, Any]:
    try:
        return ("ok", _bits(MODEL[op](*args)))
    except Trap as trap:
        return ("error", trap.code)


def short(outcome: tuple[Any, ...]) -> tuple[str, Any]:
    return (outcome[0], outcome[1])


# -- each operation against the model ---------------------------------------------------------------------------------

EDGES = [
    (1.5, 2.25),
    (0.1, 0.2),
    (-0.0, 0.0),
    (0.0, -0.0),
    (-0.0, -0.0),
    (MAX, MAX),
    (-MAX, MAX),
    (MAX, 0.5),
    (1e308, 1e-10),
    (TINY, 2.0),
    (-7.5, 2.0),
    (7.5, -2.0),
    (-4.0, 2.0),
    (4.0, -2.0),
    (1.0, 0.0),
    (1.0, -0.0),
    (0.0, 0.0),
    (-1e-300, 1e300),
    (3.0, 3.0),
]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize(("x", "y"), EDGES)
def test_binary_ops_agree_with_python(op: str, x: float, y: float) -> None:
    assert short(run_all(binary(op), [x, y])) == model(op, x, y)


UNARY_EDGES = [0.0, -0.0, 1.5, -1.5, 2.5, -2.5, 0.5, -0.5, MAX, -MAX, TINY, 2.0**63, -(2.0**63), 2.0**63 - 1024, 1e19]


@pytest.mark.parametrize("op", TO_FLOAT + TO_INT)
@pytest.mark.parametrize("x", UNARY_EDGES)
def test_unary_ops_agree_with_python(op: str, x: float) -> None:
    result = "int" if op in TO_INT else "float"
    assert short(run_all(unary(op, "float", result), [x])) == model(op, x)


@given(op=st.sampled_from(BINARY), x=FLOATS, y=FLOATS)
@settings(max_examples=150, deadline=None)
def test_binary_ops_agree_with_python_everywhere(op: str, x: float, y: float) -> None:
    assert short(run_all(binary(op), [x, y])) == model(op, x, y)


@given(op=st.sampled_from(TO_FLOAT + TO_INT), x=FLOATS)
@settings(max_examples=150, deadline=None)
def test_unary_ops_agree_with_python_everywhere(op: str, x: float) -> None:
    result = "int" if op in TO_INT else "float"
    assert short(run_all(unary(op, "float", result), [x])) == model(op, x)


def test_signed_zeros_are_defined() -> None:
    assert short(run_all(binary("fmin"), [0.0, -0.0])) == ("ok", _bits(-0.0))
    assert short(run_all(binary("fmin"), [-0.0, 0.0])) == ("ok", _bits(-0.0))
    assert short(run_all(binary("fmax"), [-0.0, 0.0])) == ("ok", _bits(0.0))
    assert short(run_all(binary("fmax"), [0.0, -0.0])) == ("ok", _bits(0.0))
    assert short(run_all(binary("fmod"), [-0.0, 5.0])) == ("ok", _bits(0.0))  # a zero remainder has c's sign
    assert short(run_all(binary("fmod"), [4.0, -2.0])) == ("ok", _bits(-0.0))
    assert short(run_all(binary("fmod"), [-1.0, 3.0])) == ("ok", _bits(2.0))  # floor remainder, like Python
    assert short(run_all(unary("sqrt"), [-0.0])) == ("ok", _bits(-0.0))
    assert short(run_all(unary("fabs"), [-0.0])) == ("ok", _bits(0.0))
    assert short(run_all(unary("fneg"), [0.0])) == ("ok", _bits(-0.0))
    assert short(run_all(unary("round", "float", "int"), [-0.5])) == ("ok", 0)


@pytest.mark.parametrize(
    ("x", "expected"),
    [(0.5, 0), (1.5, 2), (2.5, 2), (-2.5, -2), (-3.5, -4), (2.0**63 - 1024, 2**63 - 1024), (-(2.0**63), I64_MIN)],
)
def test_round_is_half_to_even(x: float, expected: int) -> None:
    assert short(run_all(unary("round", "float", "int"), [x])) == ("ok", expected)


@pytest.mark.parametrize("op", TO_INT)
@pytest.mark.parametrize("x", [2.0**63, -(2.0**63) - 2048.0, MAX, -MAX, 1e19])
def test_to_int_outside_64_bits_traps_on_every_engine(op: str, x: float) -> None:
    outcome = run_all(unary(op, "float", "int"), [x])
    assert outcome[:2] == ("error", "runtime.float-range")
    assert outcome[3]["index"] == 0 and outcome[4] == 1
    assert repr(x) in outcome[2]


@pytest.mark.parametrize(
    ("op", "x", "y", "code"),
    [
        ("fadd", MAX, MAX, "runtime.float-nonfinite"),
        ("fsub", -MAX, MAX, "runtime.float-nonfinite"),
        ("fmul", 1e200, 1e200, "runtime.float-nonfinite"),
        ("fdiv", 1.0, TINY, "runtime.float-nonfinite"),
        ("fdiv", 1.0, 0.0, "runtime.division-by-zero"),
        ("fdiv", 0.0, -0.0, "runtime.division-by-zero"),
        ("fmod", 1.0, 0.0, "runtime.division-by-zero"),
        ("fmod", 1.0, -0.0, "runtime.division-by-zero"),
    ],
)
def test_float_traps_on_every_engine(op: str, x: float, y: float, code: str) -> None:
    # the trap is the second instruction: a count and location that differ between engines would show
    source = (
        ".func main export (float, float) -> float\n  .regs float\n"
        f"    fneg r2, r0\n    {op} r2, r0, r1\n    ret r2\n.end\n"
    )
    outcome = run_all(source, [x, y])
    assert outcome[:2] == ("error", code), outcome
    assert outcome[3]["index"] == 1 and outcome[4] == 2


def test_sqrt_of_a_negative_traps_on_every_engine() -> None:
    outcome = run_all(unary("sqrt"), [-TINY])
    assert outcome[:2] == ("error", "runtime.float-nonfinite")
    assert "sqrt of -5e-324" in outcome[2]


# -- conversions, text, comparisons, constants -------------------------------------------------------------------------


@given(x=st.integers(min_value=I64_MIN, max_value=I64_MAX))
@settings(max_examples=100, deadline=None)
def test_itof_is_pythons_float(x: int) -> None:
    assert short(run_all(unary("itof", "int", "float"), [x])) == ("ok", _bits(float(x)))


@given(x=FLOATS)
@settings(max_examples=100, deadline=None)
def test_tostr_is_repr_and_reads_back(x: float) -> None:
    outcome = run_all(unary("tostr", "float", "str"), [x])
    assert short(outcome) == ("ok", repr(x))
    assert float(outcome[1]).hex() == x.hex()


def test_tostr_examples() -> None:
    for x, text in [(-0.0, "-0.0"), (1e16, "1e+16"), (0.1, "0.1"), (1.0, "1.0"), (MAX, "1.7976931348623157e+308")]:
        assert short(run_all(unary("tostr", "float", "str"), [x])) == ("ok", text)


COMPARES = {"lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__", "eq": "__eq__", "ne": "__ne__"}


@pytest.mark.parametrize("op", sorted(COMPARES))
@pytest.mark.parametrize(("x", "y"), [(1.0, 2.0), (2.0, 1.0), (-0.0, 0.0), (MAX, MAX), (-MAX, TINY)])
def test_comparisons_take_floats(op: str, x: float, y: float) -> None:
    expected = getattr(x, COMPARES[op])(y)
    assert short(run_all(binary(op, "float", "float", "bool"), [x, y])) == ("ok", expected)


@pytest.mark.parametrize("op", ["lt", "eq"])
def test_compare_and_branch_on_floats(op: str) -> None:
    # a comparison followed by a branch is fused by the interpreter and the compiled engine
    source = (
        ".func main export (float, float) -> int\n  .regs bool, int\n"
        f"    {op} r2, r0, r1\n    jmpif r2, yes\n    loadk r3, 0\n    ret r3\n"
        "yes:\n    loadk r3, 1\n    ret r3\n.end\n"
    )
    assert short(run_all(source, [-0.0, 0.0])) == ("ok", 1 if op == "eq" else 0)
    assert short(run_all(source, [-1.0, 0.0])) == ("ok", 1 if op == "lt" else 0)


@given(items=st.lists(FLOATS, max_size=40))
@settings(max_examples=60, deadline=None)
def test_sort_of_floats_is_pythons_stable_sort(items: list[float]) -> None:
    source = ".func main export ([float]) -> [float]\n  .regs [float]\n    sort r1, r0\n    ret r1\n.end\n"
    assert short(run_all(source, [items])) == ("ok", _bits(sorted(items)))


def test_loadk_of_float_constants() -> None:
    source = (
        ".func main export () -> float\n  .regs float, float, float\n"
        "    loadk r0, 0\n    loadk r1, 1\n    fmul r2, r0, r1\n    ret r2\n.end\n"
    )
    assert run_all(source, [], constants=(2.5, -0.0)) == ("ok", _bits(-0.0), 4)


def test_float_parameters_and_results_cross_every_engine() -> None:
    source = ".func main export (float, [float]) -> [float]\n    push r1, r0\n    ret r1\n.end\n"
    assert short(run_all(source, [0.25, [1.5, -0.0]])) == ("ok", _bits([1.5, -0.0, 0.25]))


# -- parsefloat ------------------------------------------------------------------------------------------------------

GOOD_TEXT = ["0", "-0", "+1", "1.5", "-0.0", "1e3", "2.5E-3", "1e-400", "00012.50", "9" * 300, "1." + "0" * 300 + "1"]
BAD_TEXT = ["", " 1", "1 ", "1_0", "nan", "NaN", "inf", "-inf", "Infinity", "1.", ".5", "1e", "e5", "0x10", "١", "1,5"]


@pytest.mark.parametrize("text", GOOD_TEXT)
def test_parsefloat_reads_decimal_literals(text: str) -> None:
    assert short(run_all(unary("parsefloat", "str", "float"), [text])) == ("ok", _bits(float(text)))


@pytest.mark.parametrize("text", BAD_TEXT)
def test_parsefloat_refuses_everything_else(text: str) -> None:
    outcome = run_all(unary("parsefloat", "str", "float"), [text])
    assert outcome[:2] == ("error", "runtime.parse-float"), outcome
    assert outcome[4] == 1


@pytest.mark.parametrize("text", ["1e999", "-1e309", "9" * 400 + "e0" + "9" * 10])
def test_parsefloat_of_an_overflowing_text_is_nonfinite(text: str) -> None:
    outcome = run_all(unary("parsefloat", "str", "float"), [text])
    assert outcome[:2] == ("error", "runtime.float-nonfinite"), outcome


def test_parsefloat_pays_by_length() -> None:
    text = "1" * 160 + ".5"  # 162 characters: 10 units of fuel beyond the base charge
    outcome = run_all(unary("parsefloat", "str", "float"), [text])
    assert outcome == ("ok", _bits(float(text)), 1 + 10 + 1)
    stopped = run_all(unary("parsefloat", "str", "float"), [text], Limits(max_instructions=10))
    assert stopped[:2] == ("error", "limit.instructions")


# -- the verifier -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (binary("fadd", "int", "float"), "operand b must be float, found r0: int"),
        (binary("fadd", "float", "float", "int"), "operand a must be float, found r2: int"),
        (unary("itof", "float", "float"), "operand b must be int, found r0: float"),
        (unary("ftoi", "float", "float"), "operand a must be int, found r1: float"),
        (unary("parsefloat", "float", "float"), "operand b must be str"),
        (binary("lt", "float", "int", "bool"), "must agree on T"),
        (binary("add", "float", "float", "float"), "operand a must be int"),
    ],
)
def test_the_verifier_refuses_float_operands_of_the_wrong_type(source: str, message: str) -> None:
    with pytest.raises(VerifyError) as caught:
        verify(assemble(source))
    assert caught.value.code == "verify.register-type"
    assert message in str(caught.value)


def test_loadk_of_a_float_constant_needs_a_float_register() -> None:
    source = ".func main export () -> int\n  .regs int\n    loadk r0, 0\n    ret r0\n.end\n"
    module = assemble(source, (1.5,))
    with pytest.raises(VerifyError) as caught:
        verify(module)
    assert caught.value.code == "verify.register-type"
    assert "a float" in str(caught.value)


# -- random programs: every engine against plain Python -------------------------------------------------------------

_OPS = BINARY + TO_FLOAT + TO_INT + ("itof", "lt", "eq")


@st.composite
def programs(draw: st.DrawFn) -> tuple[list[tuple[str, int, int, int]], list[float], int]:
    """Straight-line code over float registers r0..r3 and int registers r4, r5 (r6: bool, r7: str, r8: text)."""
    steps = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        op = draw(st.sampled_from(_OPS))
        f = st.integers(min_value=0, max_value=3)
        if op in BINARY:
            steps.append((op, draw(f), draw(f), draw(f)))
        elif op in TO_FLOAT:
            steps.append((op, draw(f), draw(f), 0))
        elif op in TO_INT:
            steps.append((op, draw(st.integers(min_value=4, max_value=5)), draw(f), 0))
        elif op == "itof":
            steps.append((op, draw(f), draw(st.integers(min_value=4, max_value=5)), 0))
        else:
            steps.append((op, 6, draw(f), draw(f)))
    floats = draw(st.lists(FLOATS, min_size=4, max_size=4))
    return steps, floats, draw(st.integers(min_value=I64_MIN, max_value=I64_MAX))


def _source(steps: list[tuple[str, int, int, int]]) -> str:
    lines = [".func main export (float, float, float, float, int) -> str", "  .regs int, bool, str, str"]
    for op, a, b, c in steps:
        operands = f"r{a}, r{b}" if op not in BINARY and op not in ("lt", "eq") else f"r{a}, r{b}, r{c}"
        lines.append(f"    {op} {operands}")
    lines.append('    loadk r8, ""')
    for r in range(6):  # the text of every float and int register, so a difference in any of them shows
        lines.append(f"    tostr r7, r{r}")
        lines.append("    concat r8, r8, r7")
    lines += ["    ret r8", ".end", ""]
    return "\n".join(lines)


def _expected(steps: list[tuple[str, int, int, int]], floats: list[float], n: int) -> tuple[Any, ...]:
    regs: list[Any] = [*floats, n, 0, False]
    for count, (op, a, b, c) in enumerate(steps):
        try:
            if op in BINARY:
                regs[a] = MODEL[op](regs[b], regs[c])
            elif op == "itof":
                regs[a] = float(regs[b])
            elif op == "lt":
                regs[a] = regs[b] < regs[c]
            elif op == "eq":
                regs[a] = regs[b] == regs[c]
            else:
                regs[a] = MODEL[op](regs[b])
        except Trap as trap:
            return ("error", trap.code, count + 1)
    # r8 is a private string (issue 20, costs.private_strings): each append pays what it appends, and the string
    # is kept in pieces from the append that makes it 16 characters long on; `ret` joins it, paying its length.
    text, fuel, pieces = "", len(steps) + 1 + 12 + 1, False
    for value in regs[:6]:
        piece = repr(value)
        fuel += len(piece) >> 4  # the append's extra charge (cost model 2): one unit per 16 characters appended
        pieces = pieces or (bool(text) and len(text) + len(piece) >= 16)
        text += piece
    if pieces:
        fuel += len(text) >> 4  # the join at `ret`
    return ("ok", text, fuel)


@given(programs())
@settings(max_examples=200, deadline=None)
def test_random_float_programs_agree_on_every_engine_and_with_python(
    program: tuple[list[tuple[str, int, int, int]], list[float], int],
) -> None:
    steps, floats, n = program
    outcome = run_all(_source(steps), [*floats, n])
    expected = _expected(steps, floats, n)
    if expected[0] == "ok":
        assert outcome == expected
    else:
        assert (outcome[0], outcome[1], outcome[4]) == expected
        assert outcome[3]["index"] == expected[2] - 1


# -- the benchmark suite's dot product --------------------------------------------------------------------------------


def test_the_dot_product_benchmark_agrees_with_its_python() -> None:
    import importlib.util
    from pathlib import Path

    workloads = Path(__file__).resolve().parents[2] / "chronicle-cli" / "benchmarks" / "workloads"
    spec = importlib.util.spec_from_file_location("bench_programs", workloads / "programs.py")
    assert spec is not None and spec.loader is not None
    programs = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = programs  # its dataclasses look their module up
    spec.loader.exec_module(programs)
    chronicle_lang = pytest.importorskip("chronicle_lang")
    source = (workloads / "dot.chr").read_text(encoding="utf-8")
    verified = verify(chronicle_lang.compile_to_module(source, "dot.chr"))
    outcomes = {name: _outcome_of(engine, "dot", [1_500]) for name, engine in _engines(verified, Limits()).items()}
    assert set(outcomes.values()) == {("ok", _bits(programs.dot(1_500)))}


def _outcome_of(engine: Any, entry: str, args: list[Any]) -> tuple[Any, ...]:
    outcome = engine.call(entry, args)
    return ("ok", _bits(outcome.value))


@given(programs(), st.integers(min_value=1, max_value=40))
@settings(max_examples=100, deadline=None)
def test_random_float_programs_stop_at_the_same_instruction_on_every_engine(
    program: tuple[list[tuple[str, int, int, int]], list[float], int], budget: int
) -> None:
    steps, floats, n = program
    outcome = run_all(_source(steps), [*floats, n], Limits(max_instructions=budget))  # asserts the engines agree
    expected = _expected(steps, floats, n)
    if expected[0] == "error" and expected[2] <= budget:
        assert (outcome[1], outcome[4]) == (expected[1], expected[2])
    elif expected[0] == "ok" and expected[2] <= budget:
        assert outcome == expected
    else:
        assert outcome[1] == "limit.instructions"


def _looping_source(op: str) -> str:
    """A loop that applies `op` to an accumulator n times: jumps, fused compare-and-branch, prepaid segments."""
    return (
        ".func main export (float, float, int) -> float\n  .regs int, int, bool\n"
        "    loadk r3, 0\n    loadk r4, 1\n"
        "top:\n    lt r5, r3, r2\n    jmpifnot r5, out\n"
        f"    {op} r0, r0, r1\n    add r3, r3, r4\n    jmp top\n"
        "out:\n    ret r0\n.end\n"
    )


@given(op=st.sampled_from(("fadd", "fsub", "fmul", "fdiv", "fmod", "fmin", "fmax")), x=FLOATS, y=FLOATS)
@settings(max_examples=100, deadline=None)
def test_float_loops_agree_with_python(op: str, x: float, y: float) -> None:
    n = 30
    outcome = run_all(_looping_source(op), [x, y, n])
    acc, expected = x, None
    for i in range(n):
        found = model(op, acc, y)
        if found[0] == "error":
            expected = ("error", found[1], 2 + 5 * i + 3)  # the failing instruction's count
            break
        acc = MODEL[op](acc, y)
    if expected is None:
        assert outcome == ("ok", _bits(acc), 2 + 5 * n + 3)
    else:
        assert (outcome[0], outcome[1], outcome[4]) == expected


def _decimal_literal(text: str) -> bool:
    """docs/isa.md's parsefloat grammar by hand (no regex): sign? digits ('.' digits)? ([eE] sign? digits)?"""
    at = 0

    def digits() -> bool:
        nonlocal at
        start = at
        while at < len(text) and text[at] in "0123456789":
            at += 1
        return at > start

    if at < len(text) and text[at] in "+-":
        at += 1
    if not digits():
        return False
    if at < len(text) and text[at] == ".":
        at += 1
        if not digits():
            return False
    if at < len(text) and text[at] in "eE":
        at += 1
        if at < len(text) and text[at] in "+-":
            at += 1
        if not digits():
            return False
    return at == len(text)


@given(st.text(alphabet="0123456789.eE+-_ xni\u0663", max_size=12))
@settings(max_examples=300, deadline=None)
def test_parsefloat_accepts_exactly_the_documented_grammar(text: str) -> None:
    outcome = run_all(unary("parsefloat", "str", "float"), [text])
    if not _decimal_literal(text):
        assert outcome[:2] == ("error", "runtime.parse-float")
    elif math.isinf(float(text)):
        assert outcome[:2] == ("error", "runtime.float-nonfinite")
    else:
        assert short(outcome) == ("ok", _bits(float(text)))


def test_casm_float_literals_load_bit_for_bit() -> None:
    source = (
        ".func main export () -> [float]\n  .regs [float], float\n    newarr r0\n"
        + "".join(f"    loadk r1, {text}\n    push r0, r1\n" for text in ("-0.0", "0.1", "1e+16", "5e-324", "-2.5"))
        + "    ret r0\n.end\n"
    )
    module = assemble_text(source, "floats.casm")
    assert module.version == 2 and Module.from_bytes(module.to_bytes()) == module
    assert short(run_module(module, [])) == ("ok", _bits([-0.0, 0.1, 1e16, 5e-324, -2.5]))
