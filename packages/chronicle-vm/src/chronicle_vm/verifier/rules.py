"""The verifier: takes a decoded `Module`, gives a `VerifiedModule`, guarantees every rule of docs/verifier.md holds.

Nothing unverified runs: the interpreter only accepts a `VerifiedModule`,
and only `verify()` can make one.  The checks are derived from the opcode
table (`chronicle_vm.core.isa.OPCODES`): each operand's kind says what its number
must point at, each register operand's rule says what type the register
must have.  Registers are typed for the whole function, so one linear pass
per function is enough; there is no dataflow and no fixpoint.

Any `Module` built from the model types, with any field values at all, ends
in a `VerifiedModule` or a `VerifyError` whose code is declared below; no
other exception escapes.  Each error names the function and the instruction
index where they apply, and says what was expected and what was found.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import InitVar, field
from itertools import chain
from operator import attrgetter
from types import MappingProxyType
from typing import Any, NoReturn

from chronicle_vm.core.codecache import compile_cached, dataclass
from chronicle_vm.core.isa import OPCODES, STRUCTURED_OPS, STRUCTURED_RULES, Op, Operand, OperandKind, OpInfo, TypeRule
from chronicle_vm.core.model import (
    FORMAT_VERSIONS,
    Capability,
    Function,
    Instruction,
    Module,
    SourceMap,
    SourcePos,
)
from chronicle_vm.core.type_registry import ROWS, v1_types
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    MAX_ARRAY_DEPTH,
    MAX_STRUCT_FIELDS,
    MAX_STRUCTS,
    MAX_TYPE_NODES,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    array_type,
    type_fault,
    type_text,
)
from chronicle_vm.errors import VerifyError, declare_codes
from chronicle_vm.limits import HARD_LIMITS

from . import structured

__all__ = ["CAP_NAME_MAX_LEN", "VerifiedModule", "verify", "verify_bytes"]

declare_codes(
    "verify",
    {
        "version": "the module's format version is not one this runtime runs (1 or 2)",
        "malformed": "a module field does not have the Python type the model prescribes",
        "const-kind": "a constant is not an int, a str or a finite float, or not the kind its instruction needs",
        "const-range": "an int constant is outside the signed 64-bit range",
        "const-bounds": "a constant index is outside the constant pool",
        "type-invalid": "a declared type is not a valid value type",
        "type-depth": "a declared type nests arrays and maps deeper than the maximum depth (8)",
        "map-key": "a map type's key type is not int, str or bool",
        "struct-ref": "a struct type refers to a struct outside the module's struct table",
        "struct-name": "a struct's name is not an identifier, is a builtin type's name, or is used twice",
        "struct-field": "a struct field's name is not an identifier or is used twice in its struct",
        "struct-limit": "the module has more than 1024 structs or a struct has more than 256 fields",
        "struct-cycle": "a struct contains itself by value (through fields that are structs, not arrays or maps)",
        "cap-name": "a capability name is not a well-formed dotted name of at most 128 characters",
        "cap-duplicate": "two capabilities are declared with the same name",
        "cap-ref": "a capability index is outside the capability table",
        "cap-call-type": "a capability call's argument or result register has the wrong type",
        "function-name": "a function name is not an identifier",
        "duplicate-function": "two functions have the same name",
        "register-count": "a function has more registers than the configured maximum",
        "param-count": "a function's parameter count is negative or exceeds its register count",
        "empty-function": "a function has no code",
        "opcode": "an instruction's opcode is not in the instruction set",
        "register-bounds": "a register operand names a register the function does not have",
        "register-type": "a register operand's type is not the one the opcode requires",
        "immediate": "an immediate operand is outside the range its opcode allows",
        "unused-operand": "an operand the opcode does not use is not 0",
        "func-ref": "a function index is outside the function table",
        "call-arity": "a call's argument window does not fit the callee's parameters in the caller's registers",
        "call-type": "a call's argument or result register has the wrong type",
        "jump-target": "a jump target is outside its function",
        "falls-off-end": "a function's last instruction can fall through past the end",
        "return-type": "a return does not match the function's result",
        "source-map-shape": "the source map does not have one well-formed position list per function",
        "source-position": "a source position has a bad file index, line or column",
    },
)

#: Longest capability name a module may declare.
CAP_NAME_MAX_LEN = 128

#: Compiled at the first module that declares a capability (through `re`'s cache), not at import.
_CAP_NAME = r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+"
_FUNC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_U32_MAX = 2**32 - 1
_LETTERS = ("a", "b", "c")

# Valid value types are interned as small ids (the registry's version-1 order:
# scalar-major, depth-minor), so a function's register types become one
# tuple of ints: fixed-type checks are int comparisons and a call's argument
# window is one slice comparison.  Version 2's types extend the same blocks
# of `_DEPTHS` ids (a block is an innermost non-array type, the id within it
# its array depth): block 3 is `float`, and each module numbers its other
# innermost types (maps, structs) from block 4 on, in order of first use.
_TYPES: tuple[ValueType, ...] = tuple(v1_types())
_IDS: dict[ValueType, int] = {t: i for i, t in enumerate(_TYPES)}
# The same ids by object identity: decoded modules and `array_type` share these very objects, so
# most register lists are resolved by `id` alone.  The table's objects live as long as the module,
# so no other live object can have one of these ids.
_IDS_BY_IDENTITY: dict[int, int] = {id(t): i for i, t in enumerate(_TYPES)}
_INT_ID = _IDS[INT]
_BOOL_ID = _IDS[BOOL]
_STR_ID = _IDS[STR]
_STR_ARRAY_ID = _IDS[STR.array_of()]
#: The first id after the version-1 types: `float`'s block, then each module's own blocks.
_V1_ID_END = len(_TYPES)
_FLOAT_ID = _V1_ID_END
#: Ids below this that are not arrays are the scalars (int, bool, str, float): the SCALAR rule's types.
_SCALAR_END = _FLOAT_ID + 1
#: Scalar types whose values are ordered (the registry's `orderable` rows): the ORDERED rules admit exactly these.
_ORDERED_IDS: tuple[int, ...] = (
    *(i for i, t in enumerate(_TYPES) if t.depth == 0 and ROWS[t.kind].orderable),
    *((_FLOAT_ID,) if ROWS[TypeKind.FLOAT].orderable else ()),
)
_FIXED_RULES = {
    TypeRule.INT: _INT_ID,
    TypeRule.BOOL: _BOOL_ID,
    TypeRule.STR: _STR_ID,
    TypeRule.FLOAT: _FLOAT_ID,
    TypeRule.STR_ARRAY: _STR_ARRAY_ID,
}
# The generated checks use the version-1 order's arithmetic: an id is an array
# exactly when id % _DEPTHS != 0, and an array's element is id - 1.
_DEPTHS = MAX_ARRAY_DEPTH + 1
assert all(_IDS[t] == (int(t.base) - 1) * _DEPTHS + t.depth for t in _TYPES)
assert _V1_ID_END == 3 * _DEPTHS
_FIRST_MODULE_BLOCK = _FLOAT_ID // _DEPTHS + 1
_V1_SCALARS = frozenset({TypeKind.INT, TypeKind.BOOL, TypeKind.STR})
#: Names of the ids every module shares: the version-1 types and `float`'s block.
_BASE_NAMES: Mapping[int, str] = {
    **{i: str(t) for i, t in enumerate(_TYPES)},
    **{_FLOAT_ID + depth: str(array_type(FLOAT, depth)) for depth in range(_DEPTHS)},
}
#: A struct may not take a builtin type's name (its text would be ambiguous).
SCALAR_NAMES = frozenset({"int", "bool", "str", "float"})
_TYPE_FAULT_CODES = {"invalid": "type-invalid", "depth": "type-depth", "map-key": "map-key", "struct-ref": "struct-ref"}

# Polymorphic rules are checked ARRAY first (it binds T to its element type),
# then the rules that bind or test T directly, then ELEM (which needs T).
_POLY_ORDER = {
    TypeRule.ARRAY: 0,
    TypeRule.ORDERED_ARRAY: 0,
    TypeRule.ANY: 1,
    TypeRule.SCALAR: 1,
    TypeRule.ORDERED: 1,
    TypeRule.SEQUENCE: 1,
    TypeRule.ELEM: 2,
}
_ORDERED_NAMES = [_BASE_NAMES[i] for i in _ORDERED_IDS]
_ORDERED_TEXT = ", ".join(_ORDERED_NAMES[:-1]) + " or " + _ORDERED_NAMES[-1]
_RULE_TEXT = {
    TypeRule.ORDERED: f"an ordered type ({_ORDERED_TEXT})",
    TypeRule.ORDERED_ARRAY: f"an array of an ordered type ({_ORDERED_TEXT})",
    TypeRule.ANY: "the same type as the instruction's other T operand",
    TypeRule.SCALAR: "a scalar (int, bool, str or float)",
    TypeRule.ARRAY: "an array",
    TypeRule.SEQUENCE: "a str or an array",
}

#: The type id of each kind of constant.
_CONST_IDS: Mapping[type, int] = {int: _INT_ID, str: _STR_ID, float: _FLOAT_ID}
#: Kinds of constant each opcode that reads a constant accepts.
_CONST_KINDS: Mapping[Op, tuple[type, ...]] = {Op.LOADK: (int, str, float), Op.TRAP: (str,)}
#: Largest immediate per opcode; an IMM operand is otherwise any unsigned 32-bit number.
_IMM_MAX: Mapping[Op, int] = {Op.LOADB: 1}


def _validate_table() -> None:
    # A row the verifier cannot interpret would silently skip a check: refuse at import.
    for info in OPCODES.values():
        kinds = [operand.kind for operand in info.operands]
        rules = [operand.rule for operand in info.operands if operand.kind is OperandKind.REG]
        assert all(
            r in _FIXED_RULES or r in _POLY_ORDER or r in STRUCTURED_RULES or r is TypeRule.NONE for r in rules
        ), info.name
        assert OperandKind.FIELDS not in kinds or info.op in STRUCTURED_OPS, info.name
        assert TypeRule.ELEM not in rules or TypeRule.ARRAY in rules, info.name
        assert not (TypeRule.ARRAY in rules and (TypeRule.ANY in rules or TypeRule.SCALAR in rules)), info.name
        assert (OperandKind.CONST in kinds) == (info.op in _CONST_KINDS), info.name
        if OperandKind.ARGS in kinds:
            assert kinds[0] in (OperandKind.FUNC, OperandKind.CAP), info.name
            assert kinds[1] is OperandKind.ARGS and kinds[2] is OperandKind.REG, info.name
        elif TypeRule.NONE in rules:
            assert info.op in (Op.LOADK, Op.RET), f"{info.name}: a context-typed register the verifier does not know"


_validate_table()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What to check for one opcode, precomputed from its table row."""

    info: OpInfo
    #: (operand position, kind) checked for bounds in the generic pass.
    bounds: tuple[tuple[int, OperandKind], ...]
    #: (operand position, type id) of register operands with a fixed type.
    fixed: tuple[tuple[int, int], ...]
    #: (operand position, rule) of polymorphic register operands, in binding order.
    poly: tuple[tuple[int, TypeRule], ...]
    #: (operand position, type id) of PAIR operands (both registers of that type).
    pairs: tuple[tuple[int, int], ...]
    const_kinds: tuple[type, ...]
    imm_max: int


