"""docs/embedding.md: its plugin compiles and its host example runs as written, so the documentation cannot rot."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "embedding.md"
_BLOCK = re.compile(r"<!-- example: (?P<name>[\w.]+) -->\n```\w+\n(?P<body>.*?)\n```", re.S)


def examples() -> dict[str, str]:
    return {match["name"]: match["body"] + "\n" for match in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def test_the_doc_has_both_examples() -> None:
    assert set(examples()) == {"pricing.chr", "host.py"}


def test_the_host_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chronicle_lang = pytest.importorskip("chronicle_lang")
    blocks = examples()
    module = chronicle_lang.compile_to_module(blocks["pricing.chr"], "pricing.chr")
    (tmp_path / "pricing.cmod").write_bytes(module.to_bytes())
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "host_example"}
    exec(compile(blocks["host.py"], str(DOC) + ":host.py", "exec"), namespace)  # the doc's own code, run as written
    assert (tmp_path / "price.trace.json").read_bytes().startswith(b'{"entry":{"args":["apple",4],"function":"price"}')
    assert namespace["log_lines"] == ["apple x4 = 12"]
    # the service part: async capabilities with context, per-request deadline and meta
    assert sorted(namespace["request_log"]) == ["[acme EUR] apple x2 = 10", "[globex EUR] apple x3 = 6"]  # type: ignore[call-overload]


def test_the_host_example_fails_when_a_step_is_wrong(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chronicle_lang = pytest.importorskip("chronicle_lang")
    blocks = examples()
    module = chronicle_lang.compile_to_module(blocks["pricing.chr"], "pricing.chr")
    (tmp_path / "pricing.cmod").write_bytes(module.to_bytes())
    monkeypatch.chdir(tmp_path)
    broken = blocks["host.py"].replace("assert result.value == 12", "assert result.value == 13")
    with pytest.raises(AssertionError):
        exec(compile(broken, "host.py", "exec"), {"__name__": "host_example"})
