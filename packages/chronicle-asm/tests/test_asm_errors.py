"""One negative test per assembler and parser error: the code, the line and the column it reports."""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_asm import (
    CODES,
    ConstValue,
    IRFunction,
    IRInstr,
    IRModule,
    Label,
    LabelDef,
    Pos,
    Raw,
    Reg,
    assemble,
    assemble_text,
    parse_casm,
)
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability
from chronicle_vm.core.types import INT, STR, BaseType, ValueType, array_type
from chronicle_vm.errors import SourceError, declared_codes

F = ".func f () -> int\n  .regs int, int, bool, str\n"  # lines 1-2: a function to put instructions in
E = ".end\n"

# (code, source, line, col): the first (and only) problem each source has.
CASES: list[tuple[str, str, int, int]] = [
    ("asm-syntax", ".const k0\n", 1, 1),
    ("asm-syntax", F + "    mov r0, r1 r2\n" + E, 3, 16),
    ("asm-syntax", F + "    mov r0, r1 >\n" + E, 3, 16),
    ("asm-unknown-directive", ".bogus 1\n", 1, 1),
    ("asm-unknown-opcode", F + "    frob r0\n" + E, 3, 5),
    ("asm-operand-count", F + "    add r0, r1\n" + E, 3, 9),
    ("asm-operand-count", F + "    retv r0\n" + E, 3, 10),
    ("asm-operand-kind", F + "    jmp r0\n" + E, 3, 9),
    ("asm-operand-kind", F + "    add r0, k0, r1\n" + E, 3, 13),
    ("asm-operand-kind", F + '    mov r0, "text"\n' + E, 3, 13),
    ("asm-bad-literal", '.const s "a\\qb"\n', 1, 12),
    ("asm-bad-literal", '.const s "open\n', 1, 10),
    ("asm-bad-literal", F + "    loadk r0, 12x\n" + E, 3, 15),
    ("asm-bad-literal", '.const s "\\u{110000}"\n', 1, 11),
    ("asm-bad-literal", '.const s "\\u{d800}"\n', 1, 11),
    ("asm-int-range", F + "    loadk r0, 9223372036854775808\n" + E, 3, 15),
    ("asm-int-range", ".const k0 -0x8000_0000_0000_0001\n", 1, 11),
    ("asm-int-range", F + "    mov r0, r4294967296\n" + E, 3, 13),
    ("asm-int-range", F + "    jmp #4294967296\n" + E, 3, 9),
    ("asm-bool-constant", F + "    loadk r0, true\n" + E, 3, 15),
    ("asm-bool-constant", ".const b false\n", 1, 10),
    ("asm-bad-type", ".func f (decimal) -> int\n.end\n", 1, 10),
    ("asm-bad-type", ".func f (" + "[" * 9 + "int" + "]" * 9 + ")\n.end\n", 1, 10),
    ("asm-bad-literal", F + "    loadk r0, 1e999\n" + E, 3, 15),
    ("asm-bad-literal", ".const k -2.5e400\n", 1, 10),
    ("asm-bad-type", ".struct A (x: Nope)\n", 1, 15),
    ("asm-bad-type", ".func f ({float: int})\n.end\n", 1, 10),
    ("asm-bad-type", ".func f ({str: " + "[" * 8 + "int" + "]" * 8 + "})\n.end\n", 1, 10),
    ("asm-syntax", ".struct A x: int\n", 1, 11),
    ("asm-syntax", ".struct A (x int)\n", 1, 12),
    ("asm-syntax", ".struct A (x: int\n", 1, 15),
    ("asm-duplicate-definition", ".struct A (x: int)\n.struct A (y: int)\n", 2, 9),
    ("asm-int-range", ".version 1\n.const k 1.5\n", 1, 10),
    ("asm-int-range", ".version 3\n", 1, 10),
    ("asm-unknown-label", F + "    jmp nowhere\n" + E, 3, 9),
    ("asm-duplicate-label", F + "here:\nhere:\n    retv\n" + E, 4, 1),
    ("asm-undefined-function", F + "    call g, r0, r0\n" + E, 3, 10),
    ("asm-undefined-constant", F + "    loadk r0, nothing\n" + E, 3, 15),
    ("asm-undefined-capability", F + "    capcall log.info, r3, r0\n" + E, 3, 13),
    (
        "asm-ambiguous-name",
        ".allow duplicate-names\n.func g ()\n.end\n.func g ()\n    call g, r0, r0\n.end\n",
        5,
        10,
    ),
    ("asm-duplicate-function", ".func g ()\n.end\n.func g ()\n.end\n", 3, 7),
    ("asm-duplicate-capability", ".cap log.info (str)\n.cap log.info (int)\n", 2, 6),
    ("asm-duplicate-constant", ".const a 1\n.const a 2\n", 2, 8),
    ("asm-duplicate-definition", ".version 1\n.version 1\n", 2, 1),
    ("asm-duplicate-definition", ".allow duplicate-names\n.allow duplicate-names\n", 2, 1),
    ("asm-outside-function", "    add r0, r1, r2\n", 1, 5),
    ("asm-outside-function", "top:\n", 1, 1),
    ("asm-outside-function", ".regs int\n", 1, 1),
    ("asm-missing-end", ".func f ()\n    retv\n", 1, 1),
    ("asm-missing-end", ".func f ()\n    retv\n.func g ()\n.end\n", 3, 1),
    ("asm-bad-position", F + "    retv @x\n" + E, 3, 10),
    ("asm-bad-position", F + "    retv @0:1\n" + E, 3, 10),
    ("asm-bad-position", F + "    retv @0:1:1\n  .pos @0:1:1\n" + E, 3, 5),
    ("asm-int-range", F + "    retv @0:1:4294967296\n" + E, 3, 15),
    ("asm-int-range", ".version 0\n", 1, 10),
]


