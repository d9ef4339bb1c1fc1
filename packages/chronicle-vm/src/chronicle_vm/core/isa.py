"""The instruction set: one table from which the decoder, verifier, interpreter and printers derive.

Every instruction is an opcode and three unsigned 32-bit operands `a b c`.
Each opcode's row says what each operand is (`OperandKind`) and, for
register operands, the type the register must have (`TypeRule`) and whether
the instruction writes it.  Unused operands are `NONE` and must be 0.

Register windows (`ARGS`, `PAIR`): a call's arguments live in consecutive
registers starting at the operand, one per callee parameter; `slice` reads
its bounds from registers `c` and `c + 1` (a PAIR operand's rule is the type
of both registers: int for `slice`, str for `replace`'s old and new text).  docs/isa.md documents each
opcode's semantics and traps; a test checks that it lists every row.  What
each opcode does, for every engine, is its row in chronicle_vm.engines.semantics.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from chronicle_vm.core.codecache import dataclass

__all__ = [
    "CHARS_PER_FUEL",
    "COST_MODEL",
    "OPCODES",
    "OPS_BY_NAME",
    "Op",
    "OpInfo",
    "Operand",
    "OperandKind",
    "STRUCTURED_OPS",
    "STRUCTURED_RULES",
    "TypeRule",
]


class OperandKind(enum.Enum):
    """What an operand's number refers to."""

    NONE = "none"  # unused: must be 0
    REG = "reg"  # a register of the current function
    CONST = "const"  # an index into the constant pool
    FUNC = "func"  # an index into the function table
    CAP = "cap"  # an index into the capability table
    TARGET = "target"  # an instruction index in the current function
    IMM = "imm"  # an immediate unsigned number (its meaning is the opcode's)
    ARGS = "args"  # first register of a call's argument window
    PAIR = "pair"  # first of two consecutive registers, both of the operand's rule (int unless it says)
    FIELDS = "fields"  # first register of a struct's field window: one register per field of the written struct

    # Members are singletons compared by identity, so the identity hash agrees with equality; Enum's own
    # hashes the name in Python, and the verifier's tables look these up ~1,400 times at import.
    __hash__ = object.__hash__


class TypeRule(enum.Enum):
    """The type a register operand must have; `T` binds once per instruction."""

    NONE = "-"  # not a register, or typed by context (calls, ret, loadk)
    INT = "int"
    BOOL = "bool"
    STR = "str"
    FLOAT = "float"
    ANY = "T"  # any type; all ANY operands of one instruction are equal
    SCALAR = "scalar T"  # int, bool, str or float; binds T
    ELEM = "T (element)"  # the element type of the ARRAY operand
    ARRAY = "[T]"  # an array whose element type is T
    STR_ARRAY = "[str]"
    SEQUENCE = "str or [T]"  # a string or any array
    ORDERED = "ordered T"  # a type whose values have an order (type_registry's `orderable` kinds); binds T
    ORDERED_ARRAY = "[ordered T]"  # an array whose element type is orderable; binds T to the element type
    # Maps and structs (#17): checked by chronicle_vm.verifier.structured over the registers' types themselves.
    MAP = "{K: V}"  # a map type; binds K and V
    KEY = "K"  # the key type of the instruction's map operand
    VALUE = "V"  # the value type of the instruction's map operand
    KEYS = "[K]"  # an array of the map operand's key type
    VALUES = "[V]"  # an array of the map operand's value type
    STRUCT = "struct S"  # a struct type; binds S
    FIELD = "S.i"  # the type of field i (the instruction's immediate) of the struct operand

    __hash__ = object.__hash__  # as OperandKind's: identity, at C speed


#: The rules about maps and structs: the verifier checks them from the registers' types (verifier.structured).
STRUCTURED_RULES = frozenset(
    (TypeRule.MAP, TypeRule.KEY, TypeRule.VALUE, TypeRule.KEYS, TypeRule.VALUES, TypeRule.STRUCT, TypeRule.FIELD)
)


