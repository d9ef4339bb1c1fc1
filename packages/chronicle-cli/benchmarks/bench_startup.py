"""Start-up: takes nothing, gives the wall time of `chronicle-vm run` on a small plugin above bare `python -c pass`.

Issue 20's bar: at most 0.1 s above `python -c pass`, the same run, the
median of ROUNDS interleaved launches of each, with bytecode cached (a
private `PYTHONPYCACHEPREFIX`, warmed by one launch of each first, so the
figure does not depend on `PYTHONDONTWRITEBYTECODE` or on a writable
source tree).  Two plugins: a loop without capabilities and no policy, and
examples/hello.chr under examples/hello.toml (a policy, the key-value store
and logging).  Also `import chronicle_vm.runtime` alone, for a host that embeds it.  The bar is wall
time; `*_cpu_*` give the same comparison in the children's CPU seconds, which other load on a shared
machine disturbs less.

    python packages/chronicle-cli/benchmarks/bench_startup.py
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 10
SMALL = """
pub fn main(n: int) -> int {
    let s = 0;
    for i in 0..n { s = s + i; }
    return s;
}
"""
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _wall(argv: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall seconds of one launch, and the CPU seconds (user + system) the child used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _cli() -> list[str]:
    """`chronicle-vm` as the console script does it, through this Python."""
    return [sys.executable, "-c", "import sys; from chronicle_cli.vm import main; sys.exit(main())"]


def _launch(module: str) -> list[str]:
    """A console script's `main` run as the script does it, through this Python."""
    return [sys.executable, "-c", f"import sys; from chronicle_cli.{module} import main; sys.exit(main())"]


def run() -> dict[str, float]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as tmp:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        (Path(tmp) / "small.chr").write_text(SMALL, encoding="utf-8")
        subprocess.run(
            [*_launch("chronc"), "small.chr", "-o", "small.cmod"],
            env=env,
            cwd=tmp,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        hello = str(EXAMPLES / "hello.chr")
        subprocess.run(
            [*_launch("chronc"), hello, "-o", "hello.cmod"], env=env, cwd=tmp, check=True, stdout=subprocess.DEVNULL
        )
        commands = {
            "python_pass": [sys.executable, "-c", "pass"],
            "import_chronicle_vm": [sys.executable, "-c", "import chronicle_vm.runtime"],
            "run_small": [*_launch("vm"), "run", "small.cmod", "--arg", "10"],
            "run_hello": [*_launch("vm"), "run", "hello.cmod", "--policy", str(EXAMPLES / "hello.toml"), "--arg", "5"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for argv in commands.values():  # warm the bytecode cache and the file system
            _wall(argv, env, tmp)
        for _ in range(ROUNDS):
            for name, argv in commands.items():
                if name == "run_hello":
                    (Path(tmp) / "hello.sqlite").unlink(missing_ok=True)
                wall, used = _wall(argv, env, tmp)
                times[name].append(wall)
                cpu[name].append(used)
    medians = {f"{name}_s": statistics.median(values) for name, values in times.items()}
    medians.update({f"{name}_cpu_s": statistics.median(values) for name, values in cpu.items()})
    for name in ("import_chronicle_vm", "run_small", "run_hello"):
        # The bar is wall time; CPU time is the same comparison less disturbed by other load on the machine.
        medians[f"{name}_above_python_s"] = medians[f"{name}_s"] - medians["python_pass_s"]
        medians[f"{name}_cpu_above_python_s"] = medians[f"{name}_cpu_s"] - medians["python_pass_cpu_s"]
    return medians


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:40} {value:.4f}")
