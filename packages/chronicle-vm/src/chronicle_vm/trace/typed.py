"""Trace values by declared type: takes a module (or a trace's recorded header), gives each value's JSON form and back.

Version 2 traces (those of version-2 modules) hold floats, maps and structs,
whose JSON forms cannot be read without their declared types: a struct is a
JSON object by field name, a map a list of `[key, value]` pairs, a float a
JSON number whose text is Python's `repr`.  So a version-2 trace records what
reading it needs, covered by its digest like every other field:

- `provenance.structs`: the module's struct table, in table order, each
  `{"name": ..., "fields": [{"name": ..., "type": ...}, ...]}`;
- the capability signatures (already in `provenance.capabilities`) and the
  entry's, `entry.signature`.

Type texts are the runtime's own: `int`, `bool`, `str`, `float`, `[T]`,
`{K: V}` and a struct by its name in `provenance.structs` (names are
identifiers, unique in a module), as the capability signatures write them;
`struct#i`, entry `i` of the table, reads too.  `TraceTypes` reads them back from
untrusted JSON within fixed bounds (`MAX_TYPE_TEXT`, `MAX_TYPE_NESTING`,
`MAX_STRUCTS`, `MAX_FIELDS`), so a hostile header is a `replay.schema` error,
never a crash.  Replay compares the recorded header with the module's own
(`replay.provenance`, `replay.entry`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from chronicle_vm.core.model import Function, Module
from chronicle_vm.core.type_registry import JsonForm, ValueMismatch, from_json, to_json
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    map_type,
    struct_type,
    type_text,
)

__all__ = [
    "HeaderError",
    "MAX_FIELDS",
    "MAX_STRUCTS",
    "MAX_TYPE_NESTING",
    "MAX_TYPE_TEXT",
    "Signature",
    "TraceTypes",
    "ValueMismatch",
    "module_structs",
    "parse_signature",
    "parse_type_text",
    "plain_json",
    "signature_text",
    "structs_record",
    "structured",
]

#: Longest type or signature text read from a trace.
MAX_TYPE_TEXT = 4096
#: Deepest nesting of `[...]` and `{...}` in a recorded type text.
MAX_TYPE_NESTING = 16
#: Most structs, and most fields of one struct, a trace's header may hold (the format's own bounds).
MAX_STRUCTS = 1024
MAX_FIELDS = 256

_SCALARS = {"int": INT, "bool": BOOL, "str": STR, "float": FLOAT}
_TOKEN = re.compile(r"\s*(struct#[0-9]{1,6}|[^\W\d]\w*|->|[\[\]{}():,])")


class Signature(NamedTuple):
    """A parsed signature text: parameter types, and the result type or None."""

    params: tuple[ValueType, ...]
    result: ValueType | None


def module_structs(module: Module) -> tuple[StructDef, ...]:
    """The module's struct table."""
    return module.structs


def structured(module: Module) -> bool:
    """True when the module's traces are version 2: a version-2 module (floats, maps or structs)."""
    return module.version >= 2


def structs_record(structs: Sequence[StructDef]) -> list[dict[str, Any]]:
    """The struct table as `provenance.structs` records it (field types with struct names)."""
    return [
        {
            "name": struct.name,
            "fields": [{"name": field.name, "type": type_text(field.type, structs)} for field in struct.fields],
        }
        for struct in structs
    ]


def signature_text(params: Sequence[ValueType], result: ValueType | None, structs: Sequence[StructDef]) -> str:
    """A signature as traces record it: `(str, Item) -> {str: float}`, structs by name from the module's table."""
    text = "(" + ", ".join(type_text(param, structs) for param in params) + ")"
    return text if result is None else f"{text} -> {type_text(result, structs)}"


def plain_json(vtype: ValueType) -> bool:
    """True when a value's JSON form is the VM value itself: ints, bools, strings and arrays of them."""
    while vtype.kind is TypeKind.ARRAY:
        vtype = vtype.args[0]
    return vtype.kind in (TypeKind.INT, TypeKind.BOOL, TypeKind.STR)


