"""Hand-built modules for tests: takes nothing, gives small Modules that encode, decode and verify.

Every module here is well-typed by the rules of `chronicle_vm.core.isa` (so the
verifier's tests can start from it) and carries a source map with one
entry per function.  The prefix and mutation smoke tests of the decoder
walk their bytes.
"""

from __future__ import annotations

from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT, STR, array_type

__all__ = [
    "all_builders",
    "header",
    "i64",
    "raw_module",
    "section",
    "text",
    "u8",
    "u16",
    "u32",
    "arrays_module",
    "empty_module",
    "small_valid_module",
    "strings_module",
]


def _i(op: Op, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    return Instruction(int(op), a, b, c)


def empty_module() -> Module:
    """No constants, no capabilities, no functions: the smallest module."""
    return Module()


def small_valid_module() -> Module:
    """Two capabilities (`log.info(str)`, `clock.now() -> int`), a helper `add` and an exported `main`.

    `main(n: int) -> int` returns `add(n, 2) + clock.now()` after logging
    "hello"; `main` has a position per instruction, `add` has none.
    """
    add = Function(
        name="add",
        exported=False,
        param_count=2,
        result=INT,
        registers=(INT, INT, INT),
        code=(_i(Op.ADD, 2, 0, 1), _i(Op.RET, 2)),
    )
    main = Function(
        name="main",
        exported=True,
        param_count=1,
        result=INT,
        registers=(INT, INT, INT, STR, INT),
        code=(
            _i(Op.LOADK, 1, 0),  # r1 = 2
            _i(Op.CALL, 0, 0, 2),  # r2 = add(r0, r1)
            _i(Op.LOADK, 3, 1),  # r3 = "hello"
            _i(Op.CAPCALL, 0, 3, 0),  # log.info(r3)
            _i(Op.CAPCALL, 1, 0, 4),  # r4 = clock.now()
            _i(Op.ADD, 2, 2, 4),
            _i(Op.RET, 2),
        ),
    )
    return Module(
        constants=(2, "hello"),
        capabilities=(
            Capability("log.info", (STR,), None),
            Capability("clock.now", (), INT),
        ),
        functions=(add, main),
        source_map=SourceMap(
            files=("main.chr",),
            functions=((), tuple(SourcePos(0, 7, col) for col in range(1, 8))),
        ),
    )


def strings_module() -> Module:
    """Non-ASCII strings and file names, a negative and the extreme int constants, a branch and a trap."""
    check = Function(
        name="check",
        exported=True,
        param_count=1,
        result=BOOL,
        registers=(INT, INT, BOOL),
        code=(
            _i(Op.LOADK, 1, 0),  # r1 = -1
            _i(Op.LT, 2, 0, 1),  # r2 = n < -1
            _i(Op.JMPIFNOT, 2, 4),
            _i(Op.TRAP, 3),  # "zu klein ☹"
            _i(Op.RET, 2),
        ),
    )
    return Module(
        constants=(-1, -(2**63), 2**63 - 1, "zu klein ☹", "", "🦀"),
        capabilities=(Capability("kv.get", (STR,), STR),),
        functions=(check,),
        source_map=SourceMap(
            files=("lib/größe.chr", "main.chr"),
            functions=(tuple(SourcePos(1, line, 3) for line in range(10, 15)),),
        ),
    )


def arrays_module() -> Module:
    """Array types of several depths in registers, parameters and results."""
    ints = array_type(INT.base, 1)
    grid = array_type(STR.base, 2)
    build = Function(
        name="build",
        exported=True,
        param_count=1,
        result=ints,
        registers=(INT, ints, grid),
        code=(
            _i(Op.NEWARR, 1),
            _i(Op.PUSH, 1, 0),
            _i(Op.NEWARR, 2),
            _i(Op.RET, 1),
        ),
    )
    return Module(
        constants=(),
        capabilities=(Capability("grid.load", (grid, ints), grid),),
        functions=(build,),
        source_map=SourceMap(files=(), functions=((),)),
    )


def all_builders() -> dict[str, Module]:
    """Every hand-built module by name."""
    return {
        "empty": empty_module(),
        "small": small_valid_module(),
        "strings": strings_module(),
        "arrays": arrays_module(),
    }


# --- raw bytes, written by hand from docs/module-format.md -------------------
# Independent of chronicle_vm.binary.schema on purpose: tests compare the schema's
# output with these and craft malformed files from them.


def u8(value: int) -> bytes:
    return value.to_bytes(1, "big")


def u16(value: int) -> bytes:
    return value.to_bytes(2, "big")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def i64(value: int) -> bytes:
    return value.to_bytes(8, "big", signed=True)


def text(value: str | bytes) -> bytes:
    """A string field: u32 byte length then the bytes (str is UTF-8 encoded)."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return u32(len(raw)) + raw


def section(tag: int, payload: bytes) -> bytes:
    return u8(tag) + u32(len(payload)) + payload


def header(version: int = 1) -> bytes:
    return b"CHRM" + u16(version)


def raw_module(
    constants: bytes = u32(0),
    capabilities: bytes = u32(0),
    functions: bytes = u32(0),
    source_map: bytes = u32(0) + u32(0),
    version: int = 1,
) -> bytes:
    """A whole file from section payloads (each defaults to an empty section)."""
    return (
        header(version)
        + section(1, constants)
        + section(2, capabilities)
        + section(3, functions)
        + section(4, source_map)
    )
