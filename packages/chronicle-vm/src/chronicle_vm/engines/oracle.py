"""The reference interpreter: takes a VerifiedModule, limits and handlers, gives a result or a structured error.

It is the oracle every other engine is tested against, so it is written to be
obviously correct rather than fast: one instruction at a time, each run by its
row's `step` in chronicle_vm.engines.semantics (the table says what every
opcode does; this module only keeps frames, fuel and allocation), fuel
counted exactly by one integer.  Plugin calls use an explicit frame stack,
never Python recursion.  Verification already guaranteed operand bounds,
register types, jump targets and call signatures; the steps check only what
depends on run-time values.  The fused interpreter (chronicle_vm.engines.reference.Interpreter)
and the compiled engine must give the same results, counts, errors and traces.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.isa import CHARS_PER_FUEL
from chronicle_vm.core.model import Module
from chronicle_vm.core.structured import VMap, struct_fields
from chronicle_vm.core.type_registry import is_sized
from chronicle_vm.core.values import Value, export_value
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits

from . import faults
from .control import FUEL_SLICE
from .costs import WORD, PrivateStrings, export_size, export_work_of, frame_work, private_strings, value_words
from .entry import RunOutcome, describe, handler_table, locate, prepare_call, zero_maker
from .entry import structs_of as _structs
from .semantics import SEMANTICS, Step, require_complete

if TYPE_CHECKING:
    from chronicle_vm.verifier.rules import VerifiedModule

    from .control import RunControl

__all__ = ["Oracle"]

_SHIFT = CHARS_PER_FUEL.bit_length() - 1

#: Every opcode's step, by opcode number: exactly the semantics table's rows.
_STEPS: dict[int, Step] = {number: row.run() for number, row in SEMANTICS.items()}
require_complete("the reference interpreter", _STEPS)


@dataclass(slots=True)
class _Frame:
    """A caller waiting for its callee: where it resumes and where the callee's result goes."""

    function: int
    pc: int  # the instruction after the call
    regs: list[Any]
    result: int  # the destination register, or -1 for a callee without result
    size: int  # the callee's registers, counted against max_stack_registers while it runs


class Oracle:
    """Runs functions of one verified module under fixed limits and capability handlers, one step at a time."""

    def __init__(
        self, verified: VerifiedModule, limits: Limits, handlers: Sequence[CapabilityHandler | None] = ()
    ) -> None:
        self.verified = verified
        self.module: Module = verified.module
        self.limits = limits
        self.handlers = handler_table(self.module, handlers)
        #: Per function, what its frame's fresh values cost (costs.frame_work) and each register's zero maker.
        self.layouts: dict[int, tuple[tuple[int, int], tuple[Callable[[], Value], ...]]] = {}
        #: Per function, its private string registers and the instructions on them (costs.private_strings), found
        #: on first use.
        self.private: dict[int, PrivateStrings] = {}

    def call(
        self,
        entry: str,
        args: Sequence[object],
        *,
        handlers: Sequence[CapabilityHandler | None] | None = None,
        control: RunControl | None = None,
    ) -> RunOutcome:
        """Run exported function `entry` with host arguments (checked against its parameter types first)."""
        index, values, units = prepare_call(self.verified, self.limits, entry, args)
        if handlers is not None:
            self.handlers = handler_table(self.module, handlers)
        result, count = _Run(self, control).run(index, values, units)
        return RunOutcome(export_value(result) if result is not None else None, count)

    def location(self, function: int, index: int) -> dict[str, Any]:
        return locate(self.module, function, index)


