"""The `.cmod` decoder: takes any object, gives a `Module`; guarantees nothing but `DecodeError` escapes.

The layout lives in `chronicle_vm.binary.schema`; this module only runs the
reader generated from it (`_reader_gen.read_module`, so a run never imports
Construct; `schema.READ_MODULE` is the same reader compiled from the schema
at import, which the tests compare it with) and turns every way the bytes can be wrong
into a `DecodeError` with a stable code and `details['offset']`.  It checks
form, not meaning: indexes, types of code and source-map lengths are the
verifier's job.
"""

from __future__ import annotations

import struct
from typing import Any

from chronicle_vm.core.model import Module
from chronicle_vm.errors import DecodeError, declare_codes

from ._reader_gen import read_module
from .parts import FormatFault

__all__ = ["decode_module"]

declare_codes(
    "decode",
    {
        "not-bytes": "the input is not bytes (bytes, bytearray or memoryview)",
        "bad-magic": 'the data does not start with the magic bytes "CHRM"',
        "unsupported-version": "the format version is older or newer than this runtime reads",
        "truncated": "the data ends in the middle of a field",
        "count-too-large": "a count or length needs more bytes than remain in its section or file",
        "bad-section": "a section tag is not one of its version's (1..4; version 2 also 0, the types)",
        "section-order": "a section appears before the one that must come first",
        "duplicate-section": "a section appears a second time",
        "section-length": "a section's contents end before or after its declared length",
        "trailing-bytes": "bytes follow the last section",
        "bad-utf8": "a string is not valid UTF-8",
        "bad-opcode": "an instruction's opcode is not in the instruction set",
        "bad-type": "a type's array depth, base tag, node kind, unused operand or presence flag is invalid",
        "bad-constant-kind": "a constant's kind tag is not 1 (int) or 2 (str), or 3 (float) in version 2",
        "bad-float": "a float constant is a NaN or an infinity",
        "bad-type-index": "a type index is outside the type table, or a type node refers to itself or a later node",
        "bad-struct-ref": "a struct type node refers to a struct outside the struct table",
        "bad-map-key": "a map type's key is not int, str or bool",
        "type-too-deep": "a type nests arrays and maps deeper than MAX_TYPE_DEPTH (8)",
        "too-many-type-nodes": "the type table has more nodes than MAX_TYPE_NODES (4096)",
        "too-many-structs": "the struct table has more structs than MAX_STRUCTS (1024)",
        "too-many-fields": "a struct has more fields than MAX_STRUCT_FIELDS (256)",
        "type-table-order": "the type table is not the canonical one (a duplicate, unused or out-of-order node)",
        "bad-flags": "a function's flags set bits other than bit 0 (exported)",
        "source-map-shape": "the source map's entry count differs from the function count",
        "malformed": "the decoder failed in an unforeseen way (a decoder bug: please report it)",
    },
)

# The compiled reader raises FormatFault for every problem it foresees; these
# are what an unforeseen one (a decoder bug) would raise instead.  They are
# converted rather than passed on, and the tests assert they never happen.
_UNFORESEEN = (
    struct.error,
    UnicodeError,
    OverflowError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
    MemoryError,
)


def decode_module(data: Any) -> Module:
    """Decode `.cmod` bytes into a Module; raises `DecodeError` (and nothing else) on any bad input."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError("not-bytes", f"a module is read from bytes, not from {type(data).__name__}", offset=0)
    try:
        raw = bytes(data)
    except (ValueError, TypeError, BufferError) as exc:
        raise DecodeError("not-bytes", f"the buffer cannot be read as bytes: {exc}", offset=0) from None
    try:
        module, _ = read_module(raw, 0, len(raw), {})
    except FormatFault as fault:
        details = {key: value for key, value in fault.details.items() if key != "needed"}
        raise DecodeError(fault.code, fault.message, offset=fault.offset, **details) from None
    except _UNFORESEEN as exc:
        raise DecodeError("malformed", f"the decoder failed: {type(exc).__name__}: {exc}", offset=0) from None
    if not isinstance(module, Module):  # pragma: no cover - the schema always ends in Module
        raise DecodeError("malformed", "the schema did not produce a module", offset=0)
    return module
