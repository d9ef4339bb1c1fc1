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
from dataclasses import replace
from pathlib import Path

from chronicle_vm.core.isa import OPCODES, OPS_BY_NAME
from chronicle_vm.core.model import (
    Capability,
    Constant,
    Function,
    Instruction,
    Module,
    SourceMap,
    SourcePos,
    fitting_version,
)
from chronicle_vm.core.type_registry import zero_value
from chronicle_vm.core.types import ValueType
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import VerifiedModule

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


_EVERY_OPCODE_CASM = Path(__file__).with_name("every_opcode.casm")


def every_opcode_module() -> Module:
    """A valid module using every opcode: `main(n: int) -> int` (exported), `add2`, `noop`, `helper`, two capabilities.

    Its code is the labelled `every_opcode.casm`; the source map is attached here: main and helper at
    `plugin.chr` lines 1.., add2 at `lib.chr` lines 10.., noop without positions.
    """
    from chronicle_asm import assemble_text

    assembled = assemble_text(_EVERY_OPCODE_CASM.read_text(encoding="utf-8"), _EVERY_OPCODE_CASM.name)
    main, add2, _noop, helper = assembled.functions
    source = SourceMap(
        files=("plugin.chr", "lib.chr"),
        functions=(positions(main), positions(add2, 1, 10), (), positions(helper)),
    )
    return replace(assembled, source_map=source, version=fitting_version(assembled))  # floats: version 2


def _marked_leaders() -> tuple[tuple[int, ...], ...]:
    """The instructions `every_opcode.casm` marks `; leader`, per function (an expectation written beside the code)."""
    out: list[tuple[int, ...]] = []
    leaders: list[int] = []
    count = 0
    for raw in _EVERY_OPCODE_CASM.read_text(encoding="utf-8").splitlines():
        code, _, comment = raw.partition(";")
        code = code.strip()
        if code.startswith(".func"):
            leaders, count = [], 0
        elif code == ".end":
            out.append(tuple(leaders))
        elif code and not code.startswith(".") and not code.endswith(":"):
            if comment.strip() == "leader":
                leaders.append(count)
            count += 1
    return tuple(out)


#: Expected block leaders of `every_opcode_module()`, per function (read from the `; leader` markers).
EVERY_OPCODE_LEADERS: tuple[tuple[int, ...], ...] = _marked_leaders()


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
    return zero_value(vtype)  # 0, False, "", 0.0 or a new empty array


def run_exports(verified: VerifiedModule) -> None:
    """Run each export of an accepted module on zero values: only a result or a runtime/limit error may come out.

    No capability handler is given, so a `capcall` ends in a runtime error;
    that too is a structured outcome.
    """
    from chronicle_vm.engines.reference import run_entry

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
