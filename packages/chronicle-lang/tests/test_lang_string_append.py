"""Strings built in a loop (issue 20): `s = s + x` on a private local costs what it appends.

A private string may be kept in pieces (costs.Pieces): an append pays len(x) // 16 fuel beyond its unit and
counts len(x) against max_allocation; the first comparison, `ret` or `s = s + s` after appends joins it once,
paid as the copy it is (its length // 16 fuel, a new string's bytes).  A string that is also kept elsewhere
(pushed into an array, passed on, copied) is not private, and each of its appends pays and counts the whole new
string, as before.  Every engine decides from the same analysis (costs.private_strings) and so agrees on values,
counts and the instruction where a limit stops a run.
"""

from __future__ import annotations

import pytest

from chronicle_lang import compile_to_module
from chronicle_testing.lang_run import ENGINES, run_chr
from chronicle_vm.engines.costs import STR_WORDS, WORD, private_appends
from chronicle_vm.limits import Limits

BUILD = """
cap log.info(msg: str);
pub fn build(n: int) -> int {
    let s = "";
    let i = 0;
    while i < n {
        s = s + "x";
        i = i + 1;
    }
    if len(s) == n && s != "" { log.info("built"); }
    return len(s);
}
pub fn digits(n: int) -> str {
    let s = "";
    for i in 0..n { s = s + str(i % 10); }
    return s;
}
"""

# The same loop with the string kept in an array on each turn: its old values stay alive.
ALIASED = """
pub fn build(n: int) -> int {
    let s = "";
    let kept: [str] = [];
    let i = 0;
    while i < n {
        s = s + "x";
        push(kept, s);
        i = i + 1;
    }
    return len(kept[n - 1]);
}
pub fn through_index(n: int) -> int {
    let s = "";
    let kept: [str] = [""];
    let i = 0;
    while i < n {
        kept[0] = s;
        s = s + "x";
        i = i + 1;
    }
    return len(kept[0]) + len(s);
}
pub fn reloaded(n: int) -> int {
    let kept: [str] = ["abcdefghij"];
    let s = "";
    let i = 0;
    while i < n {
        s = kept[0];
        s = s + "x";
        i = i + 1;
    }
    return len(s);
}
"""


def _agree(source: str, entry: str, args: list[object], limits: Limits | None = None) -> tuple[object, ...]:
    """The outcome on every engine, which must be the same (value, error code and location, count)."""
    seen = set()
    for engine in ENGINES:
        report = run_chr(source, entry, args, limits=limits, engine=engine)
        error = report.error
        seen.add(
            (
                report.value,
                None if error is None else error.code,
                None if error is None else str(error.details.get("location")),
                report.instructions if error is None else error.details.get("instructions"),
            )
        )
    assert len(seen) == 1, seen
    return seen.pop()


def _fuel(source: str, entry: str, args: list[object]) -> int:
    instructions = _agree(source, entry, args)[3]
    assert isinstance(instructions, int)
    return instructions


def test_the_natural_loop_builds_a_long_string_under_the_default_limits() -> None:
    value, error, _, instructions = _agree(BUILD, "build", [100_000])
    assert (value, error) == (100_000, None)
    # An append of one character pays its unit only; the comparison after the loop joins the pieces once.
    assert isinstance(instructions, int) and 100_000 * 6 < instructions < 100_000 * 6 + 100_000 // 16 + 100
    assert _agree(BUILD, "digits", [2_000])[0] == "0123456789" * 200
    # Linear: ten times the characters, ten times the fuel (give or take the loop's set-up).
    small, large = _fuel(BUILD, "build", [10_000]), _fuel(BUILD, "build", [100_000])
    assert 9.9 < large / small < 10.1


