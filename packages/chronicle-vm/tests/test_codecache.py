"""The generated-code cache (core.codecache): the same code as compiling, read back only for the exact source."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from chronicle_vm.core import codecache

SOURCE = "def make():\n    return 41 + 1\n"


@pytest.fixture
def writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module file whose cache goes under tmp_path, with bytecode writing on."""
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path / "prefix"))
    anchor = tmp_path / "gen.py"
    anchor.write_text("", encoding="utf-8")
    return anchor


def _run(code: object) -> object:
    namespace: dict[str, object] = {}
    exec(code, namespace)  # type: ignore[arg-type]
    return namespace["make"]()  # type: ignore[operator]


def test_written_once_then_read_back(writable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = codecache.compile_cached(SOURCE, "<gen>", str(writable), "t")
    path = codecache.cache_path(str(writable), "t")
    assert path is not None and Path(path).exists() and _run(first) == 42

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again although the cache holds this source")

    monkeypatch.setattr(codecache, "compile", refuse, raising=False)
    assert _run(codecache.compile_cached(SOURCE, "<gen>", str(writable), "t")) == 42


def test_other_source_or_a_damaged_file_is_compiled_again(writable: Path) -> None:
    codecache.compile_cached(SOURCE, "<gen>", str(writable), "t")
    other = SOURCE.replace("41", "40")
    assert _run(codecache.compile_cached(other, "<gen>", str(writable), "t")) == 41
    path = Path(codecache.cache_path(str(writable), "t") or "")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 40])  # cut inside the marshalled code
    assert _run(codecache.compile_cached(other, "<gen>", str(writable), "t")) == 41
    path.write_bytes(b"junk")
    assert _run(codecache.compile_cached(SOURCE, "<gen>", str(writable), "t")) == 42


def test_nothing_is_written_without_bytecode_writing(writable: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    assert _run(codecache.compile_cached(SOURCE, "<gen>", str(writable), "t")) == 42
    assert not Path(codecache.cache_path(str(writable), "t") or "").exists()


def test_an_unwritable_folder_only_costs_the_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the cache folder would be", encoding="utf-8")
    monkeypatch.setattr(sys, "pycache_prefix", str(blocker))
    anchor = tmp_path / "gen.py"
    anchor.write_text("", encoding="utf-8")
    assert _run(codecache.compile_cached(SOURCE, "<gen>", str(anchor), "t")) == 42
