"""What each run-time failure says: takes the facts of one failure, gives its error class, code, message and details.

Both engines build their traps and limit errors here, so a failure reads the
same whichever engine ran (the tests compare the two exactly, and traces
recorded on either are byte-identical).  Each engine then adds the location,
the call stack and the instruction count its own way.
"""

from __future__ import annotations

from typing import Any

from chronicle_vm.core.quoting import quote_text
from chronicle_vm.errors import ChronicleError, ExecutionError, ResourceLimitError, declare_codes

__all__ = ["Failure", "OperandFault", "quote_operand"]

declare_codes(
    "runtime",
    {
        "division-by-zero": "div or mod by zero",
        "index-out-of-range": "an array or string index outside 0..len-1",
        "pop-empty": "pop from an empty array",
        "parse-int": "parse_int on text that is not a decimal int in signed 64 bits",
        "empty-separator": "split with an empty separator",
        "trap": "the plugin executed a trap instruction (for example a missing return)",
        "capability-unavailable": "a capability call without a handler (the host granted nothing for it)",
        "bad-operand": "an operand outside its instruction's domain (for example `ord` of a string not one character)",
        "shift-count": "shl or shr by a count outside 0..63",
        "empty-pattern": "replace with an empty text to replace",
        "key-missing": "a map read (`m[k]`, mapget) of a key the map does not hold",
        "map-changed": "a map's set of keys changed while a loop iterated over it (mapcheck)",
    },
)
declare_codes(
    "runtime",
    {
        "float-nonfinite": "a float operation whose IEEE result would be an infinity or a NaN (floats stay finite)",
        "float-range": "int, floor, ceil or round of a float outside the signed 64-bit range",
        "parse-float": "parse_float on text that is not a decimal float literal",
    },
)
declare_codes(
    "limit",
    {
        "instructions": "max_instructions reached: the run stopped before the next instruction",
        "call-depth": "max_call_depth reached by a call",
        "registers": "a frame needs more registers than max_registers",
        "stack-registers": "live frames together need more registers than max_stack_registers",
        "array-len": "an array would grow beyond max_array_len",
        "string-len": "a string would grow beyond max_string_len",
        "allocation": "the run would allocate more than max_allocation bytes (by the estimate of docs/isa.md)",
    },
)

#: (error class, code, message without location, details)
Failure = tuple[type[ChronicleError], str, str, dict[str, Any]]


def quote_operand(value: object) -> str:
    """An operand's value as a message shows it: quoted, cut after 40 characters."""
    text = str(value)
    return quote_text(text if len(text) <= 40 else text[:40] + "...")  # not repr(): it follows the Unicode database


def _trap(code: str, message: str, **details: Any) -> Failure:
    return ExecutionError, code, message, details


def _limit(code: str, limit: str, value: int, message: str) -> Failure:
    return ResourceLimitError, code, message, {"limit": limit, "value": value}


# -- traps --------------------------------------------------------------------------------------------------------


def division_by_zero(modulo: bool) -> Failure:
    return _trap("runtime.division-by-zero", "modulo by zero" if modulo else "division by zero")


def index_out_of_range(index: int, length: int, container: str) -> Failure:
    """`container` is "array" or "string"."""
    article = "an" if container == "array" else "a"
    return _trap(
        "runtime.index-out-of-range", f"index {index} is out of range for {article} {container} of length {length}"
    )


def pop_empty() -> Failure:
    return _trap("runtime.pop-empty", "pop from an empty array")


def not_decimal(quoted: str) -> Failure:
    return _trap("runtime.parse-int", f"{quoted} is not a decimal int")


def outside_64_bits(quoted: str) -> Failure:
    return _trap("runtime.parse-int", f"{quoted} is outside signed 64 bits")


def empty_separator() -> Failure:
    return _trap("runtime.empty-separator", "split with an empty separator")


def insert_position(index: int, length: int) -> Failure:
    """`insert` at an index outside 0..len (inserting at len appends)."""
    return _trap(
        "runtime.index-out-of-range",
        f"insert index {index} is outside 0..{length} for an array of length {length}",
    )


def shift_count(instruction: str, count: int) -> Failure:
    return _trap("runtime.shift-count", f"{instruction} by {count}: a shift count must be in 0..63")


def empty_pattern() -> Failure:
    return _trap("runtime.empty-pattern", "replace with an empty text to replace")


