"""Cost model 2: takes an instruction's operand values, gives the fuel it costs beyond its base charge of 1.

Every instruction costs 1 unit of `max_instructions` fuel; an instruction
whose work grows with its operands (it scans, compares, copies or builds
text or items) also pays an *extra* charge computed here, from operand
lengths only, before it does that work.  isa.py's `cost` column states each
formula for people (docs/isa.md shows it); this module is the one
implementation both engines call (the compiled engine inlines the two
simplest formulas, `concat`'s and `find`'s, with the same arithmetic).

The charge is taken before the instruction's own checks: a run that cannot
pay an instruction's whole cost stops before it, with `limit.instructions`
at that instruction and the fuel spent so far as its count.  Sizes that a
limit check refuses anyway (`repeat`, `join` beyond `max_string_len`) are
charged at most `max_string_len + 1` characters, so that the limit's own
error still decides.  A value exported to a capability is charged by its
size as a tree (an array shared n times is counted n times), since that is
what the host receives and the trace records.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.isa import CHARS_PER_FUEL, OPCODES, Op, OperandKind
from chronicle_vm.core.structured import MAX_VALUE_DEPTH, VMap, struct_fields
from chronicle_vm.core.types import TypeKind
from chronicle_vm.core.values import Value

if TYPE_CHECKING:
    from chronicle_vm.core.model import Function, Module
    from chronicle_vm.core.types import StructDef, ValueType

__all__ = [
    "ENTRY_WORDS",
    "ITEM_WORDS",
    "LIST_WORDS",
    "MAP_WORDS",
    "PIECES_FROM",
    "STR_WORDS",
    "WORD",
    "Pieces",
    "PrivateStrings",
    "append_piece",
    "compare_extra",
    "export_size",
    "export_work_of",
    "frame_work",
    "joined",
    "joined_extra",
    "joined_words",
    "piece_length",
    "private_appends",
    "private_strings",
    "string_extra",
    "value_words",
]

# -- memory in bytes: the estimate `max_allocation` counts ---------------------------------------------------------
# A fixed estimate of the bytes of the Python objects a run creates, the same on every Python (so counts and
# traces are too): a string as CPython's widest header plus 4 bytes per character (UCS-4, its widest kind; an
# upper bound for ASCII, Latin-1 and UCS-2 strings, which take 1 or 2), a list as its header plus one pointer per
# item (over-allocation is not counted).  Ints and bools cost nothing: registers hold them.
# The engines count in words of WORD bytes, one per character, so that a string's charge is its length plus a
# constant (no multiplication on the hot path); max_allocation, in bytes, is compared as max_allocation // WORD
# words, which is exact: 4 * w > m exactly when w > m // 4.
WORD = 4
#: A string: 76 bytes (STR_WORDS words) plus one word (4 bytes) per character.
STR_WORDS = 19
#: An array: 56 bytes (LIST_WORDS words) plus 8 bytes (ITEM_WORDS words) per item.
LIST_WORDS = 14
ITEM_WORDS = 2
#: A map (#17): 64 bytes (MAP_WORDS words) plus 24 bytes (ENTRY_WORDS words: hash, key, value) per entry.
#: A struct is a list: LIST_WORDS plus ITEM_WORDS per field.
MAP_WORDS = 16
ENTRY_WORDS = 6
#: A value nested deeper than this cannot leave the VM (a cyclic one is infinitely deep): it counts as too large.
MAX_EXPORT_DEPTH = MAX_VALUE_DEPTH
_TOO_DEEP = (1 << 62, 1 << 62)


_FLAT = frozenset((int, bool))
_STRS = {str}


def value_words(value: Value) -> int:
    """The estimated words of a fresh copy of `value` (nested; an array held twice counts twice)."""
    if type(value) is str:
        return STR_WORDS + len(value)
    if type(value) is list:
        kinds = set(map(type, value))
        if kinds <= _FLAT:  # ints and bools cost nothing (a C-speed scan of the common flat arrays)
            return LIST_WORDS + ITEM_WORDS * len(value)
        if kinds == _STRS:
            return LIST_WORDS + (ITEM_WORDS + STR_WORDS) * len(value) + sum(map(len, value))  # type: ignore[arg-type]
        return LIST_WORDS + ITEM_WORDS * len(value) + sum(value_words(item) for item in value)
    if type(value) is VMap:
        return (
            MAP_WORDS
            + ENTRY_WORDS * len(value)
            + sum(value_words(key) + value_words(item) for key, item in value.items())
        )
    return 0


_SHIFT = CHARS_PER_FUEL.bit_length() - 1
assert 1 << _SHIFT == CHARS_PER_FUEL, "the per-character charge is a shift: a power of two"

_CONTAINS, _FIND, _PARSEINT = Op.CONTAINS.value, Op.FIND.value, Op.PARSEINT.value
_UPPER, _LOWER, _TRIM = Op.UPPER.value, Op.LOWER.value, Op.TRIM.value
_SPLIT, _JOIN, _REPEAT = Op.SPLIT.value, Op.JOIN.value, Op.REPEAT.value
_EQ, _NE = Op.EQ.value, Op.NE.value
_ORDERS = frozenset((Op.LT.value, Op.LE.value, Op.GT.value, Op.GE.value))


def compare_extra(op: int, left: int, right: int) -> int:
    """Extra fuel of `eq ne lt le gt ge` on two strings of `left` and `right` characters."""
    if op == _EQ or op == _NE:  # strings of different lengths differ without a scan
        return left >> _SHIFT if left == right else 0
    return min(left, right) >> _SHIFT  # code point order: at most the shorter string is compared


def string_extra(op: int, left: Any, right: Any, max_string: int) -> int:
    """Extra fuel of a string instruction (`eq`/`ne` of strings included) with operand values `left`, `right`."""
    if op == _CONTAINS or op == _FIND:
        return (len(left) + len(right)) >> _SHIFT
    if op == _EQ or op == _NE or op in _ORDERS:
        return compare_extra(op, len(left), len(right))
    if op == _PARSEINT or op == _UPPER or op == _LOWER or op == _TRIM:
        return len(left) >> _SHIFT
    if op == _SPLIT:  # one scan to count the pieces, one to build them
        return (2 * len(left)) >> _SHIFT
    if op == _JOIN:  # the items read (4 characters each) and the characters of the result
        count = len(left)
        size = sum(len(item) for item in left) + len(right) * max(count - 1, 0)
        return (4 * count + min(size, max_string + 1)) >> _SHIFT
    if op == _REPEAT:
        size = len(left) * right if right > 0 else 0
        return min(size, max_string + 1) >> _SHIFT
    return 0


def export_size(value: Value) -> int:
    """The estimated words of `value` counted as a tree: the size of a copy (or a JSON text) of it.

    An array that holds the same inner array n times counts the inner one n
    times, but each distinct array or map is walked once (sizes are
    remembered by identity), so the time is that of the distinct items,
    whatever the sharing.  A value that contains itself (structs make cycles
    possible) or nests deeper than MAX_EXPORT_DEPTH has no finite tree: it
    counts as 2**62 words, more than any max_allocation.
    """
    if type(value) is str:
        return STR_WORDS + len(value)
    if type(value) is not list and type(value) is not VMap:
        return 0
    return _tree(value, {}, 0)[1]


def _tree(items: Any, seen: dict[int, tuple[int, int]], depth: int) -> tuple[int, int]:
    """(characters plus items, estimated words) of the array, struct or map `items` as a tree."""
    key = id(items)
    known = seen.get(key)
    if known is not None:
        return known
    if depth >= MAX_EXPORT_DEPTH:
        return _TOO_DEEP
    seen[key] = _TOO_DEEP  # while it is walked: meeting it again inside itself is a cycle
    units = len(items)
    if type(items) is VMap:
        size = MAP_WORDS + ENTRY_WORDS * len(items)
        parts: Any = [*items.keys(), *items.values()]
    else:
        size = LIST_WORDS + ITEM_WORDS * len(items)
        parts = items
    for item in parts:
        if type(item) is list or type(item) is VMap:
            inner_units, inner_size = _tree(item, seen, depth + 1)
            units += inner_units
            size += inner_size
        elif type(item) is str:
            units += len(item)
            size += STR_WORDS + len(item)
    units, size = min(units, _TOO_DEEP[0]), min(size, _TOO_DEEP[1])
    seen[key] = units, size
    return units, size


def export_work_of(args: Sequence[Value]) -> tuple[int, int]:
    """A capability call's arguments as a tree: (characters plus items, for fuel; estimated words)."""
    units = size = 0
    for arg in args:
        if type(arg) is str:
            units += len(arg)
            size += STR_WORDS + len(arg)
        elif type(arg) is list or type(arg) is VMap:
            arg_units, arg_size = _tree(arg, {}, 0)
            units += arg_units
            size += arg_size
    return units, size


