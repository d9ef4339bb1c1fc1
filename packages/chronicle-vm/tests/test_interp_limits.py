"""Every limit stops the run exactly where docs/isa.md says, with a ResourceLimitError, never a Python error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from chronicle_testing.verify_builders import fn, ins, module, positions
from chronicle_vm.core.model import Module
from chronicle_vm.core.types import BOOL, INT, STR, array_type
from chronicle_vm.engines.reference import Interpreter, RunOutcome
from chronicle_vm.errors import ResourceLimitError
from chronicle_vm.limits import HARD_LIMITS, Limits
from chronicle_vm.verifier.rules import verify

INTS = array_type(INT.base, 1)


def run(mod: Module, *args: object, limits: Limits = HARD_LIMITS) -> RunOutcome:
    return Interpreter(verify(mod), limits).call("main", args)


def counting_loop() -> Module:
    """main(n): i = 0; while i < n: i += 1; return i  — 3 + 4n + 1 instructions... precisely counted below."""
    code = [
        ins("loadk", 1, 0),  # 0 i = 0
        ins("loadk", 2, 1),  # 1 one = 1
        ins("lt", 3, 1, 0),  # 2 loop: c = i < n
        ins("jmpifnot", 3, 6),  # 3
        ins("add", 1, 1, 2),  # 4
        ins("jmp", 2),  # 5
        ins("ret", 1),  # 6
    ]
    main = fn("main", code, registers=(INT, INT, INT, BOOL), params=1, result=INT, exported=True)
    return module(main, constants=(0, 1), files=("loop.chr",), source=(positions(main),))


def loop_instructions(n: int) -> int:
    return 2 + 4 * n + 2 + 1


def test_instruction_count_is_exact() -> None:
    for n in (0, 1, 5, 100):
        assert run(counting_loop(), n).instructions == loop_instructions(n)


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 5, 6, 7, 17, 18, 19])
def test_max_instructions_stops_before_instruction_n_plus_one(limit: int) -> None:
    total = loop_instructions(4)  # 21
    if limit >= total:
        assert run(counting_loop(), 4, limits=Limits(max_instructions=limit)).instructions == total
        return
    with pytest.raises(ResourceLimitError) as info:
        run(counting_loop(), 4, limits=Limits(max_instructions=limit))
    error = info.value
    assert error.code == "limit.instructions"
    assert error.details["instructions"] == limit
    assert error.details["limit"] == "max_instructions"
    assert error.details["value"] == limit
    # the location is the instruction that did not run: trace the pc sequence to find it
    pcs = [0, 1] + [2, 3, 4, 5] * 4 + [2, 3, 6]
    expected = pcs[limit]
    assert error.details["location"]["index"] == expected
    assert error.details["location"]["line"] == expected + 1


def test_a_run_with_limit_equal_to_its_count_finishes() -> None:
    total = loop_instructions(3)
    assert run(counting_loop(), 3, limits=Limits(max_instructions=total)).instructions == total
    with pytest.raises(ResourceLimitError):
        run(counting_loop(), 3, limits=Limits(max_instructions=total - 1))


def recursive(depth_param: bool = True) -> Module:
    """down(n) = n == 0 ? 0 : 1 + down(n - 1); main(n) = down(n)."""
    down = fn(
        "down",
        [
            ins("loadk", 1, 0),  # 0 zero
            ins("eq", 2, 0, 1),  # 1
            ins("jmpifnot", 2, 4),  # 2
            ins("ret", 1),  # 3
            ins("loadk", 3, 1),  # 4 one
            ins("sub", 4, 0, 3),  # 5
            ins("call", 0, 4, 4),  # 6
            ins("add", 4, 4, 3),  # 7
            ins("ret", 4),  # 8
        ],
        registers=(INT, INT, BOOL, INT, INT),
        params=1,
        result=INT,
    )
    main = fn("main", [ins("call", 0, 0, 0), ins("ret", 0)], registers=(INT,), params=1, result=INT, exported=True)
    return module(down, main, constants=(0, 1))


def test_deep_recursion_never_meets_pythons_recursion_limit() -> None:
    depth = sys.getrecursionlimit() * 5
    outcome = run(recursive(), depth, limits=Limits(max_call_depth=depth + 2, max_instructions=10**8))
    assert outcome.value == depth


def test_call_depth_limit() -> None:
    assert run(recursive(), 8, limits=Limits(max_call_depth=10)).value == 8  # main + 9 frames of down
    with pytest.raises(ResourceLimitError) as info:
        run(recursive(), 9, limits=Limits(max_call_depth=10))
    assert info.value.code == "limit.call-depth"
    assert len(info.value.details["stack"]) == 10


def test_register_limits_per_frame_and_across_frames() -> None:
    with pytest.raises(ResourceLimitError) as info:
        run(recursive(), 3, limits=Limits(max_registers=4))
    assert info.value.code == "limit.registers"
    # main has 1 register, each down frame 5: main + 3 frames = 16 fits, + 4 frames = 21 does not
    assert run(recursive(), 2, limits=Limits(max_stack_registers=16)).value == 2
    with pytest.raises(ResourceLimitError) as info:
        run(recursive(), 3, limits=Limits(max_stack_registers=16))
    assert info.value.code == "limit.stack-registers"


def push_forever() -> Module:
    code = [ins("newarr", 0), ins("loadk", 1, 0), ins("push", 0, 1), ins("jmp", 2)]
    main = fn("main", code, registers=(INTS, INT), result=INT, exported=True)
    return module(main, constants=(7,))


def test_array_pushed_in_a_loop_stops_at_max_array_len() -> None:
    with pytest.raises(ResourceLimitError) as info:
        run(push_forever(), limits=Limits(max_array_len=1000))
    assert info.value.code == "limit.array-len"
    assert info.value.details["location"]["index"] == 2


def doubling() -> Module:
    """s = "ab"; loop: s = s + s."""
    code = [ins("loadk", 0, 0), ins("concat", 0, 0, 0), ins("jmp", 1)]
    main = fn("main", code, registers=(STR,), result=STR, exported=True)
    return module(main, constants=("ab",))


def test_a_string_doubled_sixty_times_stops_at_max_string_len() -> None:
    with pytest.raises(ResourceLimitError) as info:
        run(doubling(), limits=Limits(max_string_len=1_000_000))
    assert info.value.code == "limit.string-len"


def test_a_huge_repeat_stops_before_allocating() -> None:
    main = fn(
        "main",
        [ins("loadk", 0, 0), ins("loadk", 1, 1), ins("repeat", 0, 0, 1), ins("ret", 0)],
        registers=(STR, INT),
        result=STR,
        exported=True,
    )
    with pytest.raises(ResourceLimitError) as info:
        run(module(main, constants=("xyz", 2**62)), limits=Limits())
    assert info.value.code == "limit.string-len"


def test_cumulative_allocation_is_bounded_even_when_each_string_fits() -> None:
    """Many strings each under max_string_len, all kept alive in an array: max_allocation stops it."""
    code = [
        ins("newarr", 0),  # 0
        ins("loadk", 1, 0),  # 1 s = "x" * 1000 (constant)
        ins("concat", 2, 1, 1),  # 2 loop: t = s + s (a fresh 2000-char string)
        ins("push", 3, 2),  # 3 keep it alive in an [str]... (r3 is [str])
        ins("jmp", 2),  # 4
    ]
    main = fn("main", code, registers=(INTS, STR, STR, array_type(STR.base, 1)), result=INT, exported=True)
    mod = module(main, constants=("x" * 1000,))
    with pytest.raises(ResourceLimitError) as info:
        run(mod, limits=Limits(max_allocation=1_000_000, max_array_len=10**6))
    assert info.value.code == "limit.allocation"


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from chronicle_testing.verify_builders import fn, ins, module
    from chronicle_vm.errors import ChronicleError
    from chronicle_vm.engines.reference import Interpreter
    from chronicle_vm.limits import Limits
    from chronicle_vm.core.types import INT, STR, array_type
    from chronicle_vm.verifier.rules import verify

    STRS = array_type(STR.base, 1)
    code = [
        ins("loadk", 1, 0), ins("split", 2, 0, 1), ins("loadk", 1, 1), ins("join", 3, 2, 1),
        ins("upper", 3, 3), ins("len", 4, 2), ins("tostr", 5, 4), ins("concat", 3, 3, 5), ins("ret", 3),
    ]
    main = fn("main", code, registers=(STR, STR, STRS, STR, INT, STR), params=1, result=STR, exported=True)
    interp = Interpreter(verify(module(main, constants=(",", "|"))), Limits(max_instructions=7))
    out = []
    for limit in (100, 7):
        try:
            r = Interpreter(verify(module(main, constants=(",", "|"))), Limits(max_instructions=limit)).call(
                "main", ["b,a,ß,{x},é"]
            )
            out.append([r.value, r.instructions])
        except ChronicleError as exc:
            out.append(exc.to_dict())
    print(json.dumps(out, sort_keys=True))
    """
)


