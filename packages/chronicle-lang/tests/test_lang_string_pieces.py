"""Private strings kept in pieces (issue 20): bad inputs, limits, and no piece ever seen outside the private rules.

Each program runs on every engine (the reference interpreter, the fused one with and without superinstructions,
the compiled one) and the outcomes must be the same: value, error code, location and instruction count.  The
limit sweeps stop runs inside appends, joins and comparisons, so that each limit is seen to stop every engine at
the same instruction with the same count.  The escape checks run the programs with the reference interpreter's
steps wrapped: before every instruction that is not an append, `len`, comparison or `ret` of a private register,
none of the registers it touches may hold a costs.Pieces, and after every instruction only private registers may.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_lang import compile_to_module
from chronicle_testing.lang_run import ENGINES, run_chr
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Module
from chronicle_vm.engines import oracle
from chronicle_vm.engines.costs import STR_WORDS, WORD, Pieces, _touched, private_strings
from chronicle_vm.limits import Limits

PROGRAMS = """
cap log.info(msg: str);
fn make(n: int) -> str {
    let s = "";
    for i in 0..n { s = s + "ab"; }
    return s;
}
pub fn returned(n: int) -> int {
    let t = make(n);
    let u = t + "!";
    log.info(t);
    let total = 0;
    for k in 0..3 { total = total + len(make(n + k)); }
    return len(u) + total + len(make(3));
}
pub fn doubled(n: int) -> int {
    let s = "";
    s = s + "ab";
    for i in 0..n { s = s + s; }
    return len(s);
}
pub fn mixed(n: int) -> int {
    let s = "";
    for i in 0..n { s = s + "xyz"; s = s + s; s = s + "q"; }
    return len(s);
}
pub fn compared(n: int) -> int {
    let s = "";
    let hits = 0;
    while len(s) < n {
        s = s + "x";
        if s == "xxxxxxxxxxxxxxxxxxxx" { hits = hits + 1; }
        if s < "y" { hits = hits + 1; }
    }
    return hits;
}
pub fn both(n: int) -> bool {
    let s = "";
    let t = "";
    for i in 0..n { s = s + "a"; t = t + "a"; }
    return s == t && s >= t && s == s;
}
pub fn reloaded(n: int) -> int {
    let total = 0;
    for i in 0..n {
        let w = "";
        for j in 0..20 { w = w + "y"; }
        if w == "yyyyyyyyyyyyyyyyyyyy" { total = total + len(w); }
    }
    return total;
}
pub fn text(n: int) -> str {
    let s = "";
    for i in 0..n { s = s + str(i % 10); s = s + ","; s = s + ""; }
    return s;
}
pub fn aliased(n: int) -> int {
    let s = "";
    let kept: [str] = [""];
    for i in 0..n { s = s + "x"; kept[0] = s; }
    return len(kept[0]);
}
"""

CASES = [
    ("returned", [40]),
    ("doubled", [12]),
    ("mixed", [6]),
    ("compared", [300]),
    ("both", [100]),
    ("reloaded", [50]),
    ("text", [200]),
    ("aliased", [300]),
]


def _outcome(source: str, entry: str, args: list[object], limits: Limits | None, engine: str) -> tuple[Any, ...]:
    report = run_chr(source, entry, args, limits=limits, engine=engine)
    error = report.error
    if error is not None:
        assert "Pieces" not in str(error) and "Pieces" not in repr(error.details), error
    assert type(report.value) is not Pieces and "Pieces" not in repr(report.value)
    assert all("Pieces" not in line for line in report.host.logs)
    return (
        report.value,
        None if error is None else error.code,
        None if error is None else str(error.details.get("location")),
        report.instructions if error is None else error.details.get("instructions"),
        tuple(report.host.logs),
    )


def _agree(source: str, entry: str, args: list[object], limits: Limits | None = None) -> tuple[Any, ...]:
    """The outcome on every engine, which must be the reference interpreter's."""
    expected = _outcome(source, entry, args, limits, "reference")
    for engine in ENGINES[1:]:
        assert _outcome(source, entry, args, limits, engine) == expected, engine
    return expected


@pytest.mark.parametrize(("entry", "args"), CASES)
def test_every_engine_gives_the_reference_outcome(entry: str, args: list[object]) -> None:
    value, error, *_ = _agree(PROGRAMS, entry, args)
    assert error is None, entry
    assert value is not None


def test_the_analysis_finds_the_private_strings_of_these_programs() -> None:
    module = compile_to_module(PROGRAMS, "p.chr")
    private = {f.name: private_strings(f, module) for f in module.functions}
    for name in ("make", "doubled", "mixed", "compared", "both", "reloaded", "text"):
        assert private[name].appends, name
    assert len(private["both"].registers) == 2
    assert not private["aliased"].appends  # stored into an array: not private, every append pays its copy
    assert private["compared"].reads  # `len` and the comparisons of s
    make = next(f for f in module.functions if f.name == "make")
    assert any(make.code[pc].op == Op.RET for pc in private["make"].reads)  # its `ret`