# -- a frame's fresh values -----------------------------------------------------------------------------------------
# Pushing a frame gives every register past the parameters its zero, and the zeros of arrays, maps and structs are
# new objects: up to max_registers of them, a struct with up to 256 fields.  That is work and memory the `call`
# instruction does, so it pays for them as the instructions that make them would: every fresh object and field
# counts against max_allocation (a `newarr`, `mapnew` or `structnew` of that shape), and its fuel grows by one unit
# per 16 *items* of work (a fresh array or struct 1 item plus 1 per struct field, a fresh map 8: its construction
# runs Python code, about eight times a list's), so a frame of fewer than 16 items costs what it did.  The entry
# frame's values are paid alike before its first instruction (fuel and allocation, 0 instructions spent if not).
#: Items of work a fresh map's zero counts (see above).
_MAP_ITEMS = 8


def _zero_work(vtype: ValueType, structs: Sequence[StructDef]) -> tuple[int, int]:
    """(items of work, estimated words) of one fresh zero of `vtype`: nothing for the scalars, which are shared."""
    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        return 1, LIST_WORDS
    if kind is TypeKind.MAP:
        return _MAP_ITEMS, MAP_WORDS
    if kind is not TypeKind.STRUCT:
        return 0, 0
    fields = struct_fields(vtype, structs)  # finite: the verifier refuses a zero struct over 256 fields
    items, words = 1 + len(fields), LIST_WORDS + ITEM_WORDS * len(fields)
    for item in fields:
        more_items, more_words = _zero_work(item.type, structs)
        items += more_items
        words += more_words
    return items, words