def _pair_id(operand: Operand) -> int:
    """The type id of both registers of a PAIR operand (int unless its rule says)."""
    return _FIXED_RULES.get(operand.rule, _INT_ID)


def _skipped(info: OpInfo, operand: Operand) -> bool:
    """Whether the generic pass leaves the operand to the call check (which knows the callee's window and result)."""
    is_call = any(other.kind is OperandKind.ARGS for other in info.operands)
    return operand.kind is OperandKind.ARGS or (is_call and operand.kind is OperandKind.REG)


def _poly_of(info: OpInfo) -> tuple[tuple[int, TypeRule], ...]:
    """(operand position, rule) of the row's polymorphic register operands, in binding order."""
    poly = [
        (pos, operand.rule)
        for pos, operand in enumerate(info.operands)
        if operand.kind is OperandKind.REG and operand.rule in _POLY_ORDER and not _skipped(info, operand)
    ]
    poly.sort(key=lambda item: _POLY_ORDER[item[1]])
    return tuple(poly)


def _compile(info: OpInfo) -> _Plan:
    bounds: list[tuple[int, OperandKind]] = []
    fixed: list[tuple[int, int]] = []
    pairs: list[tuple[int, int]] = []
    for pos, operand in enumerate(info.operands):
        kind, rule = operand.kind, operand.rule
        if _skipped(info, operand):
            continue
        bounds.append((pos, kind))
        if kind is OperandKind.PAIR:
            pairs.append((pos, _pair_id(operand)))
        elif kind is OperandKind.REG and rule in _FIXED_RULES:
            fixed.append((pos, _FIXED_RULES[rule]))
    return _Plan(
        info=info,
        bounds=tuple(bounds),
        fixed=tuple(fixed),
        poly=_poly_of(info),
        pairs=tuple(pairs),
        const_kinds=_CONST_KINDS.get(info.op, ()),
        imm_max=_IMM_MAX.get(info.op, _U32_MAX),
    )


#: The plans by opcode, made at the first instruction the generated predicates refuse (or a module
#: verified without them): a module that verifies never needs them, and making them cost start-up 0.5 ms.
_PLANS: dict[int, _Plan] = {}


def _plan(op: int) -> _Plan | None:
    if not _PLANS:
        _PLANS.update({number: _compile(info) for number, info in OPCODES.items()})
    return _PLANS.get(op)


#: Opcodes after which a new basic block starts.
_SPLITS: frozenset[int] = frozenset(op for op, info in OPCODES.items() if info.branches or info.ends_block)
#: Opcodes with a jump target: the operand position (0 for a, 1 for b) that holds it.
_TARGET_POSITION: Mapping[int, int] = {
    op: pos
    for op, info in OPCODES.items()
    for pos, operand in enumerate(info.operands)
    if operand.kind is OperandKind.TARGET
}
assert all(pos in (0, 1) for pos in _TARGET_POSITION.values())


