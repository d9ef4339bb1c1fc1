"""The library front: constant pooling, tables, positions, raw operands, the listing's text, docs/assembly.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chronicle_asm import (
    CapRef,
    ConstName,
    ConstValue,
    FuncRef,
    Imm,
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
    check_and_assemble,
    disassemble,
    parse_casm,
)
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT, STR

DOC = Path(__file__).resolve().parents[3] / "docs" / "assembly.md"


def _fn(*body: IRInstr | LabelDef, name: str = "f", pos: Pos | None = None) -> IRFunction:
    return IRFunction(name, False, 0, None, [INT, STR, BOOL], list(body), pos=pos)


def _loadk(value: int | str | bool) -> IRInstr:
    return IRInstr(Op.LOADK, (Reg(0), ConstValue(value), None))


def test_constants_named_first_then_values_reused_by_kind() -> None:
    ir = IRModule(
        constants=[("one", 1), ("text", "1"), ("again", 1)],
        functions=[_fn(_loadk(1), _loadk("1"), _loadk(2), _loadk(2), _loadk("2"), _loadk(-1))],
    )
    module = assemble(ir)
    assert module.constants == (1, "1", 1, 2, "2", -1)
    assert [type(k) for k in module.constants] == [int, str, int, int, str, int]
    assert [i.b for i in module.functions[0].code] == [0, 1, 3, 3, 4, 5]


def test_const_names_functions_capabilities_and_labels_resolve_to_indices() -> None:
    log = Capability("log.info", (STR,), None)
    now = Capability("clock.now", (), INT)
    main = _fn(
        LabelDef("top"),
        IRInstr(Op.LOADK, (Reg(1), ConstName("msg"), None)),
        IRInstr(Op.CAPCALL, (CapRef("log.info"), Reg(1), None)),
        IRInstr(Op.CAPCALL, (CapRef("clock.now"), None, Reg(0))),
        IRInstr(Op.CALL, (FuncRef("helper"), None, None)),
        IRInstr(Op.LOADB, (Reg(2), Imm(1), None)),
        IRInstr(Op.JMPIF, (Reg(2), Label("top"), None)),
        IRInstr(Op.JMP, (Label("end"), None, None)),
        LabelDef("end"),
        name="main",
    )
    helper = IRFunction("helper", False, 0, None, [], [IRInstr(Op.RETV)])
    module = assemble(IRModule(capabilities=[log, now], functions=[helper, main], constants=[("msg", "hi")]))
    assert module.functions[1].code == (
        Instruction(Op.LOADK, 1, 0, 0),
        Instruction(Op.CAPCALL, 0, 1, 0),
        Instruction(Op.CAPCALL, 1, 0, 0),
        Instruction(Op.CALL, 0, 0, 0),
        Instruction(Op.LOADB, 2, 1, 0),
        Instruction(Op.JMPIF, 2, 0, 0),
        Instruction(Op.JMP, 7, 0, 0),
    )
    assert module.capabilities == (log, now)


def test_raw_operands_are_stored_as_given_in_any_slot() -> None:
    code = [
        IRInstr(Op.JMP, (Raw(4_000_000_000), Raw(1), Raw(2))),
        IRInstr(Op.ADD, (Raw(0), Raw(7), Raw(2**32 - 1))),
        IRInstr(Op.LOADK, (Reg(0), Raw(99), None)),
    ]
    module = assemble(IRModule(functions=[_fn(*code)]))
    assert module.functions[0].code == (
        Instruction(Op.JMP, 4_000_000_000, 1, 2),
        Instruction(Op.ADD, 0, 7, 2**32 - 1),
        Instruction(Op.LOADK, 0, 99, 0),
    )
    assert module.constants == ()


def test_positions_build_the_file_table_in_order_of_first_use() -> None:
    a, b = Pos("a.chr", 1, 2), Pos("b.chr", 3, 4)
    ir = IRModule(
        functions=[
            _fn(IRInstr(Op.RETV, pos=b), IRInstr(Op.RETV, pos=a)),
            _fn(IRInstr(Op.RETV), name="g"),
        ]
    )
    module = assemble(ir)
    assert module.source_map == SourceMap(
        files=("b.chr", "a.chr"),
        functions=((SourcePos(0, 3, 4), SourcePos(1, 1, 2)), ()),
    )


def test_given_source_files_come_first_even_unused_and_duplicated() -> None:
    ir = IRModule(
        source_files=["x.chr", "a.chr", "x.chr"],
        functions=[_fn(IRInstr(Op.RETV, pos=Pos("a.chr", 1, 1)), IRInstr(Op.RETV, pos=Pos(2, 5, 6)))],
    )
    module = assemble(ir)
    assert module.source_map.files == ("x.chr", "a.chr", "x.chr")
    assert module.source_map.functions == ((SourcePos(1, 1, 1), SourcePos(2, 5, 6)),)


def test_missing_positions_are_filled_from_the_previous_one_or_the_function() -> None:
    p, q, f = Pos("s.chr", 2, 1), Pos("s.chr", 5, 3), Pos("s.chr", 1, 1)
    body = [IRInstr(Op.NOP), IRInstr(Op.NOP, pos=p), IRInstr(Op.NOP), IRInstr(Op.NOP, pos=q), IRInstr(Op.RETV)]
    with_function_pos = assemble(IRModule(functions=[_fn(*body, pos=f)]))
    assert with_function_pos.source_map.functions[0] == (
        SourcePos(0, 1, 1),
        SourcePos(0, 2, 1),
        SourcePos(0, 2, 1),
        SourcePos(0, 5, 3),
        SourcePos(0, 5, 3),
    )
    without = assemble(IRModule(functions=[_fn(*body)]))
    assert without.source_map.functions[0][0] == SourcePos(0, 2, 1)


def test_function_fields_are_copied() -> None:
    ir = IRModule(functions=[IRFunction("main", True, 2, BOOL, [INT, STR, BOOL], [IRInstr(Op.RETV)])])
    (function,) = assemble(ir).functions
    assert function == Function("main", True, 2, BOOL, (INT, STR, BOOL), (Instruction(Op.RETV),))


def test_check_and_assemble_does_not_raise() -> None:
    module, diagnostics = check_and_assemble(IRModule(functions=[_fn(IRInstr(Op.JMP, (Label("x"), None, None)))]))
    assert module is None
    assert [d.code for d in diagnostics] == ["asm-unknown-label"]
    module, diagnostics = check_and_assemble(IRModule())
    assert module == Module() and diagnostics == []


def test_parse_casm_gives_origins_and_positions() -> None:
    ir = parse_casm('.file "p.chr"\n.func f ()\n  loadk r0, "x"   @0:4:2\n.end\n', "t.casm")
    (instr,) = ir.functions[0].body
    assert isinstance(instr, IRInstr)
    assert instr.operands == (Reg(0), ConstValue("x"), None)
    assert instr.pos == Pos(0, 4, 2)
    assert instr.origin == Pos("t.casm", 3, 3)
    assert ir.source_files == ["p.chr"]


def test_inline_literals_immediates_and_raw_forms() -> None:
    module = assemble_text(
        ".func f ()\n"
        "  .regs int, bool\n"
        "    loadk r0, 0x10\n"
        "    loadk r0, -1_000\n"
        "    loadb r1, true\n"
        "    loadb r1, false\n"
        "    loadb r1, 7\n"
        "    nop #0, #0, #5\n"
        "    retv\n"
        ".end\n"
    )
    assert module.constants == (16, -1000)
    assert [tuple(i) for i in module.functions[0].code] == [
        (Op.LOADK, 0, 0, 0),
        (Op.LOADK, 0, 1, 0),
        (Op.LOADB, 1, 1, 0),
        (Op.LOADB, 1, 0, 0),
        (Op.LOADB, 1, 7, 0),
        (Op.NOP, 0, 0, 5),
        (Op.RETV, 0, 0, 0),
    ]


def test_disassembly_shows_constants_labels_positions_and_indices() -> None:
    module = Module(
        constants=(5, "hi\n"),
        capabilities=(Capability("log.info", (STR,), None),),
        functions=(
            Function(
                "main",
                True,
                0,
                None,
                (STR, BOOL),
                (
                    Instruction(Op.LOADK, 0, 1),
                    Instruction(Op.CAPCALL, 0, 0, 0),
                    Instruction(Op.LOADB, 1, 1),
                    Instruction(Op.JMPIF, 1, 0),
                    Instruction(Op.JMP, 9),
                    Instruction(Op.LOADK, 0, 7),
                ),
            ),
        ),
        source_map=SourceMap(("m.chr",), ((SourcePos(0, 1, 2),) * 6,)),
    )
    listing = disassemble(module)
    assert listing.splitlines() == [
        "; ChronicleVM module: 2 constants, 1 capabilities, 1 functions",
        '.file "m.chr"                     ; file 0',
        "",
        ".const k0 5",
        '.const k1 "hi\\n"',
        "",
        ".cap log.info (str)               ; cap 0",
        "",
        ".func main export ()              ; func 0",
        "  .regs str, bool                 ; r0..r1",
        "L0:",
        '    loadk r0, k1                  @0:1:2        ; 0: k1 = "hi\\n"',
        "    capcall log.info, r0, r0      @0:1:2        ; 1",
        "    loadb r1, 1                   @0:1:2        ; 2",
        "    jmpif r1, L0                  @0:1:2        ; 3",
        "    jmp #9                        @0:1:2        ; 4",
        "    loadk r0, #7                  @0:1:2        ; 5",
        ".end",
    ]
    assert assemble_text(listing) == module


def test_strings_with_any_code_point_round_trip() -> None:
    text = "".join(chr(c) for c in range(0x300)) + "\u2028\U0010ffff\ufeff"
    module = Module(constants=(text,))
    assert assemble_text(disassemble(module)).constants == (text,)


# -- docs/assembly.md ---------------------------------------------------------

_BLOCKS = re.findall(r"```casm\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_docs_have_examples() -> None:
    assert len(_BLOCKS) >= 4


@pytest.mark.parametrize("block", _BLOCKS, ids=lambda b: b.splitlines()[0][:40])
def test_docs_examples_assemble_and_round_trip(block: str) -> None:
    module = assemble_text(block, "assembly.md")
    assert assemble_text(disassemble(module)).to_bytes() == module.to_bytes()
    if block.startswith("; ChronicleVM module"):  # a disassembler listing: shown exactly as written
        assert disassemble(module) == block


def test_docs_position_example_fills_as_described() -> None:
    (block,) = [b for b in _BLOCKS if "takes @0:4:25" in b]
    positions = assemble_text(block).source_map.functions[0]
    assert positions[2] == SourcePos(0, 4, 25)


def test_line_endings_and_tabs_do_not_matter() -> None:
    for source in sorted((Path(__file__).parent / "golden").glob("*.casm")):
        text = source.read_text(encoding="utf-8")
        module = assemble_text(text)
        assert assemble_text(text.replace("\n", "\r\n")) == module, source.name
        assert assemble_text(text.replace("    ", "\t")) == module, source.name
