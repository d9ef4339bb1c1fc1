"""Executors (chronicle_cli.executors): results in input order, a bounded window, lost chunks reported, not dropped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from chronicle_cli.batch import Chunk, chunked
from chronicle_cli.executors import ChunkResult, PoolExecutor, SerialExecutor
from chronicle_testing.batch_work import SquareContext


def rows(n: int) -> Iterator[tuple[str, bytes | dict[str, object]]]:
    for i in range(n):
        yield f"rows:{i + 1}", str(i).encode()


def flatten(results: list[ChunkResult]) -> list[object]:
    out: list[object] = []
    for done in results:
        if done.results is None:
            out += [("lost", done.chunk.start + i) for i in range(len(done.chunk.items))]
        else:
            out += [line["value"] for line in done.results]
    return out


def test_chunks_cover_the_input_in_order_with_their_sources() -> None:
    chunks = list(chunked(rows(7), 3))
    assert [(c.start, len(c.items)) for c in chunks] == [(0, 3), (3, 3), (6, 1)]
    assert chunks[2].sources == ("rows:7",)
    assert chunks[1].without_sources() == Chunk(3, (b"3", b"4", b"5"))


def test_a_pool_gives_what_a_serial_run_gives_in_input_order() -> None:
    context = SquareContext()
    serial = list(SerialExecutor().run(context, chunked(rows(200), 7)))  # type: ignore[arg-type]
    pool = PoolExecutor(2)
    try:
        pooled = list(pool.run(context, chunked(rows(200), 7)))  # type: ignore[arg-type]
    finally:
        pool.close()
    assert flatten(pooled) == flatten(serial) == [i * i for i in range(200)]
    assert [done.chunk.start for done in pooled] == list(range(0, 200, 7))


def test_a_pool_reads_no_further_ahead_than_its_window() -> None:
    pulled: list[int] = []

    def chunks() -> Iterator[Chunk]:
        for chunk in chunked(rows(400), 4):
            pulled.append(chunk.start)
            yield chunk

    pool = PoolExecutor(2)
    try:
        stream = pool.run(SquareContext(), chunks())  # type: ignore[arg-type]
        first = next(stream)
        assert first.chunk.start == 0
        assert len(pulled) <= pool.window
        stream.close()
    finally:
        pool.close()


def test_a_chunk_whose_worker_died_once_is_run_again_and_nothing_is_lost(tmp_path: Path) -> None:
    pool = PoolExecutor(2)
    try:
        context = SquareContext(kill_at=20, kill_once=str(tmp_path / "killed"))
        done = list(pool.run(context, chunked(rows(60), 10)))  # type: ignore[arg-type]
    finally:
        pool.close()
    assert (tmp_path / "killed").exists()  # a worker did die
    assert flatten(done) == [i * i for i in range(60)]


def test_a_killed_worker_loses_only_its_own_chunk_and_the_run_goes_on() -> None:
    pool = PoolExecutor(2)
    try:
        done = list(pool.run(SquareContext(kill_at=20), chunked(rows(60), 10)))  # type: ignore[arg-type]
    finally:
        pool.close()
    values = flatten(done)
    assert values[:20] == [i * i for i in range(20)]
    assert values[20:30] == [("lost", i) for i in range(20, 30)]
    assert values[30:] == [i * i for i in range(30, 60)]
    lost = [result for result in done if result.results is None]
    assert len(lost) == 1 and lost[0].lost is not None and "died" in lost[0].lost
    assert pool.describe()["pool_restarts"] >= 1
