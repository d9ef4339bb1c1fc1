"""Bad input to every command: a missing file, a directory, an empty file, a file of the wrong kind.

Each gets a one-line error naming the file and what was expected, with the
right exit code, and never a traceback.  The commands are independent, so
they run in parallel in one module fixture and each case checks its result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# (id, script, args, exit code, code of the error, file the message must name)
CASES: list[tuple[str, str, tuple[str, ...], int, str, str]] = [
    ("verify-missing", "chronicle-vm", ("verify", "missing.cmod"), 2, "usage.unreadable-file", "missing.cmod"),
    ("verify-dir", "chronicle-vm", ("verify", "adir"), 2, "usage.not-a-file", "adir"),
    ("verify-empty", "chronicle-vm", ("verify", "empty.cmod"), 11, "decode.empty-file", "empty.cmod"),
    ("verify-trace", "chronicle-vm", ("verify", "trace.json"), 11, "decode.bad-magic", "trace.json"),
    ("verify-policy", "chronicle-vm", ("verify", "p.toml"), 11, "decode.bad-magic", "p.toml"),
    ("negotiate-missing", "chronicle-vm", ("negotiate", "nope.cmod"), 2, "usage.unreadable-file", "nope.cmod"),
    (
        "negotiate-policy-missing",
        "chronicle-vm",
        ("negotiate", "pure.cmod", "--policy", "nope.toml"),
        2,
        "usage.unreadable-file",
        "nope.toml",
    ),
    (
        "negotiate-policy-dir",
        "chronicle-vm",
        ("negotiate", "pure.cmod", "--policy", "adir"),
        2,
        "usage.not-a-file",
        "adir",
    ),
    (
        "negotiate-policy-empty",
        "chronicle-vm",
        ("negotiate", "pure.cmod", "--policy", "empty.toml"),
        13,
        "policy.empty-file",
        "empty.toml",
    ),
    (
        "run-policy-module",
        "chronicle-vm",
        ("run", "pure.cmod", "--policy", "pure.cmod"),
        13,
        "policy.",
        "pure.cmod",
    ),
    (
        "run-policy-trace",
        "chronicle-vm",
        ("run", "pure.cmod", "--policy", "trace.json"),
        13,
        "policy.syntax",
        "trace.json",
    ),
    ("run-module-trace", "chronicle-vm", ("run", "trace.json"), 11, "decode.bad-magic", "trace.json"),
    (
        "trace-output-dir",
        "chronicle-vm",
        ("trace", "pure.cmod", "--arg", "1", "--arg", "2", "-o", "adir"),
        2,
        "usage.output-file",
        "adir",
    ),
    (
        "trace-output-nowhere",
        "chronicle-vm",
        ("trace", "pure.cmod", "--arg", "1", "--arg", "2", "-o", "empty.json/t.json"),
        2,
        "usage.output-file",
        "empty.json/t.json",
    ),
    (
        "replay-missing",
        "chronicle-vm",
        ("replay", "nope.json", "--module", "pure.cmod"),
        2,
        "usage.unreadable-file",
        "nope.json",
    ),
    (
        "replay-empty",
        "chronicle-vm",
        ("replay", "empty.json", "--module", "pure.cmod"),
        15,
        "replay.empty-file",
        "empty.json",
    ),
    (
        "replay-module-as-trace",
        "chronicle-vm",
        ("replay", "pure.cmod", "--module", "pure.cmod"),
        15,
        "replay.not-a-trace",
        "pure.cmod",
    ),
    (
        "replay-policy-as-trace",
        "chronicle-vm",
        ("replay", "p.toml", "--module", "pure.cmod"),
        15,
        "replay.not-a-trace",
        "p.toml",
    ),
    (
        "replay-module-missing",
        "chronicle-vm",
        ("replay", "trace.json", "--module", "nope.cmod"),
        2,
        "usage.unreadable-file",
        "nope.cmod",
    ),
    ("inspect-missing", "chronicle-vm", ("inspect", "nope.json"), 2, "usage.unreadable-file", "nope.json"),
    ("inspect-empty", "chronicle-vm", ("inspect", "empty.json"), 15, "replay.empty-file", "empty.json"),
    ("inspect-module", "chronicle-vm", ("inspect", "pure.cmod"), 15, "replay.not-a-trace", "pure.cmod"),
    ("inspect-malformed", "chronicle-vm", ("inspect", "half.json"), 15, "replay.malformed-json", "half.json"),
    ("diff-missing", "chronicle-vm", ("diff", "half.json", "nope.json"), 2, "usage.unreadable-file", "nope.json"),
    ("diff-malformed", "chronicle-vm", ("diff", "half.json", "half.json"), 15, "replay.malformed-json", "half.json"),
    ("chronc-missing", "chronc", ("nope.chr",), 2, "usage.unreadable-file", "nope.chr"),
    ("chronc-dir", "chronc", ("adir",), 2, "usage.not-a-file", "adir"),
    ("chronc-empty", "chronc", ("empty.chr",), 10, "source.empty-file", "empty.chr"),
    ("chrasm-dir", "chrasm", ("adir",), 2, "usage.not-a-file", "adir"),
    ("chrasm-empty", "chrasm", ("empty.casm",), 10, "source.empty-file", "empty.casm"),
    ("chrasm-d-trace", "chrasm", ("--disassemble", "trace.json"), 11, "decode.bad-magic", "trace.json"),
    ("chrasm-d-empty", "chrasm", ("-d", "empty.cmod"), 11, "decode.empty-file", "empty.cmod"),
    ("usage-unknown-option", "chronicle-vm", ("run", "pure.cmod", "--frobnicate"), 2, "usage.arguments", "--frob"),
    ("usage-no-module", "chronicle-vm", ("run",), 2, "usage.arguments", "MOD.cmod"),
]


#: The cases also run with --json (one per kind of failure, to keep the suite fast).
JSON_CASES = {
    "verify-missing",
    "verify-dir",
    "verify-trace",
    "negotiate-policy-empty",
    "run-policy-module",
    "replay-module-as-trace",
    "inspect-malformed",
    "chronc-empty",
    "chrasm-d-empty",
    "usage-unknown-option",
}


@pytest.fixture(scope="module")
def outcomes(workdir: Path, cli_command: Any, cli_env: dict[str, str]) -> dict[str, tuple[int, str, str, str, str]]:
    """Every case run twice (people and --json) in parallel: id -> (code, stdout, stderr, json stdout, json code)."""
    (workdir / "adir").mkdir()
    for name in ("empty.cmod", "empty.toml", "empty.json", "empty.chr", "empty.casm"):
        (workdir / name).write_bytes(b"")
    (workdir / "p.toml").write_text('version = 1\n[capabilities."log.info"]\nallow = true\n')
    (workdir / "trace.json").write_text('{"format": "chronicle-trace", "events": []}')
    (workdir / "half.json").write_text('{"format": "chronicle-')
    procs = {}
    for case_id, script, args, *_ in CASES:
        for mode in ("human", "json") if case_id in JSON_CASES else ("human",):
            argv = cli_command(script, *args, *(["--json"] if mode == "json" else []))
            procs[case_id, mode] = subprocess.Popen(
                argv, cwd=workdir, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
    done = {key: (proc.communicate(timeout=120), proc.returncode) for key, proc in procs.items()}
    results = {}
    for case_id, *_ in CASES:
        (out, err), code = done[case_id, "human"]
        (json_out, _json_err), json_code = done.get((case_id, "json"), (("", ""), None))
        results[case_id] = (code, out, err, json_out, str(json_code))
    return results


@pytest.mark.parametrize(("case_id", "script", "args", "status", "code", "named"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_line_naming_the_file(
    outcomes: dict[str, tuple[int, str, str, str, str]],
    case_id: str,
    script: str,
    args: tuple[str, ...],
    status: int,
    code: str,
    named: str,
) -> None:
    returncode, out, err, json_out, json_code = outcomes[case_id]
    assert returncode == status, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    # A code ending in "." names only the category (the library picks the exact code from the bytes).
    assert lines[0].startswith(f"error[{code}" if code.endswith(".") else f"error[{code}]: "), err
    assert named in lines[0]
    if case_id not in JSON_CASES:
        return
    assert json_code == str(status)
    payload = json.loads(json_out)
    assert payload["status"] == "error"
    assert payload["error"]["code"].startswith(code) if code.endswith(".") else payload["error"]["code"] == code
    assert payload["error"]["category"] == code.split(".", maxsplit=1)[0]
    assert isinstance(payload["error"]["message"], str)


def test_an_unexpected_exception_is_an_internal_error_without_traceback(workdir: Path, cli_env: dict[str, str]) -> None:
    script = (
        "import sys\n"
        "import chronicle_vm.runtime as runtime\n"
        "def boom(*a, **k):\n"
        "    raise RuntimeError('simulated bug')\n"
        "runtime.load_module = boom\n"
        "from chronicle_cli.vm import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "verify", "pure.cmod", "--json"],
        cwd=workdir,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 70
    error = json.loads(done.stdout)["error"]
    assert error["category"] == "internal"
    assert error["code"] == "internal.unexpected"
    assert "simulated bug" in error["message"]
    assert "Traceback" not in done.stderr
