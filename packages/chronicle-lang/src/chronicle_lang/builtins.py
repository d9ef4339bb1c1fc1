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
from chronicle_vm.core.types import BOOL, FLOAT, INT, STR, ValueType

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
    vm_op: str = ""  # a "named" builtin's one instruction, by its ISA name (rows of the structured-values ISA)

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


def _named(
    name: str,
    vm_op: str,
    params: tuple[tuple[str, ValueType], ...],
    returns: ValueType,
    doc: str,
    traps: tuple[str, ...] = (),
) -> Builtin:
    """A builtin that is one instruction over fixed types, the instruction named (checked like a simple one)."""
    signature = f"{name}({', '.join(f'{p}: {t}' for p, t in params)})"
    return Builtin(
        name, signature, str(returns), doc, traps, None, tuple(t for _p, t in params), returns, "named", vm_op
    )


_RANGE = ("runtime.float-range",)
_MAP_FIRST = "m: {K: V}"


_BASE_ROWS: tuple[Builtin, ...] = (
    Builtin(
        "len",
        "len(x: str | [T] | {K: V})",
        "int",
        "characters of a string, items of an array, entries of a map",
        lowering="len",
    ),
    Builtin("push", "push(a: [T], x: T)", "nothing", "appends `x` to `a`", ("limit.array-len",), lowering="push"),
    Builtin("pop", "pop(a: [T])", "T", "removes and returns the last item", ("runtime.pop-empty",), lowering="pop"),
    Builtin(
        "str",
        "str(x: int | float | bool | str)",
        "str",
        '`str(42) == "42"`, `str(true) == "true"`, `str(s) == s`; a float as the shortest text that reads back '
        'to it, always with a point or an exponent (`str(1.0) == "1.0"`, `str(-0.0) == "-0.0"`, `str(1e16) == '
        '"1e+16"`)',
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
        "a new array of the items in ascending order (`T` int, float or str; strings by code point, "
        '`"Z" < "a"`; `-0.0` and `0.0` are equal and keep their order)',
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

_FLOAT_ROWS: tuple[Builtin, ...] = (
    _named("float", "ITOF", (("i", INT),), FLOAT, "the float nearest to `i` (`float(3) == 3.0`)"),
    _named(
        "int",
        "FTOI",
        (("f", FLOAT),),
        INT,
        "`f` toward zero (`int(-2.7) == -2`); outside the int range it traps",
        _RANGE,
    ),
    _named("floor", "FLOOR", (("f", FLOAT),), INT, "the greatest int `<= f` (`floor(-2.5) == -3`)", _RANGE),
    _named("ceil", "CEIL", (("f", FLOAT),), INT, "the least int `>= f` (`ceil(2.1) == 3`)", _RANGE),
    _named(
        "round",
        "ROUND",
        (("f", FLOAT),),
        INT,
        "the nearest int, halves to even (`round(2.5) == 2`, `round(3.5) == 4`)",
        _RANGE,
    ),
    _named(
        "sqrt",
        "SQRT",
        (("f", FLOAT),),
        FLOAT,
        "the correctly rounded square root; of a negative it traps (`sqrt(-0.0) == -0.0`)",
        ("runtime.float-nonfinite",),
    ),
    Builtin(
        "abs",
        "abs(x: int | float)",
        "int | float",
        "`x` without its sign (`abs(-9223372036854775808)` wraps to itself, as `-x` does)",
        lowering="abs",
    ),
    Builtin(
        "min",
        "min(a: T, b: T)",
        "T",
        "the smaller of two ints or two floats (`a` when they are equal)",
        lowering="minmax",
    ),
    Builtin(
        "max",
        "max(a: T, b: T)",
        "T",
        "the larger of two ints or two floats (`a` when they are equal)",
        lowering="minmax",
    ),
    _named(
        "parse_float",
        "PARSEFLOAT",
        (("s", STR),),
        FLOAT,
        '`s` read as a decimal float (`parse_float("2.5e-3")`); text that is no float traps, as does one whose '
        "value is not finite",
        ("runtime.parse-float", "runtime.float-nonfinite"),
    ),
)

_MAP_ROWS: tuple[Builtin, ...] = (
    Builtin(
        "get",
        f"get({_MAP_FIRST}, k: K, default: V)",
        "V",
        "`m[k]` when `m` has key `k`, else `default` (which is evaluated either way)",
        lowering="get",
    ),
    Builtin("has", f"has({_MAP_FIRST}, k: K)", "bool", "whether `m` has key `k`", lowering="has"),
    Builtin(
        "remove",
        f"remove({_MAP_FIRST}, k: K)",
        "nothing",
        "removes key `k` and its value from `m`; an absent key does nothing",
        lowering="remove",
    ),
    Builtin("keys", f"keys({_MAP_FIRST})", "[K]", "a new array of the keys, in insertion order", lowering="keys"),
    Builtin(
        "values",
        f"values({_MAP_FIRST})",
        "[V]",
        "a new array of the values, in the order of their keys",
        lowering="values",
    ),
)

_ROWS = (*_BASE_ROWS, *_FLOAT_ROWS, *_MAP_ROWS)

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