def frame_work(function: Function, structs: Sequence[StructDef]) -> tuple[int, int]:
    """(extra fuel, estimated words) of the fresh values a frame of `function` makes (see above)."""
    items = words = 0
    for vtype in function.registers[function.param_count :]:
        more_items, more_words = _zero_work(vtype, structs)
        items += more_items
        words += more_words
    return items >> _SHIFT, words


# -- appends to a private string register (issue 20) ------------------------------------------------------------------
# `concat r, r, x` (the compiler's `s = s + x` for a local `s`) replaces the only reference to the old string when
# register r is *private*: nothing else ever holds its value.  Private is decided per function from the code alone,
# the same on every engine: r is not a parameter, and every instruction that touches r is one of
#   concat r, r, x (the append; x may be r) | len d, r | a comparison of r | ret r | loadk r, "" (an empty constant);
# anything else that reads r could keep its value (mov, push, set, a call's window, a capability call, a concat
# into another register: CPython's `s + ""` is `s` itself) and anything else that writes r could bring in a value
# held elsewhere.  The right side x of an append is never private itself (`"" + x` is x: it would be aliased).
#
# So an engine may keep a private string in pieces (`Pieces`: a list of parts and the total length) that no
# other instruction ever sees: an append pushes its part, O(len(x)) amortised, and pays what it appends,
# len(x) // n fuel beyond its unit and len(x) words of max_allocation (the run holds len(x) characters more).
# `len` reads the total length; a comparison, `ret` and `s = s + s` first *join* the pieces (one copy, paid
# len(s) // n fuel and counted as a new string, STR_WORDS + len(s) words), keep the joined string and go on.
# The representation is part of the cost model, so every engine follows these rules exactly:
#   - an append to a string of `t` characters (a str) gives a str when the result is shorter than PIECES_FROM
#     characters or either side is empty (`left + right`, a copy of under n characters: it costs no extra fuel),
#     and else Pieces([left, right]);
#   - an append to Pieces pushes the part (an empty one changes nothing and is not pushed: max_allocation counts
#     len(x) per append, so every part pushed is counted at least one word);
#   - joining Pieces (always two parts or more, at least PIECES_FROM characters) gives the str `"".join(parts)`;
#     joining a str is free and leaves it as it is.
# An append whose left side is "" gives `x` itself (aliased), but it is charged len(x), the size of the string a
# later join copies, so the count stays an upper bound of what is held.

#: An append whose result has at least this many characters, both sides non-empty, keeps its string in pieces.
PIECES_FROM = CHARS_PER_FUEL


class Pieces:
    """A private string register's value kept in pieces (see above): never seen outside the private rules."""

    __slots__ = ("n", "parts")

    def __init__(self, parts: list[str], n: int) -> None:
        self.parts = parts
        self.n = n  # the total length of the parts

    def __repr__(self) -> str:  # a test that finds one where it must not be says what it found
        return f"Pieces({len(self.parts)} parts, {self.n} characters)"


def piece_length(value: str | Pieces) -> int:
    """The length of a private string register's value, joined or not."""
    return value.n if type(value) is Pieces else len(value)  # type: ignore[arg-type]  # (mypy: no else-narrowing)


def joined_extra(value: str | Pieces) -> int:
    """The extra fuel of joining a private register's value: its length // n when it is in pieces, else 0."""
    return value.n >> _SHIFT if type(value) is Pieces else 0


