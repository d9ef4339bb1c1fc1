"""Positive tests: well-formed modules (every opcode) verify, and `VerifiedModule` is made only by `verify()`."""

from __future__ import annotations

import dataclasses

import pytest

from chronicle_testing.verify_builders import (
    EVERY_OPCODE_LEADERS,
    check_accepted,
    every_opcode_module,
    fn,
    ins,
    module,
)
from chronicle_vm.core.isa import OPCODES
from chronicle_vm.core.model import Capability
from chronicle_vm.core.types import BOOL, INT, STR, BaseType, array_type
from chronicle_vm.errors import VerifyError
from chronicle_vm.verifier.rules import VerifiedModule, verify, verify_bytes


def test_every_opcode_module_uses_every_opcode() -> None:
    used = {instruction.op for function in every_opcode_module().functions for instruction in function.code}
    assert used == set(OPCODES)


def test_every_opcode_module_verifies() -> None:
    mod = every_opcode_module()
    verified = verify(mod)
    assert verified.module is mod
    assert verified.function_names == ("main", "add2", "noop", "helper")
    assert dict(verified.exports) == {"main": 0, "helper": 3}
    assert verified.block_leaders == EVERY_OPCODE_LEADERS
    assert verified.function("add2") is mod.functions[1]
    assert verified.function("missing") is None
    check_accepted(verified)


@pytest.mark.parametrize("mnemonic", sorted(info.name for info in OPCODES.values()))
def test_each_opcode_alone(mnemonic: str) -> None:
    """Each opcode in a minimal function of its own, so a rule that wrongly rejects one is pinned to it."""
    mod = every_opcode_module()
    owner, first = next((f, i) for f in mod.functions for i in f.code if OPCODES[i.op].name == mnemonic)
    info = OPCODES[first.op]
    if info.branches:
        first = first._replace(a=0) if mnemonic == "jmp" else first._replace(b=1)
    tail = () if info.ends_block else (ins("ret", 1),)  # only `main` (r1: int, returns int) has such opcodes
    alone = dataclasses.replace(owner, code=(first, *tail))
    functions = tuple(alone if f is owner else f for f in mod.functions)
    source = dataclasses.replace(mod.source_map, functions=((),) * len(functions))
    verified = verify(dataclasses.replace(mod, functions=functions, source_map=source))
    check_accepted(verified)


def test_leaders_cover_targets_and_fallthrough() -> None:
    code = (
        ins("jmpif", 0, 4),  # 0
        ins("loadb", 0, 1),  # 1
        ins("jmp", 5),  # 2
        ins("nop"),  # 3 unreachable but a block of its own
        ins("retv"),  # 4
        ins("jmpifnot", 0, 1),  # 5
        ins("retv"),  # 6
    )
    verified = verify(module(fn("f", code, registers=(BOOL,))))
    assert verified.block_leaders == ((0, 1, 3, 4, 5, 6),)


def test_calls_with_zero_registers_and_no_result() -> None:
    caller = fn("caller", (ins("call", 1, 0, 0), ins("capcall", 0, 0, 0), ins("retv")), exported=True)
    mod = module(caller, fn("noop", (ins("retv"),)), capabilities=(Capability("sys.tick", (), None),))
    assert verify(mod).block_leaders == ((0,), (0,))


def test_call_windows_in_the_middle_of_the_register_file() -> None:
    callee = fn("pick", (ins("ret", 1),), registers=(BOOL, STR, INT), params=3, result=STR)
    regs = (INT, BOOL, STR, INT, STR)
    caller = fn("caller", (ins("call", 1, 1, 4), ins("call", 1, 1, 2), ins("ret", 4)), registers=regs, result=STR)
    verify(module(caller, callee))


def test_nested_arrays_bind_element_types() -> None:
    int2 = array_type(BaseType.INT, 2)
    int1 = array_type(BaseType.INT, 1)
    code = (
        ins("newarr", 0),
        ins("newarr", 1),
        ins("push", 0, 1),
        ins("getidx", 1, 0, 2),
        ins("setidx", 0, 2, 1),
        ins("pop", 1, 0),
        ins("len", 2, 0),
        ins("mov", 3, 0),
        ins("ret", 3),
    )
    verify(module(fn("f", code, registers=(int2, int1, INT, int2), result=int2)))


