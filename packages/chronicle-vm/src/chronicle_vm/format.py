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

All integers are big-endian; counts and lengths are u32.  Every count is
checked against the bytes that remain in its section before anything is
read or allocated, using the smallest size one element can have (derived
from the schema by `min_size`).

Parsing needs a `Reader` stream: it carries the end of the current section
so that counts, lengths and reads are bounded by it, and it remembers a
short read so that the decoder can name its offset.  Every problem found
while parsing is raised as `FormatFault(code, message, offset)`; the decoder
turns it into `DecodeError`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from typing import Any

from construct import (
    Adapter,
    Bytes,
    Construct,
    FormatField,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64sb,
    Renamed,
    Struct,
    Subconstruct,
)

from .isa import OPCODES
from .model import FORMAT_VERSION, Capability, Function, Instruction, Module, SourceMap, SourcePos
from .types import MAX_ARRAY_DEPTH, BaseType, ValueType

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
    "SECTIONS",
    "SUPPORTED_VERSIONS",
    "TYPE",
    "U32_MAX",
    "FormatFault",
    "Reader",
    "min_size",
]

MAGIC = b"CHRM"
#: Versions this runtime reads; it writes `FORMAT_VERSION`.
SUPPORTED_VERSIONS: tuple[int, ...] = (FORMAT_VERSION,)
#: Section tags in the order they must appear, with their titles.
SECTIONS: Mapping[int, str] = {1: "constants", 2: "capabilities", 3: "functions", 4: "source map"}

U32_MAX = 2**32 - 1
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


