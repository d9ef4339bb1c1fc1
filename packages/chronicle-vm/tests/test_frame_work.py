"""A frame's fresh values (arrays, maps, structs) are paid for by the `call` that makes them, on every engine.

Pushing a frame gives each register past the parameters its zero; for an
array, a map or a struct that is a new object, and a frame may hold
max_registers of them, a struct with up to 256 fields.  Before, a call cost
1 whatever it made: a callee of 4,000 registers of a 255-field struct made a
million fields per unit of fuel (53 s of the reference engine for 1,406 units)
and none of it counted against max_allocation.  The expected figures below
are worked out by hand from docs/isa.md (a fresh array or struct 1 item plus
1 per field, a fresh map 8; one unit per 16 items; each object's words as
`newarr`, `mapnew` and `structnew` count them), not from costs.frame_work.
"""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_testing.engine_runs import every_engine, outcome
from chronicle_testing.verify_builders import fn, ins
from chronicle_vm.core.model import Function, Module, SourceMap
from chronicle_vm.core.types import BOOL, INT, StructDef, StructField, TypeKind, ValueType, array_type, map_type
from chronicle_vm.engines.control import RunControl
from chronicle_vm.engines.costs import ITEM_WORDS, LIST_WORDS, MAP_WORDS, WORD, frame_work
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

INTS = array_type(INT.base, 1)
II = map_type(INT, INT)


def _struct(index: int) -> ValueType:
    return ValueType(TypeKind.STRUCT, ref=index)


def _structs(fields: int) -> tuple[StructDef, ...]:
    """S0 of `fields` int fields; S1 (an int, an array, a map, an S0)."""
    flat = StructDef("S0", tuple(StructField(f"f{i}", INT) for i in range(fields)))
    nested = StructDef(
        "S1", (StructField("n", INT), StructField("xs", INTS), StructField("m", II), StructField("s", _struct(0)))
    )
    return flat, nested


def _module(callee_registers: tuple[ValueType, ...], calls: int, fields: int = 20) -> Module:
    """main: `calls` calls of `wide` (which returns 0); wide's registers: the given ones, then an int."""
    count = len(callee_registers)
    wide = fn("wide", (ins("loadk", count, 0), ins("ret", count)), registers=(*callee_registers, INT), result=INT)
    # r0 i, r1 n, r2 i < n, r3 one, r4 result
    main = fn(
        "main",
        (
            ins("loadk", 0, 0),
            ins("loadk", 1, 1),
            ins("loadk", 3, 2),
            ins("lt", 2, 0, 1),  # 3: the loop
            ins("jmpifnot", 2, 8),
            ins("call", 1, 0, 4),
            ins("add", 0, 0, 3),
            ins("jmp", 3),
            ins("ret", 0),  # 8
        ),
        registers=(INT, INT, BOOL, INT, INT),
        result=INT,
        exported=True,
    )
    return Module(
        constants=(0, calls, 1), functions=(main, wide), source_map=SourceMap((), ((), ())), structs=_structs(fields)
    )


def _all(module: Module, limits: Limits) -> dict[str, tuple[Any, ...]]:
    verified = verify(module)
    return {name: outcome(engine, []) for name, engine in every_engine(verified, limits).items()}


def _agreed(module: Module, limits: Limits) -> tuple[Any, ...]:
    seen = _all(module, limits)
    first = seen["reference"]
    assert all(found == first for found in seen.values()), seen
    return first


