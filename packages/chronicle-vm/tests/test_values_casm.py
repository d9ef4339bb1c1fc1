"""`.casm` programs with maps and structs (#17): every engine, the same outcome, traps located, and the
disassembler's text assembling back to the same bytes."""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_asm import assemble_text, disassemble
from chronicle_vm.core.model import Module
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

WORDS = """
.const zero 0
.const one 1
.func main export ([str]) -> {str: int}
  .regs {str: int}, int, int, str, int, int, bool
    mapnew r1
    len r2, r0
    loadk r3, zero
    loadk r6, one
loop:
    lt r7, r3, r2
    jmpifnot r7, done
    getidx r4, r0, r3
    loadk r5, zero
    mapgetd r5, r1, r4
    add r5, r5, r6
    mapset r1, r4, r5
    add r3, r3, r6
    jmp loop
done:
    ret r1
.end
"""

SHAPES = """
.struct Point (x: int, y: int)
.struct Shape (name: str, corners: [Point], tags: {str: bool})
.const one 1
.const two 2
.const tri "tri"
.const big "big"
.func main export () -> Shape
  .regs Shape, str, [Point], {str: bool}, Point, int, int, bool
    loadk r1, tri
    newarr r2
    mapnew r3
    structnew r0, r1
    loadk r5, one
    loadk r6, two
    structnew r4, r5
    push r2, r4
    setfield r4, 0, r6            ; the same Point, seen through the array
    loadk r1, big
    loadb r7, 1
    mapset r3, r1, r7
    ret r0
.end
"""

ITERATE = """
.const zero 0
.const one 1
.func main export ({int: int}, bool) -> int
  .regs [int], int, int, int, int, int, int, bool
    mapkeys r2, r0
    mapstamp r3, r0
    loadk r4, zero
    loadk r8, one
    len r5, r2
loop:
    lt r9, r4, r5
    jmpifnot r9, done
    mapcheck r0, r3
    getidx r6, r2, r4
    mapget r7, r0, r6
    add r7, r7, r8
    jmpifnot r1, keep
    mapdel r0, r6                 ; the loop's next step traps
keep:
    add r4, r4, r8
    jmp loop
done:
    maplen r7, r0
    ret r7
.end
"""


def _engines(source: str, limits: Limits) -> dict[str, Any]:
    verified = verify(assemble_text(source, "values.casm"))
    return {
        "reference": Oracle(verified, limits),
        "fused": Interpreter(verified, limits),
        "unfused": Interpreter(verified, limits, superinstructions=False),
        "compiled": CompiledEngine(verified, limits),
    }


def run_all(source: str, args: list[Any], limits: Limits | None = None) -> tuple[Any, ...]:
    outcomes: dict[str, tuple[Any, ...]] = {}
    for name, engine in _engines(source, limits or Limits()).items():
        try:
            outcome = engine.call("main", list(args))
            outcomes[name] = ("ok", outcome.value, outcome.instructions)
        except ChronicleError as err:
            where = err.details.get("location")
            outcomes[name] = ("error", err.code, str(err), where, err.details.get("instructions"))
    first = outcomes["reference"]
    assert all(outcome == first for outcome in outcomes.values()), outcomes
    return first


def test_word_count() -> None:
    assert run_all(WORDS, [["b", "a", "b"]])[:2] == ("ok", {"b": 2, "a": 1})


def test_structs_hold_arrays_and_maps_by_reference() -> None:
    outcome = run_all(SHAPES, [])
    assert outcome[:2] == ("ok", ["tri", [[2, 2]], {"big": True}])


def test_iteration_and_its_trap() -> None:
    assert run_all(ITERATE, [{3: 1, 4: 2}, False])[:2] == ("ok", 2)
    outcome = run_all(ITERATE, [{3: 1, 4: 2}, True])
    assert outcome[:2] == ("error", "runtime.map-changed")
    assert outcome[3]["index"] == 7 and outcome[4] == 5 + 10 + 3  # set-up, one full iteration, the next check


@pytest.mark.parametrize("source", [WORDS, SHAPES, ITERATE])
def test_disassembly_assembles_to_the_same_bytes(source: str) -> None:
    module = assemble_text(source, "values.casm")
    data = module.to_bytes()
    assert Module.from_bytes(data) == module
    assert assemble_text(disassemble(module), "again.casm").to_bytes() == data
