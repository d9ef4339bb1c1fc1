"""Integration fixtures: takes the fixture sources, gives them compiled in a temporary folder and a way to run the CLI.

Every command runs in a real subprocess (`python -m chronicle_cli.<script>`,
the same `main` the console scripts call), with the console scripts' folder
first on PATH for the README test.  Subprocesses are slow on a loaded
machine, so the fixtures are compiled once per test module, in parallel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent

_MODULES = {"chronc": "chronicle_cli.chronc", "chrasm": "chronicle_cli.chrasm", "chronicle-vm": "chronicle_cli.vm"}


@dataclass(frozen=True)
class Result:
    """A finished command: its exit status and both streams."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """stdout as the one JSON object it must be (fails the test otherwise)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected exactly one JSON line on stdout, got: {self.stdout!r}"
        value = json.loads(lines[0])
        assert isinstance(value, dict)
        return value


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("CHRONICLE_DEBUG", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


def command(script: str, *args: str) -> list[str]:
    return [sys.executable, "-m", _MODULES[script], *args]


def run_cli(script: str, *args: str, cwd: Path | None = None, timeout: float = 60) -> Result:
    """Run one CLI command to completion."""
    done = subprocess.run(
        command(script, *args),
        cwd=cwd,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


def run_many(jobs: Sequence[tuple[str, Sequence[str]]], cwd: Path) -> list[Result]:
    """Run several commands at once (they must not depend on each other)."""
    procs = [
        (
            args,
            subprocess.Popen(
                command(script, *args),
                cwd=cwd,
                env=environment(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for script, args in jobs
    ]
    results = []
    for args, proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(Result(tuple(args), proc.returncode, out, err))
    return results


RunCli = Callable[..., Result]


@pytest.fixture(scope="session")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every fixture source, compiled once per session by the real scripts (`X.chr` -> `X.cmod`)."""
    folder = tmp_path_factory.mktemp("compiled")
    for item in FIXTURES.iterdir():
        shutil.copy(item, folder / item.name)
    jobs: list[tuple[str, Sequence[str]]] = []
    for source in sorted(FIXTURES.glob("*.chr")):
        if source.stem != "broken":
            jobs.append(("chronc", [source.name]))
    for assembly in ("pure.casm", "unverifiable.casm"):
        jobs.append(("chrasm", [assembly]))
    for result in run_many(jobs, folder):
        assert result.returncode == 0, (result.args, result.stdout, result.stderr)
    return folder


@pytest.fixture(scope="module")
def workdir(compiled: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder per test module holding the fixture sources and their compiled modules."""
    folder = tmp_path_factory.mktemp("cli")
    for item in compiled.iterdir():
        shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture(scope="module")
def cli(workdir: Path) -> RunCli:
    """`cli("chronicle-vm", "run", ...)` in the module's work folder."""

    def run(script: str, *args: str, timeout: float = 60) -> Result:
        return run_cli(script, *args, cwd=workdir, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def cli_at() -> RunCli:
    """`cli_at(folder, "chronicle-vm", ...)`: a command run in any folder."""

    def run(folder: Path, script: str, *args: str, timeout: float = 60) -> Result:
        return run_cli(script, *args, cwd=folder, timeout=timeout)

    return run


@pytest.fixture(scope="session")
def cli_command() -> Callable[..., list[str]]:
    """The argv that runs a script (for tests that drive the process themselves)."""
    return command


@pytest.fixture(scope="session")
def cli_env() -> dict[str, str]:
    return environment()