@dataclass(frozen=True, slots=True)
class Operand:
    """One operand slot of an instruction row: what it holds, its type rule, and whether the instruction writes it."""

    kind: OperandKind = OperandKind.NONE
    rule: TypeRule = TypeRule.NONE
    write: bool = False

    def __str__(self) -> str:
        if self.kind is OperandKind.NONE:
            return "-"
        if self.kind is OperandKind.REG:
            return ("out " if self.write else "") + "reg:" + str(self.rule.value)
        if self.kind is OperandKind.PAIR:  # two registers of one type; int unless the row says
            return "pair:" + (str(self.rule.value) if self.rule is not TypeRule.NONE else "int")
        return str(self.kind.value)


class Op(enum.IntEnum):
    """Opcode numbers: the byte written in the module."""

    NOP = 0x00
    MOV = 0x01
    LOADK = 0x02
    LOADB = 0x03
    ADD = 0x10
    SUB = 0x11
    MUL = 0x12
    DIV = 0x13
    MOD = 0x14
    NEG = 0x15
    LT = 0x18
    LE = 0x19
    GT = 0x1A
    GE = 0x1B
    EQ = 0x1C
    NE = 0x1D
    NOT = 0x1E
    JMP = 0x20
    JMPIF = 0x21
    JMPIFNOT = 0x22
    CALL = 0x23
    CAPCALL = 0x24
    RET = 0x25
    RETV = 0x26
    TRAP = 0x27
    CONCAT = 0x30
    TOSTR = 0x31
    LEN = 0x32
    SLICE = 0x33
    CONTAINS = 0x34
    FIND = 0x35
    PARSEINT = 0x36
    UPPER = 0x37
    LOWER = 0x38
    TRIM = 0x39
    SPLIT = 0x3A
    JOIN = 0x3B
    REPEAT = 0x3C
    CHARAT = 0x3D
    ORD = 0x3E
    NEWARR = 0x40
    PUSH = 0x41
    POP = 0x42
    GETIDX = 0x43
    SETIDX = 0x44
    # Bitwise operators on ints (#17).
    BAND = 0x45
    BOR = 0x46
    BXOR = 0x47
    BNOT = 0x48
    SHL = 0x49
    SHR = 0x4A
    # Strings (#17); string ordering is the lt/le/gt/ge rows' ORDERED rule, not new opcodes.
    CHR = 0x4B
    STARTSWITH = 0x4C
    ENDSWITH = 0x4D
    REPLACE = 0x4E
    # Arrays (#17).  0x50-0x56 stay free: the fused interpreter's internal opcodes use those numbers.
    SORT = 0x57
    ASLICE = 0x58
    INSERT = 0x59
    REMOVEAT = 0x5A
    COPY = 0x5B
    # Floats (#17): IEEE binary64, finite only (a result that would be inf or NaN traps runtime.float-nonfinite).
    FADD = 0x70
    FSUB = 0x71
    FMUL = 0x72
    FDIV = 0x73
    FMOD = 0x74
    FNEG = 0x75
    ITOF = 0x76
    FTOI = 0x77
    FLOOR = 0x78
    CEIL = 0x79
    ROUND = 0x7A
    SQRT = 0x7B
    FABS = 0x7C
    FMIN = 0x7D
    FMAX = 0x7E
    PARSEFLOAT = 0x7F
    # Maps (#17): a map is a dict in insertion order; MAPSTAMP/MAPCHECK guard iteration against key-set changes.
    MAPNEW = 0x80
    MAPGET = 0x81
    MAPGETD = 0x82
    MAPSET = 0x83
    MAPHAS = 0x84
    MAPDEL = 0x85
    MAPLEN = 0x86
    MAPKEYS = 0x87
    MAPVALUES = 0x88
    MAPSTAMP = 0x89
    MAPCHECK = 0x8A
    # Structs (#17): a struct is a list of its field values in declaration order.
    STRUCTNEW = 0x90
    GETFIELD = 0x91
    SETFIELD = 0x92


@dataclass(frozen=True, slots=True)
class OpInfo:
    """One row of the table: an opcode, its mnemonic, operands and a one-line effect."""

    op: Op
    name: str
    operands: tuple[Operand, Operand, Operand]
    effect: str
    ends_block: bool = False  # control never falls through to the next instruction
    branches: bool = False  # may transfer control to a TARGET operand
    may_trap: bool = False


_N = Operand()
#: The rows' operands, one object per distinct slot: the table names ~30 kinds of slot 270 times, and
#: each frozen dataclass made costs start-up (operands are compared by value, never by identity).
_SLOTS: dict[tuple[OperandKind, TypeRule, bool], Operand] = {}


