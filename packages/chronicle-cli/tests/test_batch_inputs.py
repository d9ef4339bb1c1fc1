"""Batch inputs (chronicle_cli.batch): lazy, size-capped line reading; trace paths from files, folders and globs."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from chronicle_cli.batch import AuditContext, Chunk, _lines, audit_items, map_items, trace_paths
from chronicle_vm.errors import UsageError


def test_a_line_over_the_cap_is_one_error_item_and_the_next_line_is_read() -> None:
    data = b"[1]\n\n" + b"x" * 50 + b"\n[2]\n"
    items = list(_lines(io.BytesIO(data), "rows.jsonl", 20, "usage.bad-row"))
    assert [where for where, _ in items] == ["rows.jsonl:1", "rows.jsonl:3", "rows.jsonl:4"]
    assert items[0][1] == b"[1]\n" and items[2][1] == b"[2]\n"
    refused = items[1][1]
    assert isinstance(refused, dict) and refused["code"] == "usage.bad-row" and refused["category"] == "usage"


def test_rows_are_read_lazily(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"[1]\n" * 10)
    rows = map_items(str(path))
    assert next(rows) == (f"{path}:1", b"[1]\n")
    rows.close()  # the file closes with the generator


def test_trace_paths_take_files_folders_and_globs_in_a_stable_order(tmp_path: Path) -> None:
    (tmp_path / "day" / "b").mkdir(parents=True)
    for name in ("day/z.json", "day/a.jsonl", "day/b/c.json", "day/notes.txt", "one.json"):
        (tmp_path / name).write_text("{}", encoding="utf-8")
    found = trace_paths([str(tmp_path / "day"), str(tmp_path / "*.json")])
    assert [Path(p).relative_to(tmp_path).as_posix() for p in found] == [
        "day/a.jsonl",
        "day/z.json",
        "day/b/c.json",
        "one.json",
    ]
    with pytest.raises(UsageError) as nothing:
        trace_paths([str(tmp_path / "none-*.jsonl")])
    assert nothing.value.code == "usage.no-input"
    with pytest.raises(UsageError) as missing:
        trace_paths([str(tmp_path / "missing.json")])
    assert missing.value.code == "usage.unreadable-file"


def test_an_empty_trace_file_is_a_malformed_item_not_the_end_of_the_audit(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_bytes(b"")
    (tmp_path / "bad.json").write_bytes(b"{not json")
    items = list(audit_items([str(tmp_path / "empty.json"), str(tmp_path / "bad.json")]))
    context = AuditContext(())
    results = context.run(Chunk(0, tuple(item for _, item in items)))
    assert [r["status"] for r in results] == ["malformed", "malformed"]
    assert [r["error"]["code"] for r in results] == ["replay.empty-file", "replay.malformed-json"]
