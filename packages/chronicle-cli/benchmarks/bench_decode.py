"""Decode benchmark: takes nothing, gives the time to decode a ~1 MiB `.cmod` module (median of 5) and MiB/s.

Run it with `python packages/chronicle-cli/benchmarks/bench_decode.py`.
The module is synthetic but shaped like compiler output: many functions,
each with typed registers, a few hundred instructions and one source
position per instruction, plus a constant pool of ints and strings.  A
second module measures the worst case for the decoder: ~1 MiB of empty
functions, the most structures per byte the format allows.
"""

from __future__ import annotations

import random
import statistics
import time

from chronicle_vm.core.isa import OPCODES, Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, FLOAT, INT, STR, StructDef, StructField, array_type, map_type, struct_type

TARGET_BYTES = 1 << 20
INSTRUCTIONS_PER_FUNCTION = 200
REGISTERS_PER_FUNCTION = 24
CONSTANTS = 4_000
REPEATS = 5


def _function(rng: random.Random, index: int) -> tuple[Function, tuple[SourcePos, ...]]:
    ops = sorted(OPCODES)
    types = (INT, BOOL, STR, array_type(INT.base, 1), array_type(STR.base, 2))
    code = tuple(
        Instruction(rng.choice(ops), rng.randrange(256), rng.randrange(70_000), rng.randrange(1 << 32))
        for _ in range(INSTRUCTIONS_PER_FUNCTION)
    )
    function = Function(
        name=f"module.part{index}.function_{index}",
        exported=index % 7 == 0,
        param_count=3,
        result=INT if index % 2 else None,
        registers=tuple(rng.choice(types) for _ in range(REGISTERS_PER_FUNCTION)),
        code=code,
    )
    positions = tuple(SourcePos(index % 5, 10 + line, 1 + line % 40) for line in range(INSTRUCTIONS_PER_FUNCTION))
    return function, positions


def build_module(target_bytes: int = TARGET_BYTES, seed: int = 1) -> Module:
    """A deterministic module of about `target_bytes` encoded bytes (never less)."""
    rng = random.Random(seed)
    constants: tuple[int | str, ...] = tuple(
        rng.randrange(-(2**63), 2**63) if i % 2 else f"constant string #{i} ✓" for i in range(CONSTANTS)
    )
    capabilities = tuple(Capability(f"cap.c{i}", (INT, STR), INT if i % 2 else None) for i in range(20))
    files = tuple(f"src/plugin/part{i}.chr" for i in range(5))
    functions: list[Function] = []
    positions: list[tuple[SourcePos, ...]] = []

    def module() -> Module:
        return Module(constants, capabilities, tuple(functions), SourceMap(files, tuple(positions)))

    base = len(module().to_bytes())
    function, where = _function(rng, 0)
    functions.append(function)
    positions.append(where)
    per_function = len(module().to_bytes()) - base
    count = max(1, -(-(target_bytes - base) // per_function))
    for index in range(1, count):
        function, where = _function(rng, index)
        functions.append(function)
        positions.append(where)
    return module()


def worst_case_module(target_bytes: int = TARGET_BYTES) -> Module:
    """The most structures per byte: empty one-letter functions (18 bytes each in section 3, 4 in the source map)."""
    count = target_bytes // 23
    empty = Function(name="f", exported=False, param_count=0, result=None, registers=(), code=())
    return Module(functions=(empty,) * count, source_map=SourceMap(functions=((),) * count))


def v2_module(target_bytes: int = TARGET_BYTES) -> Module:
    """A version-2 module of wide functions whose registers are map, struct and float types (4 bytes each)."""
    item = StructDef("Item", (StructField("sku", STR), StructField("unit", FLOAT)))
    kinds = (map_type(STR, INT), FLOAT, struct_type(0), map_type(INT, struct_type(0)).array_of())
    width = 4096
    registers = kinds * (width // len(kinds))
    count = max(1, target_bytes // (4 * width + 40))
    functions = tuple(Function(f"f{i}", True, 0, None, registers, (Instruction(int(Op.RETV)),)) for i in range(count))
    return Module(functions=functions, source_map=SourceMap(functions=((),) * count), structs=(item,))


def _median_decode(data: bytes) -> tuple[float, float]:
    """Median wall and CPU seconds of REPEATS decodes."""
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(REPEATS):
        cpu_start, start = time.process_time(), time.perf_counter()
        Module.from_bytes(data)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return statistics.median(wall), statistics.median(cpu)


def run() -> dict[str, float]:
    """Decode (and encode) the module REPEATS times; the figures are medians, wall clock unless named cpu."""
    module = build_module()
    data = module.to_bytes()
    decoded = Module.from_bytes(data)
    if decoded != module or decoded.to_bytes() != data:
        raise AssertionError("round trip is not exact")
    decode_seconds, decode_cpu = _median_decode(data)
    encode_times: list[float] = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        module.to_bytes()
        encode_times.append(time.perf_counter() - start)
    encode_seconds = statistics.median(encode_times)
    worst = worst_case_module().to_bytes()
    worst_seconds, worst_cpu = _median_decode(worst)
    mib = len(data) / (1 << 20)
    worst_mib = len(worst) / (1 << 20)
    v2 = v2_module().to_bytes()
    v2_seconds, v2_cpu = _median_decode(v2)
    v2_mib = len(v2) / (1 << 20)
    return {
        "module_mib": mib,
        "functions": float(len(module.functions)),
        "instructions": float(sum(len(f.code) for f in module.functions)),
        "decode_seconds": decode_seconds,
        "decode_cpu_seconds": decode_cpu,
        "decode_mib_per_second": mib / decode_seconds,
        "encode_seconds": encode_seconds,
        "encode_mib_per_second": mib / encode_seconds,
        "worst_case_mib": worst_mib,
        "worst_case_decode_seconds": worst_seconds,
        "worst_case_decode_cpu_seconds": worst_cpu,
        "worst_case_mib_per_second": worst_mib / worst_seconds,
        "v2_mib": v2_mib,
        "v2_decode_seconds": v2_seconds,
        "v2_decode_cpu_seconds": v2_cpu,
        "v2_mib_per_second": v2_mib / v2_seconds,
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name:30} {value:12.4f}")
