"""Batch work: takes the inputs of `audit` and `map`, gives chunks of items and the per-item JSON results.

Everything here runs on whichever executor `executors` picks: a work
*context* (the modules for `audit`; the module, policy, entry and limits for
`map`) is shipped to each worker once, and each *chunk* (a start index and a
list of raw items) is turned into one JSON-safe result per item, in order.
Contexts are frozen dataclasses of bytes and plain values, so they pickle
small; the costly state built from them (a verified module, a negotiated
instance) is kept per worker process, keyed by the context's digest, so it is
built once per worker, not once per chunk.  No item can stop the others: a
bad item gives a structured error result and the next item runs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from chronicle_vm.errors import ChronicleError, ReplayError, UsageError
from chronicle_vm.trace.document import MAX_TRACE_BYTES

if TYPE_CHECKING:
    from chronicle_vm.runtime import EngineName

__all__ = [
    "AuditContext",
    "Chunk",
    "MapContext",
    "WorkContext",
    "audit_items",
    "chunked",
    "map_items",
    "run_chunk",
]

#: The longest map row read (a row is one call's arguments, as JSON text).
MAX_ROW_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Chunk:
    """Items `start`, `start + 1`, ... of the input; an item is raw bytes, or an error dict already known."""

    start: int
    items: tuple[bytes | dict[str, Any], ...]
    #: Where each item came from (`file:line`), for the report; not shipped to workers.
    sources: tuple[str, ...] = field(default=(), compare=False)

    def without_sources(self) -> Chunk:
        return Chunk(self.start, self.items)


def chunked(items: Iterable[tuple[str, bytes | dict[str, Any]]], size: int) -> Iterator[Chunk]:
    """(source, item) pairs grouped into chunks of `size` items, lazily (one chunk in memory at a time)."""
    batch: list[bytes | dict[str, Any]] = []
    sources: list[str] = []
    start = 0
    for source, item in items:
        batch.append(item)
        sources.append(source)
        if len(batch) >= size:
            yield Chunk(start, tuple(batch), tuple(sources))
            start += len(batch)
            batch, sources = [], []
    if batch:
        yield Chunk(start, tuple(batch), tuple(sources))


# -- work contexts -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditContext:
    """What every audit worker needs: the modules given, by sha256, and the engine."""

    modules: tuple[tuple[str, bytes], ...]
    engine: EngineName = "auto"

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.engine.encode())
        for name, _ in self.modules:
            digest.update(name.encode())
        return "audit:" + digest.hexdigest()

    def run(self, chunk: Chunk) -> list[dict[str, Any]]:
        from chronicle_vm.trace.audit import Auditor

        auditor: Auditor = _prepared(self.key, lambda: Auditor(dict(self.modules), engine=self.engine))
        results: list[dict[str, Any]] = []
        for offset, item in enumerate(chunk.items):
            index = chunk.start + offset
            if isinstance(item, dict):  # refused while reading (a line over the size cap)
                refused = {"index": index, "status": "malformed", "module_sha256": None, "trace_sha256": None}
                results.append({**refused, "error": item})
                continue
            result = auditor.audit(item, index)
            results.append(result.to_dict())
        return results


@dataclass(frozen=True, slots=True)
class MapContext:
    """What every map worker needs: the module, the policy text, the entry, the limits, whether to trace."""

    module: bytes
    policy: bytes | None
    policy_path: str | None
    entry: str
    limits: tuple[tuple[str, int], ...]
    engine: EngineName = "auto"
    record: bool = False

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.module)
        digest.update(b"\0" + (self.policy or b"") + b"\0" + repr((self.policy_path, self.entry)).encode())
        digest.update(repr((self.limits, self.engine, self.record)).encode())
        return "map:" + digest.hexdigest()

    def run(self, chunk: Chunk) -> list[dict[str, Any]]:
        runner = _prepared(self.key, lambda: _MapRunner(self))
        return [runner.row(chunk.start + offset, item) for offset, item in enumerate(chunk.items)]


WorkContext = AuditContext | MapContext


def run_chunk(context: WorkContext, chunk: Chunk) -> list[dict[str, Any]]:
    """One chunk's results; the function every executor runs on its workers."""
    return context.run(chunk)


# Per worker thread: the state built from a context, by the context's key.  Per thread, not per process: a Dask
# worker may run several tasks at once, and a runner's log buffer and the CLI host's SQLite handle are not shared.
_PREPARED = threading.local()


def _prepared(key: str, build: Callable[[], Any]) -> Any:
    held: dict[str, Any] | None = getattr(_PREPARED, "state", None)
    if held is None or key not in held:
        held = _PREPARED.state = {key: build()}  # one job's state at a time: a long-lived worker serves many jobs
    return held[key]


