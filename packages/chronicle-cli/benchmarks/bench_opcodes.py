"""Opcode microbenchmark: takes nothing, gives each opcode's seconds per unit of fuel at its worst operands.

Run it with `python packages/chronicle-cli/benchmarks/bench_opcodes.py`.
Cost model 2 (docs/isa.md) promises that fuel measures time: under the
default limits, the most expensive instruction per unit of fuel stays within
50x of the median instruction's.  Each case is a straight run of copies of
one instruction at the worst operands found for it (a periodic needle for
`find`, 1,000,000-character strings, non-Latin-1 pieces for `split`, a
callee with `max_registers` registers for `call`...), after a few setup
instructions that build those operands; it runs on both engines (the
compiled one translated before timing), and the figure is the run's
seconds divided by the fuel it spent.  `opcodes_worst_ratio` is the largest
figure over the median one, per engine.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    array_type,
    map_type,
)
from chronicle_vm.core.values import Value
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import verify

REPEATS = 3
MILLION = 1_000_000

# Registers of every case's `main`, by role.
#   r0, r1, r4, r9: str   r2, r6, r7: int   r3: bool   r5, r10: [str]   r8: [int]   r11, r12, r13: float
STRS = array_type(STR.base, 1)
INTS = array_type(INT.base, 1)
REGISTERS = (STR, STR, INT, BOOL, STR, STRS, INT, INT, INTS, STR, STRS, FLOAT, FLOAT, FLOAT)

Code = tuple[tuple[str, int, int, int], ...]
Handler = Callable[[Sequence[Value], CallSite], "Value | None"]


def _i(name: str, a: int = 0, b: int = 0, c: int = 0) -> tuple[str, int, int, int]:
    return (name, a, b, c)


@dataclass(frozen=True, slots=True)
class Case:
    """Setup instructions, then `copies` of `body` (which may be a few instructions), then `ret`."""

    name: str
    constants: tuple[int | str | float, ...]
    setup: Code
    body: Code
    copies: int


# Constants shared by the string cases: k0 = half a maximal string, k1.. as each case says.
HALF = "a" * (MILLION // 2)
DESERET = "\U00010428"  # lower case letter outside the BMP: upper() maps it, 4 bytes a character
# 99,999 distinct numbers in a scrambled order, as one text to split (sort's worst operands: no runs to merge).
UNSORTED = ",".join(str(i * 7919 % 100_003) for i in range(99_999))


def _cases() -> list[Case]:
    cheap_ints = (7, -(2**63), 3)  # k0, k1, k2
    setup_ints: Code = (_i("loadk", 2, 0), _i("loadk", 6, 1), _i("loadk", 7, 2), _i("loadb", 3, 1))
    cases = [
        Case("nop", cheap_ints, setup_ints, (_i("nop"),), 2000),
        Case("mov", cheap_ints, setup_ints, (_i("mov", 2, 6),), 2000),
        Case("loadk", cheap_ints, setup_ints, (_i("loadk", 2, 1),), 2000),
        Case("loadb", cheap_ints, setup_ints, (_i("loadb", 3, 1),), 2000),
        Case("add", cheap_ints, setup_ints, (_i("add", 2, 6, 6),), 2000),  # wraps
        Case("sub", cheap_ints, setup_ints, (_i("sub", 2, 6, 2),), 2000),
        Case("mul", cheap_ints, setup_ints, (_i("mul", 2, 6, 6),), 2000),
        Case("div", cheap_ints, setup_ints, (_i("div", 2, 6, 7),), 2000),
        Case("mod", cheap_ints, setup_ints, (_i("mod", 2, 6, 7),), 2000),
        Case("neg", cheap_ints, setup_ints, (_i("neg", 2, 6),), 2000),
        Case("lt", cheap_ints, setup_ints, (_i("lt", 3, 6, 7),), 2000),
        Case("eq int", cheap_ints, setup_ints, (_i("eq", 3, 6, 7),), 2000),
        Case("not", cheap_ints, setup_ints, (_i("not", 3, 3),), 2000),
        Case("band, bxor", cheap_ints, setup_ints, (_i("band", 2, 6, 7), _i("bxor", 2, 6, 7)), 1000),
        Case("shl, shr", cheap_ints, setup_ints, (_i("shl", 2, 6, 7), _i("shr", 2, 6, 7)), 1000),  # wraps
        Case("chr", cheap_ints, setup_ints, (_i("chr", 4, 7),), 2000),
        Case("jmpif", cheap_ints, setup_ints, (_i("jmpif", 3, -1),), 2000),  # -1: the next instruction
        Case("tostr int", cheap_ints, setup_ints, (_i("tostr", 4, 6),), 2000),
        Case("newarr", cheap_ints, setup_ints, (_i("newarr", 8),), 2000),
        Case("push, pop", cheap_ints, setup_ints, (_i("push", 8, 6), _i("pop", 2, 8)), 1000),
        *_float_cases(cheap_ints, setup_ints),
        Case(
            "getidx, setidx",
            (*cheap_ints, 0),  # k3 = 0: index 0 of a one-item array
            (*setup_ints, _i("loadk", 7, 3), _i("push", 8, 6)),
            (_i("setidx", 8, 7, 6), _i("getidx", 2, 8, 7)),
            1000,
        ),
    ]
    two_halves: Code = (_i("loadk", 0, 0), _i("concat", 1, 0, 0), _i("concat", 9, 0, 0))  # r1, r9: distinct 1M
    split_unsorted: Code = (_i("loadk", 0, 0), _i("loadk", 4, 1), _i("split", 5, 0, 4))  # r5: 99,999 strs
    periodic: list[Case] = []
    for size in (10, 100, 1000, 10_000):
        needle = "a" * size + "b"
        periodic.append(Case(f"find, needle {size + 1}", (HALF, needle), (*two_halves, _i("loadk", 4, 1)), (), 20))
    cases += [Case(c.name, c.constants, c.setup, (_i("find", 2, 1, 4),), c.copies) for c in periodic]
    cases += [
        Case(
            "contains, needle 101",
            (HALF, "a" * 100 + "b"),
            (*two_halves, _i("loadk", 4, 1)),
            (_i("contains", 3, 1, 4),),
            20,
        ),
        Case("eq of 1M strings", (HALF,), two_halves, (_i("eq", 3, 1, 9),), 50),
        Case("ne of 1M strings", (HALF,), two_halves, (_i("ne", 3, 1, 9),), 50),
        Case("concat 500K + 500K", (HALF,), (_i("loadk", 0, 0),), (_i("concat", 4, 0, 0),), 20),
        Case(
            "slice 1M",
            (HALF, 0, MILLION),
            (*two_halves, _i("loadk", 6, 1), _i("loadk", 7, 2)),
            (_i("slice", 4, 1, 6),),
            20,
        ),
        Case("upper 1M ascii", (HALF,), two_halves, (_i("upper", 4, 1),), 20),
        Case(
            "upper 250K non-BMP",
            (DESERET * (MILLION // 8),),
            (_i("loadk", 0, 0), _i("concat", 1, 0, 0)),
            (_i("upper", 4, 1),),
            10,
        ),
        Case(
            "lower 250K non-BMP",
            (DESERET.upper() * (MILLION // 8),),
            (_i("loadk", 0, 0), _i("concat", 1, 0, 0)),
            (_i("lower", 4, 1),),
            10,
        ),
        Case(
            "trim 1M spaces",
            (" " * (MILLION // 2),),
            (_i("loadk", 0, 0), _i("concat", 1, 0, 0)),
            (_i("trim", 4, 1),),
            20,
        ),
        Case(
            "split into 100K non-Latin-1 pieces",
            (DESERET + ("," + DESERET) * 99_999, ","),
            (_i("loadk", 0, 0), _i("loadk", 4, 1)),
            (_i("split", 5, 0, 4),),
            10,
        ),
        Case(
            "join of 100K empty strings",
            ("," * 99_999, ",", ""),
            (_i("loadk", 0, 0), _i("loadk", 4, 1), _i("split", 5, 0, 4), _i("loadk", 4, 2)),
            (_i("join", 9, 5, 4),),
            10,
        ),
        Case("lt of 1M equal strings", (HALF,), two_halves, (_i("lt", 3, 1, 9),), 50),
        Case("startswith 1M", (HALF,), two_halves, (_i("startswith", 3, 1, 9),), 50),
        Case(
            "replace every character of 1M",
            (HALF, "a", "b"),
            (*two_halves, _i("loadk", 0, 1), _i("loadk", 1, 2)),  # r0, r1: the pair old, new; r9: the text
            (_i("replace", 4, 9, 0),),
            10,
        ),
        Case("sort 100K distinct strs", (UNSORTED, ","), split_unsorted, (_i("sort", 10, 5),), 5),
        Case("copy 100K items", (UNSORTED, ","), split_unsorted, (_i("copy", 10, 5),), 20),
        Case(
            "aslice 100K items",
            (UNSORTED, ",", 0, MILLION),
            (*split_unsorted, _i("loadk", 6, 2), _i("loadk", 7, 3)),
            (_i("aslice", 10, 5, 6),),
            20,
        ),
        Case(
            "insert, removeat at 0 of 100K",
            (UNSORTED, ",", 0),
            (*split_unsorted, _i("loadk", 2, 2)),
            (_i("insert", 5, 2, 0), _i("removeat", 0, 5, 2)),
            20,
        ),
        Case("repeat to 1M", ("a", MILLION), (_i("loadk", 0, 0), _i("loadk", 2, 1)), (_i("repeat", 4, 0, 2),), 20),
        Case("parseint, 19 digits", ("-9223372036854775808",), (_i("loadk", 0, 0),), (_i("parseint", 2, 0),), 2000),
        Case(
            "len, charat",
            (HALF, 5),
            (_i("loadk", 0, 0), _i("loadk", 6, 1)),
            (_i("len", 2, 0), _i("charat", 4, 0, 6)),
            1000,
        ),
    ]
    return cases


def _float_cases(cheap_ints: tuple[int, ...], setup_ints: Code) -> list[Case]:
    """The float opcodes (#17): bounded work each, so the cheap operands are also the worst ones."""
    constants = (*cheap_ints, 1.5, -2.5e300)  # k3, k4
    setup = (*setup_ints, _i("loadk", 11, 3), _i("loadk", 12, 4))
    return [
        Case("fadd, fmul", constants, setup, (_i("fadd", 13, 11, 12), _i("fmul", 13, 11, 11)), 1000),
        Case("fdiv, fmod", constants, setup, (_i("fdiv", 13, 12, 11), _i("fmod", 13, 12, 11)), 1000),
        Case("itof, ftoi", constants, setup, (_i("itof", 13, 6), _i("ftoi", 2, 11)), 1000),
        Case("floor, round", constants, setup, (_i("floor", 2, 11), _i("round", 2, 11)), 1000),
        Case("sqrt, fmin", constants, setup, (_i("sqrt", 13, 11), _i("fmin", 13, 11, 12)), 1000),
        Case("tostr float", constants, setup, (_i("tostr", 4, 12),), 2000),
        Case(
            "parsefloat, 1M characters",
            ("0." + "1" * (MILLION - 2),),
            (_i("loadk", 0, 0),),
            (_i("parsefloat", 13, 0),),
            20,
        ),
    ]


def _module(case: Case) -> Module:
    setup = [Instruction(OPS_BY_NAME[n].op.value, a, b, c) for n, a, b, c in case.setup]
    code = list(setup)
    for _ in range(case.copies):
        for name, a, b, c in case.body:
            if name == "jmpif":
                b = len(code) + 1
            code.append(Instruction(OPS_BY_NAME[name].op.value, a, b, c))
    code.append(Instruction(OPS_BY_NAME["ret"].op.value, 2, 0, 0))
    main = Function("main", True, 0, INT, REGISTERS, tuple(code))
    return Module(case.constants, (), (main,), SourceMap((), ((),)))  # type: ignore[arg-type]  # floats: format v2


def _wide_call_module() -> Module:
    """`call` of a callee with max_registers (4,096) registers, the frame the interpreter must build per call."""
    callee = Function("wide", False, 0, None, (INT,) * 4096, (Instruction(OPS_BY_NAME["retv"].op.value, 0, 0, 0),))
    call = Instruction(OPS_BY_NAME["call"].op.value, 1, 0, 0)
    main = Function(
        "main", True, 0, INT, REGISTERS, (*(call,) * 500, Instruction(OPS_BY_NAME["ret"].op.value, 2, 0, 0))
    )
    return Module((), (), (main, callee), SourceMap((), ((), ())))


def _fresh_call_module(register: ValueType, calls: int) -> Module:
    """`call` of a callee whose 4,096 registers are all `register`: fresh arrays, maps or 255-field structs, the
    most a frame can make (the interpreter makes every one; the compiled engine only those read before written,
    but charges for all: costs.frame_work)."""
    structs = (StructDef("Wide", tuple(StructField(f"f{i}", INT) for i in range(255))),)
    callee = Function(
        "fresh", False, 0, None, (register,) * 4096, (Instruction(OPS_BY_NAME["retv"].op.value, 0, 0, 0),)
    )
    call = Instruction(OPS_BY_NAME["call"].op.value, 1, 0, 0)
    main = Function(
        "main", True, 0, INT, REGISTERS, (*(call,) * calls, Instruction(OPS_BY_NAME["ret"].op.value, 2, 0, 0))
    )
    return Module((), (), (main, callee), SourceMap((), ((), ())), structs=structs)


def _capcall_module(argument: ValueType, constants: tuple[int | str, ...], setup: Code) -> Module:
    take = Capability("host.take", (argument,), None)
    register = 1 if argument == STR else 8
    capcall = Instruction(OPS_BY_NAME["capcall"].op.value, 0, register, 0)
    code = [Instruction(OPS_BY_NAME[n].op.value, a, b, c) for n, a, b, c in setup]
    code += [capcall] * 100 + [Instruction(OPS_BY_NAME["ret"].op.value, 2, 0, 0)]
    main = Function("main", True, 0, INT, REGISTERS, tuple(code))
    return Module(constants, (take,), (main,), SourceMap((), ((),)))


def _take(args: Sequence[Value], site: CallSite) -> None:
    return None


def _figure(engine: Interpreter | CompiledEngine) -> tuple[float, int]:
    """Median seconds of a call and the fuel it spent (after a first call, which translates on the compiled engine)."""
    fuel = engine.call("main", []).instructions
    times = []
    for _ in range(REPEATS):
        started = time.process_time()
        engine.call("main", [])
        times.append(time.process_time() - started)
    return statistics.median(times), fuel


def measure() -> dict[str, dict[str, float]]:
    """Seconds per unit of fuel of every case, by engine ("reference", "compiled")."""
    limits = Limits()
    modules: list[tuple[str, Module, tuple[Handler, ...]]] = [(c.name, _module(c), ()) for c in _cases()]
    modules.append(("call of a 4,096-register function", _wide_call_module(), ()))
    modules.append(("call making 4,096 fresh arrays", _fresh_call_module(INTS, 100), ()))
    modules.append(("call making 4,096 fresh maps", _fresh_call_module(map_type(INT, INT), 100), ()))
    modules.append(
        ("call making 4,096 fresh 255-field structs", _fresh_call_module(ValueType(TypeKind.STRUCT, ref=0), 20), ())
    )
    modules.append(("capcall with a 1M string", _capcall_module(STR, (HALF,), two()), (_take,)))
    modules.append(
        (
            "capcall with 1,000 arrays of 100 items",
            _capcall_module(INTS, (0,), (_i("loadk", 2, 0),) + (_i("push", 8, 2),) * 100),
            (_take,),
        )
    )
    out: dict[str, dict[str, float]] = {"reference": {}, "compiled": {}}
    for name, mod, handlers in modules:
        verified = verify(mod)
        reference = Interpreter(verified, limits, handlers)
        compiled = CompiledEngine(verified, limits, handlers)
        for engine, runner in (("reference", reference), ("compiled", compiled)):
            seconds, fuel = _figure(runner)
            out[engine][name] = seconds / fuel
    return out


def two() -> Code:
    return (_i("loadk", 0, 0), _i("concat", 1, 0, 0))


def run() -> dict[str, float]:
    figures = measure()
    out: dict[str, float] = {}
    for engine, per_case in figures.items():
        median = statistics.median(per_case.values())
        worst = max(per_case, key=lambda name: per_case[name])
        out[f"opcodes_{engine}_median_ns_per_fuel"] = median * 1e9
        out[f"opcodes_{engine}_worst_ns_per_fuel"] = per_case[worst] * 1e9
        out[f"opcodes_{engine}_worst_ratio"] = per_case[worst] / median
    return out


def main() -> int:
    figures = measure()
    for engine, per_case in figures.items():
        median = statistics.median(per_case.values())
        print(f"{engine}: median {median * 1e9:.1f} ns per unit of fuel")
        for name, seconds in sorted(per_case.items(), key=lambda item: -item[1]):
            print(f"  {name:40s} {seconds * 1e9:10.1f} ns/fuel  {seconds / median:6.1f}x median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
