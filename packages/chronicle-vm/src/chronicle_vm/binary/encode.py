"""The `.cmod` encoder: takes a `Module`, gives its bytes; guarantees `decode_module(encode_module(m)) == m`.

Before the `MODULE` schema's compiled writer builds the bytes, the module
is checked for what the format cannot hold (an int constant outside signed
64 bits, a bool constant, a non-finite float, an unknown opcode, an operand or
number outside u32, a string that is not encodable UTF-8, a bad type or struct
table, more structs, fields or type nodes than the bounds, a source map whose
entry count differs from the function count, a version-1 module holding what
only version 2 can); each is a `UsageError` with code
`usage.unencodable-module` naming what and where.  Meaning (register
indexes, jump targets...) is not checked: that is the verifier's job.
"""

from __future__ import annotations

import math
import struct

from chronicle_vm.core.isa import OPCODES
from chronicle_vm.core.model import (
    FORMAT_VERSIONS,
    Capability,
    Function,
    Module,
    SourceMap,
    SourcePos,
    fitting_version,
    module_types,
)
from chronicle_vm.core.types import (
    MAX_STRUCT_FIELDS,
    MAX_STRUCTS,
    MAX_TYPE_NODES,
    V1_INTERNED,
    StructDef,
    StructField,
    type_nodes,
    type_problem,
)
from chronicle_vm.errors import UsageError, declare_codes

from .schema import I64_MAX, I64_MIN, SUPPORTED_VERSIONS, U32_MAX, WRITE_MODULE

__all__ = ["encode_module"]

declare_codes(
    "usage",
    {"unencodable-module": "a Module holds something the .cmod format cannot encode (named in the message)"},
)


def _refuse(where: str, problem: str) -> UsageError:
    return UsageError("unencodable-module", f"{where}: {problem}", where=where)


def _is_int(value: object) -> bool:
    return type(value) is int or (isinstance(value, int) and not isinstance(value, bool))


def _check_u32(value: object, where: str) -> None:
    if not _is_int(value) or not 0 <= value <= U32_MAX:  # type: ignore[operator]
        raise _refuse(where, f"{value!r} is not an int in 0..{U32_MAX}")


def _check_text(value: object, where: str) -> None:
    if not isinstance(value, str):
        raise _refuse(where, f"{value!r} is not a str")
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _refuse(where, f"not encodable as UTF-8 ({exc.reason} at character {exc.start})") from None
    if len(raw) > U32_MAX:
        raise _refuse(where, f"{len(raw)} bytes is longer than {U32_MAX}")


def _check_count(items: object, where: str) -> tuple[object, ...]:
    if not isinstance(items, tuple):
        raise _refuse(where, f"{type(items).__name__} is not a tuple")
    if len(items) > U32_MAX:
        raise _refuse(where, f"{len(items)} items is more than {U32_MAX}")
    return items


def _check_type(value: object, where: str, structs: int) -> None:
    problem = type_problem(value, structs)
    if problem is not None:
        raise _refuse(where, f"not a type the format holds: {problem}")


#: The shared version-1 type objects: always valid, recognised by identity.
_SHARED = frozenset(map(id, V1_INTERNED))


def _check_types(values: object, where: str, structs: int, checked: set[int] | None = None) -> None:
    """Each type in `values` is valid; `checked` holds the ids of type objects already found valid in this
    module (alive in it for the whole check), so a decoded module's repeated objects are checked once."""
    items = _check_count(values, where)
    known = checked if checked is not None else set(_SHARED)
    if known.issuperset(map(id, items)):
        return
    for index, value in enumerate(items):
        if id(value) not in known:
            _check_type(value, f"{where}[{index}]", structs)
            known.add(id(value))


def _check_result(value: object, where: str, structs: int) -> None:
    if value is not None:
        _check_type(value, where, structs)


def _check_constant(value: object, where: str) -> None:
    if isinstance(value, bool):
        raise _refuse(where, f"bool {value!r} cannot be a constant (the pool holds int, str and float; use loadb)")
    if _is_int(value):
        if not I64_MIN <= value <= I64_MAX:  # type: ignore[operator]
            raise _refuse(where, f"int {value} is outside signed 64-bit ({I64_MIN}..{I64_MAX})")
        return
    if isinstance(value, str):
        _check_text(value, where)
        return
    if type(value) is float:
        if not math.isfinite(value):
            raise _refuse(where, f"float {value!r} is not finite (constants are finite floats)")
        return
    raise _refuse(where, f"{type(value).__name__} {value!r} cannot be a constant (int, str or float only)")


def _check_structs(structs: object) -> int:
    items = _check_count(structs, "structs")
    if len(items) > MAX_STRUCTS:
        raise _refuse("structs", f"{len(items)} structs is more than {MAX_STRUCTS}")
    for index, struct_def in enumerate(items):
        where = f"structs[{index}]"
        if not isinstance(struct_def, StructDef):
            raise _refuse(where, f"{struct_def!r} is not a StructDef")
        _check_text(struct_def.name, f"{where}.name")
        fields = _check_count(struct_def.fields, f"{where}.fields")
        if len(fields) > MAX_STRUCT_FIELDS:
            raise _refuse(f"{where}.fields", f"{len(fields)} fields is more than {MAX_STRUCT_FIELDS}")
        for number, item in enumerate(fields):
            at = f"struct {struct_def.name!r} field {number}"
            if not isinstance(item, StructField):
                raise _refuse(at, f"{item!r} is not a StructField")
            _check_text(item.name, f"{at} name")
            _check_type(item.type, f"{at} ({item.name}) type", len(items))
    return len(items)


