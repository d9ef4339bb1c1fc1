"""`chronicle-vm audit` and `chronicle-vm map`: take a command line, give per-item JSON lines, a summary, an exit code.

    chronicle-vm audit TRACES... --modules DIR [-o REPORT.jsonl] [--workers N | --dask local|tcp://HOST:PORT]
    chronicle-vm map MOD.cmod --entry NAME --input ROWS.jsonl -o OUT.jsonl [--policy HOST.toml] [--traces DIR]

Both read their input lazily, cut it into chunks (`batch`), run the chunks on
an executor (`executors`: this process, a local pool, or Dask) and write one
JSON line per item in input order as results come back, so a long input never
sits in memory.  The exit status is 0 when every trace was exact (audit) or
every row returned (map); otherwise 15 (`replay.audit-failures`) or 1
(`runtime.map-failures`), with every failing item in the report or output
file.  Under --json, stdout's one object is the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from chronicle_vm.errors import UsageError

if TYPE_CHECKING:
    from .batch import Chunk, MapContext, WorkContext
    from .common import Output, Parser
    from .executors import Executor

__all__ = ["add_batch_commands"]

#: At most this many failing items are repeated in the summary (all of them are in the report file).
SHOWN_FAILURES = 20
# Items per task: large enough that a task's work (tens of milliseconds) dwarfs Dask's per-task cost
# (milliseconds; a local pool's is about 0.1 ms), small enough that the in-flight window stays small.
DEFAULT_AUDIT_CHUNK = 64
DEFAULT_MAP_CHUNK = 500


def add_batch_commands(command: Callable[..., Parser]) -> None:
    """Register `audit` and `map` with the `command(name, help, epilog)` factory of `vm.build_parser`."""
    from .options import add_limit_options, limits_epilog

    audit = command("audit", "replay many traces (files, folders, globs, JSON Lines archives) against their modules")
    audit.add_argument("traces", nargs="+", metavar="TRACES", help="trace files, folders, globs or .jsonl archives")
    audit.add_argument(
        "--modules", action="append", required=True, metavar="DIR", help="a folder of .cmod files, or one (repeat)"
    )
    audit.add_argument("-o", "--report", metavar="REPORT.jsonl", help="write one JSON line per trace here")
    _add_executor_options(audit, DEFAULT_AUDIT_CHUNK)
    audit.set_defaults(command_func=cmd_audit)

    mapper = command("map", "call an entry once per input row (JSON Lines), each row on its own", limits_epilog())
    mapper.add_argument("module", metavar="MOD.cmod")
    mapper.add_argument("--entry", default="main", help="the exported function to call (default: main)")
    mapper.add_argument("--input", required=True, metavar="ROWS.jsonl", help="one JSON array of arguments per line")
    mapper.add_argument(
        "-o", "--output", required=True, metavar="OUT.jsonl", help="one JSON line per row, in order (`-`: stdout)"
    )
    mapper.add_argument("--policy", metavar="HOST.toml", help="the host policy (default: deny all capabilities)")
    mapper.add_argument("--traces", metavar="DIR", help="record each row's trace into DIR/traces.jsonl")
    _add_executor_options(mapper, DEFAULT_MAP_CHUNK)
    add_limit_options(mapper)
    mapper.set_defaults(command_func=cmd_map)


def _add_executor_options(parser: argparse.ArgumentParser, chunk: int) -> None:
    group = parser.add_argument_group("executor")
    group.add_argument(
        "--workers", type=_count, metavar="N", help="local worker processes (default: one per CPU; 0: this process)"
    )
    group.add_argument("--dask", metavar="ADDRESS", help="run on dask.distributed: `local` or tcp://HOST:PORT")
    group.add_argument(
        "--chunk-size", type=_count, default=chunk, metavar="N", help=f"items per task (default {chunk})"
    )
    group.add_argument(
        "--engine", choices=("auto", "compiled", "reference"), default="auto", help="the execution engine"
    )


def _count(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text)


def _executor(ns: argparse.Namespace) -> Executor:
    from .executors import DaskExecutor, PoolExecutor, SerialExecutor, default_workers

    if ns.chunk_size < 1:
        raise UsageError("usage.arguments", "--chunk-size must be at least 1")
    if ns.dask is not None:
        if ns.dask != "local" and not ns.dask.startswith(("tcp://", "tls://")):
            raise UsageError(
                "usage.arguments", f"--dask {ns.dask!r}: give `local` or a scheduler address tcp://HOST:PORT"
            )
        return DaskExecutor(ns.dask, ns.workers or None)
    workers = default_workers() if ns.workers is None else ns.workers
    return SerialExecutor() if workers == 0 else PoolExecutor(workers)


# -- audit ---------------------------------------------------------------------------------------------------------


def _module_files(folders: list[str]) -> list[tuple[str, bytes]]:
    """(sha256, bytes) of every module named or found in the folders; a file that is not a module is still indexed."""
    import hashlib

    from chronicle_vm.errors import DecodeError

    from .files import read_input

    paths: list[str] = []
    for folder in folders:
        if os.path.isdir(folder):
            paths += sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".cmod"))
        else:
            paths.append(folder)
    modules: dict[str, bytes] = {}
    for path in paths:
        try:
            data = read_input(path, "module")
        except DecodeError:  # an empty file: still a module some trace may name, and then `module-invalid`
            data = b""
        modules.setdefault(hashlib.sha256(data).hexdigest(), data)
    if not modules:
        raise UsageError("usage.no-input", f"no .cmod file in {', '.join(folders)}", paths=folders)
    return sorted(modules.items())


def cmd_audit(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.trace.audit import AUDIT_STATUSES

    from .batch import AuditContext, audit_items, chunked, trace_paths

    paths = trace_paths(ns.traces)
    context = AuditContext(tuple(_module_files(ns.modules)), ns.engine)
    counts: dict[str, int] = dict.fromkeys((*AUDIT_STATUSES, "lost"), 0)
    failures: list[dict[str, Any]] = []

    def record(line: dict[str, Any]) -> bool:
        counts[line["status"]] += 1
        if line["status"] != "exact" and len(failures) < SHOWN_FAILURES:
            failures.append(_short(line))
        return bool(line["status"] == "exact")

    chunks = chunked(audit_items(paths), ns.chunk_size)
    started = time.perf_counter()
    executor = _executor(ns)
    try:
        with _Sink(ns.report) as sink, _Progress(out, "traces") as progress:
            for line in _lines(executor, context, chunks, "index"):
                ok = record(line)
                sink.write(line)
                progress.advance(ok)
    finally:
        described = executor.describe()
        executor.close()
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    summary = {
        "audit": {
            "traces": total,
            "counts": counts,
            "seconds": round(seconds, 3),
            "traces_per_second": round(total / seconds, 1) if seconds > 0 else None,
            "report": ns.report,
            "modules": len(context.modules),
            **described,
        },
        "failures": failures,
    }
    bad = total - counts["exact"]
    if bad == 0:
        out.ok(summary, lambda console: _render_summary(console, "audit", summary))
        return 0
    message = f"{bad} of {total} traces were not replayed exactly" + (f"; see {ns.report}" if ns.report else "")
    failure = {"category": "replay", "code": "replay.audit-failures", "message": message}
    return _failed(out, failure, summary, "audit")


# -- map -----------------------------------------------------------------------------------------------------------


def _map_context(ns: argparse.Namespace, out: Output) -> MapContext:
    """Everything that concerns the whole job, checked once before any row runs: the module, policy and entry."""
    from chronicle_vm.errors import PolicyError
    from chronicle_vm.runtime import instantiate

    from .batch import MapContext
    from .files import load_module_file, load_policy_file, read_input
    from .host import KV_PATH_SETTING, build_host, resolve_kv_path
    from .options import base_limits

    if ns.output == "-" and out.json:
        raise UsageError("usage.arguments", "-o - writes the rows to stdout, which --json keeps for its JSON object")
    data, loaded = load_module_file(ns.module)
    policy_bytes = read_input(ns.policy, "policy") if ns.policy is not None else None
    policy = load_policy_file(ns.policy) if ns.policy is not None else None
    if ns.entry not in loaded.verified.exports:
        exported = ", ".join(sorted(loaded.verified.exports)) or "none"
        raise UsageError("usage.bad-arguments", f"`{ns.entry}` is not an exported entry point (exported: {exported})")
    policy_path = os.path.abspath(ns.policy) if ns.policy is not None else None
    kv_path = resolve_kv_path(policy.host.get(KV_PATH_SETTING), policy_path) if policy is not None else None
    host = build_host(lambda _level, _message: None, kv_path)
    try:
        instance = instantiate(loaded, host=host.host, policy=policy, limits=base_limits(ns), engine=ns.engine)
    except PolicyError as error:
        if ns.policy is None and error.code == "policy.refused":
            error.details["hint"] = "no --policy was given, so the deny-all policy refused every capability"
        raise
    finally:
        host.close()
    return MapContext(
        module=data,
        policy=policy_bytes,
        policy_path=policy_path,
        entry=ns.entry,
        limits=tuple(instance.limits.to_dict().items()),
        engine=ns.engine,
        record=ns.traces is not None,
    )


def cmd_map(ns: argparse.Namespace, out: Output) -> int:
    from .batch import chunked, map_items

    context = _map_context(ns, out)
    counts = {"ok": 0, "error": 0, "lost": 0}
    failures: list[dict[str, Any]] = []
    archive = os.path.join(ns.traces, "traces.jsonl") if ns.traces is not None else None
    traced = 0
    started = time.perf_counter()
    executor = _executor(ns)
    try:
        with (
            _Sink(ns.output) as sink,
            _Sink(archive) as traces,
            _Progress(out, "rows") as progress,
        ):
            for line in _lines(executor, context, chunked(map_items(ns.input), ns.chunk_size), "row"):
                trace = line.pop("trace", None)
                if trace is not None:
                    traced += 1
                    traces.write_text(trace)
                    line["trace_line"] = traced
                counts[line["status"]] += 1
                if line["status"] != "ok" and len(failures) < SHOWN_FAILURES:
                    failures.append(_short(line))
                sink.write(line)
                progress.advance(line["status"] == "ok")
    finally:
        described = executor.describe()
        executor.close()
    seconds = time.perf_counter() - started
    total = sum(counts.values())
    summary = {
        "map": {
            "rows": total,
            "counts": counts,
            "seconds": round(seconds, 3),
            "rows_per_second": round(total / seconds, 1) if seconds > 0 else None,
            "output": ns.output,
            "traces": archive,
            **described,
        },
        "failures": failures,
    }
    bad = total - counts["ok"]
    if bad == 0:
        if ns.output == "-":  # stdout holds the rows: the summary goes to stderr
            _render_summary(out.err_console(), "map", summary)
            out.emitted = True
        else:
            out.ok(summary, lambda console: _render_summary(console, "map", summary))
        return 0
    message = (
        f"{bad} of {total} rows did not return (errors: {counts['error']}, lost: {counts['lost']}); see {ns.output}"
    )
    failure = {"category": "runtime", "code": "runtime.map-failures", "message": message}
    return _failed(out, failure, summary, "map", to_stderr=ns.output == "-")


# -- shared steps ----------------------------------------------------------------------------------------------------


def _lines(executor: Executor, context: WorkContext, chunks: Iterator[Chunk], number: str) -> Iterator[dict[str, Any]]:
    """Every item's result line, in input order, with its source; a lost chunk gives one `lost` line per item."""
    for done in executor.run(context, chunks):
        chunk = done.chunk
        if done.results is None:
            for offset in range(len(chunk.items)):
                lost = {
                    number: chunk.start + offset,
                    "status": "lost",
                    "error": {"category": "internal", "code": "internal.worker-lost", "message": done.lost},
                }
                if chunk.sources:
                    lost["source"] = chunk.sources[offset]
                yield lost
            continue
        for offset, line in enumerate(done.results):
            if chunk.sources:
                line["source"] = chunk.sources[offset]
            yield line


