"""The `.cmod` byte layout as Construct schemas: takes bytes or a Module, gives the other; defines the bytes once.

`MODULE` is the whole file.  `decode.decode_module` parses with it and
`encode.encode_module` builds with it; nothing else knows the layout.
docs/module-format.md describes the same layout for people.

Byte layout of format version 1 (`model.FORMAT_VERSION`; bump it whenever
any byte below changes meaning, and the decoder then refuses the old one):

    module      = magic "CHRM" (4 bytes), version u16,
                  section(1, constants), section(2, capabilities),
                  section(3, functions), section(4, source map),
                  and nothing after it.
    section(t)  = tag u8 (= t), length u32, payload of exactly `length` bytes.
    constants   = count u32, constant * count
    constant    = kind u8, then kind 1: i64 (an int) | kind 2: string
    capabilities= count u32, capability * count
    capability  = name string, param count u32, type * count, optional type
    functions   = count u32, function * count
    function    = name string, flags u8 (bit 0 = exported, the rest 0),
                  param_count u32, register count u32, type * count,
                  optional type (the result),
                  instruction count u32, instruction * count
    instruction = opcode u8, a u32, b u32, c u32          (13 bytes)
    source map  = file count u32, string * count,
                  entry count u32 (= function count), entry * count
    entry       = position count u32, position * count
    position    = file u32, line u32, col u32              (12 bytes)
    type        = array depth u8 (0..MAX_ARRAY_DEPTH), base u8 (BaseType 1..3)
    optional type = flag u8 (0 = none, 1 = present), then type when 1
    string      = byte length u32, UTF-8 bytes (strict: no surrogates)

Format version 2 (`MODULE_V2`) writes section(0, types) first, then the
same four sections, with every type a u32 index into the type nodes:

    types       = node count u32 (<= MAX_TYPE_NODES), node * count,
                  struct count u32 (<= MAX_STRUCTS), struct * count
    node        = kind u8 (1 int, 2 bool, 3 str, 4 float, 5 array, 6 map,
                  7 struct), a u32, b u32   (9 bytes; array a = element,
                  map a = key, b = value, struct a = struct index; unused 0)
    struct      = name string, field count u32 (<= MAX_STRUCT_FIELDS),
                  (field name string, type index u32) * count
    constant    = kind 3: f64 (finite IEEE-754 binary64, bit-exact)

A node refers only to earlier nodes, and the node table must be the
canonical one derived from the module (`types.type_nodes`), so decoding
never recurses on input and `encode(decode(b)) == b` in both versions.

All integers are big-endian; counts and lengths are u32.  Every count is
checked against the bytes that remain in its section before anything is
read or allocated, using the smallest size one element can have (derived
from the schema by `min_size`).

Parsing is compiled: `compile_reader(MODULE)` turns the schema into nested
closures `read(data, pos, end, ctx) -> (value, new_pos)` over the raw bytes,
each bounded by `end` (the end of the current section), much as Construct's
own `.compile()` does but with the checks and offsets the decoder needs and
with arrays of fixed-size records unpacked by one `struct.iter_unpack`.  The
constructs' `_parse` runs the same closures, so `MODULE.parse_stream(Reader(b))`
gives the same result.  Building is compiled the same way (`compile_writer`,
closures appending to a list of byte strings) and `MODULE.build(m)` runs it.  Every problem
found while parsing is raised as `FormatFault(code, message, offset)`; the
decoder turns it into `DecodeError`.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import struct
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from typing import Any

from construct import (
    Construct,
    Float64b,
    FormatField,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64sb,
    Renamed,
    Struct,
    Subconstruct,
)

from chronicle_vm.core.model import Capability, Function, Module, SourceMap, module_types
from chronicle_vm.core.type_registry import encode_v1
from chronicle_vm.core.types import TypeKind, ValueType, distinct_objects, type_nodes

from .parts import (
    I64_MAX,
    I64_MIN,
    KIND_TAGS,
    MAGIC,
    NODE,
    SECTIONS,
    SECTIONS_V2,
    SUPPORTED_VERSIONS,
    U32,
    U32_MAX,
    BadRecord,
    FormatFault,
    check_canonical,
    decode_flags,
    decode_instructions,
    decode_positions,
    decode_types,
    float_problem,
    function_count,
    read_type_refs,
    read_type_table,
    read_utf8,
    section_order_fault,
    short,
    version_problem,
)

__all__ = [
    "CAPABILITY",
    "CONSTANT",
    "FUNCTION",
    "I64_MAX",
    "I64_MIN",
    "INSTRUCTION",
    "MAGIC",
    "MODULE",
    "POSITION",
    "READ_MODULE",
    "WRITE_MODULE",
    "SECTIONS",
    "SOURCE_MAP",
    "SUPPORTED_VERSIONS",
    "TYPE",
    "U32_MAX",
    "FormatFault",
    "ReadFn",
    "Reader",
    "WriteFn",
    "compile_reader",
    "compile_writer",
    "min_size",
]

#: A compiled parser: `read(data, pos, end, ctx)` gives the value at `pos` and the position after it.
#: It never reads at or past `end`; `ctx` holds values that later fields depend on.
ReadFn = Callable[[bytes, int, int, dict[str, Any]], tuple[Any, int]]
#: A compiled builder: `write(value, out, ctx)` appends the value's bytes to `out`; `ctx` holds what
#: later fields need (version 2: the type table and each type's index).
WriteFn = Callable[[Any, list[bytes], dict[str, Any]], None]


class Reader(io.BytesIO):
    """A stream for Construct's own `parse_stream`: bytes plus the end reads are bounded by."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data
        self.end = len(data)


