"""The first-run tour: takes the installed console scripts, gives a narrated run of each stage; fails if one misbehaves.

Run it with `python -m nox -s demo` (or `python examples/demo.py` once the
four packages are installed).  It works in a temporary folder holding copies
of examples/hello.chr, hello.toml, runaway.chr and runaway.toml, so nothing
is written into the repository, and runs the real `chronc` and
`chronicle-vm` through subprocesses: compile, see negotiation refuse the
plugin without a policy, run it under its policy, watch a limit stop a
runaway plugin, record a trace, inspect it and replay it.  Each step checks
the exit status and what the output must say; the first surprise ends the
tour with exit status 1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
FILES = ("hello.chr", "hello.toml", "runaway.chr", "runaway.toml")
MODULES = {"chronc": "chronicle_cli.chronc", "chrasm": "chronicle_cli.chrasm", "chronicle-vm": "chronicle_cli.vm"}


@dataclass(frozen=True)
class Step:
    """One command of the tour: what it shows, the exit status it must end with, and text its output must hold."""

    story: str
    argv: tuple[str, ...]
    status: int = 0
    expect: tuple[str, ...] = ()


STEPS = (
    Step(
        "Compile the plugin: chronc type-checks hello.chr and writes a verified module.",
        ("chronc", "hello.chr", "-o", "hello.cmod"),
        expect=("compiled hello.chr -> hello.cmod",),
    ),
    Step(
        "What does the module contain, and which host capabilities does it ask for?",
        ("chronicle-vm", "verify", "hello.cmod"),
        expect=("verified hello.cmod", "log.info", "kv.get", "kv.set"),
    ),
    Step(
        "Run it without a policy: deny-all refuses every capability before any plugin code runs (exit 13).",
        ("chronicle-vm", "run", "hello.cmod", "--arg", "5"),
        status=13,
        expect=("policy.refused", "log.info", "kv.get", "kv.set", "missing"),
    ),
    Step(
        "Dry-run the negotiation under the example policy: every capability is granted.",
        ("chronicle-vm", "negotiate", "hello.cmod", "--policy", "hello.toml"),
        expect=("granted", "every declared capability is granted"),
    ),
    Step(
        "Run it under the policy: it logs, counts its runs in a SQLite file, and returns runs + 5.",
        ("chronicle-vm", "run", "hello.cmod", "--policy", "hello.toml", "--arg", "5"),
        expect=("[info] hello from a sandboxed plugin, run #1", "result: 6"),
    ),
    Step(
        "Compile a plugin that never stops on its own.",
        ("chronc", "runaway.chr", "-o", "runaway.cmod"),
        expect=("compiled runaway.chr -> runaway.cmod",),
    ),
    Step(
        "Run it: the instruction limit stops it at exactly 100,000 instructions (exit 14).",
        ("chronicle-vm", "run", "runaway.cmod", "--max-instructions", "100000"),
        status=14,
        expect=("limit.instructions", "max_instructions 100000 reached", "runaway.chr:"),
    ),
    Step(
        "Run hello again and record the trace: every capability call with its arguments and result.",
        ("chronicle-vm", "trace", "hello.cmod", "--policy", "hello.toml", "--arg", "5", "-o", "hello.trace.json"),
        expect=("run #2", "result: 7", "trace written to hello.trace.json"),
    ),
    Step(
        "Inspect the trace: provenance (module and policy digests, limits, decisions), events, outcome.",
        ("chronicle-vm", "inspect", "hello.trace.json"),
        expect=("module_sha256", "events (3)", "kv.get", "kv.set", "log.info", "hello.chr:", "outcome: 7"),
    ),
    Step(
        "Replay it: the module runs again against the recorded answers; no clock, no database, no live call.",
        ("chronicle-vm", "replay", "hello.trace.json", "--module", "hello.cmod"),
        expect=("exact replay", "reproduced: returned"),
    ),
    Step(
        "A run stopped by a limit is evidence too: trace the runaway under its own policy ...",
        ("chronicle-vm", "trace", "runaway.cmod", "--policy", "runaway.toml", "-o", "runaway.trace.json"),
        status=14,
        expect=("limit.instructions", "trace written to runaway.trace.json"),
    ),
    Step(
        "... and the replay stops at the same limit, at the same instruction.",
        ("chronicle-vm", "replay", "runaway.trace.json", "--module", "runaway.cmod"),
        expect=("exact replay", "reproduced: limit", "limit.instructions", "instructions: 200000"),
    ),
)


def _tty() -> bool:
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _style(text: str, code: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if _tty() else text


def resolve(script: str) -> list[str]:
    """The installed console script (next to this Python first), else the same entry point through -m."""
    here = shutil.which(script, path=str(Path(sys.executable).parent))
    found = here or shutil.which(script)
    return [found] if found else [sys.executable, "-m", MODULES[script]]


def run_step(number: int, step: Step, folder: Path) -> str | None:
    """Run one step and print it; the reason it failed, or None."""
    print()
    print(_style(f"{number}. {step.story}", "1"))
    print(_style("$ " + " ".join(step.argv), "36"))
    started = time.perf_counter()
    done = subprocess.run(
        [*resolve(step.argv[0]), *step.argv[1:]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "120"},
    )
    elapsed = time.perf_counter() - started
    output = done.stdout + done.stderr
    sys.stdout.write("".join("  " + line + "\n" for line in output.rstrip("\n").splitlines()))
    print(_style(f"  (exit {done.returncode}, {elapsed:.2f} s)", "2"))
    if done.returncode != step.status:
        return f"expected exit status {step.status}, got {done.returncode}"
    missing = [text for text in step.expect if text not in output]
    if missing:
        return f"the output does not mention {missing}"
    return None


def main() -> int:
    missing = [name for name in FILES if not (EXAMPLES / name).is_file()]
    if missing:
        print(f"demo: missing example files in {EXAMPLES}: {', '.join(missing)}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="chronicle-demo-") as temporary:
        folder = Path(temporary)
        for name in FILES:
            shutil.copy(EXAMPLES / name, folder / name)
        print(_style("ChronicleVM first-run tour", "1;32") + f"  (working in {folder})")
        for number, step in enumerate(STEPS, start=1):
            problem = run_step(number, step, folder)
            if problem is not None:
                print(_style(f"\nDEMO FAILED at step {number}: {problem}", "1;31"), file=sys.stderr)
                return 1
    print(_style("\nThe tour is complete: every step behaved as described.", "1;32"))
    print("Next: README.md (the walkthrough) and docs/index.md (every document).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