def _check_version_number(version: object) -> None:
    if type(version) is not int or version not in FORMAT_VERSIONS:
        raise _refuse(
            "version",
            f"this runtime writes format versions {', '.join(str(v) for v in FORMAT_VERSIONS)}, not {version!r} "
            f"(it reads {', '.join(str(v) for v in SUPPORTED_VERSIONS)})",
        )


def _check_version(module: Module) -> None:
    version = module.version
    if version == 1 and fitting_version(module) != 1:
        raise _refuse(
            "version",
            "the module has structs, float or map types or float constants, which need format version 2; "
            "it says version 1 (leave Module.version out to get the fitting version)",
        )
    if version >= 2:
        count = len(type_nodes(module_types(module)))
        if count > MAX_TYPE_NODES:
            raise _refuse("types", f"the module uses {count} distinct types, more than {MAX_TYPE_NODES}")


def _check_code(code: object, where: str) -> None:
    for index, ins in enumerate(_check_count(code, where)):
        at = f"{where}[{index}]"
        if not isinstance(ins, tuple) or len(ins) != 4:
            raise _refuse(at, f"{ins!r} is not an Instruction")
        op = ins[0]
        if not _is_int(op) or op not in OPCODES:
            raise _refuse(at, f"opcode {op!r} is not in the instruction set")
        for name, operand in zip("abc", ins[1:], strict=True):
            _check_u32(operand, f"{at} ({OPCODES[op].name}) operand {name}")


def _check_positions(positions: object, where: str) -> None:
    for index, pos in enumerate(_check_count(positions, where)):
        at = f"{where}[{index}]"
        if not isinstance(pos, tuple) or len(pos) != 3:
            raise _refuse(at, f"{pos!r} is not a SourcePos")
        for name, number in zip(SourcePos._fields, pos, strict=True):
            _check_u32(number, f"{at}.{name}")


def _check_source_map(source_map: object, function_count: int) -> None:
    if not isinstance(source_map, SourceMap):
        raise _refuse("source_map", f"{source_map!r} is not a SourceMap")
    _check_count(source_map.files, "source_map.files")
    for index, path in enumerate(source_map.files):
        _check_text(path, f"source_map.files[{index}]")
    _check_count(source_map.functions, "source_map.functions")
    if len(source_map.functions) != function_count:
        raise _refuse(
            "source_map.functions",
            f"{len(source_map.functions)} entries but the module has {function_count} functions "
            "(one entry per function, () for a function without positions)",
        )
    for index, positions in enumerate(source_map.functions):
        _check_positions(positions, f"source_map.functions[{index}]")


def check_encodable(module: Module) -> None:
    """Raise `usage.unencodable-module` for the first thing in `module` the format cannot hold."""
    if not isinstance(module, Module):
        raise _refuse("module", f"{type(module).__name__} is not a Module")
    _check_version_number(module.version)
    structs = _check_structs(module.structs)
    checked = set(_SHARED)
    _check_count(module.constants, "constants")
    for index, value in enumerate(module.constants):
        _check_constant(value, f"constants[{index}]")
    _check_count(module.capabilities, "capabilities")
    for index, cap in enumerate(module.capabilities):
        where = f"capabilities[{index}]"
        if not isinstance(cap, Capability):
            raise _refuse(where, f"{cap!r} is not a Capability")
        _check_text(cap.name, f"{where}.name")
        where = f"capability {cap.name!r}"
        _check_types(cap.params, f"{where} params", structs, checked)
        _check_result(cap.result, f"{where} result", structs)
    _check_count(module.functions, "functions")
    for index, fn in enumerate(module.functions):
        if not isinstance(fn, Function):
            raise _refuse(f"functions[{index}]", f"{fn!r} is not a Function")
        _check_text(fn.name, f"functions[{index}].name")
        where = f"function {index} {fn.name!r}"
        if not isinstance(fn.exported, bool):
            raise _refuse(f"{where} exported", f"{fn.exported!r} is not a bool")
        _check_u32(fn.param_count, f"{where} param_count")
        _check_types(fn.registers, f"{where} registers", structs, checked)
        _check_result(fn.result, f"{where} result", structs)
        _check_code(fn.code, f"{where} code")
    _check_source_map(module.source_map, len(module.functions))
    _check_version(module)


def encode_module(module: Module) -> bytes:
    """The `.cmod` bytes of `module`; raises `UsageError` (`usage.unencodable-module`) when it cannot be encoded."""
    check_encodable(module)
    out: list[bytes] = []
    try:
        WRITE_MODULE(module, out)
    except (struct.error, UnicodeError, OverflowError, ValueError, TypeError, KeyError, AttributeError) as exc:
        # check_encodable should have named the problem; this is the backstop.
        raise UsageError(
            "unencodable-module", f"the module cannot be encoded: {type(exc).__name__}: {exc}", where="module"
        ) from None
    return b"".join(out)
