"""Map and struct instructions (#17) on every engine, against plain Python, with every trap and verifier rule.

Every case runs on the reference oracle, the fused interpreter with and
without superinstructions, and the compiled engine, which must give the same
value or the same error (code, message, location) and the same instruction
count.  Programs are built as in-memory modules (the instruction set's own
operands), so these tests do not depend on the `.casm` syntax of types; the
`.casm` programs are in test_values_casm.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chronicle_testing.engine_runs import every_engine
from chronicle_testing.engine_runs import outcome as run_outcome
from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import BOOL, INT, STR, StructDef, StructField, ValueType, map_type, struct_type
from chronicle_vm.engines.costs import ENTRY_WORDS, MAP_WORDS, WORD, value_words
from chronicle_vm.errors import VerifyError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

SI = map_type(STR, INT)
II = map_type(INT, INT)
POINT = StructDef("Point", (StructField("x", INT), StructField("y", INT)))
NODE = StructDef("Node", (StructField("name", STR), StructField("kids", struct_type(1).array_of())))
BOX = StructDef("Box", (StructField("at", struct_type(0)), StructField("tags", SI)))
TABLE = (POINT, NODE, BOX)

Row = tuple[str, int, int, int]


def code(*rows: Row) -> tuple[Instruction, ...]:
    return tuple(Instruction(OPS_BY_NAME[name].op.value, a, b, c) for name, a, b, c in rows)


def module(
    registers: tuple[ValueType, ...],
    rows: tuple[Row, ...],
    *,
    params: int = 0,
    result: ValueType | None = INT,
    constants: tuple[Any, ...] = (0, 1),
    structs: tuple[StructDef, ...] = TABLE,
) -> Module:
    main = Function("main", True, params, result, registers, code(*rows))
    return Module(constants=constants, functions=(main,), source_map=SourceMap((), ((),)), structs=structs)


_engines = every_engine


_outcome = run_outcome


def run_all(mod: Module, args: list[Any] | None = None, limits: Limits | None = None) -> tuple[Any, ...]:
    """The one outcome every engine gives (the test fails when two engines differ)."""
    verified = verify(mod)
    outcomes = {
        name: _outcome(engine, list(args or [])) for name, engine in _engines(verified, limits or Limits()).items()
    }
    first = outcomes["reference"]
    for name, outcome in outcomes.items():
        assert outcome == first, (name, outcome, first)
    return first


# -- maps --------------------------------------------------------------------------------------------------------

# r0 words, r1 counts, r2 n, r3 i, r4 word, r5 count, r6 one, r7 more
WORDCOUNT = module(
    (STR.array_of(), SI, INT, INT, STR, INT, INT, BOOL),
    (
        ("mapnew", 1, 0, 0),
        ("len", 2, 0, 0),
        ("loadk", 3, 0, 0),
        ("loadk", 6, 1, 0),
        ("lt", 7, 3, 2),
        ("jmpifnot", 7, 13, 0),
        ("getidx", 4, 0, 3),
        ("loadk", 5, 0, 0),
        ("mapgetd", 5, 1, 4),
        ("add", 5, 5, 6),
        ("mapset", 1, 4, 5),
        ("add", 3, 3, 6),
        ("jmp", 4, 0, 0),
        ("ret", 1, 0, 0),
    ),
    params=1,
    result=SI,
)


def _count(words: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in words:
        counts[word] = counts.get(word, 0) + 1
    return counts


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "ccc", "x" * 40, "é"]), max_size=30))
def test_word_count_agrees_with_python_in_insertion_order(words: list[str]) -> None:
    outcome = run_all(WORDCOUNT, [words])
    assert outcome[0] == "ok"
    assert list(outcome[1].items()) == list(_count(words).items())


def test_a_long_str_key_pays_for_its_length() -> None:
    short = run_all(WORDCOUNT, [["a"]])
    long = run_all(WORDCOUNT, [["k" * 64]])
    assert long[2] - short[2] == 2 * (64 // 16)  # mapgetd and mapset each pay len(key) // 16


def test_mapget_of_an_absent_key_traps_at_its_instruction() -> None:
    mod = module(
        (SI, STR, INT),
        (("mapnew", 0, 0, 0), ("loadk", 1, 0, 0), ("mapget", 2, 0, 1), ("ret", 2, 0, 0)),
        constants=("nope",),
    )
    outcome = run_all(mod)
    assert outcome[:2] == ("error", "runtime.key-missing")
    assert outcome[3]["index"] == 2 and outcome[4] == 3
    assert "key 'nope' is not in the map" in outcome[2]


def _map_ops_module() -> Module:
    # r0 map, r1 k, r2 v, r3 has, r4 len, r5 keys, r6 values, r7 k2
    return module(
        (II, INT, INT, BOOL, INT, INT.array_of(), INT.array_of(), INT),
        (
            ("mapnew", 0, 0, 0),
            ("loadk", 1, 0, 0),  # k = 5
            ("loadk", 2, 1, 0),  # v = 50
            ("mapset", 0, 1, 2),
            ("loadk", 7, 2, 0),  # k2 = 3
            ("mapset", 0, 7, 1),  # {5: 50, 3: 5}
            ("mapset", 0, 1, 7),  # 5 keeps its place: {5: 3, 3: 5}
            ("maphas", 3, 0, 7),
            ("mapdel", 0, 2, 0),  # 50 is absent: nothing
            ("maplen", 4, 0, 0),
            ("mapkeys", 5, 0, 0),
            ("mapvalues", 6, 0, 0),
            ("mapget", 2, 0, 7),
            ("mapdel", 0, 1, 0),
            ("ret", 0, 0, 0),
        ),
        result=II,
        constants=(5, 50, 3),
    )


def test_map_operations_agree_with_a_python_dict() -> None:
    outcome = run_all(_map_ops_module())
    assert outcome[0] == "ok" and outcome[1] == {3: 5}


def test_a_map_at_max_array_len_takes_no_new_key() -> None:
    # r0 map, r1 key, r2 one: keys 0, 1, 2, ... until the map is full; setting an existing key still works
    mod = module(
        (II, INT, INT),
        (
            ("mapnew", 0, 0, 0),
            ("loadk", 2, 1, 0),
            ("mapset", 0, 1, 2),  # 2: the loop
            ("mapset", 0, 1, 1),
            ("add", 1, 1, 2),
            ("jmp", 2, 0, 0),
        ),
        result=None,
    )
    outcome = run_all(mod, [], Limits(max_array_len=3))
    assert outcome[:2] == ("error", "limit.array-len")
    assert outcome[3]["index"] == 2 and "map" in outcome[2] and outcome[4] == 2 + 4 * 3 + 1


def test_map_entries_count_against_max_allocation() -> None:
    words = [f"w{k}" for k in range(50)]
    ok = run_all(WORDCOUNT, [words])
    assert ok[0] == "ok"
    arguments = value_words(words) * WORD
    # r1's zero map (the entry frame's fresh value, costs.frame_work), the mapnew and its first ten entries
    room = arguments + 2 * MAP_WORDS * WORD + ENTRY_WORDS * WORD * 10
    outcome = run_all(WORDCOUNT, [words], Limits(max_allocation=room))
    assert outcome[:2] == ("error", "limit.allocation") and outcome[3]["index"] == 10
    assert outcome[4] == 4 + 9 * 10 + 7  # the eleventh new key


# r0 map, r1 keys, r2 stamp, r3 i, r4 n, r5 k, r6 v, r7 total, r8 one, r9 more, r10 extra key
def _iterate(mutate: str | None) -> Module:
    body: list[Row] = [
        ("mapnew", 0, 0, 0),
        ("loadk", 8, 1, 0),
        ("loadk", 5, 0, 0),
        ("mapset", 0, 5, 8),  # {0: 1}
        ("mapset", 0, 8, 8),  # {0: 1, 1: 1}
        ("mapkeys", 1, 0, 0),
        ("mapstamp", 2, 0, 0),
        ("loadk", 3, 0, 0),
        ("len", 4, 1, 0),
        ("loadk", 10, 2, 0),  # the key a mutating loop adds: 100, 101, ...
        ("lt", 9, 3, 4),  # 10: loop head
        ("jmpifnot", 9, 20, 0),
        ("mapcheck", 0, 2, 0),
        ("getidx", 5, 1, 3),
        ("mapget", 6, 0, 5),
        ("add", 7, 7, 6),
    ]
    if mutate == "add":
        body.append(("mapset", 0, 10, 8))  # a new key: the next step traps
    elif mutate == "overwrite":
        body.append(("mapset", 0, 5, 8))  # an existing key: no trap
    elif mutate == "delete":
        body.append(("mapdel", 0, 5, 0))
    else:
        body.append(("nop", 0, 0, 0))
    body += [("add", 3, 3, 8), ("add", 10, 10, 8), ("jmp", 10, 0, 0), ("ret", 7, 0, 0)]
    return module(
        (II, INT.array_of(), INT, INT, INT, INT, INT, INT, INT, BOOL, INT), tuple(body), constants=(0, 1, 100)
    )


def test_iteration_without_changes_runs_through() -> None:
    assert run_all(_iterate(None))[:2] == ("ok", 2)
    assert run_all(_iterate("overwrite"))[:2] == ("ok", 2)


@pytest.mark.parametrize("mutate", ["add", "delete"])
def test_a_key_set_change_traps_at_the_next_step(mutate: str) -> None:
    outcome = run_all(_iterate(mutate))
    assert outcome[:2] == ("error", "runtime.map-changed")
    assert outcome[3]["index"] == 12


# -- structs -----------------------------------------------------------------------------------------------------


def test_structs_build_read_and_write_fields() -> None:
    # r0 p, r1 x, r2 y, r3 sum
    mod = module(
        (struct_type(0), INT, INT, INT),
        (
            ("loadk", 1, 0, 0),
            ("loadk", 2, 1, 0),
            ("structnew", 0, 1, 0),
            ("setfield", 0, 0, 2),  # p.x = y
            ("getfield", 1, 0, 0),
            ("getfield", 2, 0, 1),
            ("add", 3, 1, 2),
            ("ret", 0, 0, 0),
        ),
        result=struct_type(0),
        constants=(3, 4),
    )
    assert run_all(mod)[:2] == ("ok", [4, 4])


def test_a_struct_register_starts_as_its_zero_struct() -> None:
    # r0 box (never written): box.at.y, and box.tags is a fresh empty map
    mod = module(
        (struct_type(2), struct_type(0), INT, SI, INT),
        (
            ("getfield", 1, 0, 0),
            ("getfield", 2, 1, 1),
            ("getfield", 3, 0, 1),
            ("maplen", 4, 3, 0),
            ("add", 2, 2, 4),
            ("ret", 2, 0, 0),
        ),
    )
    assert run_all(mod)[:2] == ("ok", 0)


def test_a_cyclic_struct_cannot_leave_the_vm() -> None:
    # r0 node, r1 kids: node.kids gets node itself, then node is returned
    mod = module(
        (struct_type(1), struct_type(1).array_of()),
        (("getfield", 1, 0, 1), ("push", 1, 0, 0), ("ret", 0, 0, 0)),
        result=struct_type(1),
    )
    outcome = run_all(mod)
    assert outcome[:2] == ("error", "limit.allocation") and outcome[3]["index"] == 2


def test_structs_count_against_max_allocation() -> None:
    # a loop of structnew until the allocation bound stops it
    mod = module(
        (struct_type(0), INT, INT),
        (("structnew", 0, 1, 0), ("jmp", 0, 0, 0)),
        result=None,
    )
    outcome = run_all(mod, [], Limits(max_allocation=10_000))
    assert outcome[:2] == ("error", "limit.allocation") and outcome[3]["index"] == 0


# -- the verifier's rules ----------------------------------------------------------------------------------------


def _refused(mod: Module) -> VerifyError:
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    return caught.value


@pytest.mark.parametrize(
    ("registers", "row", "code", "words"),
    [
        ((INT, INT, INT), ("mapnew", 0, 0, 0), "verify.register-type", "must be a map"),
        ((INT, SI, INT), ("mapget", 0, 1, 2), "verify.register-type", "the map's key type"),
        ((BOOL, SI, STR), ("mapget", 0, 1, 2), "verify.register-type", "the map's value type"),
        ((SI, INT, INT), ("mapset", 0, 1, 2), "verify.register-type", "the map's key type"),
        ((SI, STR, STR), ("mapset", 0, 1, 2), "verify.register-type", "the map's value type"),
        ((INT, SI, STR), ("maphas", 0, 1, 2), "verify.register-type", "must be bool"),
        ((INT.array_of(), SI, INT), ("mapkeys", 0, 1, 0), "verify.register-type", "keys"),
        ((STR.array_of(), SI, INT), ("mapvalues", 0, 1, 0), "verify.register-type", "values"),
        ((STR.array_of(), INT, INT), ("mapcheck", 0, 1, 0), "verify.register-type", "must be a map"),
        ((struct_type(0), INT, STR), ("structnew", 0, 1, 0), "verify.register-type", "field 1 `y`"),
        ((struct_type(0), INT, INT), ("structnew", 0, 2, 0), "verify.register-bounds", "fields of Point"),
        ((INT, struct_type(0), INT), ("getfield", 0, 1, 2), "verify.immediate", "has fields 0..1"),
        ((STR, struct_type(0), INT), ("getfield", 0, 1, 1), "verify.register-type", "the field's type"),
        ((struct_type(0), INT, STR), ("setfield", 0, 1, 2), "verify.register-type", "the field's type"),
        ((INT, INT, INT), ("getfield", 0, 1, 0), "verify.register-type", "must be a struct"),
    ],
)
def test_one_negative_per_rule(registers: tuple[ValueType, ...], row: Row, code: str, words: str) -> None:
    error = _refused(module(registers, (row, ("retv", 0, 0, 0)), result=None))
    assert error.code == code, error
    assert words in error.message, error.message
    assert error.details["index"] == 0


def test_a_zero_struct_too_big_is_refused() -> None:
    wide = StructDef("Wide", tuple(StructField(f"f{k}", struct_type(0)) for k in range(100)))  # 300 fields
    error = _refused(module((struct_type(1),), (("retv", 0, 0, 0),), result=None, structs=(POINT, wide)))
    assert error.code == "verify.zero-size"


# -- differential: random map programs against a plain Python dict ----------------------------------------------

_OPS = st.sampled_from(["set", "get", "getd", "has", "del", "len"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_OPS, st.integers(0, 5), st.integers(-3, 3)), min_size=1, max_size=25))
def test_random_map_programs_agree_with_python(program: list[tuple[str, int, int]]) -> None:
    # r0 map, r1 key, r2 value, r3 acc, r4 bool, r5 int
    rows: list[Row] = [("mapnew", 0, 0, 0)]
    constants: list[int] = []
    model: dict[int, int] = {}
    acc = 0
    trapped = False

    def const(value: int) -> int:
        constants.append(value)
        return len(constants) - 1

    for op, key, value in program:
        rows += [("loadk", 1, const(key), 0), ("loadk", 2, const(value), 0)]
        if op == "set":
            rows.append(("mapset", 0, 1, 2))
            model[key] = value
        elif op == "get":
            rows += [("mapget", 5, 0, 1), ("add", 3, 3, 5)]
            if key not in model:
                trapped = True
                break
            acc += model[key]
        elif op == "getd":
            rows += [("mapgetd", 2, 0, 1), ("add", 3, 3, 2)]
            acc += model.get(key, value)
        elif op == "has":
            rows += [("maphas", 4, 0, 1), ("jmpifnot", 4, len(rows) + 3, 0), ("add", 3, 3, 2), ("nop", 0, 0, 0)]
            acc += value if key in model else 0
        elif op == "del":
            rows.append(("mapdel", 0, 1, 0))
            model.pop(key, None)
        else:
            rows += [("maplen", 5, 0, 0), ("add", 3, 3, 5)]
            acc += len(model)
    rows += [("mapkeys", 6, 0, 0), ("ret", 3, 0, 0)]
    registers = (II, INT, INT, INT, BOOL, INT, INT.array_of())
    outcome = run_all(module(registers, tuple(rows), constants=tuple(constants) or (0,)))
    if trapped:
        assert outcome[1] == "runtime.key-missing"
    else:
        assert outcome[:2] == ("ok", acc)


# -- differential: random struct and map programs, with aliasing, against plain Python lists and dicts -----------

_STRUCT_OPS = st.sampled_from(["new", "setx", "sety", "sum", "store", "load", "alias", "count"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_STRUCT_OPS, st.integers(0, 3), st.integers(-4, 4)), min_size=1, max_size=25))
def test_random_struct_programs_agree_with_python(program: list[tuple[str, int, int]]) -> None:
    # r0 p, r1 q, r2 x, r3 y, r4 acc, r5 points {int: Point}, r6 key, r7 tmp, r8 has
    rows: list[Row] = [("mapnew", 5, 0, 0)]
    constants: list[int] = []
    p: list[int] = [0, 0]  # the zero Point
    q: list[int] = [0, 0]
    points: dict[int, list[int]] = {}
    acc = 0

    def const(value: int) -> int:
        constants.append(value)
        return len(constants) - 1

    for op, key, value in program:
        rows += [("loadk", 6, const(key), 0), ("loadk", 2, const(value), 0), ("loadk", 3, const(-value), 0)]
        if op == "new":
            rows.append(("structnew", 0, 2, 0))
            p = [value, -value]
        elif op in ("setx", "sety"):
            rows.append(("setfield", 0, 0 if op == "setx" else 1, 2))
            p[0 if op == "setx" else 1] = value
        elif op == "sum":
            rows += [("getfield", 7, 0, 0), ("add", 4, 4, 7), ("getfield", 7, 1, 1), ("add", 4, 4, 7)]
            acc += p[0] + q[1]
        elif op == "store":
            rows.append(("mapset", 5, 6, 0))
            points[key] = p  # by reference: a later setfield on p shows through the map
        elif op == "load":
            rows += [("maphas", 8, 5, 6), ("jmpifnot", 8, len(rows) + 3, 0), ("mapget", 1, 5, 6), ("nop", 0, 0, 0)]
            if key in points:
                q = points[key]
        elif op == "alias":
            rows.append(("mov", 1, 0, 0))
            q = p
        else:
            rows += [("maplen", 7, 5, 0), ("add", 4, 4, 7)]
            acc += len(points)
    rows.append(("ret", 4, 0, 0))
    registers = (struct_type(0), struct_type(0), INT, INT, INT, map_type(INT, struct_type(0)), INT, INT, BOOL)
    outcome = run_all(module(registers, tuple(rows), constants=tuple(constants)))
    assert outcome[:2] == ("ok", acc)


def test_a_wide_structnew_pays_for_its_fields() -> None:
    wide = StructDef("Wide", tuple(StructField(f"f{k}", INT) for k in range(40)))
    registers = (struct_type(0), *([INT] * 40))
    mod = module(registers, (("structnew", 0, 1, 0), ("getfield", 1, 0, 39), ("ret", 1, 0, 0)), structs=(wide,))
    # the structnew's fields, and r0's zero Wide the entry frame makes first (1 + 40 items, costs.frame_work)
    assert run_all(mod) == ("ok", 0, 3 + 40 // 16 + (1 + 40) // 16)


def test_listing_a_map_pays_for_its_entries_and_keys_pay_for_their_length() -> None:
    # main(m: {str: int}, k: str) -> int: keys, values, has, get with default, delete
    mod = module(
        (SI, STR, STR.array_of(), INT.array_of(), BOOL, INT),
        (
            ("mapkeys", 2, 0, 0),
            ("mapvalues", 3, 0, 0),
            ("maphas", 4, 0, 1),
            ("mapgetd", 5, 0, 1),
            ("mapdel", 0, 1, 0),
            ("maplen", 5, 0, 0),
            ("ret", 5, 0, 0),
        ),
        params=2,
    )
    entries = {f"k{n}": n for n in range(40)}
    key = "x" * 48
    assert run_all(mod, [entries, key]) == ("ok", 40, 7 + 2 * (40 // 16) + 3 * (48 // 16))
