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
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    MAX_ARRAY_DEPTH,
    STR,
    BaseType,
    StructDef,
    StructField,
    ValueType,
    array_type,
    map_type,
    struct_type,
)

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
    "v2_modules",
    "v2_value_types",
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


# --- version 2: float, map and struct types, float constants, a struct table ---------------------------


def v2_value_types(struct_count: int, max_depth: int = 3) -> st.SearchStrategy[ValueType]:
    """Any version-2 type over a table of `struct_count` structs: arrays and maps nesting at most
    `max_depth` levels, or a version-1 type of any depth up to MAX_ARRAY_DEPTH."""
    return st.one_of(_nested_types(struct_count, max_depth), value_types())


def _nested_types(struct_count: int, max_depth: int) -> st.SearchStrategy[ValueType]:
    leaves = [st.sampled_from([INT, BOOL, STR, FLOAT])]
    if struct_count:
        leaves.append(st.integers(0, struct_count - 1).map(struct_type))
    leaf = st.one_of(*leaves)
    if max_depth == 0:
        return leaf
    inner = st.deferred(lambda: _nested_types(struct_count, max_depth - 1))
    keys = st.sampled_from([INT, STR, BOOL])
    return st.one_of(leaf, inner.map(ValueType.array_of), st.builds(map_type, keys, inner))


def v2_constants() -> st.SearchStrategy[Constant]:
    """Pool entries of version 2: ints, strings and finite floats (-0.0 and the extremes included)."""
    floats = st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([0.0, -0.0, 5e-324, -1.7976931348623157e308, 0.1, 1e16]),
    )
    return st.one_of(constants(), floats)


@st.composite
def v2_modules(draw: st.DrawFn, max_structs: int = 4, max_functions: int = 3, max_code: int = 8) -> Module:
    """A random module using what version 2 adds (it may still fit version 1; then it is sometimes
    written as version 2 anyway): a struct table, version-2 types everywhere types appear, float constants."""
    count = draw(st.integers(0, max_structs))
    types = v2_value_types(count)
    field = st.builds(StructField, names(), types)
    structs = tuple(StructDef(draw(names()), tuple(draw(st.lists(field, max_size=4)))) for _ in range(count))
    function_list = []
    for _ in range(draw(st.integers(0, max_functions))):
        registers = tuple(draw(st.lists(types, max_size=6)))
        function_list.append(
            Function(
                name=draw(names()),
                exported=draw(st.booleans()),
                param_count=draw(st.integers(0, len(registers))),
                result=draw(st.none() | types),
                registers=registers,
                code=tuple(draw(st.lists(instructions(), max_size=max_code))),
            )
        )
    caps = st.builds(Capability, names(), st.lists(types, max_size=3).map(tuple), st.none() | types)
    files = tuple(draw(st.lists(st.text(max_size=8), max_size=2)))
    entries = tuple(
        draw(source_positions(len(f.code), len(files))) if draw(st.booleans()) else () for f in function_list
    )
    module = Module(
        constants=tuple(draw(st.lists(v2_constants(), max_size=6))),
        capabilities=tuple(draw(st.lists(caps, max_size=3))),
        functions=tuple(function_list),
        source_map=SourceMap(files=files, functions=entries),
        structs=structs,
    )
    if module.version == 1 and draw(st.booleans()):
        module = Module(
            constants=module.constants,
            capabilities=module.capabilities,
            functions=module.functions,
            source_map=module.source_map,
            version=2,
        )
    return module
