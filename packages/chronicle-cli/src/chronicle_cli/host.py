"""The CLI host: takes a log sink and the `[host]` kv_path, gives a chronicle_vm `Host` with the built-in capabilities.

Capabilities (docs/cli.md lists them with their signatures):

    log.info(msg: str)  log.warn(msg: str)  log.error(msg: str)
    clock.now() -> int                      milliseconds since the Unix epoch
    random.int(lo: int, hi: int) -> int     uniform in lo..=hi; lo > hi is a capability failure
    kv.get(key: str) -> str                 "" when the key is absent
    kv.set(key: str, value: str)
    kv.delete(key: str)

The key-value store is a real SQLite file, named by the policy's `[host]`
setting `kv_path` (relative paths are relative to the policy file's folder)
and opened at the first kv call, never before: a run that makes no kv call
and every replay (which calls no live capability at all) leave it untouched.
Each write is committed at once, so a run stopped by a limit keeps what it
wrote before the stop, as a real host would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, TypeVar

from chronicle_vm.capabilities.host import Host
from chronicle_vm.core.codecache import dataclass

if TYPE_CHECKING:
    import random
    import sqlite3

__all__ = ["KV_PATH_SETTING", "CliHost", "HostBounds", "KeyValueStore", "build_host", "host_bounds"]

#: The `[host]` setting that names the SQLite file of kv.*.
KV_PATH_SETTING = "kv_path"


@dataclass(frozen=True, slots=True)
class HostBounds:
    """What the CLI host's own capabilities accept per call and per run, in characters (docs/cli.md).

    The VM bounds a plugin's work; these bound what it makes the host do:
    without them 1,000 `log.info` calls of a 1M-character string wrote 1 GB
    of output and `kv.set` grew the store by 300 MB a second.  Each is a
    `[host]` setting of the policy; a call over a bound fails before the
    host acts (`runtime.capability-failed`, the bound named in the message).
    """

    log_max_chars: int = 65_536
    log_max_total_chars: int = 4_194_304
    kv_max_key_chars: int = 1_024
    kv_max_value_chars: int = 65_536
    kv_max_total_chars: int = 16_777_216


#: The `[host]` settings the CLI host declares: the store's file and every bound.
HOST_SETTINGS: dict[str, type] = {KV_PATH_SETTING: str, **{field.name: int for field in fields(HostBounds)}}


def host_bounds(settings: Mapping[str, object]) -> HostBounds:
    """The bounds a policy's `[host]` table sets (each an int; negotiation has checked the types)."""
    given = {field.name: settings[field.name] for field in fields(HostBounds) if field.name in settings}
    return HostBounds(**{name: value for name, value in given.items() if isinstance(value, int)})


class BoundExceeded(Exception):
    """A call over one of the host's bounds: the run ends with `runtime.capability-failed` naming it."""


#: A log sink: level ("info", "warn", "error") and message.
LogSink = Callable[[str, str], None]


