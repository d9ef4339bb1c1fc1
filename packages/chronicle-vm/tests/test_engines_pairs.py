"""Every fusable pair in both operand orders, on every engine, against plain Python.

The fused interpreter turns `loadk t, K` + arithmetic into one superinstruction; for the
non-commutative `sub`, `div` and `mod` only the order `x OP K` may be fused.  These cases are
written out (no property), so a fusion that computes `x - K` for `K - x` fails on every run.
"""

from __future__ import annotations

import pytest

from chronicle_asm import assemble_text
from chronicle_vm.core.values import wrap_i64
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

_OPS = {
    "add": lambda x, y: wrap_i64(x + y),
    "sub": lambda x, y: wrap_i64(x - y),
    "mul": lambda x, y: wrap_i64(x * y),
    "div": lambda x, y: wrap_i64(x // y),
    "mod": lambda x, y: x % y,
}


def _module(op: str, constant: int, constant_first: bool) -> str:
    operands = "r2, r1, r0" if constant_first else "r2, r0, r1"
    return (
        ".func main export (int) -> int\n"
        "  .regs int, int\n"
        f"    loadk r1, {constant}\n"
        f"    {op} {operands}\n"
        "    ret r2\n"
        ".end\n"
    )


@pytest.mark.parametrize("op", sorted(_OPS))
@pytest.mark.parametrize("constant_first", [False, True], ids=["x-op-K", "K-op-x"])
@pytest.mark.parametrize(("constant", "x"), [(10, 3), (3, 10), (-7, 2), (2**63 - 1, -2), (5, -(2**63))])
def test_constant_pairs_agree_with_python(op: str, constant_first: bool, constant: int, x: int) -> None:
    verified = verify(assemble_text(_module(op, constant, constant_first), "pair.casm"))
    left, right = (constant, x) if constant_first else (x, constant)
    expected = _OPS[op](left, right)
    engines = {
        "reference": Oracle(verified, Limits()),
        "fused": Interpreter(verified, Limits()),
        "unfused": Interpreter(verified, Limits(), superinstructions=False),
        "compiled": CompiledEngine(verified, Limits()),
    }
    for name, engine in engines.items():
        outcome = engine.call("main", [x])
        assert (outcome.value, outcome.instructions) == (expected, 3), name


def test_a_label_named_like_a_function_is_still_a_label() -> None:
    # The assembler caches operands by kind and text: `f` the callee and `f` the label are different operands.
    source = (
        ".func f () -> int\n"
        "  .regs int\n"
        "    loadk r0, 1\n"
        "    ret r0\n"
        ".end\n"
        ".func main export () -> int\n"
        "  .regs int\n"
        "    call f, r0, r0\n"
        "    jmp f\n"
        "f:\n"
        "    ret r0\n"
        ".end\n"
    )
    verified = verify(assemble_text(source, "names.casm"))
    assert Interpreter(verified, Limits()).call("main", []).value == 1