def _slot(kind: OperandKind, rule: TypeRule = TypeRule.NONE, write: bool = False) -> Operand:
    key = (kind, rule, write)
    operand = _SLOTS.get(key)
    if operand is None:
        operand = _SLOTS[key] = Operand(kind, rule, write)
    return operand


def _r(rule: TypeRule) -> Operand:
    return _slot(OperandKind.REG, rule)


def _w(rule: TypeRule) -> Operand:
    return _slot(OperandKind.REG, rule, write=True)


def _k(kind: OperandKind) -> Operand:
    return _slot(kind)


_I, _B, _S, _O = TypeRule.INT, TypeRule.BOOL, TypeRule.STR, TypeRule.ORDERED
_F = TypeRule.FLOAT
_ARR, _ELEM = TypeRule.ARRAY, TypeRule.ELEM
_MAP, _KEY, _VAL = TypeRule.MAP, TypeRule.KEY, TypeRule.VALUE

_ROWS: tuple[OpInfo, ...] = (
    OpInfo(Op.NOP, "nop", (_N, _N, _N), "does nothing"),
    OpInfo(Op.MOV, "mov", (_w(TypeRule.ANY), _r(TypeRule.ANY), _N), "a = b (arrays: the same array)"),
    OpInfo(Op.LOADK, "loadk", (_w(TypeRule.NONE), _k(OperandKind.CONST), _N), "a = constant b (int, str or float)"),
    OpInfo(Op.LOADB, "loadb", (_w(_B), _k(OperandKind.IMM), _N), "a = (b != 0); b is 0 or 1"),
    OpInfo(Op.ADD, "add", (_w(_I), _r(_I), _r(_I)), "a = b + c, wrapping"),
    OpInfo(Op.SUB, "sub", (_w(_I), _r(_I), _r(_I)), "a = b - c, wrapping"),
    OpInfo(Op.MUL, "mul", (_w(_I), _r(_I), _r(_I)), "a = b * c, wrapping"),
    OpInfo(Op.DIV, "div", (_w(_I), _r(_I), _r(_I)), "a = floor(b / c), wrapping", may_trap=True),
    OpInfo(Op.MOD, "mod", (_w(_I), _r(_I), _r(_I)), "a = b - c * floor(b / c)", may_trap=True),
    OpInfo(Op.NEG, "neg", (_w(_I), _r(_I), _N), "a = -b, wrapping"),
    OpInfo(Op.LT, "lt", (_w(_B), _r(_O), _r(_O)), "a = b < c (ints, floats by value, strings by code point)"),
    OpInfo(Op.LE, "le", (_w(_B), _r(_O), _r(_O)), "a = b <= c"),
    OpInfo(Op.GT, "gt", (_w(_B), _r(_O), _r(_O)), "a = b > c"),
    OpInfo(Op.GE, "ge", (_w(_B), _r(_O), _r(_O)), "a = b >= c"),
    OpInfo(Op.EQ, "eq", (_w(_B), _r(TypeRule.SCALAR), _r(TypeRule.SCALAR)), "a = b == c"),
    OpInfo(Op.NE, "ne", (_w(_B), _r(TypeRule.SCALAR), _r(TypeRule.SCALAR)), "a = b != c"),
    OpInfo(Op.NOT, "not", (_w(_B), _r(_B), _N), "a = not b"),
    OpInfo(Op.JMP, "jmp", (_k(OperandKind.TARGET), _N, _N), "continue at a", ends_block=True, branches=True),
    OpInfo(Op.JMPIF, "jmpif", (_r(_B), _k(OperandKind.TARGET), _N), "if a: continue at b", branches=True),
    OpInfo(Op.JMPIFNOT, "jmpifnot", (_r(_B), _k(OperandKind.TARGET), _N), "if not a: continue at b", branches=True),
    OpInfo(
        Op.CALL,
        "call",
        (_k(OperandKind.FUNC), _k(OperandKind.ARGS), _w(TypeRule.NONE)),
        "c = function a(registers b..); c is 0 for a function without result",
        may_trap=True,
    ),
    OpInfo(
        Op.CAPCALL,
        "capcall",
        (_k(OperandKind.CAP), _k(OperandKind.ARGS), _w(TypeRule.NONE)),
        "c = capability a(registers b..); c is 0 for a capability without result",
        may_trap=True,
    ),
    OpInfo(Op.RET, "ret", (_r(TypeRule.NONE), _N, _N), "return a (the function's result type)", ends_block=True),
    OpInfo(Op.RETV, "retv", (_N, _N, _N), "return from a function without result", ends_block=True),
    OpInfo(
        Op.TRAP,
        "trap",
        (_k(OperandKind.CONST), _N, _N),
        "stop with a trap; message: str constant a",
        ends_block=True,
        may_trap=True,
    ),
    OpInfo(Op.CONCAT, "concat", (_w(_S), _r(_S), _r(_S)), "a = b + c", may_trap=True),
    OpInfo(Op.TOSTR, "tostr", (_w(_S), _r(TypeRule.SCALAR), _N), "a = text of b (42, true, 1.5, or b itself)"),
    OpInfo(Op.LEN, "len", (_w(_I), _r(TypeRule.SEQUENCE), _N), "a = length of string or array b"),
    OpInfo(
        Op.SLICE,
        "slice",
        (_w(_S), _r(_S), Operand(OperandKind.PAIR, _I)),
        "a = b[lo:hi] with lo, hi in registers c, c+1 (clamped)",
        may_trap=True,
    ),
    OpInfo(Op.CONTAINS, "contains", (_w(_B), _r(_S), _r(_S)), "a = c occurs in b"),
    OpInfo(Op.FIND, "find", (_w(_I), _r(_S), _r(_S)), "a = first index of c in b, or -1"),
    OpInfo(Op.PARSEINT, "parseint", (_w(_I), _r(_S), _N), "a = b read as a decimal int", may_trap=True),
    OpInfo(Op.UPPER, "upper", (_w(_S), _r(_S), _N), "a = b in upper case", may_trap=True),
    OpInfo(Op.LOWER, "lower", (_w(_S), _r(_S), _N), "a = b in lower case", may_trap=True),
    OpInfo(Op.TRIM, "trim", (_w(_S), _r(_S), _N), "a = b without leading and trailing white space"),
    OpInfo(Op.SPLIT, "split", (_w(TypeRule.STR_ARRAY), _r(_S), _r(_S)), "a = b split on separator c", may_trap=True),
    OpInfo(Op.JOIN, "join", (_w(_S), _r(TypeRule.STR_ARRAY), _r(_S)), "a = items of b joined by c", may_trap=True),
    OpInfo(Op.REPEAT, "repeat", (_w(_S), _r(_S), _r(_I)), 'a = b repeated c times (c < 0 gives "")', may_trap=True),
    OpInfo(Op.CHARAT, "charat", (_w(_S), _r(_S), _r(_I)), "a = the character of b at index c", may_trap=True),
    OpInfo(Op.ORD, "ord", (_w(_I), _r(_S), _N), "a = the code point of b, a one-character string", may_trap=True),
    OpInfo(Op.NEWARR, "newarr", (_w(TypeRule.ARRAY), _N, _N), "a = a new empty array", may_trap=True),
    OpInfo(Op.PUSH, "push", (_r(TypeRule.ARRAY), _r(TypeRule.ELEM), _N), "append b to array a", may_trap=True),
    OpInfo(Op.POP, "pop", (_w(TypeRule.ELEM), _r(TypeRule.ARRAY), _N), "a = remove the last item of b", may_trap=True),
    OpInfo(Op.GETIDX, "getidx", (_w(TypeRule.ELEM), _r(TypeRule.ARRAY), _r(_I)), "a = b[c]", may_trap=True),
    OpInfo(Op.SETIDX, "setidx", (_r(TypeRule.ARRAY), _r(_I), _r(TypeRule.ELEM)), "a[b] = c", may_trap=True),
    OpInfo(Op.BAND, "band", (_w(_I), _r(_I), _r(_I)), "a = b & c (bitwise and)"),
    OpInfo(Op.BOR, "bor", (_w(_I), _r(_I), _r(_I)), "a = b | c (bitwise or)"),
    OpInfo(Op.BXOR, "bxor", (_w(_I), _r(_I), _r(_I)), "a = b ^ c (bitwise exclusive or)"),
    OpInfo(Op.BNOT, "bnot", (_w(_I), _r(_I), _N), "a = ~b (bitwise not)"),
    OpInfo(Op.SHL, "shl", (_w(_I), _r(_I), _r(_I)), "a = b << c, wrapping; c in 0..63", may_trap=True),
    OpInfo(Op.SHR, "shr", (_w(_I), _r(_I), _r(_I)), "a = b >> c, arithmetic; c in 0..63", may_trap=True),
    OpInfo(Op.CHR, "chr", (_w(_S), _r(_I), _N), "a = the one-character string of code point b", may_trap=True),
    OpInfo(Op.STARTSWITH, "startswith", (_w(_B), _r(_S), _r(_S)), "a = b starts with c"),
    OpInfo(Op.ENDSWITH, "endswith", (_w(_B), _r(_S), _r(_S)), "a = b ends with c"),
    OpInfo(
        Op.REPLACE,
        "replace",
        (_w(_S), _r(_S), Operand(OperandKind.PAIR, _S)),
        "a = b with every occurrence of register c replaced by register c+1",
        may_trap=True,
    ),
    OpInfo(
        Op.SORT,
        "sort",
        (_w(_ARR), _r(TypeRule.ORDERED_ARRAY), _N),
        "a = a new array of b's items, sorted",
        may_trap=True,
    ),
    OpInfo(
        Op.ASLICE,
        "aslice",
        (_w(_ARR), _r(_ARR), Operand(OperandKind.PAIR, _I)),
        "a = a new array of b[lo:hi], lo, hi in registers c, c+1 (clamped)",
        may_trap=True,
    ),
    OpInfo(Op.INSERT, "insert", (_r(_ARR), _r(_I), _r(_ELEM)), "insert c into array a at index b", may_trap=True),
    OpInfo(
        Op.REMOVEAT, "removeat", (_w(_ELEM), _r(_ARR), _r(_I)), "a = remove the item of b at index c", may_trap=True
    ),
    OpInfo(Op.COPY, "copy", (_w(_ARR), _r(_ARR), _N), "a = a new array of b's items (shallow)", may_trap=True),
    OpInfo(Op.FADD, "fadd", (_w(_F), _r(_F), _r(_F)), "a = b + c (finite)", may_trap=True),
    OpInfo(Op.FSUB, "fsub", (_w(_F), _r(_F), _r(_F)), "a = b - c (finite)", may_trap=True),
    OpInfo(Op.FMUL, "fmul", (_w(_F), _r(_F), _r(_F)), "a = b * c (finite)", may_trap=True),
    OpInfo(Op.FDIV, "fdiv", (_w(_F), _r(_F), _r(_F)), "a = b / c (finite; c != 0)", may_trap=True),
    OpInfo(Op.FMOD, "fmod", (_w(_F), _r(_F), _r(_F)), "a = b % c, floor remainder, sign of c", may_trap=True),
    OpInfo(Op.FNEG, "fneg", (_w(_F), _r(_F), _N), "a = -b"),
    OpInfo(Op.ITOF, "itof", (_w(_F), _r(_I), _N), "a = float(b), rounded to nearest even"),
    OpInfo(Op.FTOI, "ftoi", (_w(_I), _r(_F), _N), "a = int(b), toward zero (in 64 bits)", may_trap=True),
    OpInfo(Op.FLOOR, "floor", (_w(_I), _r(_F), _N), "a = floor(b) as an int (in 64 bits)", may_trap=True),
    OpInfo(Op.CEIL, "ceil", (_w(_I), _r(_F), _N), "a = ceil(b) as an int (in 64 bits)", may_trap=True),
    OpInfo(Op.ROUND, "round", (_w(_I), _r(_F), _N), "a = round(b), half to even (in 64 bits)", may_trap=True),
    OpInfo(Op.SQRT, "sqrt", (_w(_F), _r(_F), _N), "a = the square root of b (b >= 0)", may_trap=True),
    OpInfo(Op.FABS, "fabs", (_w(_F), _r(_F), _N), "a = |b| (fabs(-0.0) = 0.0)"),
    OpInfo(Op.FMIN, "fmin", (_w(_F), _r(_F), _r(_F)), "a = the smaller of b, c (-0.0 below 0.0)"),
    OpInfo(Op.FMAX, "fmax", (_w(_F), _r(_F), _r(_F)), "a = the larger of b, c (0.0 above -0.0)"),
    OpInfo(Op.PARSEFLOAT, "parsefloat", (_w(_F), _r(_S), _N), "a = b read as a decimal float", may_trap=True),
    OpInfo(Op.MAPNEW, "mapnew", (_w(_MAP), _N, _N), "a = a new empty map (its types are a's)", may_trap=True),
    OpInfo(Op.MAPGET, "mapget", (_w(_VAL), _r(_MAP), _r(_KEY)), "a = b[c]; traps when c is absent", may_trap=True),
    OpInfo(
        Op.MAPGETD,
        "mapgetd",
        (Operand(OperandKind.REG, _VAL, write=True), _r(_MAP), _r(_KEY)),
        "if c in b: a = b[c] (else a keeps its value, the default)",
        may_trap=True,
    ),
    OpInfo(
        Op.MAPSET, "mapset", (_r(_MAP), _r(_KEY), _r(_VAL)), "a[b] = c (an existing key keeps its place)", may_trap=True
    ),
    OpInfo(Op.MAPHAS, "maphas", (_w(_B), _r(_MAP), _r(_KEY)), "a = c in b", may_trap=True),
    OpInfo(Op.MAPDEL, "mapdel", (_r(_MAP), _r(_KEY), _N), "remove key b from a (absent: nothing)", may_trap=True),
    OpInfo(Op.MAPLEN, "maplen", (_w(_I), _r(_MAP), _N), "a = the number of entries of b"),
    OpInfo(
        Op.MAPKEYS, "mapkeys", (_w(TypeRule.KEYS), _r(_MAP), _N), "a = a new array of b's keys, in order", may_trap=True
    ),
    OpInfo(
        Op.MAPVALUES,
        "mapvalues",
        (_w(TypeRule.VALUES), _r(_MAP), _N),
        "a = a new array of b's values, in key order",
        may_trap=True,
    ),
    OpInfo(Op.MAPSTAMP, "mapstamp", (_w(_I), _r(_MAP), _N), "a = a token of b's current set of keys"),
    OpInfo(
        Op.MAPCHECK,
        "mapcheck",
        (_r(_MAP), _r(_I), _N),
        "trap unless a's set of keys is the one token b was taken from",
        may_trap=True,
    ),
    OpInfo(
        Op.STRUCTNEW,
        "structnew",
        (_w(TypeRule.STRUCT), _k(OperandKind.FIELDS), _N),
        "a = a new struct of a's type, its fields from registers b.. (one per field)",
        may_trap=True,
    ),
    OpInfo(
        Op.GETFIELD,
        "getfield",
        (_w(TypeRule.FIELD), _r(TypeRule.STRUCT), _k(OperandKind.IMM)),
        "a = field c of struct b",
    ),
    OpInfo(
        Op.SETFIELD,
        "setfield",
        (_r(TypeRule.STRUCT), _k(OperandKind.IMM), _r(TypeRule.FIELD)),
        "field b of struct a = c",
    ),
)

#: Every opcode's row, by opcode number.
OPCODES: Mapping[int, OpInfo] = {row.op.value: row for row in _ROWS}
#: Every opcode's row, by mnemonic.
OPS_BY_NAME: Mapping[str, OpInfo] = {row.name: row for row in _ROWS}

assert len(OPCODES) == len(_ROWS) == len(Op), "every opcode has exactly one row"

#: The opcodes whose operands follow the map and struct rules (checked by chronicle_vm.verifier.structured).
STRUCTURED_OPS: frozenset[int] = frozenset(
    number
    for number, info in OPCODES.items()
    if any(operand.rule in STRUCTURED_RULES or operand.kind is OperandKind.FIELDS for operand in info.operands)
)

# -- the cost table ------------------------------------------------------------------------------------------------

#: The cost model (recorded as `provenance.cost_model` in every trace); each opcode's extra charge is its row's
#: `fuel` in chronicle_vm.engines.semantics, the one table of what each opcode does.
COST_MODEL = 2
#: Characters of work one unit of fuel pays for (a power of two: the charge is a shift).
CHARS_PER_FUEL = 16
