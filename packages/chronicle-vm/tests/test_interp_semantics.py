"""The reference interpreter against docs/isa.md: each opcode, the 64-bit edges, every trap with its location."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chronicle_testing.verify_builders import fn, ins, module, positions
from chronicle_vm.core.model import Capability, Constant, Module
from chronicle_vm.core.types import BOOL, INT, STR, ValueType, array_type
from chronicle_vm.engines.reference import Interpreter, RunOutcome
from chronicle_vm.errors import ExecutionError, ResourceLimitError, UsageError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.verifier.rules import verify

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
INTS = array_type(INT.base, 1)
STRS = array_type(STR.base, 1)


def run(mod: Module, *args: object, limits: Limits = HARD_LIMITS, entry: str = "main") -> RunOutcome:
    return Interpreter(verify(mod), limits).call(entry, args)


def binary(mnemonic: str, left: int, right: int) -> object:
    """main(x, y) = x <op> y for an int -> int or int -> bool instruction."""
    out = BOOL if mnemonic in {"lt", "le", "gt", "ge", "eq", "ne"} else INT
    main = fn(
        "main",
        [ins(mnemonic, 2, 0, 1), ins("ret", 2)],
        registers=(INT, INT, out),
        params=2,
        result=out,
        exported=True,
    )
    return run(module(main), left, right).value


@pytest.mark.parametrize(
    ("mnemonic", "left", "right", "expected"),
    [
        ("add", 2, 3, 5),
        ("add", I64_MAX, 1, I64_MIN),
        ("add", I64_MIN, -1, I64_MAX),
        ("sub", I64_MIN, 1, I64_MAX),
        ("sub", 5, 7, -2),
        ("mul", 2**32, 2**32, 0),
        ("mul", I64_MAX, 2, -2),
        ("mul", -3, 4, -12),
        ("div", 7, 2, 3),
        ("div", -7, 2, -4),
        ("div", 7, -2, -4),
        ("div", I64_MIN, -1, I64_MIN),
        ("mod", -7, 2, 1),
        ("mod", 7, -2, -1),
        ("mod", I64_MIN, -1, 0),
        ("lt", -1, 0, True),
        ("le", 3, 3, True),
        ("gt", 3, 3, False),
        ("ge", I64_MIN, I64_MAX, False),
        ("eq", 4, 4, True),
        ("ne", 4, 4, False),
    ],
)
def test_integer_operations(mnemonic: str, left: int, right: int, expected: object) -> None:
    assert binary(mnemonic, left, right) == expected


def test_div_and_mod_identity_holds_at_the_edges() -> None:
    for b in (I64_MIN, -7, -1, 0, 1, 7, I64_MAX):
        for c in (I64_MIN, -7, -1, 1, 7, I64_MAX):
            q = binary("div", b, c)
            r = binary("mod", b, c)
            assert isinstance(q, int) and isinstance(r, int)
            assert ((q * c + r + 2**63) % 2**64) - 2**63 == b


def test_neg_wraps_the_minimum() -> None:
    main = fn("main", [ins("neg", 1, 0), ins("ret", 1)], registers=(INT, INT), params=1, result=INT, exported=True)
    assert run(module(main), I64_MIN).value == I64_MIN
    assert run(module(main), 5).value == -5


def unary_str(mnemonic: str, text: str, out: ValueType = STR) -> object:
    main = fn("main", [ins(mnemonic, 1, 0), ins("ret", 1)], registers=(STR, out), params=1, result=out, exported=True)
    return run(module(main), text).value


def test_string_operations() -> None:
    assert unary_str("upper", "straße") == "STRASSE"
    assert unary_str("lower", "ÀB") == "àb"
    assert unary_str("trim", " \t x y \n") == "x y"
    assert unary_str("len", "héllo", INT) == 5
    assert unary_str("parseint", "-9223372036854775808", INT) == I64_MIN
    assert unary_str("parseint", "+42", INT) == 42
    assert unary_str("tostr", "same") == "same"


@pytest.mark.parametrize("text", ["", " 1", "1_000", "٣", "9223372036854775808", "0x10", "-", "12345678901234567890"])
def test_parseint_refuses_everything_but_plain_decimal(text: str) -> None:
    with pytest.raises(ExecutionError) as info:
        unary_str("parseint", text, INT)
    assert info.value.code == "runtime.parse-int"


def two_str(mnemonic: str, left: str, right: str, out: ValueType) -> object:
    main = fn(
        "main", [ins(mnemonic, 2, 0, 1), ins("ret", 2)], registers=(STR, STR, out), params=2, result=out, exported=True
    )
    return run(module(main), left, right).value


def test_two_string_operations() -> None:
    assert two_str("concat", "ab", "cd", STR) == "abcd"
    assert two_str("contains", "abc", "bc", BOOL) is True
    assert two_str("find", "abcabc", "ca", INT) == 2
    assert two_str("find", "abc", "z", INT) == -1
    assert two_str("split", "a,,b", ",", STRS) == ["a", "", "b"]
    assert two_str("eq", "a", "a", BOOL) is True
    with pytest.raises(ExecutionError) as info:
        two_str("split", "abc", "", STRS)
    assert info.value.code == "runtime.empty-separator"


def test_tostr_of_ints_and_bools() -> None:
    main = fn(
        "main",
        [ins("tostr", 2, 0), ins("tostr", 3, 1), ins("concat", 2, 2, 3), ins("ret", 2)],
        registers=(INT, BOOL, STR, STR),
        params=2,
        result=STR,
        exported=True,
    )
    assert run(module(main), -42, True).value == "-42true"
    assert run(module(main), 0, False).value == "0false"


def test_slice_clamps_and_repeat_join_charat() -> None:
    main = fn(
        "main",
        [ins("slice", 3, 0, 1), ins("ret", 3)],
        registers=(STR, INT, INT, STR),
        params=3,
        result=STR,
        exported=True,
    )
    mod = module(main)
    assert run(mod, "hello", 1, 3).value == "el"
    assert run(mod, "hello", -5, 99).value == "hello"
    assert run(mod, "hello", 4, 2).value == ""
    rep = fn(
        "main", [ins("repeat", 2, 0, 1), ins("ret", 2)], registers=(STR, INT, STR), params=2, result=STR, exported=True
    )
    assert run(module(rep), "ab", 3).value == "ababab"
    assert run(module(rep), "ab", -1).value == ""
    join = fn(
        "main", [ins("join", 2, 0, 1), ins("ret", 2)], registers=(STRS, STR, STR), params=2, result=STR, exported=True
    )
    assert run(module(join), ["a", "b", "c"], "-").value == "a-b-c"
    charat = fn(
        "main", [ins("charat", 2, 0, 1), ins("ret", 2)], registers=(STR, INT, STR), params=2, result=STR, exported=True
    )
    assert run(module(charat), "héllo", 1).value == "é"
    with pytest.raises(ExecutionError) as info:
        run(module(charat), "abc", -1)
    assert info.value.code == "runtime.index-out-of-range"


def array_program() -> Module:
    """main(n) builds [0, 1, ..., n-1], doubles each item in place, pops the last and returns the sum."""
    code = [
        ins("newarr", 1),  # 0  xs = []
        ins("loadk", 2, 0),  # 1  i = 0
        ins("loadk", 5, 1),  # 2  one = 1
        ins("lt", 3, 2, 0),  # 3  loop: c = i < n
        ins("jmpifnot", 3, 8),  # 4
        ins("push", 1, 2),  # 5
        ins("add", 2, 2, 5),  # 6
        ins("jmp", 3),  # 7
        ins("loadk", 2, 0),  # 8  i = 0
        ins("len", 6, 1),  # 9  loop2: len
        ins("lt", 3, 2, 6),  # 10
        ins("jmpifnot", 3, 17),  # 11
        ins("getidx", 4, 1, 2),  # 12
        ins("add", 4, 4, 4),  # 13
        ins("setidx", 1, 2, 4),  # 14
        ins("add", 2, 2, 5),  # 15
        ins("jmp", 9),  # 16
        ins("pop", 4, 1),  # 17
        ins("loadk", 7, 0),  # 18 total = 0
        ins("loadk", 2, 0),  # 19 i = 0
        ins("len", 6, 1),  # 20 loop3
        ins("lt", 3, 2, 6),  # 21
        ins("jmpifnot", 3, 27),  # 22
        ins("getidx", 4, 1, 2),  # 23
        ins("add", 7, 7, 4),  # 24
        ins("add", 2, 2, 5),  # 25
        ins("jmp", 20),  # 26
        ins("ret", 7),  # 27
    ]
    main = fn("main", code, registers=(INT, INTS, INT, BOOL, INT, INT, INT, INT), params=1, result=INT, exported=True)
    return module(main, constants=(0, 1))


def test_arrays_push_index_pop() -> None:
    # items 0..9 doubled: 0, 2, ..., 18; the last (18) is popped
    assert run(array_program(), 10).value == sum(2 * i for i in range(9))


def test_index_out_of_range_and_pop_empty_trap_with_location() -> None:
    get = fn(
        "main", [ins("getidx", 2, 0, 1), ins("ret", 2)], registers=(INTS, INT, INT), params=2, result=INT, exported=True
    )
    mod = module(get, files=("p.chr",), source=(positions(get, 0, 7),))
    for index in (-1, 3, I64_MAX):
        with pytest.raises(ExecutionError) as info:
            run(mod, [1, 2, 3], index)
        assert info.value.code == "runtime.index-out-of-range"
        assert info.value.details["location"] == {"function": "main", "index": 0, "file": "p.chr", "line": 7, "col": 1}
    pop = fn("main", [ins("pop", 1, 0), ins("ret", 1)], registers=(INTS, INT), params=1, result=INT, exported=True)
    with pytest.raises(ExecutionError) as info:
        run(module(pop), [])
    assert info.value.code == "runtime.pop-empty"


def test_arrays_are_shared_by_reference_across_calls() -> None:
    fill = fn("fill", [ins("push", 0, 1), ins("retv")], registers=(INTS, INT), params=2)
    main = fn(
        "main",
        [ins("newarr", 1), ins("mov", 2, 1), ins("loadk", 3, 0), ins("call", 0, 2, 0), ins("len", 0, 1), ins("ret", 0)],
        registers=(INT, INTS, INTS, INT),
        params=1,
        result=INT,
        exported=True,
    )
    assert run(module(fill, main, constants=(5,)), 0).value == 1


def test_division_by_zero_reports_the_call_stack() -> None:
    inner = fn("inner", [ins("div", 2, 0, 1), ins("ret", 2)], registers=(INT, INT, INT), params=2, result=INT)
    main = fn(
        "main",
        [ins("loadk", 1, 0), ins("loadk", 2, 1), ins("call", 0, 1, 0), ins("ret", 0)],
        registers=(INT, INT, INT),
        params=1,
        result=INT,
        exported=True,
    )
    mod = module(
        inner, main, constants=(10, 0), files=("a.chr",), source=(positions(inner, 0, 3), positions(main, 0, 20))
    )
    with pytest.raises(ExecutionError) as info:
        run(mod, 1)
    error = info.value
    assert error.code == "runtime.division-by-zero"
    assert error.details["stack"] == [
        {"function": "main", "index": 2, "file": "a.chr", "line": 22, "col": 1},
        {"function": "inner", "index": 0, "file": "a.chr", "line": 3, "col": 1},
    ]
    assert "a.chr:3:1" in error.message


def test_trap_instruction_carries_its_message() -> None:
    main = fn("main", [ins("trap", 0)], exported=True)
    with pytest.raises(ExecutionError) as info:
        run(module(main, constants=("missing return",)))
    assert info.value.code == "runtime.trap"
    assert "missing return" in info.value.message


def test_entry_arguments_are_checked_before_anything_runs() -> None:
    main = fn("main", [ins("ret", 0)], registers=(INT,), params=1, result=INT, exported=True)
    mod = module(main)
    for bad in ((), (True,), ("1",), (2**63,), (1, 2)):
        with pytest.raises(UsageError) as info:
            run(mod, *bad)
        assert info.value.code == "usage.bad-arguments"
    with pytest.raises(UsageError) as info:
        run(mod, 1, entry="nope")
    assert info.value.code == "usage.unknown-entry"
    hidden = fn("hidden", [ins("retv")])
    with pytest.raises(UsageError):
        run(module(main, hidden), entry="hidden")


def test_host_arrays_are_copied_in_and_out() -> None:
    main = fn("main", [ins("push", 0, 1), ins("ret", 0)], registers=(INTS, INT), params=2, result=INTS, exported=True)
    given = [1, 2]
    result = run(module(main), given, 3)
    assert result.value == [1, 2, 3]
    assert given == [1, 2]


def test_capability_handlers_get_arguments_and_call_site() -> None:
    seen: list[tuple[Sequence[object], object]] = []

    def handler(args: Sequence[object], site: object) -> object:
        seen.append((list(args), site))
        return "v:" + str(args[0])

    main = fn(
        "main",
        [ins("loadk", 1, 0), ins("capcall", 0, 1, 2), ins("ret", 2)],
        registers=(INT, STR, STR),
        params=1,
        result=STR,
        exported=True,
    )
    mod = module(main, constants=("key",), capabilities=(Capability("kv.get", (STR,), STR),))
    outcome = Interpreter(verify(mod), HARD_LIMITS, [handler]).call("main", [0])
    assert outcome.value == "v:key"
    assert outcome.instructions == 3
    assert seen == [(["key"], (0, 0, 1, 2))]


def test_missing_handler_is_a_structured_error() -> None:
    main = fn("main", [ins("capcall", 0, 0, 0), ins("retv")], exported=True)
    mod = module(main, capabilities=(Capability("log.flush", (), None),))
    with pytest.raises(ExecutionError) as info:
        run(mod)
    assert info.value.code == "runtime.capability-unavailable"


def constants_module(*constants: Constant) -> Module:
    main = fn("main", [ins("loadk", 0, 0), ins("ret", 0)], registers=(STR,), result=STR, exported=True)
    return module(main, constants=constants)


def test_limits_on_entry_arguments() -> None:
    main = fn("main", [ins("len", 1, 0), ins("ret", 1)], registers=(STR, INT), params=1, result=INT, exported=True)
    with pytest.raises(UsageError):
        run(module(main), "x" * 11, limits=Limits(max_string_len=10))
    with pytest.raises(ResourceLimitError) as info:
        run(module(main), "x" * 10, limits=Limits(max_string_len=10, max_allocation=5))
    assert info.value.code == "limit.allocation"
