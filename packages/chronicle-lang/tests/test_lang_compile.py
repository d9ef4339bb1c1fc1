"""Lowering details at the IR level: capabilities, exports, registers, call windows, positions, safety nets."""

from __future__ import annotations

from chronicle_asm.ir import CapRef, ConstValue, FuncRef, IRFunction, IRInstr, IRModule, Reg
from chronicle_lang import compile_source
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability
from chronicle_vm.core.types import BOOL, INT, STR
from chronicle_vm.errors import SourceError


def _fn(ir: IRModule, name: str) -> IRFunction:
    (fn,) = [f for f in ir.functions if f.name == name]
    return fn


def _instrs(fn: IRFunction) -> list[IRInstr]:
    return [i for i in fn.body if isinstance(i, IRInstr)]


def test_lang_compile_capabilities_and_exports() -> None:
    ir = compile_source(
        "cap log.info(msg: str);\ncap kv.get(key: str) -> str;\ncap random.int(lo: int, hi: int) -> int;\n"
        'fn helper() {}\npub fn main(flag: bool, n: int) -> str { helper(); return kv.get("k"); }\n',
        "caps.chr",
    )
    assert ir.capabilities == [
        Capability("log.info", (STR,), None),
        Capability("kv.get", (STR,), STR),
        Capability("random.int", (INT, INT), INT),
    ]
    assert [(f.name, f.exported) for f in ir.functions] == [("helper", False), ("main", True)]
    main = _fn(ir, "main")
    assert main.param_count == 2 and main.registers[:2] == [BOOL, INT] and main.result == STR
    assert ir.source_files == ["caps.chr"]


def test_lang_compile_every_instruction_has_a_position() -> None:
    ir = compile_source("pub fn main(n: int) -> int {\n    let x = n * 2;\n    return x + 1;\n}\n", "pos.chr")
    code = _instrs(_fn(ir, "main"))
    assert all(i.pos is not None and i.pos.file == "pos.chr" for i in code)
    mul = next(i for i in code if i.op is Op.MUL)
    assert mul.pos is not None and (mul.pos.line, mul.pos.col) == (2, 15)


def test_lang_compile_call_arguments_use_a_consecutive_window() -> None:
    ir = compile_source(
        "cap random.int(lo: int, hi: int) -> int;\n"
        "fn three(a: int, b: str, c: int) -> int { return a + c; }\n"
        'pub fn main(x: int) -> int { return three(x, "s", x + 1) + random.int(1, 6); }\n'
    )
    main = _fn(ir, "main")
    code = _instrs(main)
    call = next(i for i in code if i.op is Op.CALL)
    assert call.operands[0] == FuncRef("three")
    base = call.operands[1]
    assert isinstance(base, Reg)
    assert main.registers[base.index : base.index + 3] == [INT, STR, INT]
    capcall = next(i for i in code if i.op is Op.CAPCALL)
    assert capcall.operands[0] == CapRef("random.int")
    cap_base = capcall.operands[1]
    assert isinstance(cap_base, Reg)
    assert main.registers[cap_base.index : cap_base.index + 2] == [INT, INT]


def test_lang_compile_void_call_has_no_result_register() -> None:
    ir = compile_source('cap log.info(msg: str);\npub fn main() { log.info("hi"); }\n')
    capcall = next(i for i in _instrs(_fn(ir, "main")) if i.op is Op.CAPCALL)
    assert capcall.operands[2] is None


def test_lang_compile_temporaries_are_reused() -> None:
    body = " ".join(f"{{ let v = {i} * 2 + {i}; total = total + v; }}" for i in range(200))
    ir = compile_source(f"pub fn main() -> int {{ let total = 0; {body} return total; }}")
    assert len(_fn(ir, "main").registers) <= 5