class _Compiled:
    """Mixin: `_parse` and `_build` run the compiled reader and writer, so both APIs agree."""

    _read: ReadFn | None = None
    _write: WriteFn | None = None

    def reader(self) -> ReadFn:
        if self._read is None:
            self._read = self.make_reader()
        return self._read

    def writer(self) -> WriteFn:
        if self._write is None:
            self._write = self.make_writer()
        return self._write

    def make_reader(self) -> ReadFn:
        raise NotImplementedError

    def make_writer(self) -> WriteFn:
        raise NotImplementedError

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        out: list[bytes] = []
        self.writer()(obj, out, {})
        stream.write(b"".join(out))
        return obj

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        if not isinstance(stream, Reader):
            raise TypeError("the .cmod schema parses from a chronicle_vm.binary.schema.Reader")
        value, pos = self.reader()(stream.data, stream.tell(), stream.end, {})
        stream.seek(pos)
        return value


def _field(con: Any) -> Any:
    while isinstance(con, Renamed):
        con = con.subcon
    if not isinstance(con, FormatField) or not con.fmtstr.startswith(">"):
        raise TypeError(f"expected a big-endian FormatField, not {con!r}")
    return con


def _packer(layout: Any) -> struct.Struct:
    """The one `struct` format for a Struct of big-endian FormatFields, derived from its fields."""
    return struct.Struct(">" + "".join(_field(sc).fmtstr[1:] for sc in layout.subcons))


def _unpacker(con: Any) -> tuple[Callable[[bytes, int], tuple[Any, ...]], int]:
    """`struct` unpack_from and size of one FormatField, for readers that inline it."""
    packer = struct.Struct(_field(con).fmtstr)
    return packer.unpack_from, packer.size


def _field_reader(con: Any) -> ReadFn:
    unpack, size = _unpacker(con)

    def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
        if pos + size > end:
            raise short(pos, size, end)
        return unpack(data, pos)[0], pos + size

    return read


def _field_writer(con: Any) -> WriteFn:
    pack = struct.Struct(_field(con).fmtstr).pack

    def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
        out.append(pack(value))

    return write


def compile_writer(con: Any) -> WriteFn:
    """The compiled builder of a schema node (one of this module's constructs or a big-endian FormatField)."""
    if isinstance(con, _Compiled):
        return con.writer()
    if isinstance(con, Renamed):
        return compile_writer(con.subcon)
    if isinstance(con, FormatField):
        return _field_writer(con)
    raise TypeError(f"compile_writer does not know {con!r}")


