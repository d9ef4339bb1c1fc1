"""The fused interpreter: takes a VerifiedModule, limits and handlers, gives a result or a structured error.

It gives exactly the reference interpreter's outcomes (chronicle_vm.engines.oracle,
which the tests compare it with), faster: it is the compiled engine's fallback.
Its coverage of the ISA is checked at import against the semantics table.
Plugin calls use an explicit frame stack, never Python
recursion.  Verification already guaranteed operand bounds, register types,
jump targets and call signatures, so the loop checks none of them: it only
checks what depends on run-time values (divisors, indexes, sizes, limits).

Instructions are pre-decoded once per interpreter into plain tuples
`(op, a, b, c, d)` whose operands are already what the loop needs: constants
by value, `loadb` as a bool, `tostr` split by operand type, a call's callee
frame, a capability's arity, a void call's destination as -1.  Two kinds of
consecutive pairs become one superinstruction (`_fuse`); the loop counts
instructions by drawing from a range iterator (see `_run`).  Both are
invisible: `superinstructions=False` gives the same outcomes, which the tests
check at every instruction limit.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any, NoReturn

from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.casemap import fixed_lower, fixed_trim, fixed_upper
from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.isa import CHARS_PER_FUEL, OPCODES, Op
from chronicle_vm.core.model import Function, Module
from chronicle_vm.core.structured import VMap, struct_fields
from chronicle_vm.core.type_registry import is_sized
from chronicle_vm.core.types import TypeKind, ValueType
from chronicle_vm.core.values import I64_MAX, I64_MIN, Value, export_value
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits

from . import faults
from .control import FUEL_SLICE
from .costs import (
    ENTRY_WORDS,
    ITEM_WORDS,
    LIST_WORDS,
    STR_WORDS,
    WORD,
    compare_extra,
    export_size,
    export_work_of,
    frame_work,
    joined,
    joined_extra,
    joined_words,
    piece_length,
    private_strings,
    string_extra,
    value_words,
)
from .costs import PIECES_FROM as _PIECES_FROM
from .costs import Pieces as _Pieces
from .entry import FRESH_KINDS, RunOutcome, handler_table, locate, prepare_call, structs_of, zero_maker
from .entry import describe as _describe
from .entry import zero as _zero
from .faults import OperandFault
from .faults import quote_operand as _quote
from .semantics import INT_TEXT as _INT_TEXT
from .semantics import (
    PLAIN,
    VALUES,
    WORKS,
    operand_values,
    plain_operation,
    quote_key,
    require_complete,
    struct_words,
    writes_a,
)

if TYPE_CHECKING:
    from chronicle_vm.verifier.rules import VerifiedModule

    from .control import RunControl

__all__ = ["Interpreter", "RunOutcome", "handler_table", "locate", "prepare_call", "run_entry"]


_SHIFT = CHARS_PER_FUEL.bit_length() - 1  # extra fuel = characters >> _SHIFT (chronicle_vm.engines.costs)

# Internal opcodes the pre-decoder emits besides the ISA's own.  Their numbers sit in gaps of the ISA's
# numbering chosen for the dispatch ranges of the loop (see `Interpreter._run`).
_TOSTR_INT = Op.TOSTR.value
_TOSTR_BOOL = 0x50
_TOSTR_STR = 0x51
_LOADK_OVERSIZE = 0x52  # `loadk` of a string constant longer than max_string_len
_CALL_WIDE = 0x53  # `call` of a function with more registers than max_registers: always fails
# Cost model 2 (engines/costs.py): the variable-cost forms, so that the fixed-cost ones stay as fast as before.
_EQ_STR = 0x54  # `eq` of two strings: charged by length
_NE_STR = 0x55  # `ne` of two strings
_CAPCALL_SIZED = 0x28  # `capcall` with a string or array argument: charged by the arguments' export size
_COST_OP = {_EQ_STR: Op.EQ.value, _NE_STR: Op.NE.value}  # the ISA opcode whose formula a variable form pays
_PLAIN = 0x56  # a plain operation of the semantics table (a row with `value`): d is its function of the registers
# The ISA keeps 0x5E and 0x5F free for these two (and 0x50-0x56 for the ones above).
_ORDER_STR = 0x5E  # `lt le gt ge` of two strings: d is the comparison (operator.lt, ...); charged by length
_WORK = 0x5F  # a sized operation (a row with `work`): d is (fuel, check, act, operand values, writes a)
# `band bor bxor` and `shl shr` sit in the arithmetic range, in the ISA's gap 0x16-0x17 (see `_run`).
_BITWISE = 0x16  # d: the operator function
_SHIFT_OP = 0x17  # d: True for shl, False for shr
_BITWISE_OPS = {Op.BAND.value: operator.and_, Op.BOR.value: operator.or_, Op.BXOR.value: operator.xor}
# Maps and structs (#17): the values helper's internal numbers 0xA0-0xA7.
_MAPGETD = 0xA0  # d: True when the key is a str (charged by its length)
_STRUCTNEW = 0xA1  # c: the struct's field count, d: the words it allocates
_GETFIELD = 0xA2
_SETFIELD = 0xA3
# The map instructions a loop body uses most, each the semantics table's `Work` row written out (pay the key's
# fuel, check, allocate, act, in that order); d: True when the key is a str (charged by its length).
_MAPGET = 0xA4
_MAPSET = 0xA5
_MAPHAS = 0xA6
_MAPDEL = 0xA7
_ORDER_OPS = {Op.LT.value: operator.lt, Op.LE.value: operator.le, Op.GT.value: operator.gt, Op.GE.value: operator.ge}
# Private string registers (issue 20, costs.private_strings): the forms of `len`, a comparison and `ret` that read
# one, whose value may be kept in pieces (costs.Pieces); every other instruction keeps its form.  0xA8-0xAA.
_LEN_PIECES = 0xA8
_CMP_PIECES = 0xA9  # d: (the comparison's function, its ISA opcode, the operands that are private)
_RET_PIECES = 0xAA
_ANY_COMPARE = {**_ORDER_OPS, Op.EQ.value: operator.eq, Op.NE.value: operator.ne}

#: The ISA opcodes `_run` has its own code for; with the semantics table's plain operations (run through
#: `_PLAIN`), exactly the ISA, checked at import: the range tests of the loop's dispatch (`else:  # NEG`) would
#: otherwise take any new opcode in their range.
_NATIVE = frozenset(
    (
        *(Op.NOP, Op.MOV, Op.LOADK, Op.LOADB, Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.NEG),
        *(Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.NOT),
        *(Op.JMP, Op.JMPIF, Op.JMPIFNOT, Op.CALL, Op.CAPCALL, Op.RET, Op.RETV, Op.TRAP),
        *(Op.CONCAT, Op.TOSTR, Op.LEN, Op.SLICE, Op.CONTAINS, Op.FIND, Op.PARSEINT, Op.UPPER, Op.LOWER, Op.TRIM),
        *(Op.SPLIT, Op.JOIN, Op.REPEAT, Op.CHARAT, Op.NEWARR, Op.PUSH, Op.POP, Op.GETIDX, Op.SETIDX),
        *(Op.MAPGETD, Op.STRUCTNEW, Op.GETFIELD, Op.SETFIELD),  # maps and structs (#17): `_value_form`
        *(Op.MAPGET, Op.MAPSET, Op.MAPHAS, Op.MAPDEL),
    )
)
_NATIVE_VALUES = frozenset(
    (Op.MAPGETD, Op.STRUCTNEW, Op.GETFIELD, Op.SETFIELD, Op.MAPGET, Op.MAPSET, Op.MAPHAS, Op.MAPDEL)
)
#: The fused map forms: the ISA opcode, its internal number, and the operand holding the key (1: b, 2: c).
_MAP_FORMS = {Op.MAPGET: (_MAPGET, 2), Op.MAPSET: (_MAPSET, 1), Op.MAPHAS: (_MAPHAS, 2), Op.MAPDEL: (_MAPDEL, 1)}
require_complete("the fused interpreter", {op.value for op in _NATIVE} | PLAIN | set(WORKS))
_OWN = {_ORDER_STR, _WORK, _BITWISE, _SHIFT_OP, _MAPGETD, _STRUCTNEW, _GETFIELD, _SETFIELD}
_OWN |= {_LEN_PIECES, _CMP_PIECES, _RET_PIECES}
assert not (_OWN | {_MAPGET, _MAPSET, _MAPHAS, _MAPDEL}) & set(OPCODES), (
    "the fused interpreter's own opcodes are not ISA's"
)

# Superinstructions: one tuple does the work of two consecutive instructions and counts as two.  Each sits
# at the index of the first of the pair; the second keeps its own plain tuple at the next index, so a jump
# to it (or a run that stops between the two) still finds it.
#   `loadk t, K` + `add|sub|mul|mod|div d, x, t` -> (xK, d, x, K, t); also `add|mul d, t, x` (commutative).
_ADDK, _SUBK, _MULK, _MODK, _DIVK = 0x04, 0x05, 0x06, 0x07, 0x08
_WITH_CONSTANT = {Op.ADD: _ADDK, Op.SUB: _SUBK, Op.MUL: _MULK, Op.MOD: _MODK, Op.DIV: _DIVK}
#   `lt|le|gt|ge|eq|ne t, x, y` + `jmpif|jmpifnot t, L` -> (BR, t, x, y, L).
_COMPARES = (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE)
_BRANCH_IF_TRUE = {compare: 0x60 + i for i, compare in enumerate(_COMPARES)}
_BRANCH_IF_FALSE = {compare: 0x66 + i for i, compare in enumerate(_COMPARES)}

Decoded = tuple[Any, ...]  # one pre-decoded instruction: (op, a, b, c, d)
#: What a `call` tuple carries of its callee: (code, registers after the parameters, fresh array registers,
#: parameter count, register count, fresh map and struct registers with their zero makers, the extra fuel and
#: the words of the fresh values, costs.frame_work); see `_DecodedFunction.frame`.
CalleeFrame = tuple[list[Decoded], tuple[Value, ...], tuple[int, ...], int, int, tuple[tuple[int, Any], ...], int, int]


@dataclass(frozen=True, slots=True)
class _DecodedFunction:
    """A function ready for the loop.

    `frame` repeats what a `call` needs as one tuple, (code, the template after the parameters, array
    registers that are not parameters, param count, register count), so the call unpacks it in one step.
    """

    code: list[Decoded]
    template: tuple[Value, ...]  # initial register values (arrays filled per frame)
    array_registers: tuple[int, ...]
    param_count: int
    register_count: int
    #: map and struct registers, each with a function that makes its fresh zero value (#17)
    value_registers: tuple[tuple[int, Any], ...] = ()
    #: what a frame's fresh values cost: extra fuel and estimated words (costs.frame_work)
    fresh_fuel: int = 0
    fresh_words: int = 0

    @property
    def frame(self) -> CalleeFrame:
        tail = self.template[self.param_count :]
        fresh_arrays = tuple(r for r in self.array_registers if r >= self.param_count)  # parameters arrive filled
        fresh_values = tuple(item for item in self.value_registers if item[0] >= self.param_count)
        return (
            self.code,
            tail,
            fresh_arrays,
            self.param_count,
            self.register_count,
            fresh_values,
            self.fresh_fuel,
            self.fresh_words,
        )


def _fuse(code: list[Decoded]) -> list[Decoded]:
    """The same code with superinstructions at the start of every pair that has one."""
    fused = list(code)
    for i in range(len(code) - 1):
        op, a, b, c, _ = code[i]
        second = code[i + 1]
        op2, a2, b2, c2, _ = second
        if op in _COMPARES and (op2 == Op.JMPIF or op2 == Op.JMPIFNOT) and a2 == a:
            branch = _BRANCH_IF_TRUE if op2 == Op.JMPIF else _BRANCH_IF_FALSE
            fused[i] = (branch[Op(op)], a, b, c, b2)
        elif op == Op.LOADK and type(b) is int and op2 in _WITH_CONSTANT:
            constant, temp = b, a
            if op2 in (Op.MOD, Op.DIV) and constant == 0:
                continue  # the plain pair traps
            if c2 == temp and b2 != temp:
                fused[i] = (_WITH_CONSTANT[Op(op2)], a2, b2, constant, temp)
            elif b2 == temp and c2 != temp and op2 in (Op.ADD, Op.MUL):
                fused[i] = (_WITH_CONSTANT[Op(op2)], a2, c2, constant, temp)
    return fused


def _value_form(op: int, a: int, b: int, c: int, registers: tuple[ValueType, ...], structs: Any) -> Decoded:
    """The loop's form of a map or struct instruction that is not a sized row of the semantics table."""
    if op == Op.MAPGETD:
        return (_MAPGETD, a, b, c, registers[c].kind is TypeKind.STR)
    if op in _MAP_FORMS:
        internal, key = _MAP_FORMS[Op(op)]
        return (internal, a, b, c, registers[(a, b, c)[key]].kind is TypeKind.STR)
    if op == Op.STRUCTNEW:
        size = len(struct_fields(registers[a], structs))
        return (_STRUCTNEW, a, b, size, struct_words(size))
    return (_GETFIELD if op == Op.GETFIELD else _SETFIELD, a, b, c, 0)