# -- the fast path -------------------------------------------------------
#
# For each opcode, one boolean expression over the operands `a b c`, generated
# from its table row and compiled once: True means the instruction is valid.
# The expression checks exactly what `_Verifier.diagnose` checks, bounds first
# so indexing is safe; `diagnose` stays the reference and explains failures.
# The predicates close over the module (constant kinds K, callee signatures)
# and over the current function (register type ids R, their count n, the
# code length, the result), which `enter` switches per function.


def _predicate_source(info: OpInfo) -> str:
    bounds: list[str] = []
    types: list[str] = []
    is_call = any(operand.kind is OperandKind.ARGS for operand in info.operands)
    for pos, operand in enumerate(info.operands):
        _operand_checks(info, pos, operand, is_call, bounds, types)
    types.extend(_poly_checks(info))
    if info.op in STRUCTURED_OPS:
        types.append(f"V({info.op.value}, a, b, c)")  # the map and struct rules (verifier.structured)
    if info.op is Op.LOADK:
        types.append("R[a] == K[b]")
    elif info.op is Op.RET:
        types.append("R[a] == result")
    elif info.op is Op.RETV:
        types.append("result < 0")
    return f"    def accept_{info.name}(a, b, c):\n        return {' and '.join(bounds + types) or 'True'}\n"


def _operand_checks(
    info: OpInfo, pos: int, operand: Operand, is_call: bool, bounds: list[str], types: list[str]
) -> None:
    """Append one operand's bound check and, for fixed-type operands, its type check."""
    x, kind, rule = _LETTERS[pos], operand.kind, operand.rule
    if kind is OperandKind.NONE:
        bounds.append(f"{x} == 0")
    elif kind is OperandKind.REG and not is_call:
        bounds.append(f"0 <= {x} < n")
        if rule in _FIXED_RULES:
            types.append(f"R[{x}] == {_FIXED_RULES[rule]}")
    elif kind is OperandKind.PAIR:
        bounds.append(f"0 <= {x} < n - 1")
        types.append(f"R[{x}] == {_pair_id(operand)} and R[{x} + 1] == {_pair_id(operand)}")
    elif kind is OperandKind.CONST:
        bounds.append(f"0 <= {x} < nk")
        if str not in _CONST_KINDS[info.op] or int not in _CONST_KINDS[info.op]:
            wanted = _STR_ID if str in _CONST_KINDS[info.op] else _INT_ID
            types.append(f"K[{x}] == {wanted}")
    elif kind is OperandKind.IMM:
        bounds.append(f"0 <= {x} <= {_IMM_MAX.get(info.op, _U32_MAX)}")
    elif kind is OperandKind.TARGET:
        bounds.append(f"0 <= {x} < ncode")
    elif kind is OperandKind.FUNC:
        bounds.append(f"0 <= {x} < nf")
        types.append(f"call_ok(FP[{x}], FR[{x}], b, c)")
    elif kind is OperandKind.CAP:
        bounds.append(f"0 <= {x} < nc")
        types.append(f"call_ok(CP[{x}], CR[{x}], b, c)")


def _poly_checks(info: OpInfo) -> list[str]:
    """The checks of an instruction's polymorphic operands: each binds or tests the type T."""
    letters = _LETTERS
    types: list[str] = []
    bound = ""
    for pos, rule in _poly_of(info):
        r = f"R[{letters[pos]}]"
        if rule is TypeRule.ELEM:
            types.append(f"{r} == {bound}")
            continue
        if rule is TypeRule.ARRAY:
            types.append(f"{r} % {_DEPTHS} != 0")
            binds = f"{r} - 1"
        elif rule is TypeRule.SCALAR:
            types.append(f"{r} % {_DEPTHS} == 0 and {r} < {_SCALAR_END}")
            binds = r
        elif rule is TypeRule.ORDERED:
            types.append(f"{r} in {_ORDERED_IDS}")
            binds = r
        elif rule is TypeRule.ORDERED_ARRAY:
            types.append(f"{r} - 1 in {_ORDERED_IDS} and {r} % {_DEPTHS} == 1")
            binds = f"{r} - 1"
        elif rule is TypeRule.SEQUENCE:
            types.append(f"({r} == {_STR_ID} or {r} % {_DEPTHS} != 0)")
            continue
        else:
            binds = r
        if bound:
            types.append(f"{binds} == {bound}")
        else:
            bound = f"({binds})"
    return types


_FAST_SOURCE = (
    "def make(K, nk, FP, FR, nf, CP, CR, nc, V):\n"
    "    R = ()\n"
    "    S = ''\n"
    "    n = ncode = 0\n"
    "    result = -1\n"
    "    windows = set()\n"
    "    def enter(R_, S_, ncode_, result_):\n"
    "        nonlocal R, S, n, ncode, result\n"
    "        R, S, n, ncode, result = R_, S_, len(R_), ncode_, result_\n"
    "        windows.clear()\n"
    "    def call_ok(P, res, b, c):\n"
    "        k = len(P)\n"
    "        if k == 0:\n"
    "            if b != 0:\n"
    "                return False\n"
    "        elif (b, P) not in windows:\n"
    "            if not (0 <= b <= n - k and S.startswith(P, b)):\n"
    "                return False\n"
    "            windows.add((b, P))\n"
    "        return c == 0 if res < 0 else 0 <= c < n and R[c] == res\n"
    + "".join(_predicate_source(info) for info in OPCODES.values())
    + "    return enter, {"
    + ", ".join(f"{op}: accept_{info.name}" for op, info in OPCODES.items())
    + "}\n"
)

_Predicate = Callable[[int, int, int], bool]
_Ids = tuple[int, ...]
#: Type ids as the characters of a str (`chr(id)`): a call's argument window is one `startswith` (a memcmp)
#: and a window's parameters hash once, as the version-1 `bytes` did, for ids of any size.
_Sig = str
_Structured = Callable[[int, int, int, int], bool]  # the map and struct rules (verifier.structured)
_Enter = Callable[[_Ids, _Sig, int, int], None]
_Make = Callable[
    [_Ids, int, tuple[_Sig, ...], tuple[int, ...], int, tuple[_Sig, ...], tuple[int, ...], int, _Structured],
    tuple[_Enter, dict[int, _Predicate]],
]


def _compile_fast() -> _Make:
    namespace: dict[str, Any] = {}
    # The source is generated above from the opcode table alone, never from input.
    # Compiled once per installation and kept beside this module's bytecode (start-up pays only a read).
    code = compile_cached(_FAST_SOURCE, "<chronicle_vm.verifier.rules fast path>", __file__, "fast-path")
    exec(code, namespace)
    make: _Make = namespace["make"]
    return make


_MAKE_PREDICATES = _compile_fast()


class _Token:
    """Proof that the caller is `verify()`."""

    __slots__ = ()


_MINT = _Token()