def test_deepest_types_accepted() -> None:
    deep = array_type(BaseType.STR, 8)
    cap = Capability("x.y", (deep,), deep)
    f = fn("f", (ins("capcall", 0, 0, 0), ins("ret", 0)), registers=(deep,), params=1, result=deep, exported=True)
    verify(module(f, capabilities=(cap,)))


def test_int_constant_edges() -> None:
    f = fn("f", (ins("loadk", 0, 0), ins("loadk", 0, 1), ins("ret", 0)), registers=(INT,), result=INT)
    verify(module(f, constants=(-(2**63), 2**63 - 1)))


def test_verified_module_cannot_be_constructed() -> None:
    mod = every_opcode_module()
    with pytest.raises(TypeError):
        VerifiedModule(mod, ("main",), ((0,),), {})
    with pytest.raises(TypeError):
        VerifiedModule(module=mod, function_names=(), block_leaders=(), exports={}, _token=object())
    verified = verify(mod)
    with pytest.raises(TypeError):
        dataclasses.replace(verified, module=module())


def test_verified_module_is_read_only() -> None:
    verified = verify(every_opcode_module())
    with pytest.raises(dataclasses.FrozenInstanceError):
        verified.module = module()  # type: ignore[misc]
    with pytest.raises(TypeError):
        verified.exports["x"] = 1  # type: ignore[index]


def test_verification_is_deterministic() -> None:
    a, b = verify(every_opcode_module()), verify(every_opcode_module())
    assert a == b
    assert hash(a) == hash(b)
    assert a.block_leaders == b.block_leaders


def test_verify_bytes_round_trip() -> None:
    mod = every_opcode_module()
    verified = verify_bytes(mod.to_bytes())
    assert verified.module == mod
    assert verified.block_leaders == EVERY_OPCODE_LEADERS


def test_remembered_windows_do_not_leak_between_callees_or_functions() -> None:
    """The window memo is keyed by start and parameter types, and starts empty in each function."""
    ints = fn("ints", (ins("retv"),), registers=(INT, INT), params=2)
    strs = fn("strs", (ins("retv"),), registers=(STR, STR), params=2)
    good = fn("good", (ins("call", 2, 0, 0), ins("call", 2, 0, 0), ins("retv")), registers=(INT, INT))
    bad = fn("bad", (ins("call", 2, 0, 0), ins("call", 3, 0, 0), ins("retv")), registers=(INT, INT))
    verify(module(good, dataclasses.replace(good, name="good2"), ints, strs))
    with pytest.raises(VerifyError) as caught:
        verify(module(good, bad, ints, strs))
    assert (caught.value.code, caught.value.details["function"], caught.value.details["index"]) == (
        "verify.call-type",
        "bad",
        1,
    )
    other = fn("other", (ins("call", 2, 0, 0), ins("retv")), registers=(STR, STR))
    with pytest.raises(VerifyError) as caught:
        verify(module(good, other, ints, strs))
    assert (caught.value.code, caught.value.details["function"], caught.value.details["index"]) == (
        "verify.call-type",
        "other",
        0,
    )


def test_many_windows_of_a_wide_callee() -> None:
    wide = fn("wide", (ins("retv"),), registers=(INT,) * 300, params=300)
    calls = [ins("call", 1, start, 0) for start in range(301)]
    caller = fn("caller", (*calls, ins("retv")), registers=(INT,) * 600)
    assert verify(module(caller, wide)).block_leaders == ((0,), (0,))
    registers = [INT] * 600
    registers[450] = BOOL  # breaks the windows starting at 151..300
    broken = dataclasses.replace(caller, registers=tuple(registers))
    with pytest.raises(VerifyError) as caught:
        verify(module(broken, wide))
    assert (caught.value.code, caught.value.details["index"]) == ("verify.call-type", 151)
    assert caught.value.message == "argument 300 of function `wide` must be int, found r450: bool"
