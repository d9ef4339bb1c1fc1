"""The CLI host's capabilities in process: signatures, the lazy SQLite store, randomness bounds, the clock."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from chronicle_cli.host import KeyValueStore, build_host, resolve_kv_path


def _logs() -> tuple[list[tuple[str, str]], object]:
    seen: list[tuple[str, str]] = []

    def sink(level: str, message: str) -> None:
        seen.append((level, message))

    return seen, sink


def test_capabilities_and_their_signatures() -> None:
    _, sink = _logs()
    host = build_host(sink).host  # type: ignore[arg-type]
    signatures = {cap.name: cap.signature() for cap in host}
    assert signatures == {
        "log.info": "(str)",
        "log.warn": "(str)",
        "log.error": "(str)",
        "clock.now": "() -> int",
        "random.int": "(int, int) -> int",
        "kv.get": "(str) -> str",
        "kv.set": "(str, str)",
        "kv.delete": "(str)",
        "catalog.lookup": "(str) -> CatalogItem",
    }
    assert dict(host.settings) == {
        "kv_path": str,
        "log_max_chars": int,
        "log_max_total_chars": int,
        "kv_max_key_chars": int,
        "kv_max_value_chars": int,
        "kv_max_total_chars": int,
    }


def test_logging_goes_to_the_sink_with_its_level() -> None:
    seen, sink = _logs()
    host = build_host(sink).host  # type: ignore[arg-type]
    for level in ("info", "warn", "error"):
        capability = host.get(f"log.{level}")
        assert capability is not None
        capability.func(f"a {level}")
    assert seen == [("info", "a info"), ("warn", "a warn"), ("error", "a error")]


def test_clock_is_milliseconds_since_the_epoch() -> None:
    _, sink = _logs()
    now = build_host(sink).host.get("clock.now")  # type: ignore[arg-type]
    assert now is not None
    value = now.func()
    assert type(value) is int
    assert abs(value - time.time() * 1000) < 60_000


def test_random_int_is_within_bounds_inclusive_and_refuses_lo_above_hi() -> None:
    _, sink = _logs()
    draw = build_host(sink).host.get("random.int")  # type: ignore[arg-type]
    assert draw is not None
    values = {draw.func(1, 3) for _ in range(300)}
    assert values == {1, 2, 3}
    assert draw.func(7, 7) == 7
    with pytest.raises(ValueError, match="lo <= hi"):
        draw.func(5, 1)


def _opened(store: KeyValueStore) -> bool:
    # A call, not the property, so a type checker does not carry one assertion's narrowing into the next.
    return store.opened


def test_the_store_opens_only_at_the_first_kv_call_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite"
    _, sink = _logs()
    cli_host = build_host(sink, str(path))  # type: ignore[arg-type]
    host = cli_host.host
    log = host.get("log.info")
    assert log is not None
    log.func("no kv yet")
    assert not _opened(cli_host.store)
    assert not path.exists()
    get, put, delete = host.get("kv.get"), host.get("kv.set"), host.get("kv.delete")
    assert get is not None and put is not None and delete is not None
    assert get.func("missing") == ""
    assert _opened(cli_host.store)
    put.func("k", "v1")
    put.func("k", "v2")
    put.func("other", "x")
    delete.func("other")
    delete.func("never-there")
    cli_host.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT key, value FROM kv").fetchall() == [("k", "v2")]
    again = KeyValueStore(str(path))
    assert again.get("k") == "v2"
    again.close()


def test_kv_without_a_path_fails_with_a_clear_message() -> None:
    store = KeyValueStore(None)
    with pytest.raises(RuntimeError, match="kv_path"):
        store.get("k")


def test_kv_path_is_relative_to_the_policy_folder(tmp_path: Path) -> None:
    policy = tmp_path / "conf" / "host.toml"
    assert resolve_kv_path("kv.sqlite", str(policy)) == str(tmp_path / "conf" / "kv.sqlite")
    assert resolve_kv_path("/abs/kv.sqlite", str(policy)) == "/abs/kv.sqlite"
    assert resolve_kv_path(None, str(policy)) is None
    assert resolve_kv_path(3, str(policy)) is None
