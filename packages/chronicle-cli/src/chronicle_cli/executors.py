"""Executors: take a work context and a stream of chunks, give each chunk's results back in input order.

Three, behind one interface (`Executor.run`):

- `SerialExecutor`: every chunk in this process (the reference the others must match);
- `PoolExecutor`: a local pool of worker processes; the context reaches each
  worker once, through the pool's initializer;
- `DaskExecutor`: a `dask.distributed` cluster, a LocalCluster started here
  (`--dask local`) or an existing scheduler (`--dask tcp://HOST:PORT`); the
  context is the result of one task, fetched once by each worker, and each
  task names it by its future (recomputed if the worker holding it dies).

All three keep at most `window` chunks in flight and hand results back in
input order, so memory stays bounded however long the input is.  A chunk
whose worker died is not silently dropped.  A broken pool fails every chunk
in flight, so each is run again alone on a fresh pool and only one that kills
its worker again is reported lost (`ChunkResult.lost`).  Dask retries a task
whose worker died elsewhere; the chunks it gives up on (`KilledWorker`, also
innocent ones that shared the dying worker) are run again alone, and only one
that keeps killing workers on its own is reported lost.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Protocol

from chronicle_vm.errors import UsageError

from .batch import Chunk, WorkContext, run_chunk

__all__ = ["ChunkResult", "DaskExecutor", "Executor", "PoolExecutor", "SerialExecutor", "default_workers"]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """A chunk and its per-item results, or, when `lost` says why, no results (its items never finished)."""

    chunk: Chunk
    results: list[dict[str, Any]] | None
    lost: str | None = None


class Executor(Protocol):
    """Runs chunks of one job; `describe` names it in summaries."""

    def describe(self) -> dict[str, Any]: ...

    def run(self, context: WorkContext, chunks: Iterable[Chunk]) -> Iterator[ChunkResult]: ...

    def close(self) -> None: ...


def default_workers() -> int:
    """A pool sized to the machine: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class SerialExecutor:
    """Each chunk in this process, one after the other."""

    def describe(self) -> dict[str, Any]:
        return {"executor": "serial", "workers": 1}

    def run(self, context: WorkContext, chunks: Iterable[Chunk]) -> Iterator[ChunkResult]:
        for chunk in chunks:
            yield ChunkResult(chunk, run_chunk(context, chunk.without_sources()))

    def close(self) -> None:
        pass


# -- a local pool of processes -----------------------------------------------------------------------------------

# The context of the job a pool worker serves, set once by the pool's initializer.
_INSTALLED: list[WorkContext] = []


def _install(context: WorkContext | None) -> None:
    if context is not None:
        _INSTALLED[:] = [context]


def _run_installed(chunk: Chunk) -> list[dict[str, Any]]:
    return run_chunk(_INSTALLED[0], chunk)


def _pool_context() -> Any:
    # forkserver where it exists: workers start from a clean server process, not from a copy of this one
    # (which may hold a progress thread and open files); spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _submit(pool: concurrent.futures.ProcessPoolExecutor, chunk: Chunk) -> concurrent.futures.Future[list[Any]]:
    """The chunk submitted; a pool that broke before it could take the chunk gives a future failed with that."""
    try:
        return pool.submit(_run_installed, chunk.without_sources())
    except BrokenProcessPool as exc:
        failed: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
        failed.set_exception(exc)
        return failed


