"""Verifier benchmark: takes nothing, gives the time to verify a ~1 MiB module (median of 5) and instructions/s.

Run it with `python packages/chronicle-cli/benchmarks/bench_verify.py`.
The main module is synthetic but verifiable and shaped like compiler output:
many functions of ~200 instructions mixing arithmetic, comparisons, forward
branches, calls, capability calls, strings and arrays, one source position
per instruction.  A second, adversarial module measures the worst case of the
call-window check: a caller with the maximum register count calling a callee
with half as many parameters from every possible window start.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable

from chronicle_vm.core.isa import OPS_BY_NAME
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT, STR, array_type
from chronicle_vm.limits import HARD_LIMITS
from chronicle_vm.verifier.rules import verify

TARGET_BYTES = 1 << 20
INSTRUCTIONS_PER_FUNCTION = 200
REPEATS = 5
INSTRUCTION_BYTES = 13  # opcode byte + three u32 operands

INT_ARRAY = array_type(INT.base, 1)
STR_ARRAY = array_type(STR.base, 1)
# r0..r3 int (r0, r1 the parameters), r4 r5 bool, r6 r7 str, r8 [int], r9 [str], r10 r11 int (slice bounds)
REGISTERS = (INT, INT, INT, INT, BOOL, BOOL, STR, STR, INT_ARRAY, STR_ARRAY, INT, INT)
INT_CONSTANTS = 64
CONSTANTS: tuple[int | str, ...] = tuple(range(-32, 32)) + tuple(f"text {i}" for i in range(64))
CAPABILITIES = (Capability("log.info", (STR,), None), Capability("clock.now", (), INT))


def _op(mnemonic: str, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    return Instruction(OPS_BY_NAME[mnemonic].op.value, a, b, c)


def _straight(rng: random.Random, callee: int | None) -> Instruction:
    """One instruction that does not branch."""
    pick = rng.randrange(16)
    if pick == 0:
        return _op("loadk", rng.randrange(4), rng.randrange(INT_CONSTANTS))
    if pick == 1:
        return _op("loadk", 6 + rng.randrange(2), INT_CONSTANTS + rng.randrange(64))
    if pick <= 5:
        name = rng.choice(("add", "sub", "mul", "div", "mod"))
        return _op(name, rng.randrange(4), rng.randrange(4), rng.randrange(4))
    if pick == 6:
        return _op(rng.choice(("lt", "le", "gt", "ge", "eq", "ne")), 4 + rng.randrange(2), rng.randrange(4), 3)
    if pick == 7:
        return _op("concat", 6, 6, 7)
    if pick == 8:
        return _op("find", 0, 6, 7) if rng.random() < 0.5 else _op("slice", 7, 6, 10)
    if pick == 9:
        return _op("push", 8, rng.randrange(4))
    if pick == 10:
        return _op("getidx", rng.randrange(4), 8, 1) if rng.random() < 0.5 else _op("setidx", 8, 1, 2)
    if pick == 11:
        return _op("tostr", 7, rng.randrange(4)) if rng.random() < 0.5 else _op("split", 9, 6, 7)
    if pick == 12:
        return _op("capcall", 0, 6, 0) if rng.random() < 0.5 else _op("capcall", 1, 0, 3)
    if pick == 13 and callee is not None:
        return _op("call", callee, 0, 2)
    if pick == 14:
        return _op("mov", rng.randrange(4), rng.randrange(4))
    return _op("not", 5, 4)


def _function(rng: random.Random, index: int, with_positions: bool) -> tuple[Function, tuple[SourcePos, ...]]:
    n = INSTRUCTIONS_PER_FUNCTION
    callee = index - 1 if index > 0 else None
    code: list[Instruction] = [_op("newarr", 8)]
    while len(code) < n - 1:
        if rng.random() < 0.08:
            target = rng.randrange(len(code) + 1, n)  # forward, so every loop in a real program is a back edge
            code.append(_op(rng.choice(("jmpif", "jmpifnot")), 4, target))
        else:
            code.append(_straight(rng, callee))
    code.append(_op("ret", 2))
    function = Function(
        name=f"function_{index}",
        exported=index % 10 == 0,
        param_count=2,
        result=INT,
        registers=REGISTERS,
        code=tuple(code),
    )
    positions = tuple(SourcePos(index % 4, 1 + i, 1 + i % 60) for i in range(n)) if with_positions else ()
    return function, positions


def build_module(target_bytes: int = TARGET_BYTES, seed: int = 7, *, with_positions: bool = False) -> Module:
    """A deterministic verifiable module of about `target_bytes` encoded bytes.

    Without positions an instruction is 13 bytes, so 1 MiB is about 80,000
    instructions; with one source position per instruction, about half that.
    """
    rng = random.Random(seed)
    files = tuple(f"src/plugin/part{i}.chr" for i in range(4))
    functions: list[Function] = []
    positions: list[tuple[SourcePos, ...]] = []

    def module() -> Module:
        return Module(CONSTANTS, CAPABILITIES, tuple(functions), SourceMap(files, tuple(positions)))

    base = _encoded_size(module())
    function, where = _function(rng, 0, with_positions)
    functions.append(function)
    positions.append(where)
    count = max(1, (target_bytes - base) // (_encoded_size(module()) - base))
    for index in range(1, count):
        function, where = _function(rng, index, with_positions)
        functions.append(function)
        positions.append(where)
    return module()


def build_worst_call_windows() -> Module:
    """Adversarial: every call is a distinct, valid window of the longest parameter list that fits twice."""
    registers = HARD_LIMITS.max_registers
    params = registers // 2
    callee = Function("callee", False, params, None, (INT,) * params, (_op("retv"),))
    calls = tuple(_op("call", 1, start, 0) for start in range(registers - params + 1))
    caller = Function("caller", True, 0, None, (INT,) * registers, (*calls, _op("retv")))
    return Module((), (), (caller, callee), SourceMap((), ((), ())))


def _encoded_size(module: Module) -> int:
    try:
        return len(module.to_bytes())
    except ImportError:  # the encoder is another stage's; estimate until it exists
        return sum(len(f.code) * INSTRUCTION_BYTES + len(f.registers) * 2 + 32 for f in module.functions)


def _median_seconds(action: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    times: list[float] = []
    for _ in range(REPEATS):
        start = clock()
        action()
        times.append(clock() - start)
    return statistics.median(times)


def run() -> dict[str, float]:
    """Verify each module REPEATS times; the figures are medians.

    `verify_cpu_seconds` is process CPU time (less sensitive to other load
    than the wall-clock `verify_seconds`); `verify_bare_loop_seconds` is a
    plain Python loop unpacking every instruction of the main module once: a
    yardstick for the machine's speed at the moment of the run.
    """
    module = build_module()
    instructions = sum(len(f.code) for f in module.functions)
    size = _encoded_size(module)
    seconds = _median_seconds(lambda: verify(module))
    cpu_seconds = _median_seconds(lambda: verify(module), time.process_time)
    every = [instruction for function in module.functions for instruction in function.code]
    bare = _median_seconds(lambda: [op + a + b + c for op, a, b, c in every])
    positioned = build_module(with_positions=True)
    positioned_seconds = _median_seconds(lambda: verify(positioned))
    positioned_cpu = _median_seconds(lambda: verify(positioned), time.process_time)
    worst = build_worst_call_windows()
    worst_seconds = _median_seconds(lambda: verify(worst))
    worst_cpu = _median_seconds(lambda: verify(worst), time.process_time)
    return {
        "verify_encoded_bytes": float(size),
        "verify_functions": float(len(module.functions)),
        "verify_instructions": float(instructions),
        "verify_seconds": seconds,
        "verify_cpu_seconds": cpu_seconds,
        "verify_mib_per_second": size / (1 << 20) / seconds,
        "verify_instructions_per_second": instructions / seconds,
        "verify_bare_loop_seconds": bare,
        "verify_with_positions_encoded_bytes": float(_encoded_size(positioned)),
        "verify_with_positions_instructions": float(sum(len(f.code) for f in positioned.functions)),
        "verify_with_positions_seconds": positioned_seconds,
        "verify_with_positions_cpu_seconds": positioned_cpu,
        "verify_worst_call_windows_encoded_bytes": float(_encoded_size(worst)),
        "verify_worst_call_windows_seconds": worst_seconds,
        "verify_worst_call_windows_cpu_seconds": worst_cpu,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:42} {value:,.4f}")
