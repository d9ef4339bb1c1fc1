"""Module builders for verifier tests: takes mnemonics and types, gives model `Module`s, guarantees nothing is checked.

`ins("add", 1, 2, 3)` spells an instruction by mnemonic, `fn(...)` a
function, `module(...)` a module whose source map has one (empty or given)
position list per function.  `every_opcode_module()` is a valid module that
uses every opcode of the table at least once, for positive tests and as a
seed for mutation properties.  `check_accepted` is the hook every accepted
module goes through: it checks the `VerifiedModule`'s own invariants, runs
every export in the reference interpreter under small limits
(`run_exports`: a result or a `ChronicleError`, nothing else), then any
runner added to `ACCEPTED_RUNNERS` (e.g. the compiled engine's).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chronicle_vm.errors import ChronicleError
from chronicle_vm.isa import OPCODES, OPS_BY_NAME
from chronicle_vm.limits import Limits
from chronicle_vm.model import Capability, Constant, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.types import BOOL, INT, STR, ValueType
from chronicle_vm.verify import VerifiedModule

__all__ = [
    "ACCEPTED_RUNNERS",
    "SMALL_LIMITS",
    "check_accepted",
    "every_opcode_module",
    "fn",
    "ins",
    "module",
    "positions",
    "run_exports",
]

INT_ARRAY = ValueType(INT.base, 1)
STR_ARRAY = ValueType(STR.base, 1)
INT_ARRAY2 = ValueType(INT.base, 2)


def ins(mnemonic: str, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    """An instruction by mnemonic (KeyError for an unknown one: a test bug, not input)."""
    return Instruction(OPS_BY_NAME[mnemonic].op.value, a, b, c)


def fn(
    name: str,
    code: Sequence[Instruction],
    *,
    registers: Sequence[ValueType] = (),
    params: int = 0,
    result: ValueType | None = None,
    exported: bool = False,
) -> Function:
    return Function(
        name=name,
        exported=exported,
        param_count=params,
        result=result,
        registers=tuple(registers),
        code=tuple(code),
    )


def positions(function: Function, file: int = 0, first_line: int = 1) -> tuple[SourcePos, ...]:
    """One position per instruction: line `first_line + i`, column 1."""
    return tuple(SourcePos(file, first_line + i, 1) for i in range(len(function.code)))


def module(
    *functions: Function,
    constants: Sequence[Constant] = (),
    capabilities: Sequence[Capability] = (),
    files: Sequence[str] = (),
    source: Sequence[tuple[SourcePos, ...]] | None = None,
) -> Module:
    """A module; without `source`, every function's position list is empty."""
    lists = tuple(tuple(p) for p in source) if source is not None else tuple(() for _ in functions)
    return Module(
        constants=tuple(constants),
        capabilities=tuple(capabilities),
        functions=tuple(functions),
        source_map=SourceMap(files=tuple(files), functions=lists),
    )


#: Registers of `main` in `every_opcode_module`, by role.
MAIN_REGISTERS: tuple[ValueType, ...] = (
    INT,  # r0 parameter n
    INT,  # r1
    BOOL,  # r2
    STR,  # r3
    STR,  # r4
    INT_ARRAY,  # r5
    STR_ARRAY,  # r6
    INT,  # r7 slice low
    INT,  # r8 slice high
    INT_ARRAY2,  # r9
)