def _short(line: dict[str, Any]) -> dict[str, Any]:
    error = line.get("error") or {}
    short: dict[str, Any] = {
        key: line[key] for key in ("index", "row", "source", "status", "event", "location") if key in line
    }
    short["code"] = error.get("code")
    short["message"] = str(error.get("message", ""))[:300]
    return short


def _failed(out: Output, error: dict[str, Any], summary: dict[str, Any], kind: str, to_stderr: bool = False) -> int:
    if out.json:
        return out.error_dict(error["category"], error, summary)
    _render_summary(out.err_console() if to_stderr else out.console(), kind, summary)
    return out.error_dict(error["category"], error)


def _render_summary(console: Any, kind: str, summary: dict[str, Any]) -> None:
    from rich.table import Table

    from .common import cleaned

    facts = summary[kind]
    shown = cleaned(summary["failures"])
    if shown:
        failures = Table(title="not exact" if kind == "audit" else "failed rows", title_justify="left")
        for column in ("item", "source", "status", "code", "message"):
            failures.add_column(column, overflow="fold")
        for item in shown:
            number = item.get("index", item.get("row"))
            failures.add_row(str(number), item.get("source", ""), item["status"], str(item["code"]), item["message"])
        console.print(failures)
    table = Table(title=f"{kind}: {facts['traces' if kind == 'audit' else 'rows']:,} items", title_justify="left")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for name, count in facts["counts"].items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    rate = facts.get("traces_per_second") or facts.get("rows_per_second")
    where = facts.get("report") or facts.get("output")
    console.print(
        f"{facts['executor']} with {facts['workers']} worker(s), {facts['seconds']} s, {rate} per second"
        + (f"; written to {where}" if where else ""),
        markup=False,
        highlight=False,
    )


