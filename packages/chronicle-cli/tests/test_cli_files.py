"""Input files checked before parsing, and atomic output files, in process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chronicle_cli.files import describe_kind, read_input, write_output
from chronicle_vm.errors import ChronicleError, DecodeError, PolicyError, ReplayError, SourceError, UsageError


def test_missing_and_directories_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as missing:
        read_input(str(tmp_path / "nope.cmod"), "module")
    assert missing.value.code == "usage.unreadable-file"
    assert "nope.cmod: cannot read a ChronicleVM module (.cmod)" in missing.value.message
    with pytest.raises(UsageError) as folder:
        read_input(str(tmp_path), "policy")
    assert folder.value.code == "usage.not-a-file"
    assert folder.value.message.endswith("is a directory; expected a host policy (TOML)")


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("module", DecodeError),
        ("policy", PolicyError),
        ("trace", ReplayError),
        ("chr", SourceError),
        ("casm", SourceError),
    ],
)
def test_an_empty_file_is_an_error_of_the_stage_that_expected_it(
    tmp_path: Path, kind: str, error: type[ChronicleError]
) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    with pytest.raises(error) as caught:
        read_input(str(path), kind)
    assert caught.value.code == f"{error.category}.empty-file"
    assert str(path) in caught.value.message


def test_describe_kind_tells_the_inputs_apart() -> None:
    assert describe_kind(b"CHRM\x01\x00") == "a ChronicleVM module"
    assert describe_kind(b'{"format":"chronicle-trace"}') == "a ChronicleVM trace (JSON)"
    assert describe_kind(b'{"events":[]}') == "JSON (a trace?)"
    assert describe_kind(b"[1, 2]") is None
    assert describe_kind(b"version = 1\n") == "TOML (a policy?)"
    assert describe_kind(b"pub fn main() {}") == "a .chr source"
    assert describe_kind(b".func main export () -> int\n") == "a .casm source"
    assert describe_kind(b"hello") is None


def test_write_output_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.json"
    write_output(str(target), "first")
    write_output(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.json"]


def test_an_interrupted_write_leaves_the_target_untouched_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_output(str(target), "new")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.json"]


def test_writing_into_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        write_output(str(tmp_path), "x")
    assert caught.value.code == "usage.output-file"