@dataclass(frozen=True, slots=True)
class VerifiedModule:
    """A module that passed `verify()`; the only kind the VM instantiates.

    `exports` maps each exported function's name to its index;
    `function_names[i]` is function i's name; `block_leaders[i]` is the sorted
    tuple of instruction indexes that start a basic block in function i
    (0, every jump target, every instruction after a branch or a
    block-ending instruction).  Constructing one directly raises TypeError.
    """

    module: Module
    function_names: tuple[str, ...]
    block_leaders: tuple[tuple[int, ...], ...]
    exports: Mapping[str, int] = field(compare=False)
    _token: InitVar[object] = None

    def __post_init__(self, _token: object) -> None:
        if _token is not _MINT:
            raise TypeError("a VerifiedModule is made only by chronicle_vm.verifier.rules.verify()")

    def function(self, name: str) -> Function | None:
        """The function called `name`, or None."""
        for index, function_name in enumerate(self.function_names):
            if function_name == name:
                return self.module.functions[index]
        return None


def verify(module: Module, *, max_registers: int = HARD_LIMITS.max_registers) -> VerifiedModule:
    """Check every rule of docs/verifier.md; raise `VerifyError` (and nothing else) on the first broken one.

    `max_registers` caps each function's register count; it can only lower
    `HARD_LIMITS.max_registers`, never raise it.
    """
    return _verify(module, max_registers, fast=True)


def _verify(module: Module, max_registers: int, *, fast: bool) -> VerifiedModule:
    """`verify`, optionally without the fast path (tests compare the two)."""
    limit = max_registers if type(max_registers) is int else HARD_LIMITS.max_registers
    return _Verifier(module, max(0, min(limit, HARD_LIMITS.max_registers)), fast=fast).run()


def verify_bytes(data: bytes, *, max_registers: int = HARD_LIMITS.max_registers) -> VerifiedModule:
    """Decode then verify: raises `DecodeError` or `VerifyError` on bad input."""
    return verify(Module.from_bytes(data), max_registers=max_registers)


def _show(value: object) -> str:
    """A short, never-failing text for a value found where something else was expected."""
    if type(value) is int:
        if -(10**40) < value < 10**40:
            return str(value)
        return f"{'a negative' if value < 0 else 'an'} int of {value.bit_length()} bits"
    if type(value) is str:
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    if value is None or type(value) in (bool, float):
        return repr(value)
    return f"a {type(value).__name__}"