class _Reader:
    """A recursive-descent reader of one type text, bounded in length and nesting."""

    def __init__(self, text: str, structs: int, names: Mapping[str, int] | None = None) -> None:
        if len(text) > MAX_TYPE_TEXT:
            raise ValueError(f"the text is longer than {MAX_TYPE_TEXT} characters")
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            found = _TOKEN.match(text, position)
            if found is None:
                if text[position:].strip() == "":
                    break
                raise ValueError(f"unexpected text at character {position}")
            self.tokens.append(found.group(1))
            position = found.end()
        self.at = 0
        self.structs = structs
        self.names = names or {}

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            raise ValueError(f"expected {expected or 'a type'}, found {token or 'the end'}")
        self.at += 1
        return token

    def type(self, depth: int = 0) -> ValueType:
        if depth > MAX_TYPE_NESTING:
            raise ValueError(f"types nest deeper than {MAX_TYPE_NESTING}")
        token = self.take()
        if token in _SCALARS:
            return _SCALARS[token]
        if token.startswith("struct#"):
            index = int(token[7:])
            if index >= self.structs:
                raise ValueError(f"{token} is not in the trace's struct table ({self.structs} structs)")
            return struct_type(index)
        if token in self.names:  # a struct by its name (names are identifiers, unique, never a builtin type's)
            return struct_type(self.names[token])
        if token == "[":
            element = self.type(depth + 1)
            self.take("]")
            return element.array_of()
        if token == "{":
            key = self.type(depth + 1)
            if key not in (INT, STR, BOOL):
                raise ValueError(f"a map key is int, str or bool, not {key}")
            self.take(":")
            value = self.type(depth + 1)
            self.take("}")
            return map_type(key, value)
        raise ValueError(f"expected a type, found {token}")

    def end(self) -> None:
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()} after the end")


def parse_type_text(text: str, structs: int, names: Mapping[str, int] | None = None) -> ValueType:
    """The type a recorded type text names (`{str: [Item]}`, `{str: [struct#0]}`); ValueError saying why if none.

    `names` maps the struct table's names to their indexes; `struct#i` names entry `i` either way.
    """
    reader = _Reader(text, structs, names)
    found = reader.type()
    reader.end()
    return found


def parse_signature(text: str, structs: int, names: Mapping[str, int] | None = None) -> Signature:
    """A recorded signature text, `(int, Item) -> {str: float}` (or `struct#1`), parsed; ValueError if it is not one."""
    reader = _Reader(text, structs, names)
    reader.take("(")
    params: list[ValueType] = []
    if reader.peek() != ")":
        params.append(reader.type())
        while reader.peek() == ",":
            reader.take(",")
            params.append(reader.type())
    reader.take(")")
    result = None
    if reader.peek() == "->":
        reader.take("->")
        result = reader.type()
    reader.end()
    return Signature(tuple(params), result)


def _struct_names(record: list[Any]) -> dict[str, int]:
    """The struct table's names by index, for type texts that name structs (the first of a repeated name)."""
    names: dict[str, int] = {}
    for index, item in enumerate(record):
        name = item.get("name") if type(item) is dict else None
        if type(name) is str and name not in _SCALARS:
            names.setdefault(name, index)
    return names