class PoolExecutor:
    """A pool of `workers` local processes; a dead worker's chunk is reported lost and a fresh pool takes over."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.window = 2 * workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._context: WorkContext | None = None
        #: How many times a pool broke and was replaced (for the summary).
        self.restarts = 0

    def describe(self) -> dict[str, Any]:
        return {"executor": "pool", "workers": self.workers, "pool_restarts": self.restarts}

    def _fresh_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=_pool_context(), initializer=functools.partial(_install, self._context)
        )
        return self._pool

    def run(self, context: WorkContext, chunks: Iterable[Chunk]) -> Iterator[ChunkResult]:
        self._context = context
        pool = self._fresh_pool()
        pending: collections.deque[tuple[Chunk, concurrent.futures.Future[list[Any]]]] = collections.deque()
        source = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.window:
                chunk = next(source, None)
                if chunk is None:
                    exhausted = True
                    break
                pending.append((chunk, _submit(pool, chunk)))
            if not pending:
                return
            chunk, future = pending.popleft()
            try:
                results = future.result()
            except BrokenProcessPool:
                # Every chunk in flight failed with the pool, but only one worker may have died for its own
                # chunk: run each again alone on a fresh pool, so that only a chunk that kills its worker
                # again is reported lost.
                suspects = [chunk, *(item for item, _ in pending)]
                pending.clear()
                yield from self._isolate(suspects)
                pool = self._pool if self._pool is not None else self._fresh_pool()
                continue
            except Exception as exc:  # the work function failed outside any item (a bug): the chunk is lost, loudly
                yield ChunkResult(chunk, None, f"the worker failed: {type(exc).__name__}: {exc}")
                continue
            yield ChunkResult(chunk, results)

    def _isolate(self, suspects: list[Chunk]) -> Iterator[ChunkResult]:
        """Each suspect alone on a fresh pool, replaced again only when a suspect breaks it."""
        self.restarts += 1
        pool = self._fresh_pool()
        for chunk in suspects:
            try:
                results = _submit(pool, chunk).result()
            except BrokenProcessPool:
                yield ChunkResult(chunk, None, "the worker process running these rows died (killed or out of memory)")
                self.restarts += 1
                pool = self._fresh_pool()
                continue
            except Exception as exc:
                yield ChunkResult(chunk, None, f"the worker failed: {type(exc).__name__}: {exc}")
                continue
            yield ChunkResult(chunk, results)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


# -- Dask ----------------------------------------------------------------------------------------------------------


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "usage.dask-missing",
            "--dask needs dask.distributed, an optional extra: pip install 'chronicle-cli[dask]'",
        ) from None
    return distributed


def _context_of(context: WorkContext) -> WorkContext:
    return context


class DaskExecutor:
    """Chunks as tasks on a dask.distributed cluster: `address` "local" starts a LocalCluster of `workers`."""

    def __init__(self, address: str, workers: int | None = None, connect_timeout: float = 10.0) -> None:
        distributed = _import_distributed()
        self.address = address
        self._cluster: Any = None
        try:
            if address == "local":
                self._cluster = distributed.LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    host="127.0.0.1",
                    silence_logs=logging.ERROR,
                )
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise UsageError(
                "usage.dask-connect", f"--dask {address}: cannot reach the scheduler: {exc}", address=address
            ) from None
        self.workers = max(1, sum(self._client.nthreads().values()))
        self.window = 2 * self.workers

    def describe(self) -> dict[str, Any]:
        kind = "dask-local" if self.address == "local" else "dask"
        return {"executor": kind, "workers": self.workers}

    def run(self, context: WorkContext, chunks: Iterable[Chunk]) -> Iterator[ChunkResult]:
        distributed = _import_distributed()
        client = self._client
        # Once per worker, not once per task: every task names the context by one future, whose value a worker
        # fetches once and keeps.  A task that gives the context, not `scatter`: scattered data lost with a dead
        # worker cannot be recovered and every task needing it is cancelled, while a task's result is recomputed.
        shipped = client.submit(_context_of, context, pure=False)
        pending: collections.deque[tuple[Chunk, Any]] = collections.deque()
        source = iter(chunks)
        exhausted = False
        submit: Callable[..., Any] = client.submit
        try:
            while True:
                while not exhausted and len(pending) < self.window:
                    chunk = next(source, None)
                    if chunk is None:
                        exhausted = True
                        break
                    pending.append((chunk, submit(run_chunk, shipped, chunk.without_sources(), pure=False)))
                if not pending:
                    return
                chunk, future = pending.popleft()
                outcome = self._outcome(distributed, chunk, future)
                if outcome is not None:
                    yield outcome
                    continue
                # Dask counts a worker's death against every task on that worker, so chunks that only shared a
                # worker with the one that kills it may give up too: wait for everything in flight, then run each
                # chunk that gave up again alone, where only its own rows can kill its worker.
                settled: list[tuple[Chunk, ChunkResult | None]] = [(chunk, None)]
                while pending:
                    other, other_future = pending.popleft()
                    settled.append((other, self._outcome(distributed, other, other_future)))
                for item, done in settled:
                    yield done if done is not None else self._alone(distributed, submit, shipped, item)
        finally:
            for _, future in pending:
                future.cancel()
            shipped.release()

    @staticmethod
    def _outcome(distributed: Any, chunk: Chunk, future: Any) -> ChunkResult | None:
        """The chunk's results, or its loss; None when Dask gave up on it because workers died (a suspect)."""
        try:
            return ChunkResult(chunk, future.result())
        except distributed.KilledWorker:
            return None
        except Exception as exc:  # a task error (a bug in the work function): the chunk is lost, loudly
            return ChunkResult(chunk, None, f"the worker failed: {type(exc).__name__}: {exc}")
        finally:
            future.release()

    def _alone(self, distributed: Any, submit: Callable[..., Any], shipped: Any, chunk: Chunk) -> ChunkResult:
        done = self._outcome(distributed, chunk, submit(run_chunk, shipped, chunk.without_sources(), pure=False))
        if done is None:
            why = "dask gave up on these rows: run alone, they killed workers again and again"
            return ChunkResult(chunk, None, why)
        return done

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
