"""The Construct-free parts of the `.cmod` reader: takes raw bytes at an offset, gives model values or a `FormatFault`.

`schema` defines the bytes with Construct schemas; what its readers share
with the reader generated from them (`_reader_gen`, which a run imports
instead of Construct) lives here: the fault type, the record decoders, the
version-2 type table and its canonical-order check.  Nothing here knows a
layout the schema does not spell out; the schema's constructs call these
same functions.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from chronicle_vm.core.isa import OPCODES
from chronicle_vm.core.model import FORMAT_VERSIONS, Instruction, Module, SourcePos, module_types
from chronicle_vm.core.type_registry import encode_v1, v1_types
from chronicle_vm.core.types import (
    MAP_KEY_KINDS,
    MAX_ARRAY_DEPTH,
    MAX_STRUCT_FIELDS,
    MAX_STRUCTS,
    MAX_TYPE_DEPTH,
    MAX_TYPE_NODES,
    V1_INTERNED,
    BaseType,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    type_depth,
    type_nodes,
)

__all__ = [
    "I64_MAX",
    "I64_MIN",
    "MAGIC",
    "NODE_KINDS",
    "SECTIONS",
    "SECTIONS_V2",
    "SUPPORTED_VERSIONS",
    "TYPE_NODE_SIZE",
    "U32_MAX",
    "BadRecord",
    "FormatFault",
    "bad_ref",
    "check_canonical",
    "count_at",
    "count_mismatch",
    "decode_flags",
    "decode_instructions",
    "decode_positions",
    "decode_types",
    "float_problem",
    "function_count",
    "read_type_refs",
    "read_type_table",
    "read_utf8",
    "section_mismatch",
    "section_order_fault",
    "section_overrun",
    "section_relabel",
    "short",
    "too_large",
    "version_problem",
]

MAGIC = b"CHRM"
#: Versions this runtime reads and writes (a module is written as its `Module.version`).
SUPPORTED_VERSIONS: tuple[int, ...] = FORMAT_VERSIONS
#: Section tags of version 1 in the order they must appear, with their titles.
SECTIONS: Mapping[int, str] = {1: "constants", 2: "capabilities", 3: "functions", 4: "source map"}
#: Version 2 puts the type section (tag 0) before the four sections of version 1.
SECTIONS_V2: Mapping[int, str] = {0: "types", **SECTIONS}
#: Bytes of one version-2 type node: kind u8, a u32, b u32.
TYPE_NODE_SIZE = 9

U32_MAX = 2**32 - 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

U32 = struct.Struct(">L")
NODE = struct.Struct(">BLL")
#: Version-2 type node kinds: scalars take no operand, array (a = element), map (a = key, b = value),
#: struct (a = index into the struct table).
NODE_KINDS: Mapping[int, TypeKind] = {
    1: TypeKind.INT,
    2: TypeKind.BOOL,
    3: TypeKind.STR,
    4: TypeKind.FLOAT,
    5: TypeKind.ARRAY,
    6: TypeKind.MAP,
    7: TypeKind.STRUCT,
}
KIND_TAGS = {kind: tag for tag, kind in NODE_KINDS.items()}


class FormatFault(Exception):
    """A parse-time problem with its decode code (without the `decode.` prefix) and byte offset."""

    def __init__(self, code: str, message: str, offset: int, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.details = details


class BadRecord(Exception):
    """Raised by a record decoder: record `index` of a batch is invalid."""

    def __init__(self, index: int, code: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.code = code
        self.message = message


def short(pos: int, need: int, end: int) -> FormatFault:
    """`need` bytes at `pos` run past `end` (inside a section, the section relabels this as section-length)."""
    return FormatFault(
        "truncated",
        f"{need} bytes are needed at byte {pos} but the data ends at byte {end} ({max(end - pos, 0)} remain)",
        pos,
        needed=need,
    )


def read_utf8(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    """A string at `pos` (u32 byte length, strict UTF-8) and the position after it."""
    start = pos + 4
    if start > end:
        raise short(pos, 4, end)
    (length,) = U32.unpack_from(data, pos)
    stop = start + length
    if stop > end:
        raise FormatFault(
            "count-too-large", f"{what} length {length} needs {length} bytes but {end - start} remain", pos
        )
    try:
        return data[start:stop].decode("utf-8"), stop
    except UnicodeDecodeError as exc:
        raise FormatFault(
            "bad-utf8", f"{what} is not valid UTF-8: {exc.reason} at byte {start + exc.start}", start + exc.start
        ) from None


def count_at(data: bytes, pos: int, end: int, what: str, least: int, bound: int, code: str) -> tuple[int, int]:
    """A u32 count at `pos`, checked against `bound` (fault `code`) and the bytes that remain; (count, after)."""
    if pos + 4 > end:
        raise short(pos, 4, end)
    (count,) = U32.unpack_from(data, pos)
    if count > bound:
        raise FormatFault(code, f"{what} count {count} exceeds the maximum {bound}", pos, count=count)
    if count * least > end - pos - 4:
        raise FormatFault(
            "count-too-large",
            f"{what} count {count} needs at least {count * least} bytes but {end - pos - 4} remain",
            pos,
            count=count,
        )
    return count, pos + 4


def section_order_fault(expected_tag: int, sections: Mapping[int, str], tag: int, at: int) -> FormatFault:
    """The fault for finding section `tag` at byte `at` where section `expected_tag` must come."""
    expected = f"section {expected_tag} ({sections[expected_tag]})"
    if tag not in sections:
        return FormatFault("bad-section", f"section tag {tag} is unknown; expected {expected}", at)
    if tag < expected_tag:
        return FormatFault(
            "duplicate-section", f"section {tag} ({sections[tag]}) appears again; expected {expected}", at
        )
    return FormatFault("section-order", f"section {tag} ({sections[tag]}) comes too early; expected {expected}", at)


def too_large(what: str, count: int, need: int, remain: int, at: int) -> FormatFault:
    """A count of `what` whose elements need at least `need` bytes where `remain` are left."""
    return FormatFault(
        "count-too-large", f"{what} count {count} needs at least {need} bytes but {remain} remain", at, count=count
    )


def count_mismatch(code: str, what: str, count: int, expected_what: str, expected: int, at: int) -> FormatFault:
    """A count of `what` that must equal another (the source map's entries, the functions)."""
    return FormatFault(code, f"{what} count is {count} but must equal the {expected_what} ({expected})", at)


def section_overrun(tag: int, sections: Mapping[int, str], length: int, remain: int, pos: int) -> FormatFault:
    """Section `tag` at `pos` declares `length` bytes where `remain` are left."""
    return FormatFault(
        "count-too-large",
        f"section {tag} ({sections[tag]}) length {length} needs {length} bytes but {remain} remain",
        pos + 1,
        section=tag,
    )


def section_relabel(fault: FormatFault, tag: int, sections: Mapping[int, str], pos: int, stop: int) -> FormatFault:
    """A fault inside section `tag` (at `pos`, ending at `stop`): running out of bytes there is section-length."""
    if fault.code != "truncated":
        return fault
    return FormatFault(
        "section-length",
        f"{fault.details['needed']} bytes are needed at byte {fault.offset} but section {tag} ({sections[tag]}), "
        f"which starts at byte {pos}, ends at byte {stop} ({max(stop - fault.offset, 0)} remain)",
        fault.offset,
        section=tag,
    )


def section_mismatch(tag: int, sections: Mapping[int, str], length: int, used: int, after: int) -> FormatFault:
    """Section `tag` declares `length` bytes but its contents use `used`."""
    return FormatFault(
        "section-length",
        f"section {tag} ({sections[tag]}) declares {length} bytes but its contents end after {used}",
        after,
        section=tag,
    )


def version_problem(version: int) -> str:
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    age = "older" if version < min(SUPPORTED_VERSIONS) else "newer"
    return f"format version {version} is {age} than this runtime reads (supported: {supported})"


def float_problem(value: float) -> str:
    return f"float constant {value!r} is not finite (constants are finite floats)"


def function_count(ctx: dict[str, Any]) -> int:
    """What the source map's entry count must equal: the number of functions already read."""
    return len(ctx["functions"])


# --- record decoders ----------------------------------------------------------

# Every version-1 type record, decoded once (the registry lists them), so decoding is a dict lookup.
_TYPES: dict[tuple[int, ...], ValueType] = {encode_v1(vtype): vtype for vtype in v1_types()}


def _type_problem(record: tuple[int, ...]) -> str:
    depth, base = record
    if depth > MAX_ARRAY_DEPTH:
        return f"type array depth {depth} exceeds the maximum {MAX_ARRAY_DEPTH}"
    return f"type base tag {base} is unknown (known: {', '.join(str(int(b)) for b in BaseType)})"


def decode_types(records: list[tuple[int, ...]]) -> tuple[ValueType, ...]:
    try:
        return tuple(map(_TYPES.__getitem__, records))
    except KeyError:
        index = next(i for i, r in enumerate(records) if r not in _TYPES)
        raise BadRecord(index, "bad-type", _type_problem(records[index])) from None


_OPS = frozenset(OPCODES)


def decode_instructions(records: list[tuple[int, ...]]) -> tuple[Instruction, ...]:
    if not _OPS.issuperset({r[0] for r in records}):
        index = next(i for i, r in enumerate(records) if r[0] not in _OPS)
        raise BadRecord(index, "bad-opcode", f"opcode 0x{records[index][0]:02x} is not in the instruction set")
    return tuple(map(Instruction._make, records))


def decode_positions(records: list[tuple[int, ...]]) -> tuple[SourcePos, ...]:
    return tuple(map(SourcePos._make, records))


_EXPORTED = {0: False, 1: True}


def decode_flags(records: list[tuple[int, ...]]) -> tuple[bool, ...]:
    try:
        return tuple([_EXPORTED[flags] for (flags,) in records])
    except KeyError:
        index = next(i for i, (flags,) in enumerate(records) if flags not in _EXPORTED)
        flags = records[index][0]
        raise BadRecord(
            index, "bad-flags", f"function flags 0x{flags:02x} set bits other than bit 0 (exported)"
        ) from None


# --- version 2: the type table ------------------------------------------------


def _node(index: int, record: tuple[int, int, int], nodes: list[ValueType], depths: list[int], at: int) -> ValueType:
    """Type node `index` from its record; its arguments are earlier nodes, so nothing here recurses."""
    tag, a, b = record
    kind = NODE_KINDS.get(tag)
    if kind is None:
        raise FormatFault("bad-type", f"type node {index}: kind {tag} is unknown (known: 1..7)", at, index=index)
    used = {TypeKind.ARRAY: 1, TypeKind.MAP: 2, TypeKind.STRUCT: 1}.get(kind, 0)
    if (used < 1 and a) or (used < 2 and b):
        raise FormatFault("bad-type", f"type node {index} ({kind.value}): an unused operand is not 0", at, index=index)
    if kind is TypeKind.STRUCT:
        return ValueType(kind, (), a)
    args = (a, b)[:used]
    for arg in args:
        if arg >= index:
            raise FormatFault(
                "bad-type-index",
                f"type node {index} ({kind.value}) refers to node {arg}; a node refers only to earlier nodes",
                at,
                index=index,
            )
    depth = 1 + max((depths[arg] for arg in args), default=-1)
    if depth > MAX_TYPE_DEPTH:
        raise FormatFault(
            "type-too-deep", f"type node {index} nests {depth} composite levels (at most {MAX_TYPE_DEPTH})", at
        )
    if kind is TypeKind.MAP and nodes[a].kind not in MAP_KEY_KINDS:
        raise FormatFault(
            "bad-map-key", f"type node {index}: a map key must be int, str or bool, not {nodes[a]}", at, index=index
        )
    vtype = ValueType(kind, tuple(nodes[arg] for arg in args))
    return V1_INTERNED.get(vtype, vtype)


def _read_nodes(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[list[ValueType], int]:
    count, pos = count_at(data, pos, end, "type node", TYPE_NODE_SIZE, MAX_TYPE_NODES, "too-many-type-nodes")
    nodes: list[ValueType] = []
    depths: list[int] = []
    seen: set[ValueType] = set()
    ctx["type_nodes_at"] = pos
    for index, record in enumerate(NODE.iter_unpack(data[pos : pos + count * TYPE_NODE_SIZE])):
        at = pos + index * TYPE_NODE_SIZE
        vtype = _node(index, record, nodes, depths, at)
        if vtype in seen:
            raise FormatFault("type-table-order", f"type node {index} ({vtype}) appears twice", at, index=index)
        seen.add(vtype)
        nodes.append(vtype)
        depths.append(type_depth(vtype))
    return nodes, pos + count * TYPE_NODE_SIZE


def read_type_table(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[tuple[StructDef, ...], int]:
    """The version-2 type section's contents: the nodes (put in `ctx["type_nodes"]`), then the structs it gives."""
    nodes, pos = _read_nodes(data, pos, end, ctx)
    structs: list[StructDef] = []
    count, pos = count_at(data, pos, end, "struct", 8, MAX_STRUCTS, "too-many-structs")
    for _ in range(count):
        struct_name, pos = read_utf8(data, pos, end, "struct name")
        fields = []
        number, pos = count_at(data, pos, end, "struct field", 8, MAX_STRUCT_FIELDS, "too-many-fields")
        for _ in range(number):
            label, pos = read_utf8(data, pos, end, "field name")
            if pos + 4 > end:
                raise short(pos, 4, end)
            (ref,) = U32.unpack_from(data, pos)
            if ref >= len(nodes):
                problem = f"field {label!r} has type {ref}, outside the {len(nodes)} type nodes"
                raise FormatFault("bad-type-index", problem, pos)
            fields.append(StructField(label, nodes[ref]))
            pos += 4
        structs.append(StructDef(struct_name, tuple(fields)))
    for index, vtype in enumerate(nodes):
        if vtype.kind is TypeKind.STRUCT and vtype.ref >= len(structs):
            raise FormatFault(
                "bad-struct-ref",
                f"type node {index} refers to struct {vtype.ref}, outside the {len(structs)} structs",
                ctx["type_nodes_at"] + index * TYPE_NODE_SIZE,
                index=index,
            )
    ctx["type_nodes"] = tuple(nodes)
    return tuple(structs), pos


def bad_ref(ref: int, count: int, what: str, at: int) -> FormatFault:
    return FormatFault("bad-type-index", f"{what} type {ref} is outside the {count} type nodes", at)


def read_type_refs(
    data: bytes, pos: int, end: int, ctx: dict[str, Any], what: str
) -> tuple[tuple[ValueType, ...], int]:
    """A u32 count, then that many version-2 types (u32 node indexes), unpacked in one call."""
    count, start = count_at(data, pos, end, what, 4, U32_MAX, "count-too-large")
    nodes = ctx["type_nodes"]
    refs = struct.unpack_from(f">{count}L", data, start)
    try:
        return tuple(map(nodes.__getitem__, refs)), start + 4 * count
    except IndexError:
        index = next(i for i, ref in enumerate(refs) if ref >= len(nodes))
        raise bad_ref(refs[index], len(nodes), what, start + 4 * index) from None


def check_canonical(module: Module, ctx: dict[str, Any]) -> None:
    """A version-2 file's type table must be the canonical one of the module it gives."""
    found: tuple[ValueType, ...] = ctx["type_nodes"]
    expected = type_nodes(module_types(module))
    if list(found) == expected:
        return
    index = next(
        (i for i, (a, b) in enumerate(zip(found, expected, strict=False)) if a != b), min(len(found), len(expected))
    )
    if index < len(found):
        want = f"expected {expected[index]}" if index < len(expected) else "expected no more nodes (it is unused)"
        problem = f"type node {index} is {found[index]}, {want}"
    else:
        problem = f"the table ends after {len(found)} nodes but the module uses {expected[index]}"
    raise FormatFault(
        "type-table-order",
        f"the type table is not the canonical one ({problem}): nodes are listed children first, "
        "in order of first use (struct fields, capabilities, functions), each once, none unused",
        ctx["type_nodes_at"] + index * TYPE_NODE_SIZE,
        index=index,
    )