class _Sink:
    """A JSON Lines output written as results come, then renamed into place (a failed run leaves no half file)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._temporary: str | None = None

    def __enter__(self) -> _Sink:
        if self.path is None:
            return self
        if self.path == "-":
            self._handle = sys.stdout
            return self
        import tempfile  # here: it pulls in random and shutil, which a command that writes nothing never needs

        if os.path.isdir(self.path):
            raise UsageError("usage.output-file", f"{self.path}: is a directory; expected an output file name")
        folder = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(folder, exist_ok=True)
            handle, self._temporary = tempfile.mkstemp(prefix=".~" + os.path.basename(self.path) + ".", dir=folder)
        except OSError as exc:
            raise UsageError("usage.output-file", f"{self.path}: cannot write: {exc.strerror or exc}") from None
        self._handle = os.fdopen(handle, "w", encoding="utf-8", errors="surrogatepass", newline="\n")
        return self

    def write(self, line: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")

    def write_text(self, text: str) -> None:
        if self._handle is not None:
            self._handle.write(text + "\n")

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if self.path == "-":
            if self._handle is not None:
                self._handle.flush()
            return
        if self._handle is None or self._temporary is None or self.path is None:
            return
        self._handle.close()
        if kind is None:
            try:
                os.replace(self._temporary, self.path)
                return
            except OSError as exc:
                raise UsageError("usage.output-file", f"{self.path}: cannot write: {exc.strerror or exc}") from None
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(self._temporary)
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)


class _Progress:
    """Items done, rate and failures so far, through rich on stderr when stderr is a terminal; else nothing."""

    def __init__(self, out: Output, unit: str) -> None:
        self.unit = unit
        self.done = 0
        self.failed = 0
        self._live: Any = None
        self._task: Any = None
        self._stream = out.stderr
        self._out = out

    def __enter__(self) -> _Progress:
        try:
            tty = self._stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty and not os.environ.get("CHRONICLE_NO_PROGRESS"):
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._live = Progress(
                SpinnerColumn(),
                TextColumn("{task.completed:,} " + self.unit),
                TextColumn("{task.fields[rate]}/s"),
                TextColumn("[red]{task.fields[failed]:,} failed"),
                TimeElapsedColumn(),
                console=self._out.err_console(),
                transient=True,
            )
            self._live.start()
            self._task = self._live.add_task(self.unit, total=None, rate="-", failed=0)
            self._started = time.perf_counter()
        return self

    def advance(self, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        if self._live is not None and (self.done % 50 == 0 or not ok):
            elapsed = max(time.perf_counter() - self._started, 1e-9)
            self._live.update(self._task, completed=self.done, rate=f"{self.done / elapsed:,.0f}", failed=self.failed)

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if self._live is not None:
            self._live.stop()
            sys.stderr.flush()
