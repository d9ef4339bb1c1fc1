"""`.chr` programs with maps and structs (#17) compiled by chronicle_lang: every engine, one outcome, traps at the
`.chr` line (the language's lowering of `for k, v in m` meets the map iteration check)."""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

chronicle_lang = pytest.importorskip("chronicle_lang")

SOURCE = """struct P { x: int, y: int }
pub fn main(n: int) -> int {
    let m: {str: int} = {};
    m["a"] = 1;
    m["b"] = 2;
    let t = 0;
    for k, v in m {
        t = t + v;
        if n > 0 { m["c"] = 3; }
    }
    let p = P { x: 1, y: 2 };
    p.x = 5;
    return t + p.x + get(m, "z", 10);
}
"""


def run_all(args: list[Any]) -> tuple[Any, ...]:
    verified = verify(chronicle_lang.compile_to_module(SOURCE, "values.chr"))
    limits = Limits()
    engines = {
        "reference": Oracle(verified, limits),
        "fused": Interpreter(verified, limits),
        "unfused": Interpreter(verified, limits, superinstructions=False),
        "compiled": CompiledEngine(verified, limits),
    }
    outcomes: dict[str, tuple[Any, ...]] = {}
    for name, engine in engines.items():
        try:
            outcome = engine.call("main", list(args))
            outcomes[name] = ("ok", outcome.value, outcome.instructions)
        except ChronicleError as err:
            outcomes[name] = ("error", err.code, str(err), err.details.get("location"), err.details.get("instructions"))
    first = outcomes["reference"]
    assert all(outcome == first for outcome in outcomes.values()), outcomes
    return first


def test_iteration_without_changes() -> None:
    assert run_all([0])[:2] == ("ok", 3 + 5 + 10)


def test_adding_a_key_while_iterating_traps_at_the_loop_on_every_engine() -> None:
    outcome = run_all([1])
    assert outcome[:2] == ("error", "runtime.map-changed")
    assert outcome[3]["file"] == "values.chr" and outcome[3]["line"] == 7
