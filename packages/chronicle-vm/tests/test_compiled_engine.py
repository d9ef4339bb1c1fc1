"""Differential tests: the compiled engine against the reference interpreter on hand-built programs.

Every check runs both engines with fresh recording handlers and demands the
same outcome (value and instruction count) or the same error (class, code,
message and details, `location` and `stack` included), and the same
capability calls with the same arguments and call sites.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from chronicle_testing.verify_builders import every_opcode_module, fn, ins, module, positions
from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.model import Capability, Module
from chronicle_vm.core.types import BOOL, INT, STR, ValueType, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.engines import compiled
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter, RunOutcome
from chronicle_vm.errors import ChronicleError, PolicyError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.verifier.rules import verify

INT_ARRAY = array_type(INT.base, 1)
STR_ARRAY = array_type(STR.base, 1)

Handler = Callable[[Sequence[Value], CallSite], "Value | None"]
HandlerFactory = Callable[[list[tuple[Any, ...]]], Sequence["Handler | None"]]


def counter_handlers(log: list[tuple[Any, ...]]) -> Sequence[Handler | None]:
    """Capability 0 logs (no result), capability 1 answers a number derived from the call site."""

    def log_info(args: Sequence[Value], site: CallSite) -> None:
        log.append(("log", list(args), site))

    def clock(args: Sequence[Value], site: CallSite) -> int:
        log.append(("clock", list(args), site))
        return site.instructions * 7 + site.pc

    return (log_info, clock)


def outcome(engine: Interpreter | CompiledEngine, entry: str, args: Sequence[object]) -> tuple[str, Any]:
    try:
        result = engine.call(entry, args)
    except ChronicleError as exc:
        return "error", (type(exc), exc.code, exc.message, exc.details)
    return "ok", result


def same(
    mod: Module,
    entry: str,
    args: Sequence[object],
    limits: Limits = HARD_LIMITS,
    handlers: HandlerFactory | None = counter_handlers,
) -> tuple[str, Any]:
    """Run every engine; assert they agree on everything observable; give the reference outcome."""
    verified = verify(mod)
    reference_log: list[tuple[Any, ...]] = []
    fused_log: list[tuple[Any, ...]] = []
    compiled_log: list[tuple[Any, ...]] = []
    reference = Oracle(verified, limits, handlers(reference_log) if handlers else ())
    fused = Interpreter(verified, limits, handlers(fused_log) if handlers else ())
    fast = CompiledEngine(verified, limits, handlers(compiled_log) if handlers else ())
    expected = outcome(reference, entry, args)
    assert outcome(fused, entry, args) == expected
    got = outcome(fast, entry, args)
    assert got == expected
    assert compiled_log == reference_log
    assert fused_log == reference_log
    # A second call on the same engine starts afresh and agrees again.
    assert outcome(fast, entry, args)[0] == expected[0]
    return expected


def sum_module() -> Module:
    """sum(n) = sum of i*i mod 1000003 for i < n, a loop in two blocks."""
    code = (
        ins("loadk", 1, 0),
        ins("loadk", 2, 0),
        ins("loadk", 3, 1),
        ins("loadk", 6, 2),
        ins("lt", 4, 1, 0),  # 4
        ins("jmpifnot", 4, 11),
        ins("mul", 5, 1, 1),
        ins("add", 2, 2, 5),
        ins("mod", 2, 2, 6),
        ins("add", 1, 1, 3),
        ins("jmp", 4),
        ins("ret", 2),  # 11
    )
    regs = (INT, INT, INT, INT, BOOL, INT, INT)
    main = fn("main", code, registers=regs, params=1, result=INT, exported=True)
    return module(main, constants=(0, 1, 1000003), files=("sum.chr",), source=(positions(main),))


def fib_module() -> Module:
    """fib(n), recursive, with a capability call at each leaf."""
    code = (
        ins("loadk", 1, 0),
        ins("lt", 2, 0, 1),
        ins("jmpifnot", 2, 5),
        ins("capcall", 1, 0, 1),
        ins("ret", 0),
        ins("loadk", 1, 1),  # 5
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 4),
        ins("loadk", 1, 0),
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 5),
        ins("add", 4, 4, 5),
        ins("ret", 4),
    )
    regs = (INT, INT, BOOL, INT, INT, INT)
    main = fn("main", code, registers=regs, params=1, result=INT, exported=True)
    caps = (Capability("log.info", (STR,), None), Capability("clock.now", (), INT))
    return module(main, constants=(2, 1), capabilities=caps, files=("fib.chr",), source=(positions(main, 0, 3),))


def recursive_module() -> Module:
    """down(n): 0 when n <= 0, else down(n - 1) + now(); one capability call per level."""
    code = (
        ins("loadk", 1, 0),
        ins("le", 2, 0, 1),
        ins("jmpifnot", 2, 4),
        ins("ret", 1),
        ins("loadk", 1, 1),  # 4
        ins("sub", 3, 0, 1),
        ins("call", 0, 3, 4),
        ins("capcall", 1, 0, 5),
        ins("add", 4, 4, 5),
        ins("ret", 4),
    )
    regs = (INT, INT, BOOL, INT, INT, INT)
    main = fn("main", code, registers=regs, params=1, result=INT, exported=True)
    caps = (Capability("log.info", (STR,), None), Capability("clock.now", (), INT))
    return module(main, constants=(0, 1), capabilities=caps)


def test_sum_loop_agrees() -> None:
    kind, result = same(sum_module(), "main", [1000])
    assert kind == "ok"
    assert result == RunOutcome(sum(i * i for i in range(1000)) % 1000003, 4 + 7 * 1000 + 2 + 1)


def test_fib_agrees_with_capability_calls_at_the_leaves() -> None:
    kind, result = same(fib_module(), "main", [12])
    assert kind == "ok"
    assert result.value == 144


@pytest.mark.parametrize("n", [-5, 0, 1, 7, 2**40])
def test_every_opcode_module_agrees(n: int) -> None:
    same(every_opcode_module(), "main", [n])


def test_every_opcode_module_without_handlers_agrees() -> None:
    kind, error = same(every_opcode_module(), "main", [3], handlers=None)
    assert kind == "error"
    assert error[1] == "runtime.capability-unavailable"
    assert error[3]["location"] == {"function": "main", "index": 24, "file": "plugin.chr", "line": 25, "col": 1}


def test_helper_that_loops_forever_stops_at_the_limit() -> None:
    kind, error = same(every_opcode_module(), "helper", [], limits=Limits(max_instructions=1000))
    assert kind == "error"
    assert error[1] == "limit.instructions"
    assert error[3]["instructions"] == 1000


@pytest.mark.parametrize(("mod", "entry", "arg"), [(sum_module, "main", 6), (fib_module, "main", 6)])
def test_instruction_limit_is_exact_for_every_n(mod: Callable[[], Module], entry: str, arg: int) -> None:
    _, full = same(mod(), entry, [arg])
    for limit in range(full.instructions + 2):
        kind, result = same(mod(), entry, [arg], limits=Limits(max_instructions=limit))
        if limit >= full.instructions:
            assert kind == "ok"
            assert result == full
        else:
            assert kind == "error"
            assert result[1] == "limit.instructions"
            assert result[3]["instructions"] == limit


def test_instruction_limit_every_n_on_the_every_opcode_module() -> None:
    for n in (5, -3, 100):
        kind, full = same(every_opcode_module(), "main", [n])
        count = full.instructions if kind == "ok" else full[3]["instructions"]
        assert count > 5
        for limit in range(count + 1):
            kind, result = same(every_opcode_module(), "main", [n], limits=Limits(max_instructions=limit))
            if limit < count:
                assert result[1] == "limit.instructions"


def binary_module(mnemonic: str, out: ValueType, left: ValueType, right: ValueType) -> Module:
    main = fn(
        "main",
        (ins(mnemonic, 2, 0, 1), ins("ret", 2)),
        registers=(left, right, out),
        params=2,
        result=out,
        exported=True,
    )
    return module(main, files=("t.chr",), source=(positions(main),))


EDGES = [0, 1, -1, 7, -7, 2**63 - 1, -(2**63), 2**62, -(2**62) - 3]


@pytest.mark.parametrize("mnemonic", ["add", "sub", "mul", "div", "mod", "lt", "le", "gt", "ge", "eq", "ne"])
def test_integer_operations_at_the_edges(mnemonic: str) -> None:
    out = BOOL if mnemonic in ("lt", "le", "gt", "ge", "eq", "ne") else INT
    for left in EDGES:
        for right in EDGES:
            same(binary_module(mnemonic, out, INT, INT), "main", [left, right])


def test_neg_not_and_bool_equality() -> None:
    for value in EDGES:
        neg = fn("main", (ins("neg", 1, 0), ins("ret", 1)), registers=(INT, INT), params=1, result=INT, exported=True)
        assert same(module(neg), "main", [value])[0] == "ok"
    for flag in (True, False):
        not_ = fn(
            "main", (ins("not", 1, 0), ins("ret", 1)), registers=(BOOL, BOOL), params=1, result=BOOL, exported=True
        )
        assert same(module(not_), "main", [flag]) == ("ok", RunOutcome(not flag, 2))
        assert same(binary_module("ne", BOOL, BOOL, BOOL), "main", [flag, True])[0] == "ok"


STRINGS = ["", "a", "abc", " x y ", "12", "-9223372036854775808", "9223372036854775808", "ß", "a,b,,c", ","]


@pytest.mark.parametrize(
    ("mnemonic", "out", "right"),
    [
        ("concat", STR, STR),
        ("contains", BOOL, STR),
        ("find", INT, STR),
        ("split", STR_ARRAY, STR),
        ("eq", BOOL, STR),
    ],
)
def test_two_string_operations(mnemonic: str, out: ValueType, right: ValueType) -> None:
    for left in STRINGS:
        for other in STRINGS:
            same(binary_module(mnemonic, out, STR, right), "main", [left, other])


@pytest.mark.parametrize("mnemonic", ["upper", "lower", "trim", "parseint", "tostr", "len"])
def test_one_string_operations(mnemonic: str) -> None:
    out = INT if mnemonic in ("parseint", "len") else STR
    main = fn("main", (ins(mnemonic, 1, 0), ins("ret", 1)), registers=(STR, out), params=1, result=out, exported=True)
    for text in STRINGS:
        same(module(main, files=("s.chr",), source=(positions(main),)), "main", [text])


def test_tostr_of_ints_and_bools() -> None:
    for vtype, values in ((INT, EDGES), (BOOL, [True, False])):
        main = fn(
            "main", (ins("tostr", 1, 0), ins("ret", 1)), registers=(vtype, STR), params=1, result=STR, exported=True
        )
        for value in values:
            same(module(main), "main", [value])


def test_slice_repeat_charat_join() -> None:
    slice_ = fn(
        "main",
        (ins("slice", 3, 0, 1), ins("ret", 3)),
        registers=(STR, INT, INT, STR),
        params=3,
        result=STR,
        exported=True,
    )
    for lo in (-3, 0, 1, 2, 10):
        for hi in (-1, 0, 2, 3, 99):
            same(module(slice_), "main", ["hello", lo, hi])
    for times in (-2, 0, 1, 3, 2**40):
        same(binary_module("repeat", STR, STR, INT), "main", ["ab", times], limits=Limits(max_string_len=100))
    for index in (-1, 0, 2, 3):
        same(binary_module("charat", STR, STR, INT), "main", ["abc", index])
    for items in ([], ["a"], ["a", "b", "c"], ["x" * 60, "y" * 60]):
        same(binary_module("join", STR, STR_ARRAY, STR), "main", [items, "--"], limits=Limits(max_string_len=100))


def array_module() -> Module:
    """main(n, i, j): push 0..n-1, set a[i] = 7, pop, return a[j]."""
    code = (
        ins("newarr", 3),
        ins("loadk", 4, 0),
        ins("loadk", 5, 1),
        ins("lt", 6, 4, 0),  # 3
        ins("jmpifnot", 6, 8),
        ins("push", 3, 4),
        ins("add", 4, 4, 5),
        ins("jmp", 3),
        ins("loadk", 7, 2),  # 8
        ins("setidx", 3, 1, 7),
        ins("pop", 7, 3),
        ins("getidx", 7, 3, 2),
        ins("len", 4, 3),
        ins("add", 7, 7, 4),
        ins("ret", 7),
    )
    regs = (INT, INT, INT, INT_ARRAY, INT, INT, BOOL, INT)
    main = fn("main", code, registers=regs, params=3, result=INT, exported=True)
    return module(main, constants=(0, 1, 7), files=("arr.chr",), source=(positions(main),))


@pytest.mark.parametrize(
    ("n", "i", "j"), [(5, 1, 2), (5, 5, 0), (5, -1, 0), (5, 0, 4), (5, 0, -1), (0, 0, 0), (1, 0, 0)]
)
def test_arrays_push_set_pop_get_and_their_traps(n: int, i: int, j: int) -> None:
    same(array_module(), "main", [n, i, j])


def test_array_and_allocation_limits() -> None:
    same(array_module(), "main", [50, 0, 0], limits=Limits(max_array_len=10))
    same(array_module(), "main", [50, 0, 0], limits=Limits(max_allocation=20))
    same(array_module(), "main", [5, 0, 0], limits=Limits(max_allocation=0))


def doubling_module() -> Module:
    code = (
        ins("loadk", 0, 0),
        ins("concat", 0, 0, 0),  # 1
        ins("tostr", 1, 0),
        ins("jmp", 1),
    )
    main = fn("main", code, registers=(STR, STR), result=STR, exported=True)
    return module(main, constants=("ab",))


def test_string_limits() -> None:
    same(doubling_module(), "main", [], limits=Limits(max_string_len=1000))
    same(doubling_module(), "main", [], limits=Limits(max_allocation=5000))
    same(doubling_module(), "main", [], limits=Limits(max_instructions=17))


def test_trap_instruction_and_division_by_zero_report_the_stack() -> None:
    inner = fn(
        "inner",
        (ins("div", 2, 0, 1), ins("mod", 2, 0, 1), ins("trap", 0)),
        registers=(INT, INT, INT),
        params=2,
        result=INT,
    )
    outer = fn(
        "main",
        (ins("call", 1, 0, 2), ins("ret", 2)),
        registers=(INT, INT, INT),
        params=2,
        result=INT,
        exported=True,
    )
    mod = module(
        outer, inner, constants=("boom",), files=("a.chr", "b.chr"), source=(positions(outer), positions(inner, 1, 20))
    )
    _kind, error = same(mod, "main", [7, 0])
    assert error[1] == "runtime.division-by-zero"
    assert error[3]["stack"] == [
        {"function": "main", "index": 0, "file": "a.chr", "line": 1, "col": 1},
        {"function": "inner", "index": 0, "file": "b.chr", "line": 20, "col": 1},
    ]
    _kind, error = same(mod, "main", [7, 2])
    assert error[1] == "runtime.trap"
    assert error[3]["trap"] == "boom"


def test_call_depth_registers_and_stack_register_limits() -> None:
    same(recursive_module(), "main", [50], limits=Limits(max_call_depth=20))
    same(recursive_module(), "main", [50], limits=Limits(max_call_depth=51))
    same(recursive_module(), "main", [50], limits=Limits(max_call_depth=52))
    same(recursive_module(), "main", [50], limits=Limits(max_stack_registers=6 * 30))
    same(recursive_module(), "main", [50], limits=Limits(max_registers=5))
    same(recursive_module(), "main", [50], limits=Limits(max_call_depth=0))


def test_deep_recursion_on_both_engines() -> None:
    limits = Limits(max_call_depth=100_000, max_instructions=10**9)
    kind, result = same(recursive_module(), "main", [5000], limits=limits)
    assert kind == "ok"
    assert result.instructions == 5000 * 9 + 4
    kind, error = same(recursive_module(), "main", [5000], limits=Limits(max_call_depth=4000))
    assert error[1] == "limit.call-depth"


def test_deep_recursion_calls_each_live_handler_once() -> None:
    calls: list[int] = []

    def clock(args: Sequence[Value], site: CallSite) -> int:
        calls.append(site.instructions)
        return len(calls)

    verified = verify(recursive_module())
    engine = CompiledEngine(verified, Limits(max_call_depth=100_000), (None, clock))
    result = engine.call("main", [3000])
    assert result.value == sum(range(1, 3001))
    assert len(calls) == 3000
    assert len(set(calls)) == 3000


def test_handler_errors_gain_location_and_other_exceptions_pass_through() -> None:
    def refusing(log: list[tuple[Any, ...]]) -> Sequence[Handler | None]:
        def clock(args: Sequence[Value], site: CallSite) -> int:
            log.append(("clock", site))
            raise PolicyError("policy.quota", "quota exhausted")

        return (None, clock)

    _kind, error = same(fib_module(), "main", [5], handlers=refusing)
    assert error[1] == "policy.quota"
    assert error[3]["location"] == {"function": "main", "index": 3, "file": "fib.chr", "line": 6, "col": 1}
    assert len(error[3]["stack"]) == 5

    def broken(args: Sequence[Value], site: CallSite) -> int:
        raise KeyError("host bug")

    verified = verify(fib_module())
    with pytest.raises(KeyError):
        CompiledEngine(verified, HARD_LIMITS, (None, broken)).call("main", [3])


def test_handlers_returning_strings_and_lists_are_charged() -> None:
    def giving(log: list[tuple[Any, ...]]) -> Sequence[Handler | None]:
        def text(args: Sequence[Value], site: CallSite) -> str:
            log.append(("text", site))
            return "x" * 40

        return (text,)

    code = (ins("capcall", 0, 0, 0), ins("capcall", 0, 0, 0), ins("ret", 0))
    main = fn("main", code, registers=(STR,), result=STR, exported=True)
    mod = module(main, capabilities=(Capability("host.text", (), STR),))
    assert same(mod, "main", [], handlers=giving)[0] == "ok"
    assert same(mod, "main", [], limits=Limits(max_allocation=50), handlers=giving)[0] == "error"


def test_usage_errors_are_the_same() -> None:
    verified = verify(sum_module())
    for engine in (Interpreter(verified, HARD_LIMITS), CompiledEngine(verified, HARD_LIMITS)):
        with pytest.raises(ChronicleError) as unknown:
            engine.call("nope", [])
        assert unknown.value.code == "usage.unknown-entry"
        with pytest.raises(ChronicleError) as bad:
            engine.call("main", ["x"])
        assert bad.value.code == "usage.bad-arguments"
    same(sum_module(), "main", [2**70 if False else 5], limits=Limits(max_allocation=0))


def test_too_large_functions_fall_back_to_the_reference_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled, "MAX_TRANSLATED_INSTRUCTIONS", 5)
    verified = verify(fib_module())
    engine = CompiledEngine(verified, HARD_LIMITS, counter_handlers([]))
    assert engine.call("main", [10]) == Interpreter(verified, HARD_LIMITS, counter_handlers([])).call("main", [10])
    assert 0 in engine._uncompilable


def test_huge_function_with_thousands_of_registers_and_arms() -> None:
    # 1,500 blocks, each `r_i = r_(i-1) + r_0; if r_i > 0 goto the previous block`, and 1,500 int registers: translated.
    blocks = 1500
    code = [ins("loadk", 1, 0)]
    regs: list[ValueType] = [INT, INT, BOOL]
    for i in range(blocks):
        reg = 3 + i
        regs.append(INT)
        code.append(ins("add", reg, 1 if i == 0 else reg - 1, 0))
        code.append(ins("gt", 2, reg, 0))
        code.append(ins("jmpif", 2, 1 + 3 * (i - 1) if i else 0))  # back to the previous block: 1,500 arms
    code.append(ins("ret", 3 + blocks - 1))
    main = fn("main", code, registers=regs, params=1, result=INT, exported=True)
    mod = module(main, constants=(0,))
    assert same(mod, "main", [-1])[0] == "ok"
    assert same(mod, "main", [1], limits=Limits(max_instructions=50_000))[1][1] == "limit.instructions"
    engine = CompiledEngine(verify(mod), HARD_LIMITS)
    engine.call("main", [-1])
    assert list(engine._compiled) == [0]
    assert 0 not in engine._uncompilable
    assert "if blk < " in engine.translated_source(0)  # the tree dispatch


def test_reentrant_call_from_a_handler() -> None:
    verified = verify(fib_module())
    holder: list[CompiledEngine] = []

    def clock(args: Sequence[Value], site: CallSite) -> int:
        return holder[0].call("main", [1]).value if site.instructions < 10 else 0  # type: ignore[return-value]

    engine = CompiledEngine(verified, HARD_LIMITS, (None, clock))
    holder.append(engine)
    reference = Interpreter(verified, HARD_LIMITS, (None, clock))
    assert engine.call("main", [6]) == reference.call("main", [6])


HOSTILE = ["'); import os; os.system('echo pwned') #", '"""', "\\", "\n", "__import__('os')", "k0", "F0"]