def _sized_form(op: int, a: int, b: int, c: int, registers: tuple[ValueType, ...], structs: Any = ()) -> Decoded | None:
    """The fused interpreter's own form of a comparison of strings, a bitwise operator, a sized operation, or
    a map or struct instruction."""
    if op in _NATIVE_VALUES:
        return _value_form(op, a, b, c, registers, structs)
    strings = registers[b].kind is TypeKind.STR if b < len(registers) else False
    if (op == Op.EQ or op == Op.NE) and strings:
        return (_EQ_STR if op == Op.EQ else _NE_STR, a, b, c, 0)
    if op in _ORDER_OPS and strings:
        return (_ORDER_STR, a, b, c, _ORDER_OPS[op])
    if op in _BITWISE_OPS:
        return (_BITWISE, a, b, c, _BITWISE_OPS[op])
    if op == Op.SHL or op == Op.SHR:
        return (_SHIFT_OP, a, b, c, op == Op.SHL)
    work = WORKS.get(op)
    if work is not None:
        return (_WORK, a, b, c, (work.fuel, work.check, work.act, operand_values(op), writes_a(op)))
    return None


def _private_forms(code: list[Decoded], function: Function, module: Module) -> None:
    """The forms of the instructions on private string registers (costs.private_strings), in place.

    An append's d is 1 (`s = s + x`) or 2 (`s = s + s`); `len`, a comparison or `ret` of a private register
    becomes its piece-aware form.  Nothing else changes, so no other instruction ever sees costs.Pieces.
    """
    private = private_strings(function, module)
    for pc in private.appends:
        _op, a, b, c = function.code[pc]
        code[pc] = (Op.CONCAT.value, a, b, c, 2 if c == a else 1)
    for pc in private.reads:
        op, a, b, c = function.code[pc]
        if op == Op.LEN:
            code[pc] = (_LEN_PIECES, a, b, c, 0)
        elif op == Op.RET:
            code[pc] = (_RET_PIECES, a, b, c, 0)
        else:
            joins = tuple(dict.fromkeys(r for r in (b, c) if r in private.registers))
            code[pc] = (_CMP_PIECES, a, b, c, (_ANY_COMPARE[op], op, joins))


