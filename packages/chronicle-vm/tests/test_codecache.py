"""The generated-code cache (core.codecache): the same code as compiling, read back only for the exact source."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from typing import Any

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


# --- codecache.dataclass -----------------------------------------------------------------------------------------

_CLASSES = """
from __future__ import annotations

import dataclasses
from dataclasses import field

from chronicle_vm.core.codecache import dataclass as DECORATOR


@DECORATOR(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    tags: tuple[str, ...] = field(default_factory=tuple)


@DECORATOR
class Box:
    items: list[int] = field(default_factory=list)
    label: str = "box"


@dataclasses.dataclass(frozen=True, slots=True)
class PlainPoint:
    x: int
    y: int = 2
    tags: tuple[str, ...] = field(default_factory=tuple)
"""


def _load(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def classes(writable: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module of dataclasses whose method cache goes under the fixture's prefix; the in-memory cache starts empty."""
    monkeypatch.setattr(codecache, "_DATACLASS_CODE", {})
    source = writable.with_name("shapes.py")
    source.write_text(_CLASSES, encoding="utf-8")
    return source


def test_a_cached_dataclass_is_the_dataclass(classes: Path) -> None:
    module = _load(classes, "shapes_first")
    point, plain = module.Point(1, tags=("a",)), module.PlainPoint(1, tags=("a",))
    made: Any = module.Point
    assert dataclasses.is_dataclass(made) and repr(point) == repr(plain).replace("PlainPoint", "Point")
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "tags"]
    assert point == module.Point(1, 2, ("a",)) and hash(point) == hash(module.Point(1, 2, ("a",)))
    assert module.Point.__slots__ == module.PlainPoint.__slots__
    assert module.Point.__init__.__annotations__ == module.PlainPoint.__init__.__annotations__
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3
    assert dataclasses.replace(point, y=5) == module.Point(1, 5, ("a",))
    box = module.Box()
    box.items.append(1)
    assert module.Box().items == [] and module.Box([1]) == box and box.label == "box"
    assert "exec" not in vars(dataclasses)  # the cache is in place only while a class is made


def test_methods_are_compiled_once_then_read_back(classes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(classes, "shapes_first")
    path = codecache.cache_path(str(classes), "dataclasses")
    assert path is not None and Path(path).exists()
    monkeypatch.setattr(codecache, "_DATACLASS_CODE", {})  # as a new process would start

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("compiled again although the cache holds this source")

    monkeypatch.setattr(codecache, "compile", refuse, raising=False)
    module = _load(classes, "shapes_again")
    assert module.Point(1) == module.Point(1, 2, ()) and module.Box().label == "box"


def test_a_damaged_method_cache_is_compiled_again(classes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _load(classes, "shapes_first")
    path = Path(codecache.cache_path(str(classes), "dataclasses") or "")
    for junk in (path.read_bytes()[:-7], b"junk", codecache._DATACLASS_MAGIC + b"\x00"):
        path.write_bytes(junk)
        monkeypatch.setattr(codecache, "_DATACLASS_CODE", {})
        assert _load(classes, "shapes_again").Point(4).y == 2


def test_a_failing_class_leaves_dataclasses_as_it_was(classes: Path) -> None:
    namespace: dict[str, Any] = {"__name__": "chronicle_vm.core.codecache"}
    exec("class Bad:\n    x: list[int] = []\n", namespace)
    with pytest.raises(ValueError, match="mutable default"):
        codecache.dataclass(namespace["Bad"])
    assert "exec" not in vars(dataclasses)