def joined_words(value: str | Pieces) -> int:
    """The words joining a private register's value counts against max_allocation: a new string, or 0."""
    return STR_WORDS + value.n if type(value) is Pieces else 0


def joined(value: str | Pieces) -> str:
    """A private register's value as one string (pieces joined, once; a str as it is)."""
    return "".join(value.parts) if type(value) is Pieces else value  # type: ignore[return-value]


def append_piece(left: str | Pieces, right: str, size: int) -> str | Pieces:
    """A private register's value after appending `right` (`size` = the total length), checks and charges done."""
    if type(left) is Pieces:
        if right:  # an empty part would hold a pointer that max_allocation does not count
            left.parts.append(right)
        left.n = size
        return left
    if size < PIECES_FROM or not left or not right:
        return left + right  # type: ignore[operator]
    return Pieces([left, right], size)  # type: ignore[list-item]


@dataclass(frozen=True, slots=True)
class PrivateStrings:
    """A function's private string registers and the instructions that touch them (see above)."""

    registers: frozenset[int]
    #: `concat r, r, x` on a private r (x may be r: `s = s + s`)
    appends: frozenset[int]
    #: `len`, the comparisons and `ret` reading a private register: the engines' piece-aware forms go there only
    reads: frozenset[int]


_NONE = PrivateStrings(frozenset(), frozenset(), frozenset())
#: Opcodes from here on (maps 0x80.., structs 0x90..) may read register windows their table row does not show as
#: one (`structnew d, first` reads first..first+n-1): each counts as touching every register of its function.
_WINDOWS_UNREVIEWED = 0x80
#: Instructions that read a string register and keep no reference to it (they give an int or a bool).
_NON_ALIASING_READS = frozenset({Op.LEN, Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE})


def private_appends(function: Function, module: Module) -> frozenset[int]:
    """The instruction indexes of `function` that are appends to a private string register (see above)."""
    return private_strings(function, module).appends


def private_strings(function: Function, module: Module) -> PrivateStrings:
    """`function`'s private string registers, its appends to them and its other instructions that read them."""
    candidates = {a for op, a, b, _ in function.code if op == Op.CONCAT and a == b and a >= function.param_count}
    if not candidates:
        return _NONE
    for op, a, b, c in function.code:
        if op == Op.CONCAT and a == b:
            if c != a:  # its right side may come back as the result itself ("" + x is x): no longer private
                candidates.discard(c)
            continue  # the append itself (its right side may be the register: s = s + s)
        if op == Op.LOADK and isinstance(module.constants[b], str) and module.constants[b] == "":
            continue  # loadk r, "": the empty string holds nothing
        touched = _touched(op, a, b, c, function, module)
        if op in _NON_ALIASING_READS:
            touched = touched - {b, c} if op != Op.LEN else touched - {b}
        elif op == Op.RET:
            touched = touched - {a}
        candidates -= touched
        if not candidates:
            return _NONE
    return _instructions_on(frozenset(candidates), function)


def _instructions_on(private: frozenset[int], function: Function) -> PrivateStrings:
    """The appends to the `private` registers of `function`, and its `len`, comparisons and `ret` that read one."""
    appends: list[int] = []
    reads: list[int] = []
    for pc, (op, a, b, c) in enumerate(function.code):
        if op == Op.CONCAT and a == b and a in private:
            appends.append(pc)
        elif op == Op.LEN or op == Op.RET:
            if (b if op == Op.LEN else a) in private:
                reads.append(pc)
        elif op in _NON_ALIASING_READS and (b in private or c in private):
            reads.append(pc)
    return PrivateStrings(private, frozenset(appends), frozenset(reads))


def _touched(op: int, a: int, b: int, c: int, function: Function, module: Module) -> set[int]:
    """Every register instruction (op, a, b, c) may read or write (windows in full; unknown windows to the end)."""
    info = OPCODES.get(op)
    if info is None or op >= _WINDOWS_UNREVIEWED:
        return set(range(len(function.registers)))
    touched: set[int] = set()
    for operand, value in zip(info.operands, (a, b, c), strict=True):
        kind = operand.kind
        if kind is OperandKind.REG:
            touched.add(value)
        elif kind is OperandKind.PAIR:
            touched.update((value, value + 1))
        elif kind is OperandKind.ARGS:
            if op == Op.CALL:
                touched.update(range(value, value + module.functions[a].param_count))
            elif op == Op.CAPCALL:
                touched.update(range(value, value + len(module.capabilities[a].params)))
            else:
                touched.update(range(value, len(function.registers)))
    return touched
