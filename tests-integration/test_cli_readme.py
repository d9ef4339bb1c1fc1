"""The README's walkthrough, verbatim: every `$ ` command of its console blocks runs with the stated exit status.

Commands come from the ```console blocks of README.md (the Quick start's nox
commands live in a ```sh block and are not run here; the pip install line
is skipped because the packages are installed already).  A `# exit N`
comment gives the expected status (0 otherwise), and each line shown under a
command must appear in that command's output, `...` standing for any text.
They run in a temporary copy of examples/, in order, as a newcomer would.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.MULTILINE | re.DOTALL)
_EXIT = re.compile(r"#\s*exit\s+(\d+)")


def walkthrough() -> list[tuple[str, int, list[str]]]:
    """(command line, expected status, lines shown under it) for each `$ ` line of the README's console blocks."""
    steps: list[tuple[str, int, list[str]]] = []
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for block in _BLOCK.findall(text):
        for line in block.splitlines():
            if line.startswith("$ "):
                status = _EXIT.search(line)
                steps.append((line[2:], int(status.group(1)) if status else 0, []))
            elif line.strip() and steps:
                steps[-1][2].append(line.strip())
    return steps


def shown_in(expected: str, output: str) -> bool:
    """Whether `expected` occurs in `output`, each `...` matching any text."""
    pattern = ".*?".join(re.escape(" ".join(part.split())) for part in expected.split("..."))
    return re.search(pattern, " ".join(output.split())) is not None


def test_the_walkthrough_is_there() -> None:
    commands = [command for command, _, _ in walkthrough()]
    assert any(command.startswith("chronc examples/hello.chr") for command in commands)
    assert any(command.startswith("chronicle-vm replay") for command in commands)
    assert [status for _, status, _ in walkthrough()].count(13) == 1


def test_readme_walkthrough_runs_verbatim(tmp_path: Path, cli_env: dict[str, str]) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("*.sqlite", "__pycache__"))
    ran = 0
    for command, status, shown in walkthrough():
        argv = shlex.split(command, comments=True)
        if argv[:4] == ["python", "-m", "pip", "install"]:
            continue  # the packages under test are installed already
        done = subprocess.run(argv, cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=120, check=False)
        output = done.stdout + done.stderr
        assert done.returncode == status, f"$ {command}\n{output}"
        for line in shown:
            assert shown_in(line, output), f"$ {command}\nREADME shows: {line}\nbut the output is:\n{output}"
        ran += 1
    assert ran >= 10
    assert (tmp_path / "examples" / "hello.sqlite").is_file()  # the store is a real file next to the policy


def test_quick_start_is_two_commands_and_the_second_is_what_ci_runs() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1
    commands = [line for line in blocks[0].splitlines() if line.strip()]
    assert commands == ["python -m pip install nox && python -m nox -s demo", "python -m nox -s ci"]
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci_lines