def every_opcode_module() -> Module:
    """A valid module using every opcode: `main(n: int) -> int` (exported), `add2`, `noop`, two capabilities."""
    main_code = (
        ins("nop"),  # 0
        ins("loadk", 1, 0),  # 1  r1 = 42
        ins("loadk", 3, 1),  # 2  r3 = "hi"
        ins("loadk", 4, 1),  # 3  r4 = "hi"
        ins("loadb", 2, 1),  # 4
        ins("mov", 1, 0),  # 5
        ins("add", 1, 0, 1),  # 6
        ins("sub", 1, 0, 1),  # 7
        ins("mul", 1, 0, 1),  # 8
        ins("div", 1, 0, 1),  # 9
        ins("mod", 1, 0, 1),  # 10
        ins("neg", 1, 0),  # 11
        ins("lt", 2, 0, 1),  # 12
        ins("le", 2, 0, 1),  # 13
        ins("gt", 2, 0, 1),  # 14
        ins("ge", 2, 0, 1),  # 15
        ins("eq", 2, 0, 1),  # 16
        ins("eq", 2, 3, 4),  # 17
        ins("ne", 2, 2, 2),  # 18
        ins("not", 2, 2),  # 19
        ins("jmpif", 2, 22),  # 20
        ins("jmpifnot", 2, 22),  # 21
        ins("call", 1, 0, 1),  # 22 r1 = add2(r0, r1)
        ins("call", 2, 0, 0),  # 23 noop()
        ins("capcall", 0, 3, 0),  # 24 log.info(r3)
        ins("capcall", 1, 0, 1),  # 25 r1 = clock.now()
        ins("concat", 3, 3, 4),  # 26
        ins("tostr", 3, 0),  # 27
        ins("tostr", 3, 2),  # 28
        ins("len", 1, 3),  # 29
        ins("len", 1, 5),  # 30
        ins("slice", 3, 3, 7),  # 31
        ins("contains", 2, 3, 4),  # 32
        ins("find", 1, 3, 4),  # 33
        ins("parseint", 1, 3),  # 34
        ins("upper", 3, 3),  # 35
        ins("lower", 3, 3),  # 36
        ins("trim", 3, 3),  # 37
        ins("split", 6, 3, 4),  # 38
        ins("join", 3, 6, 4),  # 39
        ins("repeat", 3, 3, 1),  # 40
        ins("charat", 3, 3, 1),  # 41
        ins("newarr", 5),  # 42
        ins("push", 5, 1),  # 43
        ins("pop", 1, 5),  # 44
        ins("getidx", 1, 5, 0),  # 45
        ins("setidx", 5, 0, 1),  # 46
        ins("newarr", 9),  # 47
        ins("push", 9, 5),  # 48
        ins("getidx", 5, 9, 0),  # 49
        ins("mov", 6, 6),  # 50
        ins("jmpifnot", 2, 53),  # 51
        ins("trap", 2),  # 52
        ins("ret", 1),  # 53
    )
    main = fn("main", main_code, registers=MAIN_REGISTERS, params=1, result=INT, exported=True)
    add2 = fn("add2", (ins("add", 2, 0, 1), ins("ret", 2)), registers=(INT, INT, INT), params=2, result=INT)
    noop = fn("noop", (ins("retv"),))
    helper = fn("helper", (ins("jmp", 0),), exported=True)
    functions = (main, add2, noop, helper)
    return module(
        *functions,
        constants=(42, "hi", "boom", -(2**63), 2**63 - 1),
        capabilities=(Capability("log.info", (STR,), None), Capability("clock.now", (), INT)),
        files=("plugin.chr", "lib.chr"),
        source=(positions(main), positions(add2, 1, 10), (), positions(helper)),
    )


#: Expected block leaders of `every_opcode_module()`, per function.
EVERY_OPCODE_LEADERS: tuple[tuple[int, ...], ...] = ((0, 21, 22, 52, 53), (0,), (0,), (0,))


#: Extra checks run on every module a property accepts (other engines' tests append runners here).
ACCEPTED_RUNNERS: list[Callable[[VerifiedModule], None]] = []

#: Small limits for running arbitrary accepted modules: loops and growth stop quickly.
SMALL_LIMITS = Limits(
    max_instructions=2_000,
    max_call_depth=50,
    max_registers=4_096,
    max_stack_registers=100_000,
    max_array_len=1_000,
    max_string_len=10_000,
    max_allocation=100_000,
)


def _zero_argument(vtype: ValueType) -> object:
    if vtype.depth:
        return []
    return {INT.base: 0, BOOL.base: False, STR.base: ""}[vtype.base]


def run_exports(verified: VerifiedModule) -> None:
    """Run each export of an accepted module on zero values: only a result or a runtime/limit error may come out.

    No capability handler is given, so a `capcall` ends in a runtime error;
    that too is a structured outcome.
    """
    from chronicle_vm.interp import run_entry

    for name, index in verified.exports.items():
        args = [_zero_argument(t) for t in verified.module.functions[index].params]
        try:
            outcome = run_entry(verified, name, args, limits=SMALL_LIMITS)
        except ChronicleError as error:
            assert error.category in ("runtime", "limit"), error.code
        else:
            assert outcome.instructions <= SMALL_LIMITS.max_instructions


def check_accepted(verified: VerifiedModule) -> None:
    """The hook for accepted modules: the VerifiedModule's invariants, a byte round trip, a run of each export,
    then every registered runner."""
    mod = verified.module
    assert verified.function_names == tuple(f.name for f in mod.functions)
    assert len(verified.block_leaders) == len(mod.functions)
    for function, leaders in zip(mod.functions, verified.block_leaders, strict=True):
        assert leaders[0] == 0
        assert list(leaders) == sorted(set(leaders))
        assert leaders[-1] < len(function.code)
        assert OPCODES[function.code[-1].op].ends_block
    assert dict(verified.exports) == {f.name: i for i, f in enumerate(mod.functions) if f.exported}
    # A verified module fits the binary format (a trace's provenance hashes its bytes).
    assert Module.from_bytes(mod.to_bytes()) == mod
    run_exports(verified)
    for runner in ACCEPTED_RUNNERS:
        runner(verified)