def compile_reader(con: Any) -> ReadFn:
    """The compiled parser of a schema node (one of this module's constructs or a big-endian FormatField)."""
    if isinstance(con, _Compiled):
        return con.reader()
    if isinstance(con, Renamed):
        return compile_reader(con.subcon)
    if isinstance(con, FormatField):
        return _field_reader(con)
    raise TypeError(f"compile_reader does not know {con!r}")


# --- custom constructs -------------------------------------------------------


class Record(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A fixed-size Struct of big-endian FormatFields, unpacked with one `struct` call.

    The `struct` format is derived from the fields, so the Struct stays the
    definition of the bytes.  `Counted` unpacks arrays of records in bulk
    with `iter_unpack`.  `decode` turns a batch of unpacked tuples into model
    values (raising `BadRecord` for an invalid one); `encode` turns one model
    value back into a tuple.
    """

    def __init__(
        self,
        layout: Any,
        decode: Callable[[list[tuple[int, ...]]], tuple[Any, ...]],
        encode: Callable[[Any], tuple[int, ...]],
    ) -> None:
        super().__init__()
        self.layout = layout
        self.packer = _packer(layout)
        self.size = self.packer.size
        self.decode_batch = decode
        self.encode_one = encode

    def decode_records(self, data: bytes, offset: int) -> tuple[Any, ...]:
        """The model values of the records in `data`, which starts at byte `offset`."""
        try:
            return self.decode_batch(list(self.packer.iter_unpack(data)))
        except BadRecord as bad:
            raise FormatFault(bad.code, bad.message, offset + bad.index * self.size) from None

    def make_reader(self) -> ReadFn:
        size, unpack, decode = self.size, self.packer.unpack_from, self.decode_batch

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            if pos + size > end:
                raise short(pos, size, end)
            try:
                return decode([unpack(data, pos)])[0], pos + size
            except BadRecord as bad:
                raise FormatFault(bad.code, bad.message, pos) from None

        return read

    def make_writer(self) -> WriteFn:
        pack, encode = self.packer.pack, self.encode_one

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            out.append(pack(*encode(value)))

        return write

    def _sizeof(self, context: Any, path: Any) -> int:
        return self.size


class Checked(_Compiled, Subconstruct):  # type: ignore[misc]  # construct is untyped
    """A field whose value must pass `accept`; otherwise a fault `code` at the field's offset.

    `fixed`, when given, is what building writes (the field is not in the model).
    """

    def __init__(
        self,
        subcon: Any,
        accept: Callable[[Any], bool],
        code: str,
        explain: Callable[[Any], str],
        fixed: Any = None,
    ) -> None:
        super().__init__(subcon)
        self.accept = accept
        self.code = code
        self.explain = explain
        self.fixed = fixed
        self.flagbuildnone = fixed is not None

    def make_reader(self) -> ReadFn:
        inner, accept, code, explain = compile_reader(self.subcon), self.accept, self.code, self.explain

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            value, after = inner(data, pos, end, ctx)
            if not accept(value):
                raise FormatFault(code, explain(value), pos)
            return value, after

        return read

    def make_writer(self) -> WriteFn:
        inner, fixed = compile_writer(self.subcon), self.fixed

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            inner(fixed if value is None else value, out, ctx)

        return write


class Magic(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """The magic bytes; a short input that does not start like them is bad-magic, not truncated."""

    def __init__(self, magic: bytes) -> None:
        super().__init__()
        self.magic = magic
        self.flagbuildnone = True

    def make_reader(self) -> ReadFn:
        magic, size = self.magic, len(self.magic)

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            head = data[pos : min(pos + size, end)]
            if head != magic[: len(head)]:
                raise FormatFault("bad-magic", f"the data does not start with {magic!r} (found {head!r})", pos)
            if len(head) < size:
                raise short(pos, size, end)
            return head, pos + size

        return read

    def make_writer(self) -> WriteFn:
        magic = self.magic

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            out.append(magic)

        return write


class Utf8(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A string: u32 byte length, then strict UTF-8."""

    LENGTH = Int32ub

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def make_reader(self) -> ReadFn:
        what = self.what

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            return read_utf8(data, pos, end, what)

        return read

    def make_writer(self) -> WriteFn:
        pack = struct.Struct(_field(self.LENGTH).fmtstr).pack

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            raw = value.encode("utf-8")
            out.append(pack(len(raw)))
            out.append(raw)

        return write


class Counted(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A u32 count then that many elements, parsed into a tuple.

    The count is checked before any element is read: against `expect`
    (when given; it reads `ctx`) and against the bytes that remain, at
    `min_size` bytes per element.  Arrays of `Record`s are unpacked in one call.
    """

    COUNT = Int32ub

    def __init__(
        self,
        subcon: Any,
        what: str,
        expect: Callable[[dict[str, Any]], int] | None = None,
        expect_code: str = "",
        expect_what: str = "",
    ) -> None:
        super().__init__()
        self.subcon = subcon
        self.what = what
        self.expect = expect
        self.expect_code = expect_code
        self.expect_what = expect_what
        self.element_size = min_size(subcon)

    def make_reader(self) -> ReadFn:
        (unpack, size), what, least = _unpacker(self.COUNT), self.what, self.element_size
        expect, expect_code, expect_what = self.expect, self.expect_code, self.expect_what
        record = self.subcon if isinstance(self.subcon, Record) else None
        element = compile_reader(self.subcon)

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            start = pos + size
            if start > end:
                raise short(pos, size, end)
            (count,) = unpack(data, pos)
            if expect is not None and count != expect(ctx):
                raise FormatFault(
                    expect_code,
                    f"{what} count is {count} but must equal the {expect_what} ({expect(ctx)})",
                    pos,
                )
            need = count * least
            if need > end - start:
                raise FormatFault(
                    "count-too-large",
                    f"{what} count {count} needs at least {need} bytes but {end - start} remain",
                    pos,
                    count=count,
                )
            if not count:
                return (), start
            if record is not None:
                return record.decode_records(data[start : start + need], start), start + need
            items = []
            for _ in range(count):
                item, start = element(data, start, end, ctx)
                items.append(item)
            return tuple(items), start

        return read

    def make_writer(self) -> WriteFn:
        pack_count = struct.Struct(_field(self.COUNT).fmtstr).pack
        if isinstance(self.subcon, Record):
            pack, encode = self.subcon.packer.pack, self.subcon.encode_one

            def write_records(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
                out.append(pack_count(len(value)))
                out.append(b"".join([pack(*encode(item)) for item in value]))

            return write_records
        element = compile_writer(self.subcon)

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            out.append(pack_count(len(value)))
            for item in value:
                element(item, out, ctx)

        return write


class Optional(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A presence flag u8 (0 or 1), then the value when it is 1; None when absent."""

    FLAG = Int8ub

    def __init__(self, subcon: Any, what: str, code: str) -> None:
        super().__init__()
        self.subcon = subcon
        self.what = what
        self.code = code

    def make_reader(self) -> ReadFn:
        (unpack, size), inner, what, code = _unpacker(self.FLAG), compile_reader(self.subcon), self.what, self.code

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            after = pos + size
            if after > end:
                raise short(pos, size, end)
            (flag,) = unpack(data, pos)
            if flag == 0:
                return None, after
            if flag != 1:
                raise FormatFault(code, f"{what} presence flag is {flag}; it must be 0 or 1", pos)
            return inner(data, after, end, ctx)

        return read

    def make_writer(self) -> WriteFn:
        pack, inner = struct.Struct(_field(self.FLAG).fmtstr).pack, compile_writer(self.subcon)
        absent, present = pack(0), pack(1)

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            if value is None:
                out.append(absent)
            else:
                out.append(present)
                inner(value, out, ctx)

        return write


class Tagged(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A u8 kind, then the case for that kind; building picks the case by the value's exact Python type."""

    KIND = Int8ub

    def __init__(self, cases: Mapping[int, tuple[type, Any]], what: str, code: str) -> None:
        super().__init__()
        self.cases = {kind: subcon for kind, (_, subcon) in cases.items()}
        self.kinds = {pytype: kind for kind, (pytype, _) in cases.items()}
        self.what = what
        self.code = code

    def make_reader(self) -> ReadFn:
        unpack, size = _unpacker(self.KIND)
        readers = {kind: compile_reader(subcon) for kind, subcon in self.cases.items()}
        known = ", ".join(str(k) for k in sorted(self.cases))
        what, code = self.what, self.code

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            after = pos + size
            if after > end:
                raise short(pos, size, end)
            (kind,) = unpack(data, pos)
            inner = readers.get(kind)
            if inner is None:
                raise FormatFault(code, f"{what} kind {kind} is unknown (known: {known})", pos)
            return inner(data, after, end, ctx)

        return read

    def make_writer(self) -> WriteFn:
        pack = struct.Struct(_field(self.KIND).fmtstr).pack
        # A value's exact Python type picks its kind (so a bool is no int here).
        cases = {pytype: (pack(kind), compile_writer(self.cases[kind])) for pytype, kind in self.kinds.items()}

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            tag, inner = cases[type(value)]
            out.append(tag)
            inner(value, out, ctx)

        return write


class Section(_Compiled, Subconstruct):  # type: ignore[misc]  # construct is untyped
    """A section: tag u8, length u32, and a payload that must use exactly `length` bytes."""

    HEADER = Struct("tag" / Int8ub, "length" / Int32ub)

    def __init__(self, tag: int, subcon: Any, sections: Mapping[int, str] = SECTIONS) -> None:
        super().__init__(subcon)
        self.tag = tag
        self.sections = sections  # the sections of this format version, in order
        self.title = sections[tag]

    def make_reader(self) -> ReadFn:
        head = _packer(self.HEADER)
        inner, tag, title = compile_reader(self.subcon), self.tag, self.title

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            if pos + head.size > end:
                raise short(pos, head.size, end)
            found, length = head.unpack_from(data, pos)
            if found != tag:
                raise section_order_fault(tag, self.sections, found, pos)
            start = pos + head.size
            stop = start + length
            if stop > end:
                raise FormatFault(
                    "count-too-large",
                    f"section {tag} ({title}) length {length} needs {length} bytes but {end - start} remain",
                    pos + 1,
                    section=tag,
                )
            try:
                value, after = inner(data, start, stop, ctx)
            except FormatFault as fault:
                if fault.code != "truncated":
                    raise
                raise FormatFault(
                    "section-length",
                    f"{fault.details['needed']} bytes are needed at byte {fault.offset} but section {tag} ({title}), "
                    f"which starts at byte {pos}, ends at byte {stop} ({max(stop - fault.offset, 0)} remain)",
                    fault.offset,
                    section=tag,
                ) from None
            if after != stop:
                raise FormatFault(
                    "section-length",
                    f"section {tag} ({title}) declares {length} bytes but its contents end after {after - start}",
                    after,
                    section=tag,
                )
            return value, stop

        return read

    def make_writer(self) -> WriteFn:
        head, inner, tag = _packer(self.HEADER), compile_writer(self.subcon), self.tag

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            parts: list[bytes] = []
            inner(value, parts, ctx)
            payload = b"".join(parts)
            out.append(head.pack(tag, len(payload)))
            out.append(payload)

        return write


class End(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """Nothing may follow: any byte here is trailing-bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def make_reader(self) -> ReadFn:
        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            if pos != end:
                raise FormatFault("trailing-bytes", f"{end - pos} bytes follow the last section at byte {pos}", pos)
            return None, pos

        return read

    def make_writer(self) -> WriteFn:
        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            return None

        return write


class Model(_Compiled, Subconstruct):  # type: ignore[misc]  # construct is untyped
    """A Struct whose named fields are a frozen dataclass's fields, parsed into and built from that dataclass.

    With `publish`, parsed fields are also put in `ctx` for later fields' checks.
    """

    def __init__(self, subcon: Any, cls: type, publish: bool = False) -> None:
        super().__init__(subcon)
        self.cls = cls
        self.publish = publish
        self.names = tuple(f.name for f in dataclass_fields(cls))
        missing = set(self.names) - {sc.name for sc in subcon.subcons}
        if missing:
            raise TypeError(f"schema for {cls.__name__} lacks {sorted(missing)}")

    def make_reader(self) -> ReadFn:
        # Straight-line code, generated from the schema alone (never from
        # input), as Construct's own `.compile()` does: a loop over the field
        # readers costs more than the fields themselves for small structures.
        order = [sc.name for sc in self.subcon.subcons]
        scope: dict[str, Any] = {"cls": self.cls}
        lines = ["def read(data, pos, end, ctx):"]
        for index, sc in enumerate(self.subcon.subcons):
            scope[f"r{index}"] = compile_reader(sc)
            lines.append(f"    v{index}, pos = r{index}(data, pos, end, ctx)")
            if self.publish and sc.name:
                lines.append(f"    ctx[{sc.name!r}] = v{index}")
        arguments = ", ".join(f"v{order.index(name)}" for name in self.names)
        lines.append(f"    return cls({arguments}), pos")
        exec("\n".join(lines), scope)
        read: ReadFn = scope["read"]
        return read

    def make_writer(self) -> WriteFn:
        # Straight-line, like the reader; fields outside the dataclass (magic, end) write a fixed value.
        scope: dict[str, Any] = {}
        lines = ["def write(obj, out, ctx):"]
        for index, sc in enumerate(self.subcon.subcons):
            scope[f"w{index}"] = compile_writer(sc)
            value = f"obj.{sc.name}" if sc.name in self.names else "None"
            lines.append(f"    w{index}({value}, out, ctx)")
        exec("\n".join(lines), scope)
        write: WriteFn = scope["write"]
        return write


class Absent(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A model field a format version does not store: reads as `value` from no bytes, writes nothing."""

    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value
        self.flagbuildnone = True

    def make_reader(self) -> ReadFn:
        value = self.value

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            return value, pos

        return read

    def make_writer(self) -> WriteFn:
        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            return None

        return write


class TypeTable(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """The version-2 type section: type nodes (children first), then the struct table; gives the structs.

    Puts the nodes in `ctx["type_nodes"]` (and where they start in `ctx["type_nodes_at"]`) for the
    type references of later sections.  Writing reads `ctx["type_nodes"]` and `ctx["type_index"]`.
    """

    def make_reader(self) -> ReadFn:
        return read_type_table

    def make_writer(self) -> WriteFn:
        name = compile_writer(Utf8("struct name"))

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            nodes: list[ValueType] = ctx["type_nodes"]
            index: dict[ValueType, int] = ctx["type_index"]
            out.append(U32.pack(len(nodes)))
            for vtype in nodes:
                if vtype.kind is TypeKind.STRUCT:
                    operands = (vtype.ref, 0)
                else:
                    refs = [*[index[arg] for arg in vtype.args], 0, 0]
                    operands = (refs[0], refs[1])
                out.append(NODE.pack(KIND_TAGS[vtype.kind], *operands))
            out.append(U32.pack(len(value)))
            for struct_def in value:
                name(struct_def.name, out, ctx)
                out.append(U32.pack(len(struct_def.fields)))
                for item in struct_def.fields:
                    name(item.name, out, ctx)
                    out.append(U32.pack(index[item.type]))

        return write


class TypeRef(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A version-2 type: a u32 index into the type section's nodes."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def make_reader(self) -> ReadFn:
        what = self.what

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            if pos + 4 > end:
                raise short(pos, 4, end)
            (ref,) = U32.unpack_from(data, pos)
            nodes = ctx["type_nodes"]
            if ref >= len(nodes):
                raise FormatFault("bad-type-index", f"{what} type {ref} is outside the {len(nodes)} type nodes", pos)
            return nodes[ref], pos + 4

        return read

    def make_writer(self) -> WriteFn:
        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            out.append(U32.pack(ctx["type_index"][value]))

        return write


class TypeRefs(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """A u32 count, then that many version-2 types (u32 node indexes), unpacked in one call."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def make_reader(self) -> ReadFn:
        what = self.what

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            return read_type_refs(data, pos, end, ctx, what)

        return read

    def make_writer(self) -> WriteFn:
        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            # every type written is in `ctx["types"]` (alive), so its id is its entry in the table
            indexes = list(map(ctx["type_index_by_id"].__getitem__, map(id, value)))
            out.append(struct.pack(f">L{len(value)}L", len(value), *indexes))

        return write


class Versioned(_Compiled, Construct):  # type: ignore[misc]  # construct is untyped
    """The whole file: reads the magic and version, then the schema of that version (`bodies`).

    A version-2 file's type table must be the canonical one (`types.type_nodes` of `module_types`),
    so that every module has one encoding; writing derives it the same way.
    """

    def __init__(self, bodies: Mapping[int, Any]) -> None:
        super().__init__()
        self.bodies = bodies

    def make_reader(self) -> ReadFn:
        magic = compile_reader(Magic(MAGIC))
        readers = {version: compile_reader(body) for version, body in self.bodies.items()}

        def read(data: bytes, pos: int, end: int, ctx: dict[str, Any]) -> tuple[Any, int]:
            _, after = magic(data, pos, end, ctx)
            if after + 2 > end:
                raise short(after, 2, end)
            version = int.from_bytes(data[after : after + 2], "big")
            body = readers.get(version)
            if body is None:
                raise FormatFault("unsupported-version", version_problem(version), after)
            module, stop = body(data, pos, end, ctx)
            if version >= 2:
                check_canonical(module, ctx)
            return module, stop

        return read

    def make_writer(self) -> WriteFn:
        writers = {version: compile_writer(body) for version, body in self.bodies.items()}

        def write(value: Any, out: list[bytes], ctx: dict[str, Any]) -> None:
            if value.version >= 2:
                types = module_types(value)
                nodes = type_nodes(types)
                index = {vtype: i for i, vtype in enumerate(nodes)}
                # Each distinct object's index once, so the many repeats are found by identity at C speed.
                by_id = {id(vtype): index[vtype] for vtype in distinct_objects(types)}
                ctx = {**ctx, "type_nodes": nodes, "type_index": index, "type_index_by_id": by_id, "types": types}
            writers[value.version](value, out, ctx)

        return write


def min_size(con: Any) -> int:
    """The fewest bytes one value of `con` can take (for count checks before allocation)."""
    if isinstance(con, Record):
        return con.size
    if isinstance(con, (Utf8, Counted, TypeRef, TypeRefs)):
        return 4
    if isinstance(con, TypeTable):
        return 8
    if isinstance(con, Versioned):
        return min(min_size(body) for body in con.bodies.values())
    if isinstance(con, Optional):
        return 1
    if isinstance(con, Tagged):
        return 1 + min(min_size(sub) for sub in con.cases.values())
    if isinstance(con, Magic):
        return len(con.magic)
    if isinstance(con, (End, Absent)):
        return 0
    if isinstance(con, Section):
        return 5 + min_size(con.subcon)
    if isinstance(con, Struct):
        return sum(min_size(sub) for sub in con.subcons)
    if isinstance(con, Subconstruct):
        return min_size(con.subcon)
    if isinstance(con, FormatField):
        return int(con.sizeof())
    raise TypeError(f"min_size does not know {con!r}")


# --- record decoders ----------------------------------------------------------


def _identity(value: Any) -> tuple[int, ...]:
    return tuple(value)


# --- the schema ---------------------------------------------------------------

TYPE = Record(Struct("depth" / Int8ub, "base" / Int8ub), decode_types, encode_v1)
RESULT = Optional(TYPE, "result type", "bad-type")
INSTRUCTION = Record(Struct("op" / Int8ub, "a" / Int32ub, "b" / Int32ub, "c" / Int32ub), decode_instructions, _identity)
POSITION = Record(Struct("file" / Int32ub, "line" / Int32ub, "col" / Int32ub), decode_positions, _identity)
FLAGS = Record(Struct("flags" / Int8ub), decode_flags, lambda exported: (1 if exported else 0,))

CONSTANT = Tagged({1: (int, Int64sb), 2: (str, Utf8("string constant"))}, "constant", "bad-constant-kind")

CAPABILITY = Model(
    Struct(
        "name" / Utf8("capability name"),
        "params" / Counted(TYPE, "parameter"),
        "result" / RESULT,
    ),
    Capability,
)

FUNCTION = Model(
    Struct(
        "name" / Utf8("function name"),
        "exported" / FLAGS,
        "param_count" / Int32ub,
        "registers" / Counted(TYPE, "register"),
        "result" / RESULT,
        "code" / Counted(INSTRUCTION, "instruction"),
    ),
    Function,
)

SOURCE_MAP = Model(
    Struct(
        "files" / Counted(Utf8("source file path"), "source file"),
        "functions"
        / Counted(
            Counted(POSITION, "source position"),
            "source map entry",
            expect=function_count,
            expect_code="source-map-shape",
            expect_what="function count",
        ),
    ),
    SourceMap,
)


def _version_field(version: int) -> Any:
    return Checked(Int16ub, functools.partial(operator.eq, version), "unsupported-version", version_problem)


MODULE_V1 = Model(
    Struct(
        Magic(MAGIC),
        "version" / _version_field(1),
        "constants" / Section(1, Counted(CONSTANT, "constant")),
        "capabilities" / Section(2, Counted(CAPABILITY, "capability")),
        "functions" / Section(3, Counted(FUNCTION, "function")),
        "source_map" / Section(4, SOURCE_MAP),
        "structs" / Absent(()),
        End(),
    ),
    Module,
    publish=True,
)

# --- version 2: the type section, types as node indexes, float constants -------------------------


FLOAT = Checked(Float64b, math.isfinite, "bad-float", float_problem)
CONSTANT_V2 = Tagged(
    {1: (int, Int64sb), 2: (str, Utf8("string constant")), 3: (float, FLOAT)}, "constant", "bad-constant-kind"
)
TYPE_REF = TypeRef("type")
RESULT_V2 = Optional(TypeRef("result"), "result type", "bad-type")

CAPABILITY_V2 = Model(
    Struct(
        "name" / Utf8("capability name"),
        "params" / TypeRefs("parameter"),
        "result" / RESULT_V2,
    ),
    Capability,
)

FUNCTION_V2 = Model(
    Struct(
        "name" / Utf8("function name"),
        "exported" / FLAGS,
        "param_count" / Int32ub,
        "registers" / TypeRefs("register"),
        "result" / RESULT_V2,
        "code" / Counted(INSTRUCTION, "instruction"),
    ),
    Function,
)

MODULE_V2 = Model(
    Struct(
        Magic(MAGIC),
        "version" / _version_field(2),
        "structs" / Section(0, TypeTable(), SECTIONS_V2),
        "constants" / Section(1, Counted(CONSTANT_V2, "constant"), SECTIONS_V2),
        "capabilities" / Section(2, Counted(CAPABILITY_V2, "capability"), SECTIONS_V2),
        "functions" / Section(3, Counted(FUNCTION_V2, "function"), SECTIONS_V2),
        "source_map" / Section(4, SOURCE_MAP, SECTIONS_V2),
        End(),
    ),
    Module,
    publish=True,
)

#: The whole file, by its version.
MODULE = Versioned({1: MODULE_V1, 2: MODULE_V2})


#: The compiled parser of a whole file: `READ_MODULE(data, 0, len(data), {})`.
READ_MODULE: ReadFn = compile_reader(MODULE)
_WRITE_MODULE: WriteFn = compile_writer(MODULE)


def WRITE_MODULE(module: Module, out: list[bytes]) -> None:  # the compiled writer's public name
    """The compiled builder of a whole file: appends `module`'s bytes (as its `version`) to `out`."""
    _WRITE_MODULE(module, out, {})