class _Verifier:
    """One verification run; holds the module-level facts every function check needs."""

    __slots__ = (
        "blocks",
        "by_identity",
        "cap_params",
        "cap_results",
        "constants",
        "current",
        "enter",
        "fast",
        "func_params",
        "func_results",
        "max_registers",
        "module",
        "names",
        "predicates",
        "register_ids",
        "register_sigs",
        "struct_count",
        "type_names",
        "v2_types",
        "zero_sizes",
    )

    def __init__(self, module: Module, max_registers: int, *, fast: bool = True) -> None:
        self.module = module
        self.max_registers = max_registers
        self.fast = fast
        self.enter: _Enter = _no_enter
        self.predicates: dict[int, _Predicate] = {}
        self.constants: tuple[object, ...] = ()
        self.names: list[str] = []
        self.register_ids: list[_Ids] = []
        self.register_sigs: list[_Sig] = []
        self.func_params: list[_Sig] = []
        self.func_results: list[int] = []
        self.cap_params: list[_Sig] = []
        self.cap_results: list[int] = []
        self.struct_count = 0
        self.blocks: dict[ValueType, int] = {}
        self.type_names: dict[int, str] = dict(_BASE_NAMES)
        self.current: tuple[ValueType, ...] = ()  # the register types of the function being checked
        self.zero_sizes: dict[int, int] = {}  # fields of each struct's zero value (verifier.structured)
        self.v2_types = False  # some declared type is one only format version 2 holds
        self.by_identity: dict[int, int] = dict(_IDS_BY_IDENTITY)

    # -- helpers ---------------------------------------------------------

    @staticmethod
    def fail(code: str, message: str, **details: Any) -> NoReturn:
        raise VerifyError(code, message, **details)

    def type_id(self, t: object, what: str, **details: Any) -> int:
        """The id of a declared type, or a VerifyError naming `what` it was."""
        known = self.by_identity.get(id(t))
        if known is not None:
            return known
        fault = type_fault(t, self.struct_count)
        if fault is not None:
            self.fail(_TYPE_FAULT_CODES[fault[0]], f"{what}: {fault[1]}", **details)
        vtype: ValueType = t  # type: ignore[assignment]  # checked above: exact classes all the way down
        depth, inner = 0, vtype
        while inner.kind is TypeKind.ARRAY:
            depth, inner = depth + 1, inner.args[0]
        if inner.kind is TypeKind.FLOAT:
            base = _FLOAT_ID
        elif inner.kind in _V1_SCALARS:
            return _IDS[vtype]
        else:
            block = self.blocks.setdefault(inner, _FIRST_MODULE_BLOCK + len(self.blocks))
            if len(self.blocks) > MAX_TYPE_NODES:
                problem = f"the module uses more than {MAX_TYPE_NODES} distinct types"
                self.fail("type-invalid", f"{what}: {problem}", **details)
            base = block * _DEPTHS
        self.v2_types = True
        if base + depth not in self.type_names:
            self.type_names[base + depth] = type_text(vtype, self.module.structs)
        # `t` is part of the module, alive for the whole run: its id stands for it (a decoded module's
        # registers repeat a few shared objects, which the next function's registers then find at C speed)
        self.by_identity[id(t)] = base + depth
        return base + depth

    def result_id(self, t: object, what: str, **details: Any) -> int:
        """-1 for no result, else the type id."""
        return -1 if t is None else self.type_id(t, what, **details)

    # -- module level ----------------------------------------------------

    def run(self) -> VerifiedModule:
        module = self.module
        if type(module) is not Module:
            self.fail("malformed", f"expected a Module, found {_show(module)}")
        version = module.version
        if type(version) is not int or version not in FORMAT_VERSIONS:
            runs = " and ".join(str(v) for v in FORMAT_VERSIONS)
            self.fail("version", f"module format version is {_show(version)}, this runtime runs {runs}")
        for name in ("constants", "capabilities", "functions"):
            if type(getattr(module, name)) is not tuple:
                self.fail("malformed", f"Module.{name} must be a tuple, found {_show(getattr(module, name))}")
        self.check_structs()
        self.check_constants()
        self.check_capabilities()
        self.check_function_headers()
        needs_v2 = self.struct_count or self.v2_types or float in set(map(type, module.constants))
        if version == 1 and needs_v2:
            self.fail(
                "version",
                "module says format version 1 but has structs, float or map types or float constants (version 2)",
            )
        self.check_source_map()
        self.prepare_fast_path()
        leaders = tuple(self.check_code(index, function) for index, function in enumerate(module.functions))
        exports = {name: index for index, name in enumerate(self.names) if module.functions[index].exported}
        return VerifiedModule(
            module=module,
            function_names=tuple(self.names),
            block_leaders=leaders,
            exports=MappingProxyType(exports),
            _token=_MINT,
        )

    def prepare_fast_path(self) -> None:
        """Build the acceptance predicates over this module's constants and signatures."""
        kinds = tuple(_CONST_IDS[type(value)] for value in self.constants)
        self.enter, self.predicates = _MAKE_PREDICATES(
            kinds,
            len(kinds),
            tuple(self.func_params),
            tuple(self.func_results),
            len(self.names),
            tuple(self.cap_params),
            tuple(self.cap_results),
            len(self.cap_params),
            self.structured_ok,
        )

    def check_structs(self) -> None:
        """The struct table: names, fields, bounds, field types, and no struct containing itself by value."""
        structs = self.module.structs
        if type(structs) is not tuple:
            self.fail("malformed", f"Module.structs must be a tuple, found {_show(structs)}")
        if len(structs) > MAX_STRUCTS:
            self.fail("struct-limit", f"the module has {len(structs)} structs, at most {MAX_STRUCTS} allowed")
        for index, struct_def in enumerate(structs):
            if type(struct_def) is not StructDef or type(struct_def.fields) is not tuple:
                self.fail("malformed", f"struct {index} must be a StructDef with a tuple of fields", struct=index)
            if len(struct_def.fields) > MAX_STRUCT_FIELDS:
                self.fail(
                    "struct-limit",
                    f"struct {index} has {len(struct_def.fields)} fields, at most {MAX_STRUCT_FIELDS} allowed",
                    struct=index,
                )
        self.struct_count = len(structs)
        seen: dict[str, int] = {}
        for index, struct_def in enumerate(structs):
            name = struct_def.name
            if type(name) is not str or not _FUNC_NAME.fullmatch(name) or name in SCALAR_NAMES:
                self.fail(
                    "struct-name",
                    f"struct {index} is named {_show(name)}, expected an identifier that is not a builtin type",
                    struct=index,
                )
            if name in seen:
                self.fail("struct-name", f"struct `{name}` is declared twice (structs {seen[name]} and {index})")
            seen[name] = index
            self.check_fields(index, struct_def)
        cycle = _by_value_cycle(structs)
        if cycle is not None:
            path = " -> ".join(f"{structs[s].name}.{structs[s].fields[f].name}" for s, f in cycle)
            self.fail(
                "struct-cycle",
                f"struct `{structs[cycle[0][0]].name}` contains itself by value ({path} -> "
                f"{structs[cycle[0][0]].name}); a recursive field must be an array or a map",
                struct=cycle[0][0],
            )

    def check_fields(self, index: int, struct_def: StructDef) -> None:
        names: set[str] = set()
        for number, item in enumerate(struct_def.fields):
            if type(item) is not StructField:
                problem = f"field {number} of struct `{struct_def.name}` is not a StructField"
                self.fail("malformed", problem, struct=index)
            label = item.name
            if type(label) is not str or not _FUNC_NAME.fullmatch(label) or label in names:
                problem = "is used twice" if label in names else "is not an identifier"
                self.fail(
                    "struct-field",
                    f"field {number} of struct `{struct_def.name}` is named {_show(label)}, which {problem}",
                    struct=index,
                    field=number,
                )
            names.add(label)
            self.type_id(item.type, f"field `{label}` of struct `{struct_def.name}`", struct=index, field=number)

    def structured_ok(self, op: int, a: int, b: int, c: int) -> bool:
        """The fast path's view of the map and struct rules (verifier.structured): True when they hold."""
        return structured.problem(op, a, b, c, self.current, self.structs()) is None

    def structs(self) -> tuple[Any, ...]:
        return getattr(self.module, "structs", ())

    def check_constants(self) -> None:
        constants = self.module.constants
        for index, value in enumerate(constants):
            if type(value) is int:
                if not _INT64_MIN <= value <= _INT64_MAX:
                    self.fail(
                        "const-range",
                        f"constant {index} is {_show(value)}, outside the signed 64-bit range",
                        constant=index,
                    )
            elif type(value) is str:
                if not _encodable(value):
                    self.fail("const-kind", f"constant {index} is a str that is not valid Unicode text", constant=index)
            elif type(value) is float:
                if not math.isfinite(value):
                    problem = f"constant {index} is {value!r}; float constants are finite"
                    self.fail("const-kind", problem, constant=index)
            else:
                self.fail(
                    "const-kind",
                    f"constant {index} must be an int, a str or a float, found {_show(value)}",
                    constant=index,
                )
        self.constants = constants

    def check_capabilities(self) -> None:
        seen: dict[str, int] = {}
        for index, cap in enumerate(self.module.capabilities):
            if type(cap) is not Capability:
                self.fail("malformed", f"capability {index} must be a Capability, found {_show(cap)}", capability=index)
            name = cap.name
            if type(name) is not str or len(name) > CAP_NAME_MAX_LEN or not re.fullmatch(_CAP_NAME, name, re.ASCII):
                self.fail(
                    "cap-name",
                    f"capability {index} is named {_show(name)}, expected a dotted lower-case name "
                    f"like `log.info` of at most {CAP_NAME_MAX_LEN} characters",
                    capability=index,
                )
            if name in seen:
                self.fail(
                    "cap-duplicate",
                    f"capability `{name}` is declared twice (entries {seen[name]} and {index})",
                    capability=name,
                )
            seen[name] = index
            params = cap.params
            if type(params) is not tuple:
                self.fail("malformed", f"capability `{name}` params must be a tuple, found {_show(params)}")
            ids = tuple(
                self.type_id(p, f"parameter {k + 1} of capability `{name}`", capability=name)
                for k, p in enumerate(params)
            )
            self.cap_params.append(_signature(ids))
            self.cap_results.append(self.result_id(cap.result, f"result of capability `{name}`", capability=name))

    def check_function_headers(self) -> None:
        seen: dict[str, int] = {}
        limit = self.max_registers
        for index, function in enumerate(self.module.functions):
            if type(function) is not Function:
                self.fail("malformed", f"function {index} must be a Function, found {_show(function)}")
            name = function.name
            if type(name) is not str or not _FUNC_NAME.fullmatch(name):
                self.fail(
                    "function-name",
                    f"function {index} is named {_show(name)}, expected an identifier ([A-Za-z_][A-Za-z0-9_]*)",
                    function=f"#{index}",
                )
            if name in seen:
                self.fail(
                    "duplicate-function",
                    f"function `{name}` is defined twice (functions {seen[name]} and {index})",
                    function=name,
                )
            seen[name] = index
            self.names.append(name)
            if type(function.exported) is not bool:
                self.fail(
                    "malformed", f"`{name}`.exported must be a bool, found {_show(function.exported)}", function=name
                )
            registers, code = function.registers, function.code
            if type(registers) is not tuple:
                self.fail("malformed", f"`{name}`.registers must be a tuple, found {_show(registers)}", function=name)
            if type(code) is not tuple:
                self.fail("malformed", f"`{name}`.code must be a tuple, found {_show(code)}", function=name)
            if len(registers) > limit:
                self.fail(
                    "register-count",
                    f"function `{name}` has {len(registers)} registers, at most {limit} allowed",
                    function=name,
                )
            param_count = function.param_count
            if type(param_count) is not int or not 0 <= param_count <= len(registers):
                self.fail(
                    "param-count",
                    f"function `{name}` declares {_show(param_count)} parameters, "
                    f"expected 0..{len(registers)} (its register count)",
                    function=name,
                )
            # Types seen before by identity (the shared version-1 objects, a decoded module's repeated
            # version-2 ones) at C speed; else version-1 look-alikes; else each checked (saying which is bad).
            found = tuple(map(self.by_identity.get, map(id, registers)))
            ids: _Ids | None = found if None not in found else _register_ids(registers)  # type: ignore[assignment]
            if ids is None:
                ids = tuple(
                    self.type_id(t, f"register r{k} of `{name}`", function=name) for k, t in enumerate(registers)
                )
            self.register_ids.append(ids)
            sig = _signature(ids)
            self.register_sigs.append(sig)
            self.func_params.append(sig[:param_count])
            self.func_results.append(self.result_id(function.result, f"result of `{name}`", function=name))
            if not code:
                self.fail(
                    "empty-function", f"function `{name}` has no instructions, expected at least one", function=name
                )

    def check_source_map(self) -> None:
        source_map = self.module.source_map
        if type(source_map) is not SourceMap:
            self.fail("malformed", f"Module.source_map must be a SourceMap, found {_show(source_map)}")
        files, lists = source_map.files, source_map.functions
        if type(files) is not tuple or type(lists) is not tuple:
            self.fail("source-map-shape", "source map files and functions must be tuples")
        for index, path in enumerate(files):
            if type(path) is not str or not path or not _encodable(path):
                self.fail("source-map-shape", f"source file {index} is {_show(path)}, expected a non-empty path")
        functions = self.module.functions
        if len(lists) != len(functions):
            self.fail(
                "source-map-shape",
                f"source map has {len(lists)} position lists, expected one per function ({len(functions)})",
            )
        nfiles = len(files)
        for function, positions in zip(functions, lists, strict=True):
            self.check_positions(function, positions, nfiles)

    def check_positions(self, function: Function, positions: object, nfiles: int) -> None:
        """One function's source positions: none, or one valid position per instruction."""
        name = function.name
        if type(positions) is not tuple:
            self.fail("source-map-shape", f"positions of `{name}` must be a tuple, found {_show(positions)}")
        if positions and len(positions) != len(function.code):
            self.fail(
                "source-map-shape",
                f"source map has {len(positions)} positions for `{name}`, "
                f"expected 0 or {len(function.code)} (one per instruction)",
                function=name,
            )
        if positions and set(map(type, positions)) == {SourcePos}:
            # Fast path: C-level scans; any doubt falls through to the per-position checks.
            in_files, lines, cols = zip(*positions, strict=True)
            if (
                set(map(type, chain(in_files, lines, cols))) == {int}
                and min(in_files) >= 0
                and max(in_files) < nfiles
                and min(lines) >= 1
                and min(cols) >= 1
                and max(lines) <= _U32_MAX
                and max(cols) <= _U32_MAX
            ):
                return
        for index, pos in enumerate(positions):
            self.check_position(name, index, pos, nfiles)

    def check_position(self, name: str, index: int, pos: object, nfiles: int) -> None:
        if not isinstance(pos, tuple) or len(pos) != 3:
            self.fail(
                "source-position",
                f"position {index} of `{name}` must be a (file, line, col) SourcePos, found {_show(pos)}",
                function=name,
                index=index,
            )
        file, line, col = pos
        if type(file) is not int or not 0 <= file < nfiles:
            self.fail(
                "source-position",
                f"position of instruction {index} of `{name}` names file {_show(file)}, "
                + (f"expected 0..{nfiles - 1}" if nfiles else "but the source map lists no files"),
                function=name,
                index=index,
            )
        if type(line) is not int or type(col) is not int or not (1 <= line <= _U32_MAX and 1 <= col <= _U32_MAX):
            self.fail(
                "source-position",
                f"position of instruction {index} of `{name}` is line {_show(line)} col {_show(col)}, "
                f"expected both in 1..{_U32_MAX} (the binary format's u32)",
                function=name,
                index=index,
            )

    # -- code ------------------------------------------------------------

    def check_code(self, findex: int, function: Function) -> tuple[int, ...]:
        """Check one function's instructions; gives its sorted block leaders.

        Each instruction goes first through the generated acceptance predicate
        of its opcode (see `_FAST_SOURCE`); only an instruction it does not
        accept goes through `diagnose`, which finds and reports the broken rule.
        """
        code = function.code
        ncode = len(code)
        leaders = {0}
        splits = _SPLITS
        targets = _TARGET_POSITION
        windows: set[tuple[int, _Sig]] = set()
        diagnose = self.diagnose
        self.enter_function(findex, function)
        # Only a body of Instructions of exact ints can take the fast path: the
        # predicates compare and index with the operands as they are.
        if self.fast and set(map(type, code)) == {Instruction} and set(map(type, chain.from_iterable(code))) == {int}:
            self.enter(self.register_ids[findex], self.register_sigs[findex], ncode, self.func_results[findex])
            predicates = self.predicates
            for index, (op, a, b, c) in enumerate(code):
                accept = predicates.get(op)
                if accept is None or not accept(a, b, c):
                    diagnose(findex, index, code[index], windows)
                if op in splits:
                    if index + 1 < ncode:
                        leaders.add(index + 1)
                    if op in targets:
                        leaders.add(b if targets[op] else a)
        else:
            for index, ins in enumerate(code):
                diagnose(findex, index, ins, windows)
                op = ins.op
                if op in splits:
                    if index + 1 < ncode:
                        leaders.add(index + 1)
                    if op in targets:
                        leaders.add(ins.b if targets[op] else ins.a)
        last = code[-1]
        if not OPCODES[last.op].ends_block:
            raise VerifyError(
                "falls-off-end",
                f"function `{self.names[findex]}` ends with `{OPCODES[last.op].name}`, which can fall through past "
                "the end; expected jmp, ret, retv or trap",
                function=self.names[findex],
                index=ncode - 1,
            )
        return tuple(sorted(leaders))

    def enter_function(self, findex: int, function: Function) -> None:
        """The map and struct rules' view of the function about to be checked; its struct registers' zeros."""
        self.current = function.registers
        zero = structured.zero_problem(function.registers, function.param_count, self.structs(), self.zero_sizes)
        if zero is not None:
            raise VerifyError("zero-size", zero[1], function=self.names[findex], register=zero[0])

    def diagnose(self, findex: int, index: int, ins: object, windows: set[tuple[int, _Sig]]) -> None:
        """The reference check of one instruction: returns if it is valid, else raises the first broken rule."""
        name = self.names[findex]

        def bad(code_: str, index: int, message: str) -> NoReturn:
            raise VerifyError(code_, message, function=name, index=index)

        if type(ins) is not Instruction:
            bad("malformed", index, f"instruction {index} of `{name}` must be an Instruction, found {_show(ins)}")
        op = ins[0]
        plan = _plan(op) if type(op) is int else None
        if plan is None:
            bad(
                "opcode",
                index,
                f"opcode {_show(op)} (instruction {index} of `{name}`) is not in the instruction set",
            )
        for pos, kind in plan.bounds:
            problem = self.bound_problem(findex, plan, pos, kind, ins[pos + 1])
            if problem is not None:
                bad(problem[0], index, problem[1])
        # Every operand is now in range: the types can be read.
        type_problem = _register_type_problem(plan, ins, self.register_ids[findex], self.type_names)
        if type_problem is not None:
            bad("register-type", index, type_problem)
        if op in STRUCTURED_OPS:
            found = structured.problem(op, ins[1], ins[2], ins[3], self.current, self.structs())
            if found is not None:
                bad(found[0], index, found[1])
        self.check_special(findex, index, ins, windows, bad)

    def bound_problem(
        self, findex: int, plan: _Plan, pos: int, kind: OperandKind, raw: object
    ) -> tuple[str, str] | None:
        """The code and message of an operand out of its range (None when it is in range)."""
        name, mnemonic, letter, shown = self.names[findex], plan.info.name, _LETTERS[pos], _show(raw)
        v = raw if type(raw) is int else -1  # every range check below fails for it; the message shows the real value
        nregs = len(self.register_ids[findex])
        if kind is OperandKind.REG and not 0 <= v < nregs:
            return "register-bounds", (
                f"`{mnemonic}` operand {letter} is register {shown}, but `{name}` has registers {_range(nregs)}"
            )
        if kind is OperandKind.NONE and v != 0:
            return "unused-operand", f"`{mnemonic}` does not use operand {letter}, so it must be 0; found {shown}"
        ncode = len(self.module.functions[findex].code)
        if kind is OperandKind.TARGET and not 0 <= v < ncode:
            return "jump-target", f"jump target {shown} is outside function `{name}` (0..{ncode - 1})"
        if kind is OperandKind.CONST:
            return self.const_problem(plan, v, shown)
        if kind is OperandKind.IMM and not 0 <= v <= plan.imm_max:
            return "immediate", f"`{mnemonic}` immediate {letter} must be in 0..{plan.imm_max}, found {shown}"
        if kind is OperandKind.PAIR and not 0 <= v < nregs - 1:
            return "register-bounds", (
                f"`{mnemonic}` operand {letter} names registers {shown} and the one "
                f"after it, but `{name}` has registers {_range(nregs)}"
            )
        nfuncs = len(self.names)
        if kind is OperandKind.FUNC and not 0 <= v < nfuncs:
            return "func-ref", f"`{mnemonic}` names function {shown}, but the module has functions {_range(nfuncs)}"
        ncaps = len(self.cap_params)
        if kind is OperandKind.CAP and not 0 <= v < ncaps:
            return "cap-ref", (
                f"`{mnemonic}` names capability {shown}, but the module declares capabilities {_range(ncaps)}"
            )
        return None

    def const_problem(self, plan: _Plan, v: int, shown: str) -> tuple[str, str] | None:
        """A constant operand that is out of range or of a kind the instruction does not take."""
        mnemonic, nconst = plan.info.name, len(self.constants)
        if not 0 <= v < nconst:
            return "const-bounds", f"`{mnemonic}` reads constant {shown}, but the module has constants {_range(nconst)}"
        constant = self.constants[v]
        if type(constant) not in plan.const_kinds:
            wanted = " or ".join(t.__name__ for t in plan.const_kinds)
            return "const-kind", (
                f"`{mnemonic}` needs a constant of kind {wanted}; "
                f"constant {v} is {type(constant).__name__} {_show(constant)}"
            )
        return None

    def check_special(
        self,
        findex: int,
        index: int,
        ins: Instruction,
        windows: set[tuple[int, _Sig]],
        bad: Callable[[str, int, str], NoReturn],
    ) -> None:
        """The rules of the instructions with their own: loadk's constant type, calls, returns."""
        name, regs, result = self.names[findex], self.register_ids[findex], self.func_results[findex]
        tn = self.type_names
        special = ins.op
        if special == Op.LOADK:
            want = _CONST_IDS[type(self.constants[ins.b])]
            if regs[ins.a] != want:
                bad(
                    "register-type",
                    index,
                    f"`loadk` of constant {ins.b} (a {tn[want]}) needs a destination of type {tn[want]}, "
                    f"found r{ins.a}: {tn[regs[ins.a]]}",
                )
        elif special == Op.CALL or special == Op.CAPCALL:
            self.check_call(name, index, ins, special == Op.CAPCALL, regs, self.register_sigs[findex], windows)
        elif special == Op.RET:
            if result < 0:
                bad("return-type", index, f"`ret` returns a value, but `{name}` has no result (use `retv`)")
            if regs[ins.a] != result:
                bad(
                    "return-type",
                    index,
                    f"`ret` returns r{ins.a}: {tn[regs[ins.a]]}, but `{name}` returns {tn[result]}",
                )
        elif special == Op.RETV and result >= 0:
            bad("return-type", index, f"`retv` returns nothing, but `{name}` returns {tn[result]}")

    def check_call(
        self,
        name: str,
        index: int,
        ins: Instruction,
        is_cap: bool,
        regs: _Ids,
        sig: _Sig,
        windows: set[tuple[int, _Sig]],
    ) -> None:
        """A call's argument window and destination against the callee's signature."""
        callee = ins.a
        if is_cap:
            params, result = self.cap_params[callee], self.cap_results[callee]
            what, type_code = f"capability `{self.module.capabilities[callee].name}`", "cap-call-type"
        else:
            params, result = self.func_params[callee], self.func_results[callee]
            what, type_code = f"function `{self.names[callee]}`", "call-type"
        mnemonic = "capcall" if is_cap else "call"

        def bad(code_: str, message: str) -> NoReturn:
            raise VerifyError(code_, message, function=name, index=index)

        problem = _argument_problem(what, mnemonic, name, ins.b, params, regs, sig, self.type_names, windows)
        if problem is not None:
            bad(type_code if problem[0] == "type" else problem[0], problem[1])
        nregs = len(regs)
        dest = ins.c
        if result < 0:
            if type(dest) is not int or dest != 0:
                bad("unused-operand", f"{what} has no result, so `{mnemonic}` operand c must be 0; found {_show(dest)}")
            return
        if type(dest) is not int or not 0 <= dest < nregs:
            bad(
                "register-bounds",
                f"`{mnemonic}` result goes to register {_show(dest)}, but `{name}` has registers {_range(nregs)}",
            )
        if regs[dest] != result:
            tn = self.type_names
            bad(type_code, f"{what} returns {tn[result]}, but its result goes to r{dest}: {tn[regs[dest]]}")