def test_a_private_append_counts_its_growth_and_its_join_only() -> None:
    # 10,000 characters held, and one join of them (the comparison after the loop): both fit, nothing more.
    limits = Limits(max_allocation=WORD * (STR_WORDS * 3 + 2 * 10_000) + 4_096)
    assert _agree(BUILD, "build", [10_000], limits)[:2] == (10_000, None)
    # Without room for the join the comparison stops the run, at the same place on every engine.
    limits = Limits(max_allocation=WORD * (STR_WORDS + 15_000))
    value, error, location, _ = _agree(BUILD, "build", [10_000], limits)
    assert (value, error) == (None, "limit.allocation")
    assert location is not None and "'line': 10" in location  # `s != ""`


@pytest.mark.parametrize("entry", ["build", "through_index"])
def test_an_append_whose_string_is_also_kept_elsewhere_counts_the_whole_string(entry: str) -> None:
    limits = Limits(max_allocation=4_000_000)
    value, error, location, instructions = _agree(ALIASED, entry, [10_000], limits)
    assert (value, error) == (None, "limit.allocation")
    assert location is not None and isinstance(instructions, int)
    # Below the limit the aliased loops still agree everywhere, and each append pays its whole copy.
    assert _agree(ALIASED, entry, [300], limits)[1] is None
    assert _fuel(ALIASED, entry, [3_000]) >= sum((k + 1) >> 4 for k in range(3_000))


def test_a_value_loaded_from_elsewhere_is_not_private() -> None:
    assert _agree(ALIASED, "reloaded", [1_000])[:2] == (11, None)
    module = compile_to_module(ALIASED, "aliased.chr")
    for function in module.functions:
        assert private_appends(function, module) == frozenset(), function.name


@pytest.mark.parametrize(
    ("body", "private"),
    [
        ('let s = ""; for i in 0..3 { s = s + "x"; } return len(s);', True),
        ('let s = ""; for i in 0..3 { s = s + "x"; } if s == "xxx" { return 1; } return 0;', True),
        ('let s = ""; for i in 0..3 { s = s + s; } return len(s);', True),
        ('let s = ""; for i in 0..3 { s = s + "x"; } let t = s; return len(t);', False),
        ('let s = ""; let xs: [str] = []; for i in 0..3 { s = s + "x"; push(xs, s); } return len(xs);', False),
        ('let s = "ab"; for i in 0..3 { s = s + "x"; } return len(s);', False),
        ('let s = ""; for i in 0..3 { s = s + "x"; } return len(s + "");', False),
        ('let s = ""; for i in 0..3 { s = s + "x"; } return f(s);', False),
        ('let s = ""; let t = ""; for i in 0..3 { t = t + "y"; s = s + t; } return len(s);', True),
    ],
)
def test_which_appends_are_private(body: str, private: bool) -> None:
    source = f"fn f(x: str) -> int {{ return len(x); }}\npub fn main() -> int {{ {body} }}\n"
    module = compile_to_module(source, "p.chr")
    main = next(function for function in module.functions if function.name == "main")
    appends = private_appends(main, module)
    assert bool(appends) is private
    assert _agree(source, "main", [])[1] is None


def test_a_parameter_is_never_private() -> None:
    source = 'pub fn main(s: str) -> int { for i in 0..3 { s = s + "x"; } return len(s); }\n'
    module = compile_to_module(source, "p.chr")
    assert private_appends(module.functions[0], module) == frozenset()
    assert _agree(source, "main", ["ab"])[0] == 5


def test_an_instruction_whose_windows_are_not_reviewed_touches_every_register() -> None:
    """Maps and structs (0x80 on) may read windows their rows do not describe: a string near one is not private."""
    from dataclasses import replace

    from chronicle_vm.core.model import Instruction

    source = 'pub fn main() -> int { let s = ""; let n = 0; for i in 0..3 { s = s + "x"; } return len(s); }\n'
    module = compile_to_module(source, "p.chr")
    main = module.functions[0]
    assert private_appends(main, module)
    last = len(main.registers) - 1
    windowed = replace(main, code=(Instruction(0x90, last, last, 0), *main.code))
    assert private_appends(windowed, module) == frozenset()
