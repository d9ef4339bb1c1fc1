"""Cost model 2: each instruction's fuel by its work, identical on both engines, the stop exact to the unit.

The expected charges below are worked out by hand from docs/isa.md's cost
table (1 per instruction, plus characters // 16 for the variable ones), not
from chronicle_vm.engines.costs, so a change of formula in the code shows here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Module
from chronicle_vm.core.types import BOOL, INT, STR, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.verifier.rules import verify

STRS = array_type(STR.base, 1)
INTS = array_type(INT.base, 1)
INTS2 = array_type(INT.base, 2)

TEXT = "ab" * 400  # 800 characters
NEEDLE = "b" * 20

# (instruction, its fuel): r0 str, r1 str, r2 int, r3 bool, r4 str, r5 str, r6 [str], r7 int, r8 int
STRING_PROGRAM: tuple[tuple[Any, int], ...] = (
    (ins("loadk", 0, 0), 1),  # r0 = TEXT
    (ins("loadk", 1, 1), 1),  # r1 = NEEDLE
    (ins("find", 2, 0, 1), 1 + 820 // 16),
    (ins("contains", 3, 0, 1), 1 + 820 // 16),
    (ins("eq", 3, 0, 0), 1 + 800 // 16),
    (ins("ne", 3, 0, 1), 1),  # different lengths: no scan
    (ins("concat", 4, 0, 1), 1 + 820 // 16),
    (ins("upper", 4, 4), 1 + 820 // 16),
    (ins("lower", 4, 4), 1 + 820 // 16),
    (ins("trim", 4, 4), 1 + 820 // 16),
    (ins("loadk", 5, 3), 1),  # r5 = ","
    (ins("split", 6, 4, 5), 1 + 2 * 820 // 16),
    (ins("join", 4, 6, 5), 1 + (1 + 820) // 16),
    (ins("loadk", 2, 2), 1),  # r2 = 3
    (ins("repeat", 4, 0, 2), 1 + 2400 // 16),
    (ins("loadk", 7, 4), 1),  # r7 = 100
    (ins("loadk", 8, 5), 1),  # r8 = 1000
    (ins("slice", 4, 4, 7), 1 + 900 // 16),
    (ins("tostr", 5, 2), 1),
    (ins("len", 2, 4), 1),
    (ins("parseint", 2, 0), 1 + 800 // 16),  # traps (not decimal) after paying
)


def string_module() -> Module:
    code = [instruction for instruction, _ in STRING_PROGRAM] + [ins("ret", 2)]
    registers = (STR, STR, INT, BOOL, STR, STR, STRS, INT, INT)
    main = fn("main", code, registers=registers, result=INT, exported=True)
    return module(main, constants=(TEXT, NEEDLE, 3, ",", 100, 1000))


def outcome(engine: Interpreter | CompiledEngine, args: Sequence[object] = ()) -> tuple[str, Any]:
    try:
        return "ok", engine.call("main", list(args))
    except ChronicleError as exc:
        return "error", (exc.code, exc.message, exc.details)


def engines(mod: Module, limits: Limits, handlers: Sequence[Any] = ()) -> list[Oracle | Interpreter | CompiledEngine]:
    verified = verify(mod)
    return [
        Oracle(verified, limits, handlers),
        Interpreter(verified, limits, handlers),
        Interpreter(verified, limits, handlers, superinstructions=False),
        CompiledEngine(verified, limits, handlers),
    ]


def agreed(mod: Module, limits: Limits, args: Sequence[object] = (), handlers: Sequence[Any] = ()) -> tuple[str, Any]:
    results = [outcome(engine, args) for engine in engines(mod, limits, handlers)]
    for result in results[1:]:
        assert result == results[0]
    return results[0]


def test_each_string_instruction_pays_for_its_characters() -> None:
    kind, error = agreed(string_module(), HARD_LIMITS)
    assert kind == "error"
    code, _message, details = error
    assert code == "runtime.parse-int"
    assert details["instructions"] == sum(cost for _, cost in STRING_PROGRAM)
    assert details["location"]["index"] == len(STRING_PROGRAM) - 1


def test_the_stop_is_exact_to_the_unit_on_every_engine() -> None:
    """At every budget the run stops before the first instruction it cannot pay in full, with the fuel spent."""
    mod = string_module()
    total = sum(cost for _, cost in STRING_PROGRAM)
    starts = [sum(cost for _, cost in STRING_PROGRAM[:i]) for i in range(len(STRING_PROGRAM))]
    for limit in range(total + 2):
        kind, result = agreed(mod, Limits(max_instructions=limit))
        assert kind == "error"
        code, _message, details = result
        if limit >= total:
            assert code == "runtime.parse-int"
            continue
        assert code == "limit.instructions"
        # The stopped instruction is the first whose whole cost does not fit.
        index = next(i for i, start in enumerate(starts) if start + STRING_PROGRAM[i][1] > limit)
        assert details["location"]["index"] == index
        assert details["instructions"] == (limit if starts[index] == limit else starts[index])


def test_short_strings_cost_what_they_did_under_cost_model_1() -> None:
    code = [ins("loadk", 0, 0), ins("concat", 3, 0, 0), ins("find", 1, 0, 0), ins("eq", 2, 3, 3), ins("ret", 1)]
    main = fn("main", code, registers=(STR, INT, BOOL, STR), result=INT, exported=True)
    kind, result = agreed(module(main, constants=("abcdefg",)), HARD_LIMITS)
    assert kind == "ok"
    assert result.instructions == 5


def aliasing_module(with_call: bool) -> Module:
    """main(n, m): an array holding the same m-item array n times, passed to host.take (or not), then returned."""
    code = [
        ins("newarr", 2),
        ins("newarr", 3),
        ins("loadk", 4, 0),
        ins("loadk", 5, 1),
        ins("lt", 6, 4, 1),  # 4: i < m
        ins("jmpifnot", 6, 9),
        ins("push", 2, 4),
        ins("add", 4, 4, 5),
        ins("jmp", 4),
        ins("loadk", 4, 0),  # 9
        ins("lt", 6, 4, 0),  # 10: i < n
        ins("jmpifnot", 6, 15),
        ins("push", 3, 2),
        ins("add", 4, 4, 5),
        ins("jmp", 10),
        ins("capcall", 0, 3, 0) if with_call else ins("nop"),  # 15
        ins("ret", 3),
    ]
    registers = (INT, INT, INTS, INTS2, INT, INT, BOOL)
    main = fn("main", code, registers=registers, params=2, result=INTS2, exported=True)
    take = Capability("host.take", (INTS2,), None)
    return module(main, constants=(0, 1), capabilities=(take,))


def taking(log: list[CallSite]) -> list[Any]:
    def take(args: Sequence[Value], site: CallSite) -> None:
        log.append(site)

    return [take]


def test_a_capability_call_pays_for_its_arguments_counted_as_a_tree() -> None:
    n = m = 40
    plain_log: list[CallSite] = []
    kind, plain = agreed(aliasing_module(False), HARD_LIMITS, [n, m], taking(plain_log))
    log: list[CallSite] = []
    kind, called = agreed(aliasing_module(True), HARD_LIMITS, [n, m], taking(log))
    assert kind == "ok" and called.value == [list(range(m))] * n
    # 4 engines, one call each; the count at the call includes the export charge (n + n * m items) // 16.
    assert len(log) == 4 and len(plain_log) == 0
    assert called.instructions == plain.instructions + (n + n * m) // 16
    assert log[0].instructions == called.instructions - 1


@pytest.mark.parametrize("with_call", [True, False])
def test_an_aliased_array_leaving_the_vm_is_a_limit_error_in_bounded_time(with_call: bool) -> None:
    n = m = 10_000  # 20,000 items built; 100,010,000 as a tree, over the default max_allocation
    log: list[CallSite] = []
    started = time.perf_counter()
    kind, error = agreed(aliasing_module(with_call), Limits(), [n, m], taking(log))
    elapsed = time.perf_counter() - started
    assert kind == "error"
    code, message, details = error
    assert code == "limit.allocation"
    assert "as a tree" in message
    assert details["location"]["index"] == (15 if with_call else 16)
    assert not log
    assert elapsed < 20  # three engines (one re-run on the reference interpreter): well under a second each


LOGGING = """
cap log.info(msg: str);
pub fn main(n: int) -> int {
    let s = repeat("ab", n);
    let i = 0;
    while i < 5 {
        log.info(s + str(i));
        i = i + 1;
    }
    return find(s, "ba" + repeat("b", 20));
}
"""


def test_traces_record_cost_model_2_and_replay_on_either_engine() -> None:
    from chronicle_lang import compile_to_module
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.replay import replay

    data = compile_to_module(LOGGING, "logging.chr").to_bytes()
    host = Host()
    host.register("log.info", lambda msg: None, params=(STR,), result=None)
    policy = Policy.from_toml('version = 1\n[capabilities."log.info"]\nallow = true\n')
    traces = []
    for engine in ("reference", "compiled"):
        instance = instantiate(load_module(data), host=host, policy=policy, engine=engine, trace=True)
        result = instance.call("main", 300)
        assert result.trace is not None
        traces.append(result.trace.to_json())
        assert result.trace.provenance["cost_model"] == 2
    assert traces[0] == traces[1]  # the same bytes from either engine
    for engine in ("reference", "compiled"):
        assert replay(traces[0], data, engine=engine).exact
    total = instantiate(load_module(data), host=host, policy=policy).call("main", 300).instructions
    assert total > 400  # five 601-character messages and a 622-character find: mostly extra charges
    for limit in range(0, total, 7):  # stops inside every kind of charge; each stopped trace replays exactly
        for engine in ("reference", "compiled"):
            instance = instantiate(
                load_module(data),
                host=host,
                policy=policy,
                engine=engine,
                trace=True,
                limits=Limits(max_instructions=limit),
            )
            with pytest.raises(ChronicleError) as stopped:
                instance.call("main", 300)
            assert stopped.value.code == "limit.instructions"
            stopped_trace = getattr(stopped.value, "trace", None)
            assert stopped_trace is not None
            assert replay(stopped_trace.to_json(), data, engine="reference").exact
