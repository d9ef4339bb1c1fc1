"""Developer and CI sessions.  `nox -s ci` is the gate; `nox -s demo` is the first-run tour."""

from __future__ import annotations

import os

import nox

nox.options.sessions = ["ci"]
nox.options.reuse_existing_virtualenvs = True

PACKAGES = ("chronicle-vm", "chronicle-asm", "chronicle-lang", "chronicle-cli")
SOURCES = [f"packages/{name}/src" for name in PACKAGES]
TEST_DEPS = ("pytest>=8", "hypothesis>=6.100", "jsonschema>=4.20")
LINT_DEPS = ("ruff==0.17.6",)
#: The sessions that install the dask extra make its tests fail, not skip, when dask does not import.
REQUIRE_DASK = {"CHRONICLE_REQUIRE_DASK": "1"}
TYPE_DEPS = ("mypy==2.4.1", "lark>=1.1.9,<2", "rich>=13", "pytest>=8", "hypothesis>=6.100", "nox", "tomli>=2.0")


def install_packages(session: nox.Session, cli_extras: str = "") -> None:
    """All four distributions from this tree, editable, resolved together (the four never from a registry).

    `cli_extras` names chronicle-cli's optional extras to install with it (`"[dask]"` for the Dask tests).
    """
    args: list[str] = []
    for name in PACKAGES:
        args += ["-e", f"packages/{name}{cli_extras if name == 'chronicle-cli' else ''}"]
    session.install(*args)


def run_lint(session: nox.Session) -> None:
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


def run_typecheck(session: nox.Session) -> None:
    session.run("mypy", *SOURCES, "testing", "noxfile.py")


def run_tests(session: nox.Session, *extra: str, env: dict[str, str] | None = None) -> None:
    session.run("pytest", *extra, *session.posargs, env=env)


def run_demo(session: nox.Session) -> None:
    session.run("python", "examples/demo.py", external=False)


def run_bench(session: nox.Session, *extra: str) -> None:
    session.run("python", "packages/chronicle-cli/benchmarks/run.py", *extra)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(*LINT_DEPS)
    run_lint(session)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package."""
    install_packages(session)
    session.install(*TYPE_DEPS)
    run_typecheck(session)


@nox.session
def tests(session: nox.Session) -> None:
    """pytest over every package and tests-integration (hypothesis with the CI profile)."""
    install_packages(session, "[dask]")
    session.install(*TEST_DEPS)
    run_tests(session, env=REQUIRE_DASK)


@nox.session(name="vm-alone")
def vm_alone(session: nox.Session) -> None:
    """chronicle-vm installed alone: it must import and run without lark, rich or the other packages."""
    session.install("packages/chronicle-vm")
    session.run("python", "testing/vm_alone_check.py")


@nox.session
def demo(session: nox.Session) -> None:
    """The README's first-run tour: compile, refuse, run, limit, trace, inspect, replay."""
    install_packages(session)
    run_demo(session)


@nox.session
def bench(session: nox.Session) -> None:
    """Run the benchmark suite and print the table for docs/performance.md."""
    install_packages(session)
    # The peers timed in the same run (bench_calls.py, the VM workloads' peer columns): only here, never a dependency.
    session.install("starlark-pyo3", "lupa")
    run_bench(session, *session.posargs)


@nox.session
def bless(session: nox.Session) -> None:
    """Rewrite golden files from the current compiler and disassembler; read the diff before committing."""
    install_packages(session)
    session.install(*TEST_DEPS)
    run_tests(session, "-k", "golden", env={"CHRONICLE_BLESS": "1"})


@nox.session
def fuzz(session: nox.Session) -> None:
    """Long property runs (hypothesis fuzz profile) and the atheris targets; CHRONICLE_FUZZ_SECONDS per target."""
    install_packages(session)
    session.install(*TEST_DEPS, "atheris")
    seconds = os.environ.get("CHRONICLE_FUZZ_SECONDS", "60")
    session.run("pytest", "-m", "slow or not slow", env={"CHRONICLE_HYPOTHESIS_PROFILE": "fuzz"})
    session.run("python", "testing/attacks.py")
    session.run("python", "testing/fuzz/run_all.py", "--seconds", seconds)


@nox.session(name="report-browser")
def report_browser(session: nox.Session) -> None:
    """The pricing example's trace report in headless Chromium (Debian's `chromium`): no console message allowed;
    writes docs/report-pricing.png."""
    install_packages(session)
    session.run("python", "testing/report_browser.py", *session.posargs)


#: The oldest and newest supported Pythons: Unicode 13.0 and 15.1.
CROSS_PYTHONS = ("3.10", "3.13")


def _find_python(version: str) -> str:
    """A working interpreter of `version`: from pyenv's versions folder, else pythonX.Y on PATH (not a shim)."""
    import glob
    import shutil
    import subprocess

    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    on_path = shutil.which(f"python{version}")
    for candidate in [*reversed(candidates), *([on_path] if on_path else [])]:
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode == 0:
            return candidate
    raise RuntimeError(f"no working Python {version} found (under pyenv or on PATH)")


@nox.session(name="cross-python")
def cross_python(session: nox.Session) -> None:
    """Traces of the example and test plugins recorded on Python 3.10 and 3.13, each replayed on the other."""
    install_packages(session)
    session.install("lark>=1.1.9,<2", "pytest>=8")  # chronicle_testing reads the test programs' expectations
    work = os.path.join(session.create_tmp(), "cross-python")
    session.run("python", "testing/cross_python.py", "compile", work)
    pythons: dict[str, str] = {}
    for version in CROSS_PYTHONS:
        env = os.path.join(work, f"venv-{version}")
        session.run(_find_python(version), "-m", "venv", "--clear", env, external=True)
        python = os.path.join(env, "bin", "python")
        session.run(python, "-m", "pip", "install", "-q", "packages/chronicle-vm", external=True)
        session.run(python, "testing/cross_python.py", "record", work, version, external=True)
        pythons[version] = python
    first, second = CROSS_PYTHONS
    session.run(pythons[second], "testing/cross_python.py", "replay", work, first, external=True)
    session.run(pythons[first], "testing/cross_python.py", "replay", work, second, external=True)
    session.run("python", "testing/cross_python.py", "compare", work, first, second)


@nox.session
def ci(session: nox.Session) -> None:
    """Every check in one environment: lint, types, tests, demo, benchmark collection; then vm-alone."""
    install_packages(session, "[dask]")
    session.install(*TEST_DEPS, *LINT_DEPS, *TYPE_DEPS)
    run_lint(session)
    run_typecheck(session)
    run_tests(session, env=REQUIRE_DASK)
    run_demo(session)
    run_bench(session, "--collect-only")
    session.notify("vm-alone")