def _argument_problem(
    what: str,
    mnemonic: str,
    name: str,
    operand: object,
    params: _Sig,
    regs: _Ids,
    sig: _Sig,
    tn: Mapping[int, str],
    windows: set[tuple[int, _Sig]],
) -> tuple[str, str] | None:
    """A call's argument window against the callee's parameters: ("call-arity" or "type", message) or None.

    A window already proved for the same parameters (`windows`) is not checked again.
    """
    first, n, nregs = operand if type(operand) is int else -1, len(params), len(regs)
    if n == 0:
        if first != 0:
            return (
                "call-arity",
                f"{what} takes no arguments, so `{mnemonic}` operand b must be 0; found {_show(operand)}",
            )
        return None
    if not 0 <= first <= nregs - n:
        return "call-arity", (
            f"{what} takes {n} argument{'s' if n > 1 else ''} in "
            + (_window(first, n) if first >= 0 else f"registers from {_show(operand)}")
            + f", but `{name}` has registers {_range(nregs)}"
        )
    if (first, params) not in windows:
        if not sig.startswith(params, first):
            for k in range(n):
                want = ord(params[k])
                if regs[first + k] != want:
                    return "type", (
                        f"argument {k + 1} of {what} must be {tn[want]}, found r{first + k}: {tn[regs[first + k]]}"
                    )
        windows.add((first, params))
    return None