def _error(text: str) -> SourceError:
    with pytest.raises(SourceError) as info:
        assemble_text(text, "bad.casm")
    return info.value


@pytest.mark.parametrize(("code", "text", "line", "col"), CASES)
def test_each_error_reports_code_line_and_col(code: str, text: str, line: int, col: int) -> None:
    err = _error(text)
    diagnostics: list[dict[str, Any]] = err.details["diagnostics"]
    assert [(d["code"], d["line"], d["col"]) for d in diagnostics] == [(f"source.{code}", line, col)]
    assert err.code == f"source.{code}"
    (diag,) = diagnostics
    assert diag["file"] == "bad.casm"
    assert diag["source_line"] == text.split("\n")[line - 1]
    assert (err.details["line"], err.details["col"]) == (line, col)
    # parse_casm reports the same problems as assemble_text.
    with pytest.raises(SourceError) as again:
        parse_casm(text, "bad.casm")
    assert again.value.details["diagnostics"] == diagnostics


def test_every_declared_code_has_a_negative_test() -> None:
    tested = {code for code, *_ in CASES} | {"asm-invalid-ir", "assembly"}
    assert tested == set(CODES)
    registry = declared_codes()
    for name, meaning in CODES.items():
        assert registry[f"source.{name}"] == meaning


def test_several_problems_are_all_reported_in_line_order() -> None:
    text = F + "    frob r0\n    jmp nowhere\n    add r0, r1\n    loadk r0, missing\n" + E + ".bogus\n"
    err = _error(text)
    found = [(d["code"], d["line"], d["col"]) for d in err.details["diagnostics"]]
    assert found == [
        ("source.asm-unknown-opcode", 3, 5),
        ("source.asm-unknown-label", 4, 9),
        ("source.asm-operand-count", 5, 9),
        ("source.asm-undefined-constant", 6, 15),
        ("source.asm-unknown-directive", 8, 1),
    ]
    assert err.code == "source.asm-unknown-opcode"
    assert err.message.startswith("5 errors in bad.casm; first: 3:5: ")
    assert "bad.casm:4:9: error: jmp: label 'nowhere'" in err.details["rendered"]


def test_too_many_problems_are_capped_with_a_closing_note() -> None:
    err = _error("\n".join(".bogus" for _ in range(500)))
    diagnostics = err.details["diagnostics"]
    assert len(diagnostics) == 201
    assert diagnostics[-1]["code"] == "source.assembly"
    assert diagnostics[-1]["message"] == "300 more problems not shown"
    assert diagnostics[-1]["line"] is None


def test_unknown_opcode_suggests_a_close_mnemonic() -> None:
    err = _error(F + "    jmpiff r2, x\n" + E)
    assert err.message == "unknown instruction 'jmpiff' (did you mean jmpif?)"


# -- errors of assemble() on IR (the .chr compiler's path) --------------------

P = Pos("plugin.chr", 7, 9)


def _ir_error(ir: IRModule, sources: dict[str, str] | None = None) -> list[tuple[str, int | None, int | None]]:
    with pytest.raises(SourceError) as info:
        assemble(ir, sources=sources)
    return [(d["code"], d["line"], d["col"]) for d in info.value.details["diagnostics"]]


