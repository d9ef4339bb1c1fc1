"""The verifier's map and struct rules: takes one instruction and its function's register types, gives the problem.

The map and struct instructions (`mapnew` .. `setfield`) have operand rules
that relate whole types to each other (`K` and `V` of a map operand, field i
of a struct operand), so they are checked here from the registers' declared
`ValueType`s and the module's struct table rather than through the
verifier's type ids.  `chronicle_vm.verifier.rules` calls `problem` from its
generated fast path and from its reference diagnosis alike, so both accept
exactly the same instructions.  The generic checks (register bounds, fixed
int and bool operands, unused operands) have already run.
"""

from __future__ import annotations

from collections.abc import Sequence

from chronicle_vm.core.isa import OPCODES, STRUCTURED_OPS, Op, OperandKind, TypeRule
from chronicle_vm.core.structured import MAX_ZERO_ITEMS, Structs, struct_fields, type_text, zero_items
from chronicle_vm.core.types import TypeKind, ValueType
from chronicle_vm.errors import declare_codes

__all__ = ["STRUCTURED_OPS", "problem", "zero_problem"]

declare_codes(
    "verify",
    {
        "zero-size": "a struct register's zero value would hold more fields than the bound (nested structs counted)",
    },
)

_LETTERS = ("a", "b", "c")

Problem = tuple[str, str]


def problem(op: int, a: int, b: int, c: int, registers: Sequence[ValueType], structs: Structs) -> Problem | None:
    """The (code, message) of the rule a map or struct instruction breaks, or None when it is valid."""
    info = OPCODES[op]
    operands = (a, b, c)
    mnemonic = info.name

    def show(r: int) -> str:
        return f"r{r}: {type_text(registers[r], structs)}"

    if op == Op.STRUCTNEW:
        return _structnew(mnemonic, a, b, registers, structs, show)
    map_type: ValueType | None = None
    struct: ValueType | None = None
    for pos, operand in enumerate(info.operands):
        if operand.rule is TypeRule.MAP:
            map_type = registers[operands[pos]]
            if map_type.kind is not TypeKind.MAP:
                return (
                    "register-type",
                    f"`{mnemonic}` operand {_LETTERS[pos]} must be a map, found {show(operands[pos])}",
                )
        elif operand.rule is TypeRule.STRUCT:
            struct = registers[operands[pos]]
            if struct.kind is not TypeKind.STRUCT:
                return "register-type", (
                    f"`{mnemonic}` operand {_LETTERS[pos]} must be a struct, found {show(operands[pos])}"
                )
    field_type: ValueType | None = None
    if struct is not None:
        fields = struct_fields(struct, structs)
        index = next(operands[pos] for pos, o in enumerate(info.operands) if o.kind is OperandKind.IMM)
        if not 0 <= index < len(fields):
            name = type_text(struct, structs)
            return "immediate", (
                f"`{mnemonic}` names field {index}, but struct {name} has fields 0..{len(fields) - 1}"
                if fields
                else f"`{mnemonic}` names field {index}, but struct {name} has no fields"
            )
        field_type = fields[index].type
    for pos, operand in enumerate(info.operands):
        want = _wanted(operand.rule, map_type, field_type)
        if want is None:
            continue
        found = registers[operands[pos]]
        if found != want:
            return "register-type", (
                f"`{mnemonic}` operand {_LETTERS[pos]} must be {type_text(want, structs)} "
                f"({_RULE_WORDS[operand.rule]}), found {show(operands[pos])}"
            )
    return None


_RULE_WORDS = {
    TypeRule.KEY: "the map's key type",
    TypeRule.VALUE: "the map's value type",
    TypeRule.KEYS: "an array of the map's keys",
    TypeRule.VALUES: "an array of the map's values",
    TypeRule.FIELD: "the field's type",
}


def _wanted(rule: TypeRule, map_type: ValueType | None, field_type: ValueType | None) -> ValueType | None:
    if map_type is not None:
        key, value = map_type.args
        if rule is TypeRule.KEY:
            return key
        if rule is TypeRule.VALUE:
            return value
        if rule is TypeRule.KEYS:
            return key.array_of()
        if rule is TypeRule.VALUES:
            return value.array_of()
    if rule is TypeRule.FIELD:
        return field_type
    return None


def _structnew(
    mnemonic: str, a: int, b: int, registers: Sequence[ValueType], structs: Structs, show: object
) -> Problem | None:
    made = registers[a]
    if made.kind is not TypeKind.STRUCT:
        return "register-type", f"`{mnemonic}` operand a must be a struct, found r{a}: {type_text(made, structs)}"
    fields = struct_fields(made, structs)
    name = type_text(made, structs)
    if not fields:
        if b != 0:
            return "unused-operand", f"struct {name} has no fields, so `{mnemonic}` operand b must be 0; found {b}"
        return None
    if not 0 <= b <= len(registers) - len(fields):
        return "register-bounds", (
            f"`{mnemonic}` reads the {len(fields)} fields of {name} from registers r{b}.., "
            f"but the function has registers 0..{len(registers) - 1}"
        )
    for k, declared in enumerate(fields):
        found = registers[b + k]
        if found != declared.type:
            return "register-type", (
                f"field {k} `{declared.name}` of {name} must be {type_text(declared.type, structs)}, "
                f"found r{b + k}: {type_text(found, structs)}"
            )
    return None


def zero_problem(
    registers: Sequence[ValueType], param_count: int, structs: Structs, sizes: dict[int, int] | None = None
) -> tuple[int, str] | None:
    """A struct register whose zero value would be too big: (register, message), or None.

    `sizes` remembers each struct's zero size across the module's functions (by struct index).
    """
    known = {} if sizes is None else sizes
    for index, vtype in enumerate(registers):
        if index >= param_count and vtype.kind is TypeKind.STRUCT:
            size = known.get(vtype.ref)
            if size is None:
                size = known[vtype.ref] = zero_items(vtype, structs)
            if size > MAX_ZERO_ITEMS:
                return index, (
                    f"register r{index}: a fresh {type_text(vtype, structs)} would hold more than {MAX_ZERO_ITEMS} "
                    "fields (nested structs counted); hold the inner structs in arrays or maps instead"
                )
    return None