def _binding(rule: TypeRule, found: int) -> tuple[bool, int]:
    """Whether type id `found` meets `rule`, and the type T it binds (-1: none)."""
    is_array = found % _DEPTHS != 0
    if rule is TypeRule.ARRAY:
        return is_array, found - 1
    if rule is TypeRule.SCALAR:
        return not is_array and found < _SCALAR_END, found
    if rule is TypeRule.ORDERED:
        return found in _ORDERED_IDS, found
    if rule is TypeRule.ORDERED_ARRAY:
        return found % _DEPTHS == 1 and found - 1 in _ORDERED_IDS, found - 1
    if rule is TypeRule.SEQUENCE:
        return is_array or found == _STR_ID, -1
    return True, found


def _poly_problem(plan: _Plan, ins: Instruction, regs: _Ids, tn: Mapping[int, str]) -> str | None:
    """What breaks the rules that bind a type variable T (one binding per instruction), or None."""
    mnemonic = plan.info.name
    bound = -1
    bound_at = ""
    for pos, rule in plan.poly:
        r = ins[pos + 1]
        found = regs[r]
        letter = _LETTERS[pos]
        if rule is TypeRule.ELEM:
            if found != bound:
                return (
                    f"`{mnemonic}` operand {letter} must be {tn[bound]} (the element type of operand "
                    f"{bound_at}), found r{r}: {tn[found]}"
                )
            continue
        ok, binds = _binding(rule, found)
        if not ok:
            return f"`{mnemonic}` operand {letter} must be {_RULE_TEXT[rule]}, found r{r}: {tn[found]}"
        if binds < 0:
            continue
        if bound < 0:
            bound, bound_at = binds, letter
        elif binds != bound:
            return (
                f"`{mnemonic}` operands {bound_at} and {letter} must agree on T: "
                f"operand {bound_at} gives T = {tn[bound]}, found r{r}: {tn[found]}"
            )
    return None