def test_frame_work_counts_by_hand() -> None:
    structs = _structs(255)
    function = Function("f", False, 1, None, (INTS, INTS, II, _struct(0), _struct(1), INT, BOOL), ())
    # INTS is the parameter: not fresh.  INTS 1 item; II 8; S0 1 + 255; S1 1 + 4 fields + INTS 1 + II 8 + S0 256.
    items = 1 + 8 + 256 + (1 + 4 + 1 + 8 + 256)
    words = (
        LIST_WORDS
        + MAP_WORDS
        + (LIST_WORDS + ITEM_WORDS * 255)
        + (LIST_WORDS + ITEM_WORDS * 4 + LIST_WORDS + MAP_WORDS + LIST_WORDS + ITEM_WORDS * 255)
    )
    assert frame_work(function, structs) == (items // 16, words)
    # Scalars make nothing: a frame of them costs what it did.
    assert frame_work(Function("g", False, 0, None, (INT,) * 4096, ()), ()) == (0, 0)
    assert frame_work(Function("h", False, 0, None, (INTS,) * 15, ()), ()) == (0, 15 * LIST_WORDS)


@pytest.mark.parametrize(
    "registers",
    [
        (INTS,) * 40,  # 2 extra units a call
        (II,) * 5,  # 40 items: 2 units
        (_struct(0),) * 30,  # 630 items: 39 units
        (_struct(1), INTS, II),  # nested fresh values: 1 + 4 + 1 + 8 + 21, 1, 8 items
    ],
    ids=["arrays", "maps", "structs", "nested"],
)
def test_every_engine_pays_the_same_and_stops_at_the_same_call(registers: tuple[ValueType, ...]) -> None:
    module = _module(registers, 20)
    extra, words = frame_work(module.functions[1], module.structs)
    finished = _agreed(module, Limits())
    per_call = 7 + extra  # lt, jmpifnot, call, loadk, ret, add, jmp
    assert finished == ("ok", 20, 3 + 20 * per_call + 3)
    # Every fuel budget around the stops: the call that cannot pay for its frame stops where it is, on each engine.
    for budget in range(3 + 2 * per_call - 3, 3 + 3 * per_call + 3):
        stopped = _agreed(module, Limits(max_instructions=budget))
        assert stopped[0] == "error" and stopped[1] == "limit.instructions"
    # The allocation: the call that would pass max_allocation stops, before its frame is made.
    for calls_fitting in (0, 1, 7):
        stopped = _agreed(module, Limits(max_allocation=(words * (calls_fitting + 1) - 1) * WORD))
        assert stopped[:2] == ("error", "limit.allocation") and stopped[3]["index"] == 5
        assert stopped[4] == 3 + calls_fitting * per_call + 3 + extra  # the next call, its fuel paid


def _entry_module(registers: int, fields: int) -> Module:
    """main alone, with `registers` registers of a `fields`-field struct, then an int it returns (0)."""
    code = (ins("loadk", registers, 0), ins("ret", registers))
    entry = Function("main", True, 0, INT, (_struct(0),) * registers + (INT,), code)
    return Module(constants=(0,), functions=(entry,), source_map=SourceMap((), ((),)), structs=_structs(fields))


def test_the_entry_frame_pays_before_its_first_instruction() -> None:
    module = _entry_module(4, 20)  # 4 x 21 items: 5 units
    extra, words = frame_work(module.functions[0], module.structs)
    assert (extra, words) == (84 // 16, 4 * (LIST_WORDS + ITEM_WORDS * 20))
    assert _agreed(module, Limits(max_allocation=words * WORD)) == ("ok", 0, 2 + extra)
    refused = _agreed(module, Limits(max_allocation=words * WORD - 1))
    assert refused[:2] == ("error", "limit.allocation") and refused[4] == 0
    # The frame paid and no instruction: the first instruction stops, as any instruction that cannot be paid.
    for budget, count in ((extra - 1, 0), (extra, extra), (extra + 1, extra + 1), (extra + 2, extra + 2)):
        outcome = _agreed(module, Limits(max_instructions=budget))
        if budget < extra + 2:
            assert outcome[:2] == ("error", "limit.instructions") and outcome[4] == count, outcome
        else:
            assert outcome == ("ok", 0, count)


@pytest.mark.parametrize("budget", [17_000, 17_599, 17_600, 17_601, 17_602, 40_000])
def test_an_entry_frame_over_a_fuel_slice_agrees_under_a_deadline(budget: int) -> None:
    # 1,100 registers of a 255-field struct: 17,600 units, more than one slice (FUEL_SLICE, 16,384) of a run
    # with a deadline, so the engines charge it across the slice end.
    module = _entry_module(1100, 255)
    limits = Limits(max_instructions=budget, max_allocation=1 << 40)
    verified = verify(module)
    seen = {}
    for name, engine in every_engine(verified, limits).items():
        try:
            result = engine.call("main", [], control=RunControl(3600.0, None))
            seen[name] = ("ok", result.value, result.instructions)
        except ChronicleError as err:
            seen[name] = ("error", err.code, err.details.get("instructions"))
    assert len(set(seen.values())) == 1, seen
    # Below the frame's price nothing runs (0 spent); from it, the first instruction that cannot be paid stops.
    if budget >= 17_602:
        assert seen["reference"] == ("ok", 0, 17_602)
    else:
        assert seen["reference"] == ("error", "limit.instructions", budget if budget >= 17_600 else 0)


def test_a_frame_of_a_million_fields_is_no_longer_a_unit_of_fuel() -> None:
    # 1,000 registers of a 255-field struct: 256,000 fields a call, 16,000 units; 200 calls were 1,406 units.
    module = _module((_struct(0),) * 1000, 200, fields=255)
    stopped = _agreed(module, Limits(max_instructions=200_000))
    assert stopped[:2] == ("error", "limit.instructions") and stopped[3]["index"] == 5
    assert stopped[4] == 3 + 12 * 16_007 + 2  # the 13th call cannot pay
    # With fuel to spare the allocation stops it: 524,000 words a call against the default 67,108,864 words.
    stopped = _agreed(module, Limits())
    assert stopped[:2] == ("error", "limit.allocation")
    assert stopped[4] == 3 + 128 * 16_007 + 3 + 16_000  # the 129th call, its fuel paid
