"""Hypothesis strategies for the module model: takes size bounds, gives random Modules that encode and decode.

The modules are well-formed for the binary format, not for the verifier:
operands are random numbers (small ones more often, so some do point at
real registers), types are random, and a function's source map entry is
either empty or has one position per instruction.  Verifier, interpreter
and disassembler tests reuse these strategies.
"""

from __future__ import annotations

from hypothesis import strategies as st

from chronicle_vm.core.isa import OPCODES
from chronicle_vm.core.model import Capability, Constant, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import MAX_ARRAY_DEPTH, BaseType, ValueType, array_type

__all__ = [
    "capabilities",
    "constants",
    "functions",
    "instructions",
    "module_bytes",
    "modules",
    "names",
    "source_positions",
    "u32s",
    "value_types",
]

U32_MAX = 2**32 - 1


def u32s() -> st.SearchStrategy[int]:
    """Unsigned 32-bit numbers, small ones (0..16) and the extremes more often."""
    return st.one_of(st.integers(0, 16), st.sampled_from([U32_MAX, U32_MAX - 1, 2**31]), st.integers(0, U32_MAX))


def names() -> st.SearchStrategy[str]:
    """Function and capability names: identifier-like text, or any Unicode text (no surrogates)."""
    ident = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.0123456789", min_size=1, max_size=10)
    return st.one_of(ident, st.text(max_size=12))


def value_types(max_depth: int = MAX_ARRAY_DEPTH) -> st.SearchStrategy[ValueType]:
    """Any value type: a base in BaseType wrapped in 0..max_depth array levels (shallow ones more often)."""
    depth = st.one_of(st.integers(0, min(1, max_depth)), st.integers(0, max_depth))
    return st.builds(array_type, st.sampled_from(list(BaseType)), depth)


def constants() -> st.SearchStrategy[Constant]:
    """Constant pool entries: signed 64-bit ints or strings (never bools)."""
    return st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=20))


def capabilities() -> st.SearchStrategy[Capability]:
    """A capability declaration with 0..4 typed parameters and an optional result."""
    return st.builds(
        Capability,
        names(),
        st.lists(value_types(), max_size=4).map(tuple),
        st.none() | value_types(),
    )


def instructions() -> st.SearchStrategy[Instruction]:
    """An instruction with an opcode from `isa.OPCODES` and three random u32 operands."""
    return st.builds(Instruction, st.sampled_from(sorted(OPCODES)), u32s(), u32s(), u32s())


@st.composite
def functions(draw: st.DrawFn, max_registers: int = 8, max_code: int = 12) -> Function:
    """A function with random typed registers, a param_count up to its register count, and random code."""
    registers = tuple(draw(st.lists(value_types(), max_size=max_registers)))
    return Function(
        name=draw(names()),
        exported=draw(st.booleans()),
        param_count=draw(st.integers(0, len(registers))),
        result=draw(st.none() | value_types()),
        registers=registers,
        code=tuple(draw(st.lists(instructions(), max_size=max_code))),
    )


def source_positions(length: int, file_count: int) -> st.SearchStrategy[tuple[SourcePos, ...]]:
    """Exactly `length` positions whose file indexes are below `file_count` (any u32 when it is 0)."""
    files = st.integers(0, file_count - 1) if file_count else u32s()
    position = st.builds(SourcePos, files, st.integers(1, 10_000), st.integers(1, 500))
    return st.lists(position, min_size=length, max_size=length).map(tuple)


@st.composite
def modules(
    draw: st.DrawFn,
    max_constants: int = 6,
    max_capabilities: int = 4,
    max_functions: int = 4,
    max_code: int = 12,
) -> Module:
    """A random Module that encodes and decodes: random constants, capabilities and functions.

    Each function's source map entry is either empty or has one position per instruction.
    """
    function_list = draw(st.lists(functions(max_code=max_code), max_size=max_functions))
    files = tuple(draw(st.lists(st.text(max_size=16), max_size=3)))
    entries: list[tuple[SourcePos, ...]] = []
    for function in function_list:
        if draw(st.booleans()):
            entries.append(draw(source_positions(len(function.code), len(files))))
        else:
            entries.append(())
    return Module(
        constants=tuple(draw(st.lists(constants(), max_size=max_constants))),
        capabilities=tuple(draw(st.lists(capabilities(), max_size=max_capabilities))),
        functions=tuple(function_list),
        source_map=SourceMap(files=files, functions=tuple(entries)),
    )


def module_bytes(**bounds: int) -> st.SearchStrategy[bytes]:
    """The encoded bytes of `modules(**bounds)`."""
    return modules(**bounds).map(Module.to_bytes)
