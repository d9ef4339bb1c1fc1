"""Assembler speed: takes nothing, gives seconds to parse and assemble (and disassemble) a 100,000-instruction `.casm`.

The program is generated, not stored: functions of 1,000 instructions mixing
arithmetic, constants (named and inline), labels and jumps, calls,
capability calls and a source position on every line, so every part of the
parser and the assembler is on the measured path.
"""

from __future__ import annotations

import time

from chronicle_asm import assemble_text, disassemble

INSTRUCTIONS = 100_000
PER_FUNCTION = 1_000


def program(instructions: int = INSTRUCTIONS, per_function: int = PER_FUNCTION) -> str:
    """A `.casm` text with exactly `instructions` instructions."""
    lines = [
        '.file "bench.chr"',
        ".const one 1",
        '.const greeting "hello, world\\n"',
        ".cap log.info (str)",
    ]
    functions = instructions // per_function
    for f in range(functions):
        lines.append(f".func f{f} export (int) -> int")
        lines.append("  .regs int, int, bool, str")
        line = f * per_function
        emitted = 0
        while emitted < per_function - 1:
            line += 1
            lines.append(f"top{emitted}:")
            block = [
                f"    loadk r1, {emitted}",
                "    add r2, r0, r1",
                "    lt r3, r2, r1",
                f"    jmpifnot r3, top{emitted}",
                "    loadk r4, greeting",
                "    capcall log.info, r4, r0",
                "    loadk r1, one",
                f"    call f{f}, r2, r2",
            ]
            for text in block[: per_function - 1 - emitted]:
                lines.append(f"{text} @0:{line}:5 ; comment")
                emitted += 1
        lines.append("    ret r0 @0:1:1")
        lines.append(".end")
    return "\n".join(lines) + "\n"


def run() -> dict[str, float]:
    """Seconds (wall and CPU) for parse+assemble, and for disassembly, of one 100,000-instruction program."""
    text = program()
    cpu = time.process_time()
    start = time.perf_counter()
    module = assemble_text(text, "bench.casm")
    assembled = time.perf_counter()
    assembled_cpu = time.process_time()
    listing = disassemble(module)
    disassembled = time.perf_counter()
    count = sum(len(f.code) for f in module.functions)
    if count != INSTRUCTIONS:
        raise AssertionError(f"generated {count} instructions, expected {INSTRUCTIONS}")
    return {
        "assemble_100k_s": assembled - start,
        "assemble_100k_cpu_s": assembled_cpu - cpu,
        "disassemble_100k_s": disassembled - assembled,
        "casm_bytes": float(len(text)),
        "listing_bytes": float(len(listing)),
    }


if __name__ == "__main__":
    for name, value in run().items():
        print(f"{name}: {value:.3f}")