def _read_structs(record: object) -> tuple[StructDef, ...]:
    """The struct table of a `provenance.structs` record; ValueError naming the defect's place."""
    if type(record) is not list:
        raise ValueError("expected an array of structs")
    if len(record) > MAX_STRUCTS:
        raise ValueError(f"holds more than {MAX_STRUCTS} structs")
    count = len(record)
    names = _struct_names(record)
    structs: list[StructDef] = []
    for index, item in enumerate(record):
        if type(item) is not dict or item.keys() != {"name", "fields"}:
            raise ValueError(f"[{index}]: expected an object with exactly `name` and `fields`")
        name, fields = item["name"], item["fields"]
        if type(name) is not str or len(name) > MAX_TYPE_TEXT:
            raise ValueError(f"[{index}].name: expected a string")
        if type(fields) is not list or len(fields) > MAX_FIELDS:
            raise ValueError(f"[{index}].fields: expected an array of at most {MAX_FIELDS} fields")
        read: list[StructField] = []
        for position, field in enumerate(fields):
            where = f"[{index}].fields[{position}]"
            if type(field) is not dict or field.keys() != {"name", "type"}:
                raise ValueError(f"{where}: expected an object with exactly `name` and `type`")
            if type(field["name"]) is not str or type(field["type"]) is not str or len(field["name"]) > MAX_TYPE_TEXT:
                raise ValueError(f"{where}: `name` and `type` are strings")
            try:
                vtype = parse_type_text(field["type"], count, names)
            except ValueError as exc:
                raise ValueError(f"{where}.type: {exc}") from None
            read.append(StructField(field["name"], vtype))
        if len({field.name for field in read}) != len(read):
            raise ValueError(f"[{index}].fields: two fields have one name")
        if names.get(name, index) != index or name in _SCALARS:
            raise ValueError(f"[{index}].name: a struct's name is unique and not a builtin type's")
        structs.append(StructDef(name, tuple(read)))
    return tuple(structs)


class TraceTypes:
    """The declared types of a version-2 trace's values: its struct table and signatures, read from its header.

    Built from a module when recording (`for_module`) and from the recorded header when loading
    (`from_header`, which raises ValueError(path, message) naming the defect).  `to_json` and `from_json`
    convert one value by its declared type (`core.type_registry`), within `MAX_JSON_DEPTH`.
    """

    __slots__ = ("capabilities", "entry", "form", "structs")

    def __init__(
        self,
        structs: tuple[StructDef, ...],
        capabilities: Mapping[str, Signature],
        entry: Signature | None,
    ) -> None:
        self.structs = structs
        self.capabilities = capabilities
        self.entry = entry
        self.form = JsonForm(structs)

    @classmethod
    def for_module(cls, module: Module, entry: Function | None = None) -> TraceTypes:
        capabilities = {c.name: Signature(c.params, c.result) for c in module.capabilities}
        signature = None if entry is None else Signature(entry.params, entry.result)
        return cls(module_structs(module), capabilities, signature)

    @classmethod
    def from_header(cls, provenance: Mapping[str, Any], entry: Mapping[str, Any]) -> TraceTypes:
        """The types a checked v2 header records; raises `HeaderError` naming the field at fault."""
        try:
            structs = _read_structs(provenance.get("structs"))
        except ValueError as exc:
            raise HeaderError(("provenance", "structs"), str(exc)) from None
        names = {struct.name: index for index, struct in reversed(list(enumerate(structs)))}
        capabilities: dict[str, Signature] = {}
        for index, decision in enumerate(provenance["capabilities"]):
            try:
                signature = parse_signature(decision["signature"], len(structs), names)
                capabilities.setdefault(decision["name"], signature)
            except ValueError as exc:
                raise HeaderError(("provenance", "capabilities", index, "signature"), str(exc)) from None
        text = entry.get("signature")
        if type(text) is not str:
            raise HeaderError(("entry", "signature"), "expected the entry's signature text")
        try:
            signature = parse_signature(text, len(structs), names)
        except ValueError as exc:
            raise HeaderError(("entry", "signature"), str(exc)) from None
        return cls(structs, capabilities, signature)

    def to_json(self, value: Any, vtype: ValueType) -> Any:
        """The JSON form of a VM value of `vtype` (ValueMismatch when it nests too deep to write)."""
        return to_json(value, vtype, self.form)

    def from_json(self, obj: object, vtype: ValueType, what: str) -> Any:
        """The host form (what `import_value` takes) a JSON form holds; ValueMismatch naming the path."""
        return from_json(obj, vtype, self.form, what)

    def check(self, obj: object, vtype: ValueType, what: str) -> None:
        """Raise ValueMismatch naming the path when `obj` is not a JSON form of `vtype`."""
        from_json(obj, vtype, self.form, what)


class HeaderError(Exception):
    """A v2 trace header's struct table or signature text is not one: (path parts, message)."""

    def __init__(self, parts: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.parts = parts
        self.message = message