def _fn(*body: IRInstr | LabelDef, registers: list[ValueType] | None = None) -> IRFunction:
    return IRFunction("f", False, 0, None, registers or [INT, INT], list(body))


def test_ir_bool_constant_is_refused_even_though_true_equals_one() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.LOADK, (Reg(0), ConstValue(True), None), P))])
    assert _ir_error(ir) == [("source.asm-bool-constant", 7, 9)]


def test_ir_constant_outside_i64() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.LOADK, (Reg(0), ConstValue(2**63), None), P))])
    assert _ir_error(ir) == [("source.asm-int-range", 7, 9)]


def test_ir_register_where_a_label_is_expected() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.JMP, (Reg(0), None, None), P))])
    assert _ir_error(ir) == [("source.asm-operand-kind", 7, 9)]


def test_ir_missing_operand_where_a_register_is_expected() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.ADD, (Reg(0), None, Reg(1)), P))])
    assert _ir_error(ir) == [("source.asm-operand-kind", 7, 9)]


def test_ir_operand_outside_u32() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.MOV, (Reg(0), Raw(-1), None), P))])
    assert _ir_error(ir) == [("source.asm-int-range", 7, 9)]


def test_ir_unknown_label_quotes_the_source_line() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.JMP, (Label("out"), None, None), P))])
    with pytest.raises(SourceError) as info:
        assemble(ir, sources={"plugin.chr": "\n" * 6 + "        break;\n"})
    (diag,) = info.value.details["diagnostics"]
    assert diag == {
        "code": "source.asm-unknown-label",
        "message": "jmp: label 'out' is not defined in function 'f'",
        "file": "plugin.chr",
        "line": 7,
        "col": 9,
        "source_line": "        break;",
    }


def test_ir_duplicate_label_at_its_position() -> None:
    ir = IRModule(functions=[_fn(LabelDef("a", P), LabelDef("a", Pos("plugin.chr", 8, 1)))])
    assert _ir_error(ir) == [("source.asm-duplicate-label", 8, 1)]


def test_ir_duplicate_capability_uses_its_origin() -> None:
    cap = Capability("log.info", (STR,), None)
    ir = IRModule(capabilities=[cap, cap], capability_origins=[Pos("p.chr", 1, 1), Pos("p.chr", 2, 5)])
    assert _ir_error(ir) == [("source.asm-duplicate-capability", 2, 5)]


def test_ir_duplicate_function_without_position_has_no_location() -> None:
    ir = IRModule(functions=[_fn(), _fn()])
    assert _ir_error(ir) == [("source.asm-duplicate-function", None, None)]


def test_ir_bad_position_numbers() -> None:
    ir = IRModule(functions=[_fn(IRInstr(Op.RETV, pos=Pos("p.chr", -1, 1)))])
    assert _ir_error(ir) == [("source.asm-bad-position", -1, 1)]


def test_ir_bad_register_type_is_invalid_ir() -> None:
    ir = IRModule(functions=[_fn(registers=[array_type(BaseType.INT, 9)])])
    assert _ir_error(ir) == [("source.asm-invalid-ir", None, None)]


@pytest.mark.parametrize(
    "ir",
    [
        IRModule(functions=[_fn(IRInstr(999, (None, None, None)))]),  # type: ignore[arg-type]
        IRModule(functions=["not a function"]),  # type: ignore[list-item]
        IRModule(constants=[("k", [1])]),  # type: ignore[list-item]
        IRModule(capabilities=[object()]),  # type: ignore[list-item]
        IRModule(functions=[_fn(IRInstr(Op.RETV, (None, None)))]),  # type: ignore[arg-type]
        IRModule(functions=[IRFunction(3, False, 0, None, [], [])]),  # type: ignore[arg-type]
        IRModule(functions=[_fn(IRInstr(Op.LOADK, (Reg(0), ConstValue([1]), None)))]),  # type: ignore[arg-type]
        IRModule(source_files=[None]),  # type: ignore[list-item]
        IRModule(functions=[_fn(IRInstr(Op.RETV, pos="here"))]),  # type: ignore[arg-type]
    ],
)
def test_malformed_ir_objects_end_in_source_error(ir: IRModule) -> None:
    with pytest.raises(SourceError) as info:
        assemble(ir)
    codes = {d["code"] for d in info.value.details["diagnostics"]}
    assert codes <= {"source.asm-invalid-ir", "source.asm-operand-count", "source.asm-bool-constant"}