def test_generated_source_holds_no_module_supplied_text() -> None:
    code = [ins("loadk", 1, i) for i in range(len(HOSTILE))] + [ins("trap", 0)]
    main = fn("main", code, registers=(INT, STR), exported=True)
    mod = module(main, constants=HOSTILE, capabilities=(Capability("os.system", (STR,), None),))
    verified = verify(mod)
    engine = CompiledEngine(verified, HARD_LIMITS)
    source = engine.translated_source(0)
    for text in (HOSTILE[0], HOSTILE[1], HOSTILE[4], "\\"):
        assert text not in source
    assert "os." not in source
    _kind, error = same(mod, "main", [])
    assert error[3]["trap"] == HOSTILE[0]


@pytest.mark.parametrize("mnemonic", ["add", "sub", "mul", "div", "mod"])
@pytest.mark.parametrize("constant", [0, 1, -1, 2, -2, 2**63 - 1, -(2**63)])
def test_arithmetic_with_a_constant_loaded_in_the_same_segment(mnemonic: str, constant: int) -> None:
    # The engine picks cheaper overflow and zero checks from a known constant's sign; every edge must still wrap.
    main = fn(
        "main",
        (ins("loadk", 1, 0), ins(mnemonic, 2, 0, 1), ins(mnemonic, 2, 2, 1), ins("ret", 2)),
        registers=(INT, INT, INT),
        params=1,
        result=INT,
        exported=True,
    )
    mod = module(main, constants=(constant,), files=("k.chr",), source=(positions(main),))
    for value in EDGES:
        same(mod, "main", [value])