def test_an_append_through_an_array_pays_every_copy() -> None:
    fuel = _agree(PROGRAMS, "aliased", [3_000])[3]
    assert fuel >= sum(k >> 4 for k in range(1, 3_001))


def test_doubling_until_the_string_limit_stops_every_engine_at_the_same_doubling() -> None:
    value, error, _, instructions, _ = _agree(PROGRAMS, "doubled", [40])
    assert (value, error) == (None, "limit.string-len")
    assert isinstance(instructions, int)
    for max_string in (0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 64, 1_000, 4_096, 65_535):
        _agree(PROGRAMS, "doubled", [40], Limits(max_string_len=max_string))
        _agree(PROGRAMS, "mixed", [20], Limits(max_string_len=max_string))


def test_a_comparison_in_the_loop_joins_every_time_and_pays_for_it() -> None:
    n = 2_000
    fuel = _agree(PROGRAMS, "compared", [n])[3]
    assert isinstance(fuel, int)
    # From 16 characters on every turn keeps two pieces, joined by the first comparison: len // 16 each time.
    assert fuel >= sum(k >> 4 for k in range(16, n + 1))
    assert fuel < 2 * sum(k >> 4 for k in range(16, n + 1)) + 20 * n


def _sweep(total: int, points: int) -> Iterator[int]:
    step = max(total // points, 1)
    yield from range(0, total + 2, step)
    yield from range(max(total - 40, 0), total + 2)


@pytest.mark.parametrize(("entry", "args"), [("returned", [20]), ("mixed", [5]), ("compared", [60]), ("both", [40])])
def test_the_fuel_limit_stops_every_engine_at_the_same_instruction(entry: str, args: list[object]) -> None:
    total = _agree(PROGRAMS, entry, args)[3]
    assert isinstance(total, int)
    for limit in _sweep(total, 60):
        error = _agree(PROGRAMS, entry, args, Limits(max_instructions=limit))[1]
        assert (error is None) == (limit >= total), (limit, error)


@pytest.mark.parametrize(("entry", "args"), [("returned", [20]), ("mixed", [5]), ("compared", [60]), ("text", [40])])
def test_the_allocation_limit_stops_every_engine_at_the_same_instruction(entry: str, args: list[object]) -> None:
    for words in range(0, 4_000, 37):
        _agree(PROGRAMS, entry, args, Limits(max_allocation=WORD * (STR_WORDS + words)))


@pytest.mark.parametrize(("entry", "args"), [("returned", [20]), ("compared", [60]), ("text", [40])])
def test_the_string_limit_stops_every_engine_at_the_same_instruction(entry: str, args: list[object]) -> None:
    for max_string in (*range(40), 63, 64, 65, 79, 80, 81, 119, 120, 121):
        _agree(PROGRAMS, entry, args, Limits(max_string_len=max_string))


def test_a_private_string_returned_is_a_string_for_its_caller() -> None:
    value, error, _, _, logs = _agree(PROGRAMS, "returned", [40])
    assert error is None
    assert value == 81 + (80 + 82 + 84) + 6
    assert logs == ("ab" * 40,)


def test_an_empty_string_loaded_in_a_loop_starts_again_every_turn() -> None:
    assert _agree(PROGRAMS, "reloaded", [50])[0] == 50 * 20
    assert _agree(PROGRAMS, "text", [30])[0] == "".join(f"{i % 10}," for i in range(30))


# -- no piece outside the private rules -------------------------------------------------------------------------


def _guarded_steps(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Wrap every step of the reference interpreter with the escape checks; gives a list counting the pieces seen."""
    seen = [0]

    def guard(op: int, step: Any) -> Any:
        def run(m: Any, a: int, b: int, c: int) -> None:
            private = m._private()
            module: Module = m.module
            function = module.functions[m.function]
            if m.at not in private.appends and m.at not in private.reads:
                for register in _touched(op, a, b, c, function, module) & set(range(len(m.regs))):
                    assert type(m.regs[register]) is not Pieces, (function.name, m.at, op, register)
            step(m, a, b, c)
            private = m._private()  # a call or a return changes the frame
            for register, value in enumerate(m.regs):
                if type(value) is Pieces:
                    seen[0] += 1
                    assert register in private.registers, (module.functions[m.function].name, register)
                    assert len(value.parts) >= 2 and value.n >= 16 and value.n == sum(map(len, value.parts))
                    assert all(value.parts)  # no empty part: each one pushed was counted against max_allocation

        return run

    for number, step in list(oracle._STEPS.items()):
        monkeypatch.setitem(oracle._STEPS, number, guard(number, step))
    return seen


def _corpus() -> list[tuple[str, str, list[object]]]:
    """Programs with entries to run: the ones above, and the repository's examples and workloads that take ints."""
    programs: list[tuple[str, str, list[object]]] = [(PROGRAMS, entry, args) for entry, args in CASES]
    root = Path(__file__).resolve().parents[3]
    paths = sorted((root / "examples").glob("*.chr")) + sorted(
        (root / "packages/chronicle-cli/benchmarks/workloads").glob("*.chr")
    )
    for path in paths:
        text = path.read_text(encoding="utf-8")
        try:
            module = compile_to_module(text, path.name)
        except Exception:  # a file this test cannot compile is simply not in the corpus
            continue
        for function in module.functions:
            if function.exported and all(p.kind.name == "INT" for p in function.params):
                programs.append((text, function.name, [7] * len(function.params)))
    return programs


def test_no_piece_escapes_the_private_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _guarded_steps(monkeypatch)
    corpus = _corpus()
    assert len(corpus) > len(CASES)
    for source, entry, args in corpus:
        for limits in (
            Limits(max_instructions=100_000),  # the workloads' loops at 7 run long: a sample of them is enough
            Limits(max_instructions=500),
            Limits(max_instructions=100_000, max_string_len=40),
            Limits(max_instructions=100_000, max_allocation=2_000),
        ):
            _outcome(source, entry, args, limits, "reference")
    assert seen[0] > 100  # the checks did meet pieces: the programs exercise them


def test_no_piece_reaches_a_capability_or_a_trace() -> None:
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.core.types import STR
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.replay import replay

    data = compile_to_module(PROGRAMS, "p.chr").to_bytes()
    messages: list[object] = []
    host = Host()
    host.register("log.info", messages.append, params=(STR,), result=None)
    policy = Policy.from_toml('version = 1\n[capabilities."log.info"]\nallow = true\n')
    traces = []
    for engine in ("reference", "compiled"):
        instance = instantiate(load_module(data), host=host, policy=policy, engine=engine, trace=True)
        result = instance.call("returned", 40)
        assert result.trace is not None
        traces.append(result.trace.to_json())
        assert result.value == 81 + (80 + 82 + 84) + 6
    assert traces[0] == traces[1]
    assert "Pieces" not in str(traces[0])
    assert messages == ["ab" * 40] * 2 and all(type(m) is str for m in messages)
    assert replay(traces[0], data, engine="compiled").exact


# -- random programs: appends, joins, comparisons and limits in any order -----------------------------------------

_STATEMENTS = st.sampled_from(
    [
        's = s + "a";',
        's = s + "bcdefghijklmnopq";',
        's = s + "";',
        "s = s + s;",
        "s = s + t;",
        't = t + "xy";',
        "k = k + len(s);",
        "if s == t { k = k + 1; }",
        'if s != "" { k = k + 2; }',
        "if t < s { k = k + 3; }",
        "if s >= s { k = k + 5; }",
        's = "";',
        "for i in 0..9 { s = s + t; }",
        'for i in 0..20 { s = s + "z"; if len(s) > 40 { k = k + 1; } }',
    ]
)


@given(
    body=st.lists(_STATEMENTS, min_size=1, max_size=12),
    result=st.sampled_from(["return s;", "k = k + len(s); return s;", "return str(len(s) + k);"]),
    limit=st.sampled_from(["instructions", "string", "allocation", "none"]),
    amount=st.integers(min_value=0, max_value=400),
)
@settings(max_examples=150, deadline=None)
def test_random_append_programs_agree_with_the_reference_interpreter(
    body: list[str], result: str, limit: str, amount: int
) -> None:
    source = (
        'pub fn main() -> str {\n    let s = "";\n    let t = "t";\n    let k = 0;\n    s = s + "a";\n'
        + "".join(f"    {statement}\n" for statement in body)
        + f"    {result}\n}}\n"
    )
    limits = {
        "instructions": Limits(max_instructions=amount),
        "string": Limits(max_string_len=amount),
        "allocation": Limits(max_allocation=WORD * (STR_WORDS + 4 * amount)),
        "none": None,
    }[limit]
    module = compile_to_module(source, "random.chr")
    assert private_strings(module.functions[0], module).appends  # s is private whatever the statements
    _agree(source, "main", [], limits)


DEEP = """
fn level(n: int) -> str {
    let s = "";
    for i in 0..12 { s = s + "ab"; }
    if n == 0 { return s; }
    let below = level(n - 1);
    if s == below { return s; }
    return s;
}
pub fn main(n: int) -> int { return len(level(n)); }
"""


def test_pieces_in_every_frame_of_a_deep_recursion_agree() -> None:
    """Deep enough for the compiled engine's deep-stack thread (engines/deep.py), which runs the same code."""
    limits = Limits(max_call_depth=5_000, max_stack_registers=1_000_000)
    value, error, _, instructions, _ = _agree(DEEP, "main", [3_000], limits)
    assert (value, error) == (24, None)
    assert isinstance(instructions, int)
    stopped = _agree(
        DEEP,
        "main",
        [3_000],
        Limits(max_call_depth=5_000, max_stack_registers=1_000_000, max_instructions=instructions - 7),
    )
    assert stopped[1] == "limit.instructions"
    from chronicle_vm.engines.compiled import CompiledEngine
    from chronicle_vm.verifier.rules import verify

    engine = CompiledEngine(verify(compile_to_module(DEEP, "deep.chr")), limits)
    assert engine.call("main", [3_000]).value == 24
    assert engine._deep_entries == {"main"}  # it did run on the deep-stack thread