def test_lang_compile_safety_net_after_exhaustive_if() -> None:
    ir = compile_source("pub fn sign(x: int) -> int { if x < 0 { return -1; } else { return 1; } }")
    last = _fn(ir, "sign").body[-1]
    assert isinstance(last, IRInstr) and last.op is Op.TRAP
    assert last.operands[0] == ConstValue("missing return in function 'sign'")


def test_lang_compile_void_function_ends_with_retv() -> None:
    ir = compile_source("pub fn main(n: int) { while n > 0 { n = n - 1; } }")
    last = _fn(ir, "main").body[-1]
    assert isinstance(last, IRInstr) and last.op is Op.RETV


def test_lang_compile_builtins_map_to_opcodes() -> None:
    ir = compile_source(
        "pub fn main(s: str, xs: [int]) -> int {\n"
        '    let parts = split(s, ",");\n'
        '    let t = trim(upper(lower(join(parts, "-")))) + repeat(s[0], 2) + slice(s, 1, 2);\n'
        '    if contains(t, "x") { push(xs, find(t, "y")); }\n'
        "    return len(t) + pop(xs) + parse_int(str(len(xs))) + xs[0];\n"
        "}\n"
    )
    ops = {i.op for i in _instrs(_fn(ir, "main"))}
    assert {
        Op.SPLIT,
        Op.TRIM,
        Op.UPPER,
        Op.LOWER,
        Op.JOIN,
        Op.CONCAT,
        Op.REPEAT,
        Op.CHARAT,
        Op.SLICE,
        Op.CONTAINS,
        Op.PUSH,
        Op.FIND,
        Op.LEN,
        Op.POP,
        Op.PARSEINT,
        Op.TOSTR,
        Op.GETIDX,
    } <= ops


def test_lang_compile_slice_bounds_are_a_register_pair() -> None:
    fn = _fn(compile_source("pub fn main(s: str, a: int) -> str { return slice(s, a, a + 3); }"), "main")
    sl = next(i for i in _instrs(fn) if i.op is Op.SLICE)
    pair = sl.operands[2]
    assert isinstance(pair, Reg)
    assert fn.registers[pair.index : pair.index + 2] == [INT, INT]


def test_lang_compile_assignment_computes_into_the_variable() -> None:
    ir = compile_source("pub fn main(n: int) -> int { let s = 1; s = (s + n) * s; s = -s; return s; }")
    code = _instrs(_fn(ir, "main"))
    assert not [i for i in code if i.op is Op.MOV]
    mul = next(i for i in code if i.op is Op.MUL)
    neg = next(i for i in code if i.op is Op.NEG)
    assert mul.operands[0] == neg.operands[0] == neg.operands[1]  # both write s's own register


def test_lang_compile_short_circuit_assignment_keeps_its_temporary() -> None:
    # `&&` writes its result before reading the right side, so it must not build into `b` itself.
    ir = compile_source("pub fn main(b: bool, c: bool) -> bool { b = c && b; return b; }")
    code = _instrs(_fn(ir, "main"))
    assert code[-2].op is Op.MOV and code[-2].operands[0] == Reg(0)


def test_lang_compile_loops_are_inverted() -> None:
    ir = compile_source("pub fn main(n: int) -> int { let i = 0; while i < n { i = i + 1; } return i; }")
    ops = [i.op for i in _instrs(_fn(ir, "main"))]
    assert ops == [
        Op.LOADK,  # i = 0
        Op.LT,  # entry test
        Op.JMPIFNOT,
        Op.LOADK,  # body
        Op.ADD,
        Op.LT,  # the test again, jumping back while it holds
        Op.JMPIF,
        Op.RET,
    ]


def test_lang_compile_a_bad_loop_condition_is_reported_once() -> None:
    try:
        compile_source('pub fn main(n: int) -> int { while n + "x" { n = n - 1; } return n; }', "bad.chr")
    except SourceError as error:
        diagnostics = error.details["diagnostics"]
    else:
        raise AssertionError("the condition is not an int + str")
    assert [(d["code"], d["line"], d["col"]) for d in diagnostics] == [("source.type-mismatch", 1, 38)]
