"""The builtins table: takes nothing, gives one row per `.chr` builtin, from which the checker, the lowering and
docs/language.md's builtin table are derived.

A row says how a call is written (`signature`), what it gives and does
(`result`, `doc`), which traps it may raise (`traps`), and how it is lowered:
a *simple* builtin is one instruction over fixed parameter and result types
(`op`, `params`, `returns`), checked and lowered by one generic rule; any
other names the lowering method that checks and lowers it
(`lowering="len"` is `_FunctionCompiler.builtin_len`).  A new builtin is one
row here, plus a lowering method only when no fixed signature describes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chronicle_vm.core.isa import Op
from chronicle_vm.core.types import BOOL, INT, STR, ValueType

__all__ = ["BUILTINS", "Builtin", "builtin_table"]

_STR_ARRAY = STR.array_of()


@dataclass(frozen=True, slots=True)
class Builtin:
    """One builtin: how it is called, what it does, and how the compiler lowers it."""

    name: str
    signature: str  # as docs/language.md writes it, `f(x: T, ...)`
    result: str  # the result type as text, "nothing" for none
    doc: str  # one line: what it gives
    traps: tuple[str, ...] = ()  # error codes a call may end in
    op: Op | None = None  # a simple builtin's one instruction
    params: tuple[ValueType, ...] = ()  # a simple builtin's parameter types
    returns: ValueType | None = None  # a simple builtin's result type
    lowering: str = "simple"  # "simple", or the suffix of the `builtin_<lowering>` method that lowers it

    @property
    def simple(self) -> bool:
        return self.lowering == "simple"

    @property
    def full_signature(self) -> str:
        """The signature with its result, as diagnostics quote it: `find(s: str, sub: str) -> int`."""
        return self.signature if self.result == "nothing" else f"{self.signature} -> {self.result}"


def _simple(
    name: str,
    op: Op,
    params: tuple[tuple[str, ValueType], ...],
    returns: ValueType,
    doc: str,
    traps: tuple[str, ...] = (),
) -> Builtin:
    signature = f"{name}({', '.join(f'{p}: {t}' for p, t in params)})"
    return Builtin(name, signature, str(returns), doc, traps, op, tuple(t for _p, t in params), returns)


_ROWS: tuple[Builtin, ...] = (
    Builtin("len", "len(x: str | [T])", "int", "characters of a string, items of an array", lowering="len"),
    Builtin("push", "push(a: [T], x: T)", "nothing", "appends `x` to `a`", ("limit.array-len",), lowering="push"),
    Builtin("pop", "pop(a: [T])", "T", "removes and returns the last item", ("runtime.pop-empty",), lowering="pop"),
    Builtin(
        "str",
        "str(x: int | bool | str)",
        "str",
        '`str(42) == "42"`, `str(true) == "true"`, `str(s) == s`',
        lowering="str",
    ),
    Builtin(
        "slice",
        "slice(s: str | [T], lo: int, hi: int)",
        "str | [T]",
        "characters `lo..hi` of a string, or a new array of items `lo..hi`; both bounds are clamped to "
        '`0..len(s)`, and `lo >= hi` gives `""` or `[]`',
        lowering="slice",
    ),
    _simple(
        "ord",
        Op.ORD,
        (("c", STR),),
        INT,
        'the code point of the one-character string `c` (`ord("A") == 65`)',
        ("runtime.bad-operand",),
    ),
    _simple(
        "chr",
        Op.CHR,
        (("i", INT),),
        STR,
        'the one-character string of code point `i` (`chr(65) == "A"`); outside the Unicode scalar values '
        "(negative, the surrogates 0xD800..0xDFFF, above 0x10FFFF) it traps",
        ("runtime.bad-operand",),
    ),
    _simple("starts_with", Op.STARTSWITH, (("s", STR), ("prefix", STR)), BOOL, "whether `s` begins with `prefix`"),
    _simple("ends_with", Op.ENDSWITH, (("s", STR), ("suffix", STR)), BOOL, "whether `s` ends with `suffix`"),
    Builtin(
        "replace",
        "replace(s: str, old: str, new: str)",
        "str",
        "`s` with every occurrence of `old` replaced by `new`, left to right, without overlaps",
        ("runtime.empty-pattern", "limit.string-len"),
        lowering="replace",
    ),
    _simple("contains", Op.CONTAINS, (("s", STR), ("sub", STR)), BOOL, "whether `sub` occurs in `s`"),
    _simple("find", Op.FIND, (("s", STR), ("sub", STR)), INT, "index of the first occurrence of `sub` in `s`, or `-1`"),
    _simple(
        "parse_int",
        Op.PARSEINT,
        (("s", STR),),
        INT,
        "`s` read as a decimal int with an optional sign",
        ("runtime.parse-int",),
    ),
    _simple(
        "upper",
        Op.UPPER,
        (("s", STR),),
        STR,
        "`s` in upper case: Unicode 15.1 full case mapping, the same on every Python (docs/isa.md)",
        ("limit.string-len",),
    ),
    _simple(
        "lower",
        Op.LOWER,
        (("s", STR),),
        STR,
        "`s` in lower case: Unicode 15.1 full case mapping, the same on every Python (docs/isa.md)",
        ("limit.string-len",),
    ),
    _simple("trim", Op.TRIM, (("s", STR),), STR, "`s` without leading and trailing Unicode 15.1 white space"),
    _simple(
        "split",
        Op.SPLIT,
        (("s", STR), ("sep", STR)),
        _STR_ARRAY,
        'the parts of `s` between occurrences of `sep` (`split("a,,b", ",")` is `["a", "", "b"]`)',
        ("runtime.empty-separator",),
    ),
    _simple("join", Op.JOIN, (("items", _STR_ARRAY), ("sep", STR)), STR, "the items with `sep` between them"),
    _simple(
        "repeat",
        Op.REPEAT,
        (("s", STR), ("n", INT)),
        STR,
        '`s` repeated `n` times; `n <= 0` gives `""`',
        ("limit.string-len",),
    ),
    Builtin(
        "sort",
        "sort(xs: [T])",
        "[T]",
        'a new array of the items in ascending order (`T` int or str; strings by code point, `"Z" < "a"`)',
        lowering="sort",
    ),
    Builtin(
        "insert",
        "insert(xs: [T], i: int, x: T)",
        "nothing",
        "inserts `x` before index `i` (`0 <= i <= len(xs)`; `i == len(xs)` appends)",
        ("runtime.index-out-of-range", "limit.array-len"),
        lowering="insert",
    ),
    Builtin(
        "remove_at",
        "remove_at(xs: [T], i: int)",
        "T",
        "removes and returns the item at index `i` (`0 <= i < len(xs)`)",
        ("runtime.index-out-of-range",),
        lowering="remove_at",
    ),
    Builtin(
        "copy",
        "copy(xs: [T])",
        "[T]",
        "a new array of the same items (shallow: inner arrays are shared)",
        lowering="copy",
    ),
)

#: Every builtin by name, in the order docs/language.md lists them.
BUILTINS: Mapping[str, Builtin] = {row.name: row for row in _ROWS}
assert len(BUILTINS) == len(_ROWS), "every builtin has one row"


def builtin_table() -> str:
    """docs/language.md's builtin table (testing/gen_docs.py writes it between its markers)."""
    lines = ["| builtin | result | meaning | traps |", "|---|---|---|---|"]
    for row in _ROWS:
        traps = ", ".join(f"`{code}`" for code in row.traps)
        cells = (f"`{row.signature}`", row.result, row.doc, traps)
        escaped = [cell.replace("|", "\\|") for cell in cells]
        lines.append("|" + "|".join(f" {cell} " if cell else " " for cell in escaped) + "|")
    return "\n".join(lines)