@pytest.mark.parametrize("error", [RecursionError, SyntaxError, MemoryError])
def test_functions_pythons_compiler_refuses_run_on_the_reference_interpreter(
    monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise error("refused")

    monkeypatch.setattr(compiled, "compile", refuse, raising=False)
    verified = verify(fib_module())
    log: list[tuple[Any, ...]] = []
    engine = CompiledEngine(verified, Limits(max_instructions=500), counter_handlers(log))
    reference_log: list[tuple[Any, ...]] = []
    reference = Interpreter(verified, Limits(max_instructions=500), counter_handlers(reference_log))
    assert outcome(engine, "main", [8]) == outcome(reference, "main", [8])
    assert log == reference_log
    assert 0 in engine._uncompilable


def test_translation_beyond_the_runs_budget_goes_to_the_reference_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    # Translation is not metered by max_instructions: a run that would translate more than its budget
    # (a base plus a share of what it executed) runs on the reference interpreter instead.
    monkeypatch.setattr(compiled, "TRANSLATION_BUDGET", 5)
    verified = verify(fib_module())
    log: list[tuple[Any, ...]] = []
    engine = CompiledEngine(verified, HARD_LIMITS, counter_handlers(log))
    reference_log: list[tuple[Any, ...]] = []
    reference = Interpreter(verified, HARD_LIMITS, counter_handlers(reference_log))
    assert outcome(engine, "main", [9]) == outcome(reference, "main", [9])
    assert log == reference_log
    assert engine._compiled == {}
    monkeypatch.setattr(compiled, "TRANSLATION_BUDGET", 13)
    assert outcome(engine, "main", [9]) == outcome(reference, "main", [9])
    assert list(engine._compiled) == [0]