class _Run:
    """One call's state: the Machine that the semantics table's steps act on."""

    def __init__(self, oracle: Oracle, control: RunControl | None) -> None:
        self.oracle = oracle
        self.module = oracle.module
        self.limits = oracle.limits
        self.control = control
        self.max_string = self.limits.max_string_len
        self.max_array = self.limits.max_array_len
        self.max_words = self.limits.max_allocation // WORD  # allocation is counted in words (costs.py)
        self.regs: list[Any] = []
        self.stack: list[_Frame] = []
        self.function = 0
        self.pc = 0  # the next instruction
        self.at = 0  # the current instruction
        self.used = 0  # fuel spent: instructions started plus cost model 2's extra charges
        self.alloc = 0
        self.stack_registers = 0
        self.finished = False
        self.result: Value | None = None

    # -- the loop ---------------------------------------------------------------------------------------------

    def run(self, entry: int, args: list[Value], units: int) -> tuple[Value | None, int]:
        limits = self.limits
        function = self.module.functions[entry]
        size = len(function.registers)
        self.function = entry
        if size > limits.max_registers:
            self._refuse(faults.registers(function.name, size, limits.max_registers))
        if size > limits.max_stack_registers:
            self._refuse(faults.stack_registers(size, limits.max_stack_registers))
        if limits.max_call_depth < 1:
            self._refuse(faults.call_depth(limits.max_call_depth))
        if units > self.max_words:
            self._refuse(faults.arguments_allocation(units * WORD, limits.max_allocation))
        fresh_fuel, fresh_words = self._layout(entry)[0]  # the entry frame's fresh values
        if units + fresh_words > self.max_words:
            self._refuse(faults.allocation(limits.max_allocation))
        # Fuel comes in slices when a deadline or cancel handle is set, checked where a slice ends (control.py).
        slice_end = limits.max_instructions
        if self.control is not None:
            stopped = self.control.check(0)
            if stopped is not None:
                self._refuse(stopped)
            slice_end = min(FUEL_SLICE, limits.max_instructions)
        if fresh_fuel > limits.max_instructions:  # the entry frame's fresh values, paid before the first instruction
            self._refuse(faults.instructions(limits.max_instructions))
        self.used = fresh_fuel
        self.regs = self._frame(entry, args)
        self.stack_registers = size
        self.alloc = units + fresh_words
        try:
            while not self.finished:
                if self.used >= slice_end:
                    slice_end = self._next_slice()
                code = self.module.functions[self.function].code
                op, a, b, c = code[self.pc]
                self.at = self.pc
                self.pc += 1
                self.used += 1
                _STEPS[op](self, a, b, c)
        except ChronicleError as exc:
            exc.details.setdefault("instructions", self.used)
            raise
        return self.result, self.used

    def _next_slice(self) -> int:
        """The fuel up to the end of the next slice, or the stop where the run's fuel or time is over."""
        max_instructions = self.limits.max_instructions
        if self.control is None or self.used >= max_instructions:
            failure = faults.instructions(max_instructions)
            failure[3]["instructions"] = max_instructions
            self._raise(failure, self._frames(self.pc))
        stopped = self.control.check(self.used)
        if stopped is not None:
            self._raise(stopped, self._frames(self.pc))
        return min(self.used + FUEL_SLICE, max_instructions)

    def _frame(self, function: int, args: list[Value]) -> list[Any]:
        """Fresh registers of `function`: its arguments, then each other register's zero (a new array each)."""
        makers = self._layout(function)[1]
        return list(args) + [make() for make in makers[len(args) :]]

    def _layout(self, function: int) -> tuple[tuple[int, int], tuple[Callable[[], Value], ...]]:
        known = self.oracle.layouts.get(function)
        if known is None:
            callee, structs = self.module.functions[function], _structs(self.module)
            makers = tuple(zero_maker(vtype, structs) for vtype in callee.registers)
            known = self.oracle.layouts[function] = (frame_work(callee, structs), makers)
        return known

    # -- the Machine the steps see ------------------------------------------------------------------------------

    def constant(self, index: int) -> Value:
        return self.module.constants[index]

    def struct_size(self, register: int) -> int:
        vtype = self.module.functions[self.function].registers[register]
        return len(struct_fields(vtype, _structs(self.module)))

    def pay(self, extra: int) -> None:
        if not extra:
            return
        max_instructions = self.limits.max_instructions
        if extra > max_instructions - self.used:
            before = self.used - 1  # the fuel spent before this instruction
            failure = faults.unpaid(max_instructions, extra + 1, max_instructions - before)
            failure[3]["instructions"] = before
            self.fail(failure)
        self.used += extra

    def _private(self) -> PrivateStrings:
        known = self.oracle.private
        found = known.get(self.function)
        if found is None:
            found = known[self.function] = private_strings(self.module.functions[self.function], self.module)
        return found

    def private_append(self) -> bool:
        return self.at in self._private().appends

    def private_read(self) -> bool:
        return self.at in self._private().reads

    def private(self, register: int) -> bool:
        return register in self._private().registers

    def allocate(self, words: int) -> None:
        self.alloc += words
        if self.alloc > self.max_words:
            self.fail(faults.allocation(self.limits.max_allocation))

    def fail(self, failure: faults.Failure) -> NoReturn:
        self._raise(failure, self._frames(self.at))

    def jump(self, target: int) -> None:
        self.pc = target

    def call(self, function: int, first: int, result: int) -> None:
        limits = self.limits
        if len(self.stack) >= limits.max_call_depth - 1:
            self.fail(faults.call_depth(limits.max_call_depth))
        callee = self.module.functions[function]
        size = len(callee.registers)
        if size > limits.max_registers:
            self.fail(faults.registers(callee.name, size, limits.max_registers))
        self.stack_registers += size
        if self.stack_registers > limits.max_stack_registers:
            self.fail(faults.stack_registers(self.stack_registers, limits.max_stack_registers))
        extra, words = self._layout(function)[0]  # its fresh values, paid before they are made (frame_work)
        self.pay(extra)
        if words:
            self.allocate(words)
        destination = result if callee.result is not None else -1
        self.stack.append(_Frame(self.function, self.pc, self.regs, destination, size))
        self.regs = self._frame(function, self.regs[first : first + callee.param_count])
        self.function = function
        self.pc = 0

    def capcall(self, capability: int, first: int, result: int) -> None:
        handler = self.oracle.handlers[capability]
        declared = self.module.capabilities[capability]
        if handler is None:
            self.fail(faults.capability_unavailable(declared.name))
        args = self.regs[first : first + len(declared.params)]
        if any(is_sized(vtype) for vtype in declared.params):
            size, words = export_work_of(args)
            if words > self.max_words:
                self.fail(faults.export_too_large(words * WORD, self.limits.max_allocation))
            self.pay(size >> _SHIFT)
        try:
            answer = handler(args, CallSite(capability, self.function, self.at, self.used))
        except ChronicleError as exc:
            self._relocate(exc)
        if declared.result is not None:
            if type(answer) is str or type(answer) is list or type(answer) is VMap:
                self.allocate(value_words(answer))
            self.regs[result] = answer

    def ret(self, value: Value | None) -> None:
        if not self.stack:
            if type(value) is list or type(value) is VMap:
                size = export_size(value)
                if size > self.max_words:
                    self.fail(faults.export_too_large(size * WORD, self.limits.max_allocation))
            self.finished = True
            self.result = value
            return
        caller = self.stack.pop()
        self.stack_registers -= caller.size
        self.function, self.pc, self.regs = caller.function, caller.pc, caller.regs
        if caller.result >= 0:
            self.regs[caller.result] = value

    # -- errors -------------------------------------------------------------------------------------------------

    def _frames(self, index: int) -> list[tuple[int, int]]:
        """(function, instruction) of every live frame, innermost (at `index`) last."""
        return [(frame.function, frame.pc - 1) for frame in self.stack] + [(self.function, index)]

    def _refuse(self, failure: faults.Failure) -> NoReturn:
        """A limit the entry call breaks before its first instruction."""
        failure[3]["instructions"] = 0
        self._raise(failure, [(self.function, 0)])

    def _raise(self, failure: faults.Failure, frames: list[tuple[int, int]]) -> NoReturn:
        error, code, message, details = failure
        stack = [self.oracle.location(function, index) for function, index in frames]
        raise error(code, f"{message} {describe(stack[-1])}", location=stack[-1], stack=stack, **details)

    def _relocate(self, exc: ChronicleError) -> NoReturn:
        """A handler's error (quota, host failure) gains the call site's location and stack."""
        stack = [self.oracle.location(function, index) for function, index in self._frames(self.at)]
        exc.details.setdefault("location", stack[-1])
        exc.details.setdefault("stack", stack)
        raise exc