def float_nonfinite(instruction: str, operands: str) -> Failure:
    """A float result that would be inf or NaN: `operands` shows the inputs (`1e+308 * 10.0`, `sqrt(-1.0)`)."""
    return _trap("runtime.float-nonfinite", f"{instruction} {operands}: the result is not a finite float")


def float_range(instruction: str, value: float) -> Failure:
    return _trap("runtime.float-range", f"{instruction} of {value!r}: the result is outside signed 64 bits")


def parse_float(quoted: str) -> Failure:
    return _trap("runtime.parse-float", f"{quoted} is not a decimal float")


def key_missing(quoted: str) -> Failure:
    return _trap("runtime.key-missing", f"key {quoted} is not in the map")


def map_changed() -> Failure:
    return _trap("runtime.map-changed", "the map's keys changed while a loop iterated over it")


def map_full(max_array: int) -> Failure:
    message = f"a new key would grow a map beyond max_array_len {max_array} entries"
    return _limit("limit.array-len", "max_array_len", max_array, message)


def trap(message: str) -> Failure:
    return _trap("runtime.trap", f"trap: {message}", trap=message)


def bad_operand(instruction: str, expected: str, quoted: str) -> Failure:
    """An operand a semantics row's `value` function refuses (it raises OperandFault with this)."""
    return _trap("runtime.bad-operand", f"{instruction} expects {expected}, got {quoted}")


class OperandFault(Exception):
    """Raised by a semantics row's `value` function: the operands are outside the operation's domain."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure[2])
        self.failure = failure


def capability_unavailable(name: str) -> Failure:
    return _trap("runtime.capability-unavailable", f"capability `{name}` has no handler", capability=name)


# -- limits reached while running ------------------------------------------------------------------------------


def instructions(max_instructions: int) -> Failure:
    message = f"max_instructions {max_instructions} reached"
    return _limit("limit.instructions", "max_instructions", max_instructions, message)


def unpaid(max_instructions: int, cost: int, left: int) -> Failure:
    """An instruction whose cost-model-2 fuel exceeds what is left: the run stops before it."""
    message = f"max_instructions {max_instructions} reached: the next instruction costs {cost}, {left} left"
    return _limit("limit.instructions", "max_instructions", max_instructions, message)


def export_too_large(size: int, max_alloc: int) -> Failure:
    """A value leaving the VM whose size as a tree (shared arrays counted each time) exceeds max_allocation."""
    message = f"a value leaving the VM takes {size} bytes as a tree; max_allocation is {max_alloc}"
    return _limit("limit.allocation", "max_allocation", max_alloc, message)


def call_depth(max_depth: int) -> Failure:
    message = f"call depth would exceed max_call_depth {max_depth}"
    return _limit("limit.call-depth", "max_call_depth", max_depth, message)


def registers(function: str, size: int, max_registers: int) -> Failure:
    message = f"function `{function}` needs {size} registers; max_registers is {max_registers}"
    return _limit("limit.registers", "max_registers", max_registers, message)


def stack_registers(needed: int, max_stack_registers: int) -> Failure:
    message = f"live frames would need {needed} registers; max_stack_registers is {max_stack_registers}"
    return _limit("limit.stack-registers", "max_stack_registers", max_stack_registers, message)


def push_full(max_array: int) -> Failure:
    message = f"push would grow an array beyond max_array_len {max_array}"
    return _limit("limit.array-len", "max_array_len", max_array, message)


def array_too_long(size: int, max_array: int) -> Failure:
    message = f"an array of {size} items would exceed max_array_len {max_array}"
    return _limit("limit.array-len", "max_array_len", max_array, message)


def string_too_long(size: int, max_string: int) -> Failure:
    message = f"a string of {size} characters would exceed max_string_len {max_string}"
    return _limit("limit.string-len", "max_string_len", max_string, message)


def allocation(max_alloc: int) -> Failure:
    message = f"the run would allocate more than max_allocation {max_alloc} bytes"
    return _limit("limit.allocation", "max_allocation", max_alloc, message)


def arguments_allocation(units: int, max_alloc: int) -> Failure:
    message = f"arguments allocate {units} bytes; max_allocation is {max_alloc}"
    return _limit("limit.allocation", "max_allocation", max_alloc, message)