class _MapRunner:
    """A map context made live in one worker: the negotiated instance, and the rows' log lines."""

    def __init__(self, context: MapContext) -> None:
        from chronicle_vm.capabilities.policy import Policy
        from chronicle_vm.limits import Limits
        from chronicle_vm.runtime import instantiate, load_module

        from .host import KV_PATH_SETTING, build_host, resolve_kv_path

        self.context = context
        self.logs: list[str] = []
        loaded = load_module(context.module)
        policy = Policy.deny_all() if context.policy is None else Policy.from_toml(context.policy)
        self.host = build_host(self._log, resolve_kv_path(policy.host.get(KV_PATH_SETTING), context.policy_path))
        limits = Limits(**dict(context.limits))
        self.instance = instantiate(loaded, host=self.host.host, policy=policy, limits=limits, engine=context.engine)

    def _log(self, level: str, message: str) -> None:
        if len(self.logs) < 1_000:  # a row's log is kept with its result; a flood is cut, and says so
            self.logs.append(f"[{level}] {message}")
        elif len(self.logs) == 1_000:
            self.logs.append("[...] further log lines of this row were dropped")

    def row(self, index: int, item: bytes | dict[str, Any]) -> dict[str, Any]:
        self.logs = []
        out: dict[str, Any] = {"row": index}
        try:
            args = _row_args(item)
            result = self.instance.call(self.context.entry, *args, trace=self.context.record)
        except ChronicleError as error:
            out.update(status="error", error=error.to_dict())
            if self.context.record:
                from chronicle_vm.trace.document import error_trace

                failed = error_trace(error)
                if failed is not None:
                    out["trace"] = failed.to_json().decode("utf-8")
        else:
            out.update(status="ok", value=result.value, instructions=result.instructions)
            if result.trace is not None:
                out["trace"] = result.trace.to_json().decode("utf-8")
        if self.logs:
            out["log"] = self.logs
        return out


def _row_args(item: bytes | dict[str, Any]) -> list[object]:
    """A row's arguments: a JSON array, one item per parameter of the entry."""
    if isinstance(item, dict):
        raise UsageError(item["code"], item["message"])
    try:
        value = json.loads(item)
    except (ValueError, RecursionError) as exc:
        raise UsageError("usage.bad-row", f"the row is not JSON: {str(exc)[:120]}") from None
    if not isinstance(value, list):
        raise UsageError(
            "usage.bad-row", f"the row is JSON {type(value).__name__}; write the arguments as a JSON array"
        )
    return value


# -- reading the inputs ------------------------------------------------------------------------------------------


def _lines(handle: IO[bytes], source: str, limit: int, refusal: str) -> Iterator[tuple[str, bytes | dict[str, Any]]]:
    """The non-blank lines of a file, each at most `limit` bytes (a longer one is an error item, skipped)."""
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        where = f"{source}:{number}"
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of the long line, a bounded read at a time
                line = handle.readline(1 << 20)
            category = refusal.partition(".")[0]
            yield where, {"category": category, "code": refusal, "message": f"{where}: over {limit:,} bytes"}
            continue
        if line.strip():
            yield where, line


def map_items(path: str) -> Iterator[tuple[str, bytes | dict[str, Any]]]:
    """The rows of a JSON Lines file (blank lines skipped), lazily; `-` reads stdin."""
    if path == "-":
        import sys

        yield from _lines(sys.stdin.buffer, "<stdin>", MAX_ROW_BYTES, "usage.bad-row")
        return
    handle = _open(path, "rows (JSON Lines)")
    with handle:
        yield from _lines(handle, path, MAX_ROW_BYTES, "usage.bad-row")


def trace_paths(patterns: Sequence[str]) -> list[str]:
    """Files named, globbed or found under folders (*.json and *.jsonl), in a stable order."""
    found: list[str] = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            for folder, subfolders, files in os.walk(pattern):
                subfolders.sort()
                found += [os.path.join(folder, name) for name in sorted(files) if name.endswith((".json", ".jsonl"))]
        elif os.path.exists(pattern):
            found.append(pattern)
        elif not glob.has_magic(pattern):  # named, not there: said before anything runs, not halfway through
            raise UsageError("usage.unreadable-file", f"{pattern}: cannot read traces: no such file", path=pattern)
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if not matches:
                raise UsageError("usage.no-input", f"{pattern}: no file matches", path=pattern)
            found += matches
    return found


def audit_items(paths: Sequence[str]) -> Iterator[tuple[str, bytes | dict[str, Any]]]:
    """Each trace of the files, lazily: a `.jsonl` file holds one trace per line, any other file one trace."""
    for path in paths:
        if path.endswith(".jsonl"):
            with _open(path, "a trace archive (JSON Lines)") as handle:
                yield from _lines(handle, path, MAX_TRACE_BYTES, "replay.too-large")
            continue
        from .files import read_input

        try:
            yield path, read_input(path, "trace")
        except ReplayError as error:  # an empty file: an item that is malformed, not the end of the audit
            yield path, error.to_dict()


def _open(path: str, expected: str) -> IO[bytes]:
    try:
        if not os.path.isfile(path):
            what = "a directory" if os.path.isdir(path) else "not a regular file"
            if os.path.exists(path):
                raise UsageError("usage.not-a-file", f"{path}: is {what}; expected {expected}", path=path)
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise UsageError(
            "usage.unreadable-file", f"{path}: cannot read {expected}: {exc.strerror or exc}", path=path
        ) from None