def test_same_results_under_different_hash_seeds() -> None:
    outputs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT], capture_output=True, text=True, env=env, check=True, timeout=60
        )
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
    first = json.loads(outputs[0])
    assert first[0] == ["B|A|SS|{X}|É5", 11]  # 9 instructions; split and join of 11 characters pay 1 each
    assert first[1]["code"] == "limit.instructions"


def test_loading_a_constant_longer_than_max_string_len_stops_at_the_limit() -> None:
    main = fn("main", [ins("loadk", 0, 0), ins("ret", 0)], registers=(STR,), result=STR, exported=True)
    mod = module(main, constants=("x" * 101,))
    assert run(mod, limits=Limits(max_string_len=101)).value == "x" * 101
    with pytest.raises(ResourceLimitError) as info:
        run(mod, limits=Limits(max_string_len=100))
    assert info.value.code == "limit.string-len"
    assert info.value.details["location"]["index"] == 0


def test_every_failure_reports_the_instructions_started() -> None:
    main = fn(
        "main",
        [ins("loadk", 1, 0), ins("div", 0, 0, 1), ins("ret", 0)],
        registers=(INT, INT),
        params=1,
        result=INT,
        exported=True,
    )
    with pytest.raises(Exception) as info:
        run(module(main, constants=(0,)), 5)
    assert getattr(info.value, "details", {}).get("instructions") == 2


@pytest.mark.parametrize(("limit", "expected"), [(20, "ok"), (19, "limit.string-len"), (0, "limit.string-len")])
def test_tostr_and_charat_respect_tiny_string_limits_on_both_engines(limit: int, expected: str) -> None:
    from chronicle_vm.engines.compiled import CompiledEngine

    code = [ins("tostr", 1, 0), ins("loadk", 2, 0), ins("charat", 1, 1, 2), ins("ret", 1)]
    main = fn("main", code, registers=(INT, STR, INT), params=1, result=STR, exported=True)
    verified = verify(module(main, constants=(0,)))
    outcomes = []
    for engine in (
        Interpreter(verified, Limits(max_string_len=limit)),
        CompiledEngine(verified, Limits(max_string_len=limit)),
    ):
        try:
            outcomes.append(("ok", engine.call("main", [-(2**63)]).value))
        except ResourceLimitError as exc:
            outcomes.append((exc.code, exc.details["location"]["index"]))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == expected
    if limit == 20:
        assert outcomes[0] == ("ok", "-")