def _by_value_cycle(structs: tuple[StructDef, ...]) -> list[tuple[int, int]] | None:
    """A cycle of struct fields whose types are structs (by value), as (struct, field) steps, or None.

    Iterative depth-first search over at most MAX_STRUCTS structs and their fields.
    """
    edges = [
        [(number, f.type.ref) for number, f in enumerate(s.fields) if f.type.kind is TypeKind.STRUCT] for s in structs
    ]
    state = [0] * len(structs)  # 0 new, 1 on the path, 2 done
    for root in range(len(structs)):
        if state[root]:
            continue
        path: list[tuple[int, int]] = []
        stack: list[tuple[int, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, at = stack[-1]
            if at == len(edges[node]):
                stack.pop()
                state[node] = 2
                if path:
                    path.pop()
                continue
            stack[-1] = (node, at + 1)
            number, target = edges[node][at]
            if state[target] == 1:
                steps = [*path, (node, number)]
                start = next(i for i, (s, _) in enumerate(steps) if s == target)
                return steps[start:]
            if state[target] == 0:
                state[target] = 1
                path.append((node, number))
                stack.append((target, 0))
    return None


def _window(first: int, n: int) -> str:
    if first > _U32_MAX:  # printing a huge int can itself fail (int max str digits)
        return f"registers from {_show(first)}"
    return f"r{first}" if n == 1 else f"r{first}..r{first + n - 1}"


_KIND = attrgetter("kind")
_ARGS = attrgetter("args")


def _signature(ids: _Ids) -> _Sig:
    """Type ids as a str of `chr(id)` (ids stay below MAX_TYPE_NODES blocks, far below 0x110000)."""
    return "".join(map(chr, ids))


def _register_ids(types: tuple[object, ...]) -> _Ids | None:
    """Type ids of many types at C speed, or None when any of them is not a valid type (the caller then explains).

    Equality alone could be fooled by look-alike objects, so the Python
    classes are checked exactly, level by level down the trees (at most
    MAX_ARRAY_DEPTH + 1 levels); then equality is structural and exact and
    the id is one dict lookup.
    """
    shared = tuple(map(_IDS_BY_IDENTITY.get, map(id, types)))
    if None not in shared:
        return shared  # type: ignore[return-value]  # no None in it
    level: tuple[object, ...] = types
    for _ in range(MAX_ARRAY_DEPTH + 1):
        if not set(map(type, level)) <= {ValueType}:
            return None
        if not set(map(type, map(_KIND, level))) <= {TypeKind}:
            return None
        args = tuple(map(_ARGS, level))
        if not set(map(type, args)) <= {tuple}:
            return None
        level = tuple(chain.from_iterable(args))
        if not level:
            break
    ids = tuple(map(_IDS.get, types))  # type: ignore[arg-type]
    if None in ids:
        return None
    return ids  # type: ignore[return-value]  # no None in it


def _register_type_problem(plan: _Plan, ins: Instruction, regs: _Ids, tn: Mapping[int, str]) -> str | None:
    """The first register of the wrong type among an in-range instruction's operands, as a message."""
    mnemonic = plan.info.name
    for pos, want in plan.fixed:
        found = regs[ins[pos + 1]]
        if found != want:
            return f"`{mnemonic}` operand {_LETTERS[pos]} must be {tn[want]}, found r{ins[pos + 1]}: {tn[found]}"
    for pos, want in plan.pairs:
        first = ins[pos + 1]
        for r in (first, first + 1):
            if regs[r] != want:
                return f"`{mnemonic}` reads {tn[want]} registers r{first} and r{first + 1}, found r{r}: {tn[regs[r]]}"
    if plan.poly:
        return _poly_problem(plan, ins, regs, tn)
    return None


def _no_enter(registers: _Ids, sig: _Sig, ncode: int, result: int) -> None:
    """Placeholder until the module-level facts exist."""


def _range(n: int) -> str:
    return f"0..{n - 1}" if n > 0 else "(none)"


def _encodable(text: str) -> bool:
    """Lone surrogates cannot be written as UTF-8 (module bytes, trace JSON); refuse them up front."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
