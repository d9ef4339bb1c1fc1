"""Negative tests: one or more modules per verifier rule, each asserting the code, function and instruction index."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from chronicle_testing.verify_builders import every_opcode_module, fn, ins, module, positions
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    STR,
    BaseType,
    StructDef,
    StructField,
    ValueType,
    array_type,
    map_type,
    struct_type,
)
from chronicle_vm.errors import VerifyError, declared_codes
from chronicle_vm.verifier.rules import verify

INT_ARRAY = array_type(BaseType.INT, 1)
STR_ARRAY = array_type(BaseType.STR, 1)
LOG = Capability("log.info", (STR,), None)
NOW = Capability("clock.now", (), INT)


def v2(*structs: StructDef, registers: tuple[ValueType, ...] = (INT, INT, INT)) -> Module:
    """`one` (returning r0) with a struct table, written as version 2."""
    return dataclasses.replace(one(ins("ret", 0), registers=registers), structs=structs, version=2)


def _nested_maps(levels: int) -> ValueType:
    vtype = INT
    for _ in range(levels):
        vtype = map_type(STR, vtype)
    return vtype


def one(
    *code: Instruction,
    registers: tuple[ValueType, ...] = (INT, INT, INT),
    result: ValueType | None = INT,
    params: int = 0,
    constants: tuple[int | str, ...] = (7, "s"),
    capabilities: tuple[Capability, ...] = (LOG, NOW),
    extra: tuple[Function, ...] = (),
) -> Module:
    """A module whose function 0 is `main` with the given code (plus `extra` functions after it)."""
    main = fn("main", code, registers=registers, params=params, result=result, exported=True)
    return module(main, *extra, constants=constants, capabilities=capabilities)


ADD2 = fn("add2", (ins("add", 2, 0, 1), ins("ret", 2)), registers=(INT, INT, INT), params=2, result=INT)
NOOP = fn("noop", (ins("retv"),))

_Case = tuple[str, Callable[[], Module], str, "str | None", "int | None"]

CASES: list[_Case] = [
    # -- module level
    ("version", lambda: dataclasses.replace(one(ins("ret", 0)), version=3), "verify.version", None, None),
    ("version-type", lambda: dataclasses.replace(one(ins("ret", 0)), version="1"), "verify.version", None, None),  # type: ignore[arg-type]
    (
        "functions-list",
        lambda: dataclasses.replace(one(ins("ret", 0)), functions=list(one(ins("ret", 0)).functions)),  # type: ignore[arg-type]
        "verify.malformed",
        None,
        None,
    ),
    (
        "instruction-tuple",
        lambda: one(ins("nop"), (0x25, 0, 0, 0), ins("ret", 0)),  # type: ignore[arg-type]
        "verify.malformed",
        "main",
        1,
    ),
    # -- constants
    ("const-bool", lambda: one(ins("ret", 0), constants=(1, True)), "verify.const-kind", None, None),
    ("const-float-nan", lambda: one(ins("ret", 0), constants=(float("nan"),)), "verify.const-kind", None, None),
    ("const-float-inf", lambda: one(ins("ret", 0), constants=(float("-inf"),)), "verify.const-kind", None, None),
    ("const-none", lambda: one(ins("ret", 0), constants=(None,)), "verify.const-kind", None, None),  # type: ignore[arg-type]
    ("const-surrogate", lambda: one(ins("ret", 0), constants=("\ud800",)), "verify.const-kind", None, None),
    ("const-trap-int", lambda: one(ins("nop"), ins("trap", 0)), "verify.const-kind", "main", 1),
    ("const-range-high", lambda: one(ins("ret", 0), constants=(2**63,)), "verify.const-range", None, None),
    ("const-range-low", lambda: one(ins("ret", 0), constants=(-(2**63) - 1,)), "verify.const-range", None, None),
    ("const-bounds", lambda: one(ins("nop"), ins("loadk", 0, 2), ins("ret", 0)), "verify.const-bounds", "main", 1),
    ("const-bounds-neg", lambda: one(ins("loadk", 0, -1), ins("ret", 0)), "verify.const-bounds", "main", 0),
    # -- types
    (
        "type-base",
        lambda: one(ins("ret", 0), registers=(ValueType(7, 0),)),  # type: ignore[arg-type]
        "verify.type-invalid",
        "main",
        None,
    ),
    (
        "type-not-a-type",
        lambda: one(ins("ret", 0), registers=("int",)),  # type: ignore[arg-type]
        "verify.type-invalid",
        "main",
        None,
    ),
    (
        "type-negative-depth",
        lambda: one(ins("ret", 0), registers=(ValueType(BaseType.INT, -1),)),
        "verify.type-invalid",
        "main",
        None,
    ),
    (
        "type-depth-register",
        lambda: one(ins("ret", 0), registers=(INT, array_type(BaseType.INT, 9))),
        "verify.type-depth",
        "main",
        None,
    ),
    (
        "type-depth-result",
        lambda: one(ins("ret", 0), result=array_type(BaseType.STR, 100)),
        "verify.type-depth",
        "main",
        None,
    ),
    (
        "type-depth-cap",
        lambda: one(ins("ret", 0), capabilities=(Capability("a.b", (array_type(BaseType.BOOL, 9),), None),)),
        "verify.type-depth",
        None,
        None,
    ),
    # -- capabilities
    (
        "cap-name-upper",
        lambda: one(ins("ret", 0), capabilities=(Capability("Log.info", (), None),)),
        "verify.cap-name",
        None,
        None,
    ),
    (
        "cap-name-undotted",
        lambda: one(ins("ret", 0), capabilities=(Capability("log", (), None),)),
        "verify.cap-name",
        None,
        None,
    ),
    (
        "cap-name-trailing",
        lambda: one(ins("ret", 0), capabilities=(Capability("log.", (), None),)),
        "verify.cap-name",
        None,
        None,
    ),
    (
        "cap-name-newline",
        lambda: one(ins("ret", 0), capabilities=(Capability("log.info\n", (), None),)),
        "verify.cap-name",
        None,
        None,
    ),
    (
        "cap-name-long",
        lambda: one(ins("ret", 0), capabilities=(Capability("a." + "b" * 127, (), None),)),
        "verify.cap-name",
        None,
        None,
    ),
    ("cap-duplicate", lambda: one(ins("ret", 0), capabilities=(LOG, NOW, LOG)), "verify.cap-duplicate", None, None),
    ("cap-ref", lambda: one(ins("nop"), ins("capcall", 2, 0, 0), ins("ret", 0)), "verify.cap-ref", "main", 1),
    (
        "cap-call-arg",
        lambda: one(ins("capcall", 0, 1, 0), ins("ret", 0)),
        "verify.cap-call-type",
        "main",
        0,
    ),
    (
        "cap-call-result",
        lambda: one(ins("capcall", 1, 0, 1), ins("ret", 0), registers=(INT, STR)),
        "verify.cap-call-type",
        "main",
        0,
    ),
    # -- function headers
    ("function-name-digit", lambda: module(fn("1main", (ins("retv"),))), "verify.function-name", "#0", None),
    ("function-name-dash", lambda: module(NOOP, fn("a-b", (ins("retv"),))), "verify.function-name", "#1", None),
    ("function-name-empty", lambda: module(fn("", (ins("retv"),))), "verify.function-name", "#0", None),
    ("function-name-unicode", lambda: module(fn("é", (ins("retv"),))), "verify.function-name", "#0", None),
    ("duplicate-function", lambda: module(NOOP, ADD2, NOOP), "verify.duplicate-function", "noop", None),
    ("param-count-high", lambda: one(ins("ret", 0), params=4), "verify.param-count", "main", None),
    ("param-count-negative", lambda: one(ins("ret", 0), params=-1), "verify.param-count", "main", None),
    ("empty-function", one, "verify.empty-function", "main", None),
    (
        "exported-not-bool",
        lambda: module(dataclasses.replace(NOOP, exported=1)),  # type: ignore[arg-type]
        "verify.malformed",
        "noop",
        None,
    ),
    # -- opcodes and operands
    ("opcode-unknown", lambda: one(ins("nop"), Instruction(0xFF), ins("ret", 0)), "verify.opcode", "main", 1),
    ("opcode-not-int", lambda: one(Instruction("add", 0, 0, 0), ins("ret", 0)), "verify.opcode", "main", 0),  # type: ignore[arg-type]
    ("register-bounds", lambda: one(ins("add", 0, 1, 3), ins("ret", 0)), "verify.register-bounds", "main", 0),
    ("register-bounds-neg", lambda: one(ins("neg", -1, 0), ins("ret", 0)), "verify.register-bounds", "main", 0),
    (
        "register-bounds-none",
        lambda: one(ins("nop"), Instruction(0x01, None, 0, 0), ins("ret", 0)),  # type: ignore[arg-type]
        "verify.register-bounds",
        "main",
        1,
    ),
    ("register-bounds-huge", lambda: one(ins("mov", 10**5000, 0), ins("ret", 0)), "verify.register-bounds", "main", 0),
    ("register-bounds-ret", lambda: one(ins("ret", 3)), "verify.register-bounds", "main", 0),
    (
        "register-bounds-pair",
        lambda: one(ins("slice", 0, 0, 2), ins("ret", 0), registers=(STR, INT, INT)),
        "verify.register-bounds",
        "main",
        0,
    ),
    (
        "register-bounds-call-dest",
        lambda: one(ins("call", 1, 0, 3), ins("ret", 0), extra=(ADD2,)),
        "verify.register-bounds",
        "main",
        0,
    ),
    (
        "register-count",
        lambda: one(ins("ret", 0), registers=(INT,) * 70_000),
        "verify.register-count",
        "main",
        None,
    ),
    (
        "register-type-add",
        lambda: one(ins("add", 0, 1, 2), ins("ret", 0), registers=(INT, INT, BOOL)),
        "verify.register-type",
        "main",
        0,
    ),
    ("register-type-dest", lambda: one(ins("lt", 0, 1, 2), ins("ret", 0)), "verify.register-type", "main", 0),
    (
        "register-type-mov",
        lambda: one(ins("nop"), ins("mov", 0, 1), ins("ret", 0), registers=(INT, STR)),
        "verify.register-type",
        "main",
        1,
    ),
    (
        "register-type-eq-mixed",
        lambda: one(ins("eq", 2, 0, 1), ins("ret", 0), registers=(INT, STR, BOOL)),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-eq-array",
        lambda: one(ins("eq", 2, 0, 0), ins("ret", 1), registers=(INT_ARRAY, INT, BOOL)),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-tostr-array",
        lambda: one(ins("tostr", 1, 0), ins("ret", 1), registers=(INT_ARRAY, STR), result=STR),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-len-bool",
        lambda: one(ins("len", 0, 1), ins("ret", 0), registers=(INT, BOOL)),
        "verify.register-type",
        "main",
        0,
    ),
    ("register-type-newarr-int", lambda: one(ins("newarr", 0), ins("ret", 0)), "verify.register-type", "main", 0),
    (
        "register-type-push-elem",
        lambda: one(ins("push", 0, 1), ins("ret", 1), registers=(INT_ARRAY, STR), result=STR),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-pop-elem",
        lambda: one(ins("pop", 1, 0), ins("retv"), registers=(INT_ARRAY, BOOL), result=None),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-getidx-array",
        lambda: one(ins("getidx", 1, 0, 1), ins("ret", 1)),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-setidx-elem",
        lambda: one(ins("setidx", 0, 1, 0), ins("retv"), registers=(INT_ARRAY, INT), result=None),
        "verify.register-type",
        "main",
        0,
    ),
    (
        "register-type-join",
        lambda: one(ins("join", 1, 0, 1), ins("ret", 1), registers=(INT_ARRAY, STR), result=STR),
        "verify.register-type",
        "main",
        0,
    ),
    ("register-type-loadk", lambda: one(ins("loadk", 0, 1), ins("ret", 0)), "verify.register-type", "main", 0),
    (
        "register-type-pair",
        lambda: one(ins("slice", 0, 0, 1), ins("ret", 0), registers=(STR, INT, BOOL), result=STR),
        "verify.register-type",
        "main",
        0,
    ),
    ("register-type-jmpif", lambda: one(ins("jmpif", 0, 1), ins("ret", 0)), "verify.register-type", "main", 0),
    (
        "immediate",
        lambda: one(ins("loadb", 0, 2), ins("retv"), registers=(BOOL,), result=None),
        "verify.immediate",
        "main",
        0,
    ),
    (
        "immediate-neg",
        lambda: one(ins("loadb", 0, -1), ins("retv"), registers=(BOOL,), result=None),
        "verify.immediate",
        "main",
        0,
    ),
    ("unused-operand", lambda: one(ins("nop", 0, 0, 1), ins("ret", 0)), "verify.unused-operand", "main", 0),
    ("unused-operand-retv", lambda: one(ins("retv", 1), result=None), "verify.unused-operand", "main", 0),
    (
        "unused-operand-float",
        lambda: one(Instruction(0x15, 0, 1, 0.0), ins("ret", 0)),  # type: ignore[arg-type]
        "verify.unused-operand",
        "main",
        0,
    ),
    (
        "unused-operand-call-dest",
        lambda: one(ins("call", 1, 0, 1), ins("ret", 0), extra=(NOOP,)),
        "verify.unused-operand",
        "main",
        0,
    ),
    ("func-ref", lambda: one(ins("call", 9, 0, 0), ins("ret", 0)), "verify.func-ref", "main", 0),
    (
        "call-arity-window",
        lambda: one(ins("call", 1, 2, 0), ins("ret", 0), extra=(ADD2,)),
        "verify.call-arity",
        "main",
        0,
    ),
    (
        "call-arity-no-params",
        lambda: one(ins("call", 1, 1, 0), ins("ret", 0), extra=(NOOP,)),
        "verify.call-arity",
        "main",
        0,
    ),
    (
        "call-arity-cap",
        lambda: one(ins("capcall", 0, 3, 0), ins("ret", 0)),
        "verify.call-arity",
        "main",
        0,
    ),
    (
        "call-type-arg",
        lambda: one(ins("nop"), ins("call", 1, 0, 0), ins("ret", 0), registers=(INT, BOOL), extra=(ADD2,)),
        "verify.call-type",
        "main",
        1,
    ),
    (
        "call-type-result",
        lambda: one(ins("call", 1, 0, 2), ins("ret", 0), registers=(INT, INT, STR), extra=(ADD2,)),
        "verify.call-type",
        "main",
        0,
    ),
    ("jump-target", lambda: one(ins("jmp", 97), *[ins("nop")] * 40, ins("ret", 0)), "verify.jump-target", "main", 0),
    (
        "jump-target-neg",
        lambda: one(ins("jmpif", 0, -1), ins("ret", 0), registers=(BOOL,), result=None),
        "verify.jump-target",
        "main",
        0,
    ),
    ("jump-target-end", lambda: one(ins("jmp", 1), ins("ret", 0), ins("jmp", 3)), "verify.jump-target", "main", 2),
    ("falls-off-end", lambda: one(ins("nop"), ins("add", 0, 0, 0)), "verify.falls-off-end", "main", 1),
    ("falls-off-end-branch", lambda: one(ins("jmpif", 0, 0), registers=(BOOL,)), "verify.falls-off-end", "main", 0),
    ("return-type-no-result", lambda: one(ins("nop"), ins("ret", 0), result=None), "verify.return-type", "main", 1),
    ("return-type-wrong", lambda: one(ins("ret", 0), registers=(STR,)), "verify.return-type", "main", 0),
    ("return-type-retv", lambda: one(ins("nop"), ins("retv")), "verify.return-type", "main", 1),
]


def _with_source(files: tuple[str, ...], lists: tuple[tuple[SourcePos, ...], ...]) -> Module:
    base = one(ins("nop"), ins("ret", 0), extra=(NOOP,))
    return dataclasses.replace(base, source_map=SourceMap(files, lists))


_P = SourcePos
CASES += [
    ("source-map-count", lambda: _with_source(("a.chr",), ((),)), "verify.source-map-shape", None, None),
    (
        "source-map-length",
        lambda: _with_source(("a.chr",), ((_P(0, 1, 1),), ())),
        "verify.source-map-shape",
        "main",
        None,
    ),
    ("source-map-file", lambda: _with_source(("a.chr", ""), ((), ())), "verify.source-map-shape", None, None),
    (
        "source-position-file",
        lambda: _with_source(("a.chr",), ((_P(0, 1, 1), _P(1, 2, 1)), ())),
        "verify.source-position",
        "main",
        1,
    ),
    (
        "source-position-no-files",
        lambda: _with_source((), ((), (_P(0, 1, 1),))),
        "verify.source-position",
        "noop",
        0,
    ),
    (
        "source-position-line",
        lambda: _with_source(("a.chr",), ((_P(0, 0, 1), _P(0, 2, 1)), ())),
        "verify.source-position",
        "main",
        0,
    ),
    (
        "source-position-line-u32",
        lambda: _with_source(("a.chr",), ((_P(0, 1, 1), _P(0, 2**32, 1)), ())),
        "verify.source-position",
        "main",
        1,
    ),
    (
        "source-position-col",
        lambda: _with_source(("a.chr",), ((_P(0, 1, 1), _P(0, 2, -3)), ())),
        "verify.source-position",
        "main",
        1,
    ),
    # -- version 2 types and the struct table (#17)
    (
        "version-1-with-structs",
        lambda: dataclasses.replace(one(ins("ret", 0)), structs=(StructDef("A", ()),)),
        "verify.version",
        None,
        None,
    ),
    (
        "map-float-key",
        lambda: one(ins("ret", 0), registers=(INT, map_type(FLOAT, INT))),
        "verify.map-key",
        "main",
        None,
    ),
    ("map-struct-key", lambda: v2(registers=(INT, map_type(struct_type(0), INT))), "verify.map-key", "main", None),
    ("struct-ref", lambda: one(ins("ret", 0), registers=(INT, struct_type(0))), "verify.struct-ref", "main", None),
    ("map-too-deep", lambda: one(ins("ret", 0), registers=(INT, _nested_maps(9))), "verify.type-depth", "main", None),
    ("struct-name-twice", lambda: v2(StructDef("A", ()), StructDef("A", ())), "verify.struct-name", None, None),
    ("struct-name-builtin", lambda: v2(StructDef("float", ())), "verify.struct-name", None, None),
    ("struct-name-not-identifier", lambda: v2(StructDef("a.b", ())), "verify.struct-name", None, None),
    (
        "struct-field-twice",
        lambda: v2(StructDef("A", (StructField("x", INT), StructField("x", STR)))),
        "verify.struct-field",
        None,
        None,
    ),
    ("struct-field-empty-name", lambda: v2(StructDef("A", (StructField("", INT),))), "verify.struct-field", None, None),
    ("struct-limit", lambda: v2(*[StructDef(f"S{i}", ()) for i in range(1025)]), "verify.struct-limit", None, None),
    (
        "struct-fields-limit",
        lambda: v2(StructDef("A", tuple(StructField(f"f{i}", INT) for i in range(257)))),
        "verify.struct-limit",
        None,
        None,
    ),
    (
        "struct-cycle",
        lambda: v2(
            StructDef("A", (StructField("b", struct_type(1)),)), StructDef("B", (StructField("a", struct_type(0)),))
        ),
        "verify.struct-cycle",
        None,
        None,
    ),
    (
        "struct-self",
        lambda: v2(StructDef("A", (StructField("me", struct_type(0)),))),
        "verify.struct-cycle",
        None,
        None,
    ),
    (
        "struct-field-type",
        lambda: v2(StructDef("A", (StructField("m", map_type(FLOAT, INT)),))),
        "verify.map-key",
        None,
        None,
    ),
    (
        "zero-size",  # a register whose fresh struct would hold 300 fields (100 Points of 2): verifier.structured
        lambda: v2(
            StructDef("P", (StructField("x", INT), StructField("y", INT))),
            StructDef("W", tuple(StructField(f"f{k}", struct_type(0)) for k in range(100))),
            registers=(INT, struct_type(1)),
        ),
        "verify.zero-size",
        "main",
        None,
    ),
]


@pytest.mark.parametrize(("label", "build", "code", "function", "index"), CASES, ids=[c[0] for c in CASES])
def test_rule(label: str, build: Callable[[], Module], code: str, function: str | None, index: int | None) -> None:
    mod = build()
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    error = caught.value
    assert (error.code, error.details.get("function"), error.details.get("index")) == (code, function, index), (
        error.message
    )
    assert error.message
    json.dumps(error.to_dict())  # details are JSON-safe


def test_every_code_has_a_negative_test() -> None:
    tested = {case[2] for case in CASES}
    declared = {code for code in declared_codes() if code.startswith("verify.")}
    assert tested == declared


def test_jump_target_message() -> None:
    mod = one(ins("jmp", 97), *[ins("nop")] * 40, ins("ret", 0))
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert caught.value.message == "jump target 97 is outside function `main` (0..41)"
    assert str(caught.value) == "verify.jump-target: jump target 97 is outside function `main` (0..41)"


def test_messages_say_expected_and_found() -> None:
    mod = one(ins("add", 0, 1, 2), ins("ret", 0), registers=(INT, INT, BOOL))
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert caught.value.message == "`add` operand c must be int, found r2: bool"

    mod = one(ins("push", 0, 1), ins("ret", 1), registers=(INT_ARRAY, STR), result=STR)
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert caught.value.message == "`push` operand b must be int (the element type of operand a), found r1: str"

    mod = one(ins("call", 1, 2, 0), ins("ret", 0), extra=(ADD2,))
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert caught.value.message == "function `add2` takes 2 arguments in r2..r3, but `main` has registers 0..2"


def test_register_limit_is_configurable() -> None:
    mod = one(ins("ret", 0))
    verify(mod, max_registers=3)
    with pytest.raises(VerifyError) as caught:
        verify(mod, max_registers=2)
    assert caught.value.code == "verify.register-count"
    assert caught.value.message == "function `main` has 3 registers, at most 2 allowed"


def test_max_registers_cannot_exceed_hard_limit() -> None:
    mod = one(ins("ret", 0), registers=(INT,) * 65_536)
    with pytest.raises(VerifyError) as caught:
        verify(mod, max_registers=10**9)
    assert caught.value.code == "verify.register-count"


def test_not_a_module() -> None:
    with pytest.raises(VerifyError) as caught:
        verify("module")  # type: ignore[arg-type]
    assert caught.value.code == "verify.malformed"


def test_every_opcode_module_mutations_are_located() -> None:
    """A defect deep in a larger module is reported at its own function and index."""
    base = every_opcode_module()
    main = base.functions[0]
    code = list(main.code)
    code[45] = ins("getidx", 1, 5, 3)  # index register r3 is a str
    mutated = dataclasses.replace(base, functions=(dataclasses.replace(main, code=tuple(code)), *base.functions[1:]))
    with pytest.raises(VerifyError) as caught:
        verify(mutated)
    assert (caught.value.code, caught.value.details["function"], caught.value.details["index"]) == (
        "verify.register-type",
        "main",
        45,
    )


def test_source_map_positions_accepted_when_complete() -> None:
    base = one(ins("nop"), ins("ret", 0), extra=(NOOP,))
    lists = (positions(base.functions[0]), ())
    verify(dataclasses.replace(base, source_map=SourceMap(("a.chr",), lists)))