class KeyValueStore:
    """A string-to-string table in a SQLite file, opened lazily at the first access."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    @property
    def opened(self) -> bool:
        return self._db is not None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            if self.path is None:
                raise RuntimeError(
                    "no key-value store is configured: set kv_path in the policy's [host] table "
                    '(for example kv_path = "plugin-kv.sqlite")'
                )
            import sqlite3  # here, not at import: most runs never touch the store

            # isolation_level=None: autocommit, every set or delete is durable when the call returns.
            db = sqlite3.connect(self.path, isolation_level=None)
            try:
                db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            except Exception:
                db.close()
                raise
            self._db = db
        return self._db

    def get(self, key: str) -> str:
        row = self._open().execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return "" if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        self._open().execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def delete(self, key: str) -> None:
        self._open().execute("DELETE FROM kv WHERE key = ?", (key,))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class CliHost:
    """The chronicle_vm `Host` the CLI offers, with the store it owns (close it when the run ends)."""

    def __init__(self, host: Host, store: KeyValueStore) -> None:
        self.host = host
        self.store = store

    def close(self) -> None:
        self.store.close()


@dataclass(frozen=True)
class CatalogItem:
    """What `catalog.lookup` gives: a VM struct of this shape (`struct Item { sku: str, name: str, unit: float }`)."""

    sku: str
    name: str
    unit: float


#: The demo catalogue behind `catalog.lookup`: SKU -> (name, unit price).
CATALOG: dict[str, tuple[str, float]] = {
    "tea": ("Green tea, 100 g", 4.5),
    "mug": ("Stoneware mug", 7.25),
    "cake": ("Lemon cake", 3.1),
    "pen": ("Fountain pen ink", 1.2),
}
#: The unit price of a SKU the demo catalogue does not list.
UNLISTED_UNIT = 1.0

_F = TypeVar("_F", bound=Callable[..., object])


def build_host(
    log: LogSink, kv_path: str | None = None, bounds: HostBounds | None = None, only: Collection[str] | None = None
) -> CliHost:
    """The CLI host: logging to `log`, the system clock, an OS-seeded random source, kv in the SQLite file `kv_path`.

    `only`: offer just the capabilities of these names (a run offers those its module declares: negotiation
    looks up no others, and reading each function's signature costs start-up ~0.1 ms); None offers all.
    """
    host = Host(settings=HOST_SETTINGS)

    def offer(name: str) -> Callable[[_F], _F]:
        if only is None or name in only:
            return host.capability(name)
        return lambda func: func

    store = KeyValueStore(kv_path)
    limit = bounds if bounds is not None else HostBounds()
    # Characters written so far in this run: [logged, stored].
    spent = [0, 0]

    def check(what: str, size: int, bound: int, setting: str) -> None:
        if size > bound:
            raise BoundExceeded(f"{what} of {size:,} characters is over the host's bound of {bound:,} [host] {setting}")

    def log_checked(level: str, msg: str) -> None:
        check(f"log.{level}: a message", len(msg), limit.log_max_chars, "log_max_chars")
        check("log: the run's messages", spent[0] + len(msg), limit.log_max_total_chars, "log_max_total_chars")
        spent[0] += len(msg)
        log(level, msg)

    # SystemRandom: plugins must not be able to predict or replay the host's draws; the trace records them.
    source: list[random.SystemRandom] = []

    @offer("log.info")
    def log_info(msg: str) -> None:
        log_checked("info", msg)

    @offer("log.warn")
    def log_warn(msg: str) -> None:
        log_checked("warn", msg)

    @offer("log.error")
    def log_error(msg: str) -> None:
        log_checked("error", msg)

    @offer("clock.now")
    def clock_now() -> int:
        return time.time_ns() // 1_000_000

    @offer("random.int")
    def random_int(lo: int, hi: int) -> int:
        if lo > hi:
            raise ValueError(f"random.int needs lo <= hi, got lo={lo} hi={hi}")
        if not source:
            import random

            source.append(random.SystemRandom())
        return source[0].randint(lo, hi)

    @offer("kv.get")
    def kv_get(key: str) -> str:
        check("kv.get: a key", len(key), limit.kv_max_key_chars, "kv_max_key_chars")
        return store.get(key)

    @offer("kv.set")
    def kv_set(key: str, value: str) -> None:
        check("kv.set: a key", len(key), limit.kv_max_key_chars, "kv_max_key_chars")
        check("kv.set: a value", len(value), limit.kv_max_value_chars, "kv_max_value_chars")
        written = spent[1] + len(key) + len(value)
        check("kv.set: the run's writes", written, limit.kv_max_total_chars, "kv_max_total_chars")
        spent[1] = written
        store.set(key, value)

    @offer("kv.delete")
    def kv_delete(key: str) -> None:
        store.delete(key)

    @offer("catalog.lookup")
    def catalog_lookup(sku: str) -> CatalogItem:
        name, unit = CATALOG.get(sku, ("unlisted item", UNLISTED_UNIT))
        return CatalogItem(sku, name, unit)

    if host.get("catalog.lookup") is None:
        # Not offered: its struct still is, last as the signature would register it, so a struct result of
        # its shape reaches the run as a CatalogItem whichever capabilities are offered.
        host.struct(CatalogItem)
    return CliHost(host, store)


def resolve_kv_path(setting: object, policy_path: str | None) -> str | None:
    """The store's file: `setting` as given when absolute, else relative to the policy file's folder."""
    if not isinstance(setting, str):
        return None
    if os.path.isabs(setting) or policy_path is None:
        return setting
    return os.path.join(os.path.dirname(os.path.abspath(policy_path)), setting)