def _float_arithmetic(op: Op, compute: Any) -> Any:
    """A `_PLAIN` function for fadd, fsub or fmul: the IEEE operation inline, the row's `value` only when it traps."""
    value = VALUES[op.value]

    def run(regs: list[Any], b: int, c: int) -> Any:
        r = compute(regs[b], regs[c])
        if r - r:  # inf or nan: the row raises its fault
            return value(regs[b], regs[c])
        return r

    return run


def _fdiv(regs: list[Any], b: int, c: int) -> Any:
    divisor = regs[c]
    if divisor:
        r = regs[b] / divisor
        if not r - r:
            return r
    return VALUES[Op.FDIV.value](regs[b], divisor)  # zero divisor or a result that is not finite: the row's fault


#: One Python call per instruction for the float operations a loop of numeric code runs most (the row's own
#: `value` would be three: the register read, the operation, the finite check); the rest go through the row.
_FAST_FLOAT: dict[int, Any] = {
    Op.FADD.value: _float_arithmetic(Op.FADD, operator.add),
    Op.FSUB.value: _float_arithmetic(Op.FSUB, operator.sub),
    Op.FMUL.value: _float_arithmetic(Op.FMUL, operator.mul),
    Op.FDIV.value: _fdiv,
}


class Interpreter:
    """Runs functions of one verified module under fixed limits and capability handlers.

    An Interpreter may run many calls one after another; each `call` starts
    from fresh frames and counters.  `superinstructions=False` runs every
    instruction on its own: the same results, counts and errors, slower (the
    tests compare the two).
    """

    def __init__(
        self,
        verified: VerifiedModule,
        limits: Limits,
        handlers: Sequence[CapabilityHandler | None] = (),
        *,
        superinstructions: bool = True,
    ) -> None:
        self.verified = verified
        self.module: Module = verified.module
        self.limits = limits
        self.handlers = handler_table(self.module, handlers)
        self.superinstructions = superinstructions
        self._functions = self._decode_all()
        self._control: RunControl | None = None  # the current call's deadline and cancel handle

    # -- pre-decoding -------------------------------------------------------------------------------------------------

    def _decode_all(self) -> tuple[_DecodedFunction, ...]:
        functions = self.module.functions
        # Code lists are created first and filled after, so a call's tuple can hold its callee's frame.
        decoded_functions = tuple(
            _DecodedFunction(
                code=[],
                template=tuple(_zero(t, structs_of(self.module)) for t in function.registers),
                array_registers=tuple(i for i, t in enumerate(function.registers) if t.kind is TypeKind.ARRAY),
                param_count=function.param_count,
                register_count=len(function.registers),
                value_registers=tuple(
                    (i, zero_maker(t, structs_of(self.module)))
                    for i, t in enumerate(function.registers)
                    if t.kind in FRESH_KINDS and t.kind is not TypeKind.ARRAY
                ),
                fresh_fuel=work[0],
                fresh_words=work[1],
            )
            for function in functions
            for work in (frame_work(function, structs_of(self.module)),)
        )
        frames = tuple(decoded.frame for decoded in decoded_functions)
        for decoded, function in zip(decoded_functions, functions, strict=True):
            code = self._predecode(function, decoded_functions, frames)
            _private_forms(code, function, self.module)
            decoded.code.extend(_fuse(code) if self.superinstructions else code)
        return decoded_functions

    def _predecode(
        self, function: Function, decoded_functions: tuple[_DecodedFunction, ...], frames: tuple[CalleeFrame, ...]
    ) -> list[Decoded]:
        module = self.module
        constants = module.constants
        registers = function.registers
        structs = structs_of(module)
        code: list[Decoded] = []
        for op, a, b, c in function.code:
            if op == Op.LOADK:
                value = constants[b]
                if type(value) is str and len(value) > self.limits.max_string_len:
                    # A constant over max_string_len may sit in the module; loading it is what the limit stops.
                    code.append((_LOADK_OVERSIZE, a, len(value), 0, 0))
                else:
                    code.append((op, a, value, 0, 0))
            elif op == Op.LOADB:
                code.append((op, a, b == 1, 0, 0))
            elif op == Op.TOSTR:
                kind = registers[b].kind  # a float's text is str(f), its repr, like an int's
                special = {TypeKind.INT: _TOSTR_INT, TypeKind.FLOAT: _TOSTR_INT, TypeKind.BOOL: _TOSTR_BOOL}.get(
                    kind, _TOSTR_STR
                )
                code.append((special, a, b, 0, 0))
            elif op == Op.CALL:
                callee = decoded_functions[a]
                destination = c if module.functions[a].result is not None else -1
                wide = callee.register_count > self.limits.max_registers
                code.append((_CALL_WIDE if wide else op, a, b, destination, frames[a]))
            elif op == Op.CAPCALL:
                capability = module.capabilities[a]
                sized = any(is_sized(t) for t in capability.params)
                destination = c if capability.result is not None else -1
                code.append((_CAPCALL_SIZED if sized else op, a, b, destination, len(capability.params)))
            elif op == Op.TRAP:
                code.append((op, constants[a], 0, 0, 0))
            elif (variable := _sized_form(op, a, b, c, registers, structs)) is not None:
                code.append(variable)
            elif op in PLAIN:
                code.append((_PLAIN, a, b, c, _FAST_FLOAT.get(op) or plain_operation(op)))
            else:
                code.append((op, a, b, c, 0))
        return code

    # -- entry -----------------------------------------------------------------------------------------------

    def call(
        self,
        entry: str,
        args: Sequence[object],
        *,
        handlers: Sequence[CapabilityHandler | None] | None = None,
        control: RunControl | None = None,
    ) -> RunOutcome:
        """Run exported function `entry` with host arguments (checked against its parameter types first).

        `handlers` replace the engine's for this call and the ones after it (an engine is reused across
        calls, each with fresh handlers); `control` carries the call's deadline and cancel handle.
        """
        index, values, units = prepare_call(self.verified, self.limits, entry, args)
        if handlers is not None:
            self.handlers = handler_table(self.module, handlers)
        self._control = control
        result, count = self._run(index, values, units)
        return RunOutcome(export_value(result) if result is not None else None, count)

    # -- errors ----------------------------------------------------------------------------------------------

    def location(self, function: int, index: int) -> dict[str, Any]:
        return locate(self.module, function, index)

    def _fail(
        self,
        error: type[ChronicleError],
        code: str,
        message: str,
        frames: list[tuple[int, int]],
        **details: Any,
    ) -> NoReturn:
        """Raise `error` located at the innermost frame, with the call stack innermost last."""
        stack = [self.location(function, index) for function, index in frames]
        where = stack[-1]
        raise error(code, f"{message} {_describe(where)}", location=where, stack=stack, **details)

    def _raise(self, failure: faults.Failure, frames: list[tuple[int, int]]) -> NoReturn:
        error, code, message, details = failure
        self._fail(error, code, message, frames, **details)

    def _relocate(self, exc: ChronicleError, frames: list[tuple[int, int]]) -> NoReturn:
        """A handler's error (quota, host failure) gains the call site's location and stack."""
        stack = [self.location(function, index) for function, index in frames]
        exc.details.setdefault("location", stack[-1])
        exc.details.setdefault("stack", stack)
        raise exc

    # -- the loop ---------------------------------------------------------------------------------------------------

    # The dispatch loop: one function so that registers, fuel and the opcode names stay locals (a call or an
    # attribute per instruction costs more than the instruction); its length is the price of that speed.  It is
    # the one named exception to PLR0912/PLR0915 and to the 100-line bar (tests/test_function_length.py).
    def _run(self, entry: int, args: list[Value], units: int) -> tuple[Value | None, int]:  # noqa: PLR0912, PLR0915
        limits = self.limits
        decoded_functions = self._functions
        handlers = self.handlers
        capabilities = self.module.capabilities
        max_instructions = limits.max_instructions
        max_depth = limits.max_call_depth
        max_registers = limits.max_registers
        max_stack_registers = limits.max_stack_registers
        max_array = limits.max_array_len
        max_string = limits.max_string_len
        max_alloc = limits.max_allocation // WORD  # allocation is counted in words (chronicle_vm.engines.costs)
        # saved caller frames: (code, regs, pc, function index, destination register or -1, callee's registers)
        stack: list[tuple[list[Decoded], list[Any], int, int, int, int]] = []

        def frames_at(function: int, index: int) -> list[tuple[int, int]]:
            return [(saved[3], saved[2] - 1) for saved in stack] + [(function, index)]

        def refuse(failure: faults.Failure) -> NoReturn:
            """A limit the entry call breaks before its first instruction."""
            failure[3]["instructions"] = 0
            self._raise(failure, [(entry, 0)])

        decoded = decoded_functions[entry]
        stack_registers = decoded.register_count
        if decoded.register_count > max_registers:
            refuse(faults.registers(self.module.functions[entry].name, decoded.register_count, max_registers))
        if stack_registers > max_stack_registers:
            refuse(faults.stack_registers(stack_registers, max_stack_registers))
        if max_depth < 1:
            refuse(faults.call_depth(max_depth))
        if units > max_alloc:
            refuse(faults.arguments_allocation(units * WORD, limits.max_allocation))
        if units + decoded.fresh_words > max_alloc:  # the entry frame's fresh values (costs.frame_work)
            refuse(faults.allocation(limits.max_allocation))
        regs: list[Any] = list(decoded.template)  # typed by the verifier, not by Python
        for r in decoded.array_registers:
            regs[r] = []
        for r, make in decoded.value_registers:
            regs[r] = make()
        regs[: decoded.param_count] = args
        code = decoded.code
        fidx = entry
        pc = 0
        alloc = units + decoded.fresh_words
        max_saved = max_depth - 1  # caller frames that may be saved before a call exceeds max_call_depth

        # Metering: the loop draws one number from `fuel` per instruction, so the for loop itself stops the run
        # before instruction max_instructions + 1 and `step + 1` is always the count of instructions started.
        # A superinstruction draws its second number with `draw`; when there is none, the run stops between the
        # two halves, exactly where the plain pair would have stopped.
        # Cost model 2's extra charges draw their units from the same iterator: `step += extra`, then `extra`
        # numbers consumed at C speed by `draw(skip(fuel, extra - 1, None), None)` (a range iterator's
        # `__setstate__` would be cheaper, but it is absolute up to Python 3.11 and relative from 3.12 on).
        # Without a deadline or a cancel handle the run's fuel is one range.  With one, it comes a slice of
        # FUEL_SLICE units at a time (each slice a range of the next absolute numbers, so `step` and every count
        # read exactly as without slices), and where a slice runs out the deadline and the cancel handle are
        # checked (see control.py).
        control = self._control
        slice_end = max_instructions
        if control is not None:
            stopped = control.check(0)
            if stopped is not None:
                refuse(stopped)
            slice_end = min(FUEL_SLICE, max_instructions)
        fuel = iter(range(slice_end))
        skip = islice
        draw = next
        MAX, MIN = I64_MAX, I64_MIN  # locals: a global look-up per arithmetic instruction is measurable
        step = -1  # the number of instructions before the current one
        entry_fuel = decoded.fresh_fuel
        if entry_fuel:  # the entry frame's fresh values, paid before the first instruction (costs.frame_work)
            if entry_fuel > max_instructions:
                refuse(faults.instructions(max_instructions))
            step = entry_fuel - 1  # a slice it uses up ends where the loop below finds it empty
            fuel = iter(range(entry_fuel, slice_end))

        # Local names for the op numbers: a comparison with a local is the cheapest dispatch test.
        ADD, SUB, MUL, DIV, MOD = Op.ADD.value, Op.SUB.value, Op.MUL.value, Op.DIV.value, Op.MOD.value
        ADDK, SUBK, MULK, MODK, DIVK = _ADDK, _SUBK, _MULK, _MODK, _DIVK
        BITWISE, SHIFT_OP = _BITWISE, _SHIFT_OP
        LT, LE, GT, GE, EQ, NE = Op.LT.value, Op.LE.value, Op.GT.value, Op.GE.value, Op.EQ.value, Op.NE.value
        # GE_T and GE_F are the last case of their chains, so they need no name.
        LT_T, LE_T, GT_T, EQ_T, NE_T = (_BRANCH_IF_TRUE[x] for x in (Op.LT, Op.LE, Op.GT, Op.EQ, Op.NE))
        LT_F, LE_F, GT_F, EQ_F, NE_F = (_BRANCH_IF_FALSE[x] for x in (Op.LT, Op.LE, Op.GT, Op.EQ, Op.NE))
        MOV, LOADK, LOADB = Op.MOV.value, Op.LOADK.value, Op.LOADB.value
        JMP, JMPIF, JMPIFNOT = Op.JMP.value, Op.JMPIF.value, Op.JMPIFNOT.value
        CALL, CAPCALL, RET, RETV = Op.CALL.value, Op.CAPCALL.value, Op.RET.value, Op.RETV.value
        CAPCALL_SIZED, SHIFT = _CAPCALL_SIZED, _SHIFT
        STR, LIST, ITEM, ENTRY = STR_WORDS, LIST_WORDS, ITEM_WORDS, ENTRY_WORDS  # max_allocation's estimate, in words
        cut = min(max_string, CHARS_PER_FUEL - 1)  # a concat no longer than this pays nothing extra and fits
        GETIDX, SETIDX, PUSH, POP, NEWARR, LEN = (
            Op.GETIDX.value,
            Op.SETIDX.value,
            Op.PUSH.value,
            Op.POP.value,
            Op.NEWARR.value,
            Op.LEN.value,
        )
        CONCAT, SLICE, CHARAT = Op.CONCAT.value, Op.SLICE.value, Op.CHARAT.value
        TOSTR_INT, TOSTR_BOOL, TOSTR_STR = _TOSTR_INT, _TOSTR_BOOL, _TOSTR_STR
        PIECES, PIECES_FROM = _Pieces, _PIECES_FROM

        # Dispatch by opcode range first (see isa.Op numbering and the internal opcodes above), then by
        # frequency within the range: most instructions are found after two or three comparisons.
        try:
            while True:
                for step in fuel:
                    op, a, b, c, d = code[pc]
                    pc += 1
                    if op < 0x10:  # moves, and arithmetic with a constant operand (superinstructions)
                        if op == ADDK:
                            regs[d] = c
                            if draw(fuel, None) is None:
                                break
                            pc += 1
                            r = regs[b] + c
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == LOADK:
                            regs[a] = b
                        elif op == MOV:
                            regs[a] = regs[b]
                        elif op == SUBK:
                            regs[d] = c
                            if draw(fuel, None) is None:
                                break
                            pc += 1
                            r = regs[b] - c
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == MULK:
                            regs[d] = c
                            if draw(fuel, None) is None:
                                break
                            pc += 1
                            r = regs[b] * c
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == MODK:  # the pre-decoder fuses no zero divisor
                            regs[d] = c
                            if draw(fuel, None) is None:
                                break
                            pc += 1
                            regs[a] = regs[b] % c
                        elif op == DIVK:
                            regs[d] = c
                            if draw(fuel, None) is None:
                                break
                            pc += 1
                            r = regs[b] // c
                            regs[a] = MIN if r > MAX else r
                        elif op == LOADB:
                            regs[a] = b
                        # NOP: nothing to do
                    elif op < 0x18:  # arithmetic
                        if op == ADD:
                            r = regs[b] + regs[c]
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == SUB:
                            r = regs[b] - regs[c]
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == MUL:
                            r = regs[b] * regs[c]
                            if r > MAX or r < MIN:
                                r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                            regs[a] = r
                        elif op == BITWISE:  # d: operator.and_, or_ or xor (a C call; nothing leaves 64 bits)
                            regs[a] = d(regs[b], regs[c])
                        elif op == SHIFT_OP:  # d: True for shl
                            count = regs[c]
                            if count < 0 or count > 63:
                                self._raise(faults.shift_count("shl" if d else "shr", count), frames_at(fidx, pc - 1))
                            if d:
                                r = regs[b] << count
                                if r > MAX or r < MIN:
                                    r = ((r + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000
                                regs[a] = r
                            else:
                                regs[a] = regs[b] >> count
                        elif op == MOD or op == DIV:
                            divisor = regs[c]
                            if divisor == 0:
                                self._raise(faults.division_by_zero(op == MOD), frames_at(fidx, pc - 1))
                            if op == MOD:
                                regs[a] = regs[b] % divisor
                            else:
                                r = regs[b] // divisor
                                regs[a] = MIN if r > MAX else r  # only MIN // -1 overflows
                        else:  # NEG
                            r = -regs[b]
                            regs[a] = MIN if r > MAX else r  # only -MIN overflows
                    elif 0x60 <= op < 0x70:  # compare and branch
                        if op < 0x66:  # jump when the comparison holds
                            if op == LT_T:
                                r = regs[b] < regs[c]
                            elif op == LE_T:
                                r = regs[b] <= regs[c]
                            elif op == NE_T:
                                r = regs[b] != regs[c]
                            elif op == EQ_T:
                                r = regs[b] == regs[c]
                            elif op == GT_T:
                                r = regs[b] > regs[c]
                            else:  # GE_T
                                r = regs[b] >= regs[c]
                            regs[a] = r
                            if draw(fuel, None) is None:
                                break
                            pc = d if r else pc + 1
                        else:  # jump when it does not
                            if op == LT_F:
                                r = regs[b] < regs[c]
                            elif op == LE_F:
                                r = regs[b] <= regs[c]
                            elif op == EQ_F:
                                r = regs[b] == regs[c]
                            elif op == NE_F:
                                r = regs[b] != regs[c]
                            elif op == GT_F:
                                r = regs[b] > regs[c]
                            else:  # GE_F
                                r = regs[b] >= regs[c]
                            regs[a] = r
                            if draw(fuel, None) is None:
                                break
                            pc = pc + 1 if r else d
                    elif op < 0x20:  # comparisons
                        if op == LT:
                            regs[a] = regs[b] < regs[c]
                        elif op == LE:
                            regs[a] = regs[b] <= regs[c]
                        elif op == EQ:
                            regs[a] = regs[b] == regs[c]
                        elif op == NE:
                            regs[a] = regs[b] != regs[c]
                        elif op == GT:
                            regs[a] = regs[b] > regs[c]
                        elif op == GE:
                            regs[a] = regs[b] >= regs[c]
                        else:  # NOT
                            regs[a] = not regs[b]
                    elif op < 0x30:  # control
                        if op == JMP:
                            pc = a
                        elif op == JMPIF:
                            if regs[a]:
                                pc = b
                        elif op == JMPIFNOT:
                            if not regs[a]:
                                pc = b
                        elif op == CALL:
                            if len(stack) >= max_saved:
                                self._raise(faults.call_depth(max_depth), frames_at(fidx, pc - 1))
                            callee_code, tail, array_registers, param_count, size, value_registers, extra, words = d
                            stack_registers += size
                            if stack_registers > max_stack_registers:
                                failure = faults.stack_registers(stack_registers, max_stack_registers)
                                self._raise(failure, frames_at(fidx, pc - 1))
                            new_regs = regs[b : b + param_count]  # the arguments, then the callee's other registers
                            new_regs += tail
                            if words:  # fresh arrays, maps, structs: paid for before they are made (frame_work)
                                if extra:
                                    if extra > max_instructions - step - 1:
                                        self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                    step += extra
                                    draw(skip(fuel, extra - 1, None), None)
                                alloc += words
                                if alloc > max_alloc:
                                    self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                                for r in array_registers:
                                    new_regs[r] = []
                                for r, make in value_registers:
                                    new_regs[r] = make()
                            stack.append((code, regs, pc, fidx, c, size))
                            code = callee_code
                            regs = new_regs
                            fidx = a
                            pc = 0
                        elif op == RET:
                            result = regs[a]
                            if not stack:
                                if type(result) is list or type(result) is VMap:
                                    size = export_size(result)
                                    if size > max_alloc:
                                        self._raise(
                                            faults.export_too_large(size * WORD, limits.max_allocation),
                                            frames_at(fidx, pc - 1),
                                        )
                                return result, step + 1
                            code, regs, pc, fidx, dst, size = stack.pop()
                            stack_registers -= size
                            if dst >= 0:
                                regs[dst] = result
                        elif op == RETV:
                            if not stack:
                                return None, step + 1
                            code, regs, pc, fidx, _, size = stack.pop()
                            stack_registers -= size
                        elif op == CAPCALL or op == CAPCALL_SIZED:
                            handler = handlers[a]
                            if handler is None:
                                failure = faults.capability_unavailable(capabilities[a].name)
                                self._raise(failure, frames_at(fidx, pc - 1))
                            if op == CAPCALL_SIZED:
                                size, words = export_work_of(regs[b : b + d])
                                if words > max_alloc:
                                    self._raise(
                                        faults.export_too_large(words * WORD, limits.max_allocation),
                                        frames_at(fidx, pc - 1),
                                    )
                                extra = size >> SHIFT
                                if extra:
                                    if extra > max_instructions - step - 1:
                                        self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                    step += extra
                                    draw(skip(fuel, extra - 1, None), None)
                            try:
                                result = handler(regs[b : b + d] if d else [], CallSite(a, fidx, pc - 1, step + 1))
                            except ChronicleError as exc:
                                self._relocate(exc, frames_at(fidx, pc - 1))
                            if c >= 0:
                                if type(result) is str or type(result) is list or type(result) is VMap:
                                    alloc += value_words(result)
                                    if alloc > max_alloc:
                                        self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                                regs[c] = result
                        else:  # TRAP
                            self._raise(faults.trap(a), frames_at(fidx, pc - 1))
                    elif op == GETIDX:
                        array = regs[b]
                        index = regs[c]
                        if 0 <= index < len(array):
                            regs[a] = array[index]
                        else:
                            self._raise(faults.index_out_of_range(index, len(array), "array"), frames_at(fidx, pc - 1))
                    elif op == SETIDX:
                        array = regs[a]
                        index = regs[b]
                        if 0 <= index < len(array):
                            array[index] = regs[c]
                        else:
                            self._raise(faults.index_out_of_range(index, len(array), "array"), frames_at(fidx, pc - 1))
                    elif op == LEN:
                        regs[a] = len(regs[b])
                    elif op == PUSH:
                        array = regs[a]
                        if len(array) >= max_array:
                            self._raise(faults.push_full(max_array), frames_at(fidx, pc - 1))
                        alloc += ITEM
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        array.append(regs[b])
                    elif op >= 0x56:  # the semantics table's rows, maps and structs (internal numbers)
                        if op == _PLAIN:
                            try:
                                regs[a] = d(regs, b, c)
                            except OperandFault as fault:
                                self._raise(fault.failure, frames_at(fidx, pc - 1))
                        elif 0xA0 <= op < 0xA8:  # maps and structs: the values helper's internal numbers
                            if op == _MAPGETD:
                                if d:
                                    extra = len(regs[c]) >> SHIFT
                                    if extra:
                                        if extra > max_instructions - step - 1:
                                            self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                        step += extra
                                        draw(skip(fuel, extra - 1, None), None)
                                regs[a] = regs[b].get(regs[c], regs[a])
                            elif op == _GETFIELD:
                                regs[a] = regs[b][c]
                            elif op == _MAPSET:
                                key = regs[b]
                                if d:
                                    extra = len(key) >> SHIFT
                                    if extra:
                                        if extra > max_instructions - step - 1:
                                            self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                        step += extra
                                        draw(skip(fuel, extra - 1, None), None)
                                mapping = regs[a]
                                if key not in mapping:
                                    if len(mapping) >= max_array:
                                        self._raise(faults.map_full(max_array), frames_at(fidx, pc - 1))
                                    alloc += ENTRY
                                    if alloc > max_alloc:
                                        self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                                    mapping.keyset += 1
                                mapping[key] = regs[c]
                            elif op == _MAPGET:
                                key = regs[c]
                                if d:
                                    extra = len(key) >> SHIFT
                                    if extra:
                                        if extra > max_instructions - step - 1:
                                            self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                        step += extra
                                        draw(skip(fuel, extra - 1, None), None)
                                mapping = regs[b]
                                if key in mapping:
                                    regs[a] = mapping[key]
                                else:
                                    self._raise(faults.key_missing(quote_key(key)), frames_at(fidx, pc - 1))
                            elif op == _MAPHAS:
                                key = regs[c]
                                if d:
                                    extra = len(key) >> SHIFT
                                    if extra:
                                        if extra > max_instructions - step - 1:
                                            self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                        step += extra
                                        draw(skip(fuel, extra - 1, None), None)
                                regs[a] = key in regs[b]
                            elif op == _SETFIELD:
                                regs[a][b] = regs[c]
                            elif op == _STRUCTNEW:
                                extra = c >> SHIFT
                                if extra:
                                    if extra > max_instructions - step - 1:
                                        self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                    step += extra
                                    draw(skip(fuel, extra - 1, None), None)
                                alloc += d
                                if alloc > max_alloc:
                                    self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                                regs[a] = regs[b : b + c]
                            else:  # _MAPDEL
                                key = regs[b]
                                if d:
                                    extra = len(key) >> SHIFT
                                    if extra:
                                        if extra > max_instructions - step - 1:
                                            self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                        step += extra
                                        draw(skip(fuel, extra - 1, None), None)
                                mapping = regs[a]
                                if key in mapping:
                                    del mapping[key]
                                    mapping.keyset += 1
                        elif 0xA8 <= op < 0xAB:  # on private string registers, whose values may be in pieces
                            if op == _LEN_PIECES:
                                left = regs[b]
                                regs[a] = left.n if type(left) is PIECES else len(left)
                                continue
                            if op == _CMP_PIECES:
                                compare, isa_op, joins = d
                                extra = compare_extra(isa_op, piece_length(regs[b]), piece_length(regs[c]))
                            else:  # _RET_PIECES
                                joins = (a,)
                                extra = 0
                            extra += sum(joined_extra(regs[r]) for r in joins)
                            if extra:
                                if extra > max_instructions - step - 1:
                                    self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                step += extra
                                draw(skip(fuel, extra - 1, None), None)
                            for r in joins:
                                if type(regs[r]) is PIECES:
                                    alloc += joined_words(regs[r])
                                    if alloc > max_alloc:
                                        self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                                    regs[r] = joined(regs[r])
                            if op == _CMP_PIECES:
                                regs[a] = compare(regs[b], regs[c])
                                continue
                            result = regs[a]  # ret: a string, so no export check
                            if not stack:
                                return result, step + 1
                            code, regs, pc, fidx, dst, size = stack.pop()
                            stack_registers -= size
                            if dst >= 0:
                                regs[dst] = result
                        elif op == _ORDER_STR:
                            left = regs[b]
                            right = regs[c]
                            extra = min(len(left), len(right)) >> SHIFT
                            if extra:
                                if extra > max_instructions - step - 1:
                                    self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                step += extra
                                draw(skip(fuel, extra - 1, None), None)
                            regs[a] = d(left, right)
                        else:  # _WORK
                            pay, check, act, read, written = d
                            values = read(regs, a, b, c)
                            extra = pay(values, max_string)
                            if extra:
                                if extra > max_instructions - step - 1:
                                    self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                step += extra
                                draw(skip(fuel, extra - 1, None), None)
                            try:
                                alloc += check(values, max_string, max_array)
                            except OperandFault as fault:
                                self._raise(fault.failure, frames_at(fidx, pc - 1))
                            if alloc > max_alloc:
                                self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                            if written:
                                regs[a] = act(values)
                            else:
                                act(values)
                    elif op == CONCAT:
                        left = regs[b]
                        right = regs[c]
                        if d:  # an append to a private string (costs.private_strings): it costs what it appends
                            if d == 1:
                                grow = len(right)
                                size = (left.n if type(left) is PIECES else len(left)) + grow
                                extra = grow >> SHIFT
                            else:  # s = s + s: the join of s (when in pieces) first, in the same charge
                                grow = piece_length(left)
                                size = 2 * grow
                                extra = joined_extra(left) + (grow >> SHIFT)
                            if extra:
                                if extra > max_instructions - step - 1:
                                    self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                step += extra
                                draw(skip(fuel, extra - 1, None), None)
                            if size > max_string:
                                self._raise(faults.string_too_long(size, max_string), frames_at(fidx, pc - 1))
                            if d == 2:
                                alloc += joined_words(left)
                                left = right = joined(left)
                            alloc += grow
                            if alloc > max_alloc:
                                self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                            if type(left) is PIECES:
                                if right:  # not an empty part: its pointer would be held uncounted
                                    left.parts.append(right)
                                left.n = size
                            elif size < PIECES_FROM or not left or not right:
                                regs[a] = left + right
                            else:
                                regs[a] = PIECES([left, right], size)
                            continue
                        size = len(left) + len(right)
                        if size > cut:  # one test on the common path for the extra charge and max_string_len
                            extra = size >> SHIFT
                            if extra:
                                if extra > max_instructions - step - 1:
                                    self._unpaid(extra, step, frames_at(fidx, pc - 1))
                                step += extra
                                draw(skip(fuel, extra - 1, None), None)
                            if size > max_string:
                                self._raise(faults.string_too_long(size, max_string), frames_at(fidx, pc - 1))
                        alloc += STR + size
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        regs[a] = left + right
                    elif op == TOSTR_INT:
                        text = str(regs[b])
                        if len(text) > max_string:
                            self._raise(faults.string_too_long(len(text), max_string), frames_at(fidx, pc - 1))
                        alloc += STR + len(text)
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        regs[a] = text
                    elif op == TOSTR_STR:
                        regs[a] = regs[b]
                    elif op == TOSTR_BOOL:
                        text = "true" if regs[b] else "false"
                        if len(text) > max_string:
                            self._raise(faults.string_too_long(len(text), max_string), frames_at(fidx, pc - 1))
                        alloc += STR + len(text)
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        regs[a] = text
                    elif op == NEWARR:
                        alloc += LIST
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        regs[a] = []
                    elif op == POP:
                        array = regs[b]
                        if not array:
                            self._raise(faults.pop_empty(), frames_at(fidx, pc - 1))
                        regs[a] = array.pop()
                    elif op == CHARAT:
                        text = regs[b]
                        index = regs[c]
                        if 0 <= index < len(text):
                            if max_string < 1:
                                self._raise(faults.string_too_long(1, max_string), frames_at(fidx, pc - 1))
                            alloc += STR + 1
                            if alloc > max_alloc:
                                self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                            regs[a] = text[index]
                        else:
                            self._raise(faults.index_out_of_range(index, len(text), "string"), frames_at(fidx, pc - 1))
                    elif op == SLICE:
                        text = regs[b]
                        length = len(text)
                        lo = min(max(regs[c], 0), length)
                        hi = min(max(regs[c + 1], 0), length)
                        extra = (hi - lo) >> SHIFT if lo < hi else 0
                        if extra:
                            if extra > max_instructions - step - 1:
                                self._unpaid(extra, step, frames_at(fidx, pc - 1))
                            step += extra
                            draw(skip(fuel, extra - 1, None), None)
                        piece = text[lo:hi] if lo < hi else ""
                        alloc += STR + len(piece)
                        if alloc > max_alloc:
                            self._raise(faults.allocation(limits.max_allocation), frames_at(fidx, pc - 1))
                        regs[a] = piece
                    elif op == _LOADK_OVERSIZE:
                        self._raise(faults.string_too_long(b, max_string), frames_at(fidx, pc - 1))
                    elif op == _CALL_WIDE:
                        if len(stack) >= max_saved:
                            self._raise(faults.call_depth(max_depth), frames_at(fidx, pc - 1))
                        failure = faults.registers(self.module.functions[a].name, d[4], max_registers)
                        self._raise(failure, frames_at(fidx, pc - 1))
                    else:
                        extra = string_extra(_COST_OP.get(op) or op, regs[b], regs[c], max_string)
                        if extra:
                            if extra > max_instructions - step - 1:
                                self._unpaid(extra, step, frames_at(fidx, pc - 1))
                            step += extra
                            draw(skip(fuel, extra - 1, None), None)
                        alloc = self._string_op(op, a, b, c, regs, alloc, frames_at(fidx, pc - 1))
                # The range ran out: a slice end (go on after the deadline and cancel checks), or the run's fuel.
                spent = max(slice_end, step + 1)  # a charge may have set the range past its end
                if control is None or spent >= max_instructions:
                    break
                stopped = control.check(spent)
                if stopped is not None:
                    return self._raise(stopped, frames_at(fidx, pc))
                slice_end = min(spent + FUEL_SLICE, max_instructions)
                fuel = iter(range(spent, slice_end))
            failure = faults.instructions(max_instructions)
            failure[3]["instructions"] = max_instructions
            return self._raise(failure, frames_at(fidx, pc))
        except ChronicleError as exc:
            # Every failure says how many instructions had started, the failing one included.
            exc.details.setdefault("instructions", step + 1)
            raise

    # -- the rarer string operations, kept out of the loop's body --------------------------------------------------

    def _string_op(
        self, op: int, a: int, b: int, c: int, regs: list[Any], alloc: int, frames: list[tuple[int, int]]
    ) -> int:
        if op == _EQ_STR:
            regs[a] = regs[b] == regs[c]
            return alloc
        if op == _NE_STR:
            regs[a] = regs[b] != regs[c]
            return alloc
        if op == Op.CONTAINS:
            regs[a] = regs[c] in regs[b]
            return alloc
        if op == Op.FIND:
            regs[a] = regs[b].find(regs[c])
            return alloc
        if op == Op.PARSEINT:
            regs[a] = self._parse_int(regs[b], frames)
            return alloc
        if op == Op.SPLIT:
            return self._split(a, b, c, regs, alloc, frames)
        result = self._text_result(op, regs[b], regs[c], frames)
        regs[a] = result
        return self._charge(alloc, STR_WORDS + len(result), frames)

    def _parse_int(self, text: str, frames: list[tuple[int, int]]) -> int:
        if not (isinstance(text, str) and _INT_TEXT.fullmatch(text)):
            self._raise(faults.not_decimal(_quote(text)), frames)
        number = int(text)
        if not I64_MIN <= number <= I64_MAX:
            self._raise(faults.outside_64_bits(_quote(text)), frames)
        return number

    def _split(self, a: int, b: int, c: int, regs: list[Any], alloc: int, frames: list[tuple[int, int]]) -> int:
        limits = self.limits
        text = regs[b]
        separator = regs[c]
        assert isinstance(text, str) and isinstance(separator, str)
        if not separator:
            self._raise(faults.empty_separator(), frames)
        pieces = text.count(separator) + 1
        if pieces > limits.max_array_len:
            self._raise(faults.array_too_long(pieces, self.limits.max_array_len), frames)
        # The array, and each piece a string: their characters are at most the text's.
        alloc = self._charge(alloc, LIST_WORDS + (ITEM_WORDS + STR_WORDS) * pieces + len(text), frames)
        regs[a] = text.split(separator)
        return alloc

    def _text_result(self, op: int, left: Any, right: Any, frames: list[tuple[int, int]]) -> str:
        """The new string of `join`, `repeat`, `upper`, `lower` or `trim`, checked against max_string_len."""
        limits = self.limits
        result: str
        if op == Op.JOIN:
            items, separator = left, right
            assert isinstance(items, list) and isinstance(separator, str)
            size = sum(len(item) for item in items) + len(separator) * max(len(items) - 1, 0)
            if size > limits.max_string_len:
                self._raise(faults.string_too_long(size, limits.max_string_len), frames)
            return separator.join(items)
        if op == Op.REPEAT:
            text, times = left, right
            assert isinstance(text, str) and isinstance(times, int)
            size = len(text) * times if times > 0 else 0
            if size > limits.max_string_len:
                self._raise(faults.string_too_long(size, limits.max_string_len), frames)
            return text * times if times > 0 else ""
        assert isinstance(left, str)
        if op == Op.UPPER:  # fixed tables, not str.upper(): the same bytes on every Python (casemap)
            result = fixed_upper(left)
        elif op == Op.LOWER:
            result = fixed_lower(left)
        elif op == Op.TRIM:
            result = fixed_trim(left)
        else:  # pragma: no cover - the verifier admits no other opcode
            raise AssertionError(f"unhandled opcode {op}")
        if len(result) > limits.max_string_len:
            self._raise(faults.string_too_long(len(result), limits.max_string_len), frames)
        return result

    def _unpaid(self, extra: int, step: int, frames: list[tuple[int, int]]) -> NoReturn:
        """Stop before an instruction whose fuel (1 + `extra`) exceeds what is left after `step` units spent."""
        max_instructions = self.limits.max_instructions
        failure = faults.unpaid(max_instructions, extra + 1, max_instructions - step)
        failure[3]["instructions"] = step
        self._raise(failure, frames)

    def _charge(self, alloc: int, units: int, frames: list[tuple[int, int]]) -> int:
        alloc += units
        if alloc > self.limits.max_allocation // WORD:
            self._raise(faults.allocation(self.limits.max_allocation), frames)
        return alloc


def run_entry(
    verified: VerifiedModule,
    entry: str,
    args: Sequence[object],
    *,
    limits: Limits | None = None,
    handlers: Sequence[CapabilityHandler | None] = (),
) -> RunOutcome:
    """Run one entry of a verified module with raw handlers (no policy): a convenience for tests and tools."""
    return Interpreter(verified, limits if limits is not None else Limits(), handlers).call(entry, args)