class FormatFault(Exception):
    """A parse-time problem with its decode code (without the `decode.` prefix) and byte offset."""

    def __init__(self, code: str, message: str, offset: int, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.details = details


class Reader(io.BytesIO):
    """The parse stream: bytes with a movable end (the current section's) and a memory of the last short read.

    A short read returns b"" instead of raising because Construct's
    `stream_read` wraps any exception from `read` into a bare StreamError;
    `short_fault` then says where and why.
    """

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data
        self.size = len(data)
        self.end = self.size
        #: (tag, title, offset of the section header) while inside a section.
        self.window: tuple[int, str, int] | None = None
        self.short: tuple[int, int] | None = None

    def read(self, n: int | None = -1, /) -> bytes:
        pos = self.tell()
        if n is None or n < 0:
            n = self.end - pos
        if pos + n > self.end:
            self.short = (pos, n)
            return b""
        return super().read(n)

    def remaining(self) -> int:
        return self.end - self.tell()

    def take(self, n: int) -> bytes:
        """Exactly n bytes, or the fault that a short read means here."""
        data = self.read(n)
        if len(data) != n:
            raise self.short_fault()
        return data

    def short_fault(self) -> FormatFault:
        pos, wanted = self.short if self.short is not None else (self.tell(), 1)
        have = max(self.end - pos, 0)
        if self.window is None:
            return FormatFault(
                "truncated",
                f"{wanted} bytes are needed at byte {pos} but the data ends at byte {self.size} ({have} remain)",
                pos,
            )
        tag, title, start = self.window
        return FormatFault(
            "section-length",
            f"{wanted} bytes are needed at byte {pos} but section {tag} ({title}), which starts at byte "
            f"{start}, ends at byte {self.end} ({have} remain)",
            pos,
            section=tag,
        )


def _reader(stream: Any) -> Reader:
    if not isinstance(stream, Reader):
        raise TypeError("the .cmod schema parses from a chronicle_vm.format.Reader")
    return stream


# --- custom constructs -------------------------------------------------------


class _BadRecord(Exception):
    """Raised by a record decoder: record `index` of a batch is invalid."""

    def __init__(self, index: int, code: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.code = code
        self.message = message


def _formatfield(sc: Any) -> Any:
    while isinstance(sc, Renamed):
        sc = sc.subcon
    if not isinstance(sc, FormatField) or not sc.fmtstr.startswith(">"):
        raise TypeError(f"a Record holds big-endian FormatFields only, not {sc!r}")
    return sc


class Record(Construct):  # type: ignore[misc]  # construct is untyped
    """A fixed-size Struct of big-endian FormatFields, unpacked with one `struct` call.

    The `struct` format is derived from the fields, so the Struct stays the
    definition of the bytes.  `Counted` unpacks arrays of records in bulk
    with `iter_unpack`.  `decode` turns a batch of unpacked tuples into model
    values (raising `_BadRecord` for an invalid one); `encode` turns one model
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
        self.packer = struct.Struct(">" + "".join(_formatfield(sc).fmtstr[1:] for sc in layout.subcons))
        self.size = self.packer.size
        self.decode_batch = decode
        self.encode_one = encode

    def decode_records(self, data: bytes, offset: int) -> tuple[Any, ...]:
        """The model values of the records in `data`, which starts at byte `offset`."""
        try:
            return self.decode_batch(list(self.packer.iter_unpack(data)))
        except _BadRecord as bad:
            raise FormatFault(bad.code, bad.message, offset + bad.index * self.size) from None

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        at = reader.tell()
        return self.decode_records(reader.take(self.size), at)[0]

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        stream.write(self.packer.pack(*self.encode_one(obj)))
        return obj

    def _sizeof(self, context: Any, path: Any) -> int:
        return self.size


class Checked(Subconstruct):  # type: ignore[misc]  # construct is untyped
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

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        at = stream.tell()
        value = self.subcon._parsereport(stream, context, path)
        if not self.accept(value):
            raise FormatFault(self.code, self.explain(value), at)
        return value

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        return self.subcon._build(self.fixed if obj is None else obj, stream, context, path)


class Magic(Construct):  # type: ignore[misc]  # construct is untyped
    """The 4 magic bytes; a short file that does not start like them is bad-magic, not truncated."""

    def __init__(self, magic: bytes) -> None:
        super().__init__()
        self.magic = magic
        self.field = Bytes(len(magic))
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        head = reader.data[: len(self.magic)]
        if head != self.magic[: len(head)]:
            raise FormatFault("bad-magic", f"the data does not start with {self.magic!r} (found {head!r})", 0)
        return self.field._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        return self.field._build(self.magic, stream, context, path)


class Utf8(Construct):  # type: ignore[misc]  # construct is untyped
    """A string: u32 byte length, then strict UTF-8."""

    LENGTH = Int32ub

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        at = reader.tell()
        length = self.LENGTH._parsereport(stream, context, path)
        remain = reader.remaining()
        if length > remain:
            raise FormatFault(
                "count-too-large",
                f"{self.what} length {length} needs {length} bytes but {remain} remain",
                at,
            )
        raw = reader.take(length)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FormatFault(
                "bad-utf8",
                f"{self.what} is not valid UTF-8: {exc.reason} at byte {at + 4 + exc.start}",
                at + 4 + exc.start,
            ) from None

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        raw = obj.encode("utf-8")
        self.LENGTH._build(len(raw), stream, context, path)
        stream.write(raw)
        return obj


class Counted(Construct):  # type: ignore[misc]  # construct is untyped
    """A u32 count then that many elements, returned as a tuple.

    The count is checked before any element is read: against `expect`
    (when given) and against the bytes that remain, at `min_size` bytes per
    element.  Arrays of `Record`s are unpacked in one call.
    """

    COUNT = Int32ub

    def __init__(
        self,
        subcon: Any,
        what: str,
        expect: Callable[[Any], int] | None = None,
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

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        at = reader.tell()
        count = self.COUNT._parsereport(stream, context, path)
        if self.expect is not None:
            expected = self.expect(context)
            if count != expected:
                raise FormatFault(
                    self.expect_code,
                    f"{self.what} count is {count} but must equal the {self.expect_what} ({expected})",
                    at,
                )
        need = count * self.element_size
        remain = reader.remaining()
        if need > remain:
            raise FormatFault(
                "count-too-large",
                f"{self.what} count {count} needs at least {need} bytes but {remain} remain",
                at,
                count=count,
            )
        subcon = self.subcon
        if isinstance(subcon, Record):
            start = reader.tell()
            return subcon.decode_records(reader.take(need), start)
        parse = subcon._parsereport
        return tuple([parse(stream, context, path) for _ in range(count)])

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        self.COUNT._build(len(obj), stream, context, path)
        subcon = self.subcon
        if isinstance(subcon, Record):
            pack, encode = subcon.packer.pack, subcon.encode_one
            stream.write(b"".join([pack(*encode(item)) for item in obj]))
        else:
            for item in obj:
                subcon._build(item, stream, context, path)
        return obj


class Optional(Construct):  # type: ignore[misc]  # construct is untyped
    """A presence flag u8 (0 or 1), then the value when it is 1; None when absent."""

    FLAG = Int8ub

    def __init__(self, subcon: Any, what: str, code: str) -> None:
        super().__init__()
        self.subcon = subcon
        self.what = what
        self.code = code

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        at = stream.tell()
        flag = self.FLAG._parsereport(stream, context, path)
        if flag == 0:
            return None
        if flag != 1:
            raise FormatFault(self.code, f"{self.what} presence flag is {flag}; it must be 0 or 1", at)
        return self.subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        self.FLAG._build(0 if obj is None else 1, stream, context, path)
        if obj is not None:
            self.subcon._build(obj, stream, context, path)
        return obj


class Tagged(Construct):  # type: ignore[misc]  # construct is untyped
    """A u8 kind, then the case for that kind; building picks the case by the value's exact Python type."""

    KIND = Int8ub

    def __init__(self, cases: Mapping[int, tuple[type, Any]], what: str, code: str) -> None:
        super().__init__()
        self.cases = {kind: subcon for kind, (_, subcon) in cases.items()}
        self.kinds = {pytype: kind for kind, (pytype, _) in cases.items()}
        self.what = what
        self.code = code

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        at = stream.tell()
        kind = self.KIND._parsereport(stream, context, path)
        subcon = self.cases.get(kind)
        if subcon is None:
            known = ", ".join(str(k) for k in sorted(self.cases))
            raise FormatFault(self.code, f"{self.what} kind {kind} is unknown (known: {known})", at)
        return subcon._parsereport(stream, context, path)

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        kind = self.kinds[type(obj)]
        self.KIND._build(kind, stream, context, path)
        return self.cases[kind]._build(obj, stream, context, path)


class Section(Subconstruct):  # type: ignore[misc]  # construct is untyped
    """A section: tag u8, length u32, and a payload that must use exactly `length` bytes."""

    HEADER = Struct("tag" / Int8ub, "length" / Int32ub)

    def __init__(self, tag: int, subcon: Any) -> None:
        super().__init__(subcon)
        self.tag = tag
        self.title = SECTIONS[tag]

    def _order_fault(self, tag: int, at: int) -> FormatFault:
        expected = f"section {self.tag} ({self.title})"
        if tag not in SECTIONS:
            return FormatFault("bad-section", f"section tag {tag} is unknown; expected {expected}", at)
        if tag < self.tag:
            return FormatFault(
                "duplicate-section", f"section {tag} ({SECTIONS[tag]}) appears again; expected {expected}", at
            )
        return FormatFault("section-order", f"section {tag} ({SECTIONS[tag]}) comes too early; expected {expected}", at)

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        at = reader.tell()
        head = self.HEADER._parsereport(stream, context, path)
        if head.tag != self.tag:
            raise self._order_fault(head.tag, at)
        remain = reader.remaining()
        if head.length > remain:
            raise FormatFault(
                "count-too-large",
                f"section {self.tag} ({self.title}) length {head.length} needs {head.length} bytes but {remain} remain",
                at + 1,
                section=self.tag,
            )
        # Not restored in a `finally`: after a fault the window must still name
        # this section for `Reader.short_fault`.
        outer_end, outer_window = reader.end, reader.window
        reader.end = reader.tell() + head.length
        reader.window = (self.tag, self.title, at)
        obj = self.subcon._parsereport(stream, context, path)
        if reader.tell() != reader.end:
            raise FormatFault(
                "section-length",
                f"section {self.tag} ({self.title}) declares {head.length} bytes but its contents "
                f"end after {reader.tell() - at - 5}",
                reader.tell(),
                section=self.tag,
            )
        reader.end, reader.window = outer_end, outer_window
        return obj

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        payload = io.BytesIO()
        self.subcon._build(obj, payload, context, path)
        data = payload.getvalue()
        self.HEADER._build({"tag": self.tag, "length": len(data)}, stream, context, path)
        stream.write(data)
        return obj


class End(Construct):  # type: ignore[misc]  # construct is untyped
    """Nothing may follow: any byte here is trailing-bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.flagbuildnone = True

    def _parse(self, stream: Any, context: Any, path: Any) -> Any:
        reader = _reader(stream)
        extra = reader.size - reader.tell()
        if extra:
            raise FormatFault(
                "trailing-bytes", f"{extra} bytes follow the last section at byte {reader.tell()}", reader.tell()
            )
        return None

    def _build(self, obj: Any, stream: Any, context: Any, path: Any) -> Any:
        return None


class Model(Adapter):  # type: ignore[misc]  # construct is untyped
    """A Struct whose named fields are a frozen dataclass's fields, parsed into and built from that dataclass."""

    def __init__(self, subcon: Any, cls: type) -> None:
        super().__init__(subcon)
        self.cls = cls
        self.names = tuple(f.name for f in dataclass_fields(cls))
        missing = set(self.names) - {sc.name for sc in subcon.subcons}
        if missing:
            raise TypeError(f"schema for {cls.__name__} lacks {sorted(missing)}")

    def _decode(self, obj: Any, context: Any, path: Any) -> Any:
        return self.cls(**{name: obj[name] for name in self.names})

    def _encode(self, obj: Any, context: Any, path: Any) -> Any:
        return {name: getattr(obj, name) for name in self.names}


def min_size(con: Any) -> int:
    """The fewest bytes one value of `con` can take (for count checks before allocation)."""
    if isinstance(con, Record):
        return con.size
    if isinstance(con, (Utf8, Counted)):
        return 4
    if isinstance(con, Optional):
        return 1
    if isinstance(con, Tagged):
        return 1 + min(min_size(sub) for sub in con.cases.values())
    if isinstance(con, Struct):
        return sum(min_size(sub) for sub in con.subcons)
    if isinstance(con, Subconstruct):
        return min_size(con.subcon)
    if isinstance(con, Magic):
        return len(con.magic)
    if isinstance(con, End):
        return 0
    if isinstance(con, FormatField):
        return int(con.sizeof())
    raise TypeError(f"min_size does not know {con!r}")


# --- record decoders ----------------------------------------------------------

_TYPES: dict[tuple[int, ...], ValueType] = {
    (depth, int(base)): ValueType(base, depth) for depth in range(MAX_ARRAY_DEPTH + 1) for base in BaseType
}


def _type_problem(record: tuple[int, ...]) -> str:
    depth, base = record
    if depth > MAX_ARRAY_DEPTH:
        return f"type array depth {depth} exceeds the maximum {MAX_ARRAY_DEPTH}"
    return f"type base tag {base} is unknown (known: {', '.join(str(int(b)) for b in BaseType)})"


def _decode_types(records: list[tuple[int, ...]]) -> tuple[ValueType, ...]:
    try:
        return tuple(map(_TYPES.__getitem__, records))
    except KeyError:
        index = next(i for i, r in enumerate(records) if r not in _TYPES)
        raise _BadRecord(index, "bad-type", _type_problem(records[index])) from None


def _encode_type(value: ValueType) -> tuple[int, ...]:
    return (value.depth, int(value.base))


_OPS = frozenset(OPCODES)


def _decode_instructions(records: list[tuple[int, ...]]) -> tuple[Instruction, ...]:
    if not _OPS.issuperset({r[0] for r in records}):
        index = next(i for i, r in enumerate(records) if r[0] not in _OPS)
        raise _BadRecord(index, "bad-opcode", f"opcode 0x{records[index][0]:02x} is not in the instruction set")
    return tuple(map(Instruction._make, records))


def _decode_positions(records: list[tuple[int, ...]]) -> tuple[SourcePos, ...]:
    return tuple(map(SourcePos._make, records))


def _decode_flags(records: list[tuple[int, ...]]) -> tuple[bool, ...]:
    for index, (flags,) in enumerate(records):
        if flags & ~1:
            raise _BadRecord(index, "bad-flags", f"function flags 0x{flags:02x} set bits other than bit 0 (exported)")
    return tuple(flags == 1 for (flags,) in records)


def _identity(value: Any) -> tuple[int, ...]:
    return tuple(value)


# --- the schema ---------------------------------------------------------------

TYPE = Record(Struct("depth" / Int8ub, "base" / Int8ub), _decode_types, _encode_type)
RESULT = Optional(TYPE, "result type", "bad-type")
INSTRUCTION = Record(
    Struct("op" / Int8ub, "a" / Int32ub, "b" / Int32ub, "c" / Int32ub), _decode_instructions, _identity
)
POSITION = Record(Struct("file" / Int32ub, "line" / Int32ub, "col" / Int32ub), _decode_positions, _identity)
FLAGS = Record(Struct("flags" / Int8ub), _decode_flags, lambda exported: (1 if exported else 0,))

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
            expect=lambda ctx: len(ctx._.functions),
            expect_code="source-map-shape",
            expect_what="function count",
        ),
    ),
    SourceMap,
)


def _version_problem(version: int) -> str:
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    age = "older" if version < min(SUPPORTED_VERSIONS) else "newer"
    return f"format version {version} is {age} than this runtime reads (supported: {supported})"


MODULE = Model(
    Struct(
        Magic(MAGIC),
        "version" / Checked(Int16ub, lambda v: v in SUPPORTED_VERSIONS, "unsupported-version", _version_problem),
        "constants" / Section(1, Counted(CONSTANT, "constant")),
        "capabilities" / Section(2, Counted(CAPABILITY, "capability")),
        "functions" / Section(3, Counted(FUNCTION, "function")),
        "source_map" / Section(4, SOURCE_MAP),
        End(),
    ),
    Module,
)


def _sizes_are_sane(schema: Sequence[Any]) -> None:
    # Import-time guard: a schema change that breaks min_size shows at once.
    for con in schema:
        min_size(con)


_sizes_are_sane([MODULE, FUNCTION, CAPABILITY, CONSTANT, SOURCE_MAP])
