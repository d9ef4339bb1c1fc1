"""`chronicle-vm map` and `audit` end to end: a serial run, a local pool and a Dask LocalCluster give the same files.

The map input is 10,000 generated rows, some trapping (division by zero), some
not JSON, some of the wrong types; its traces become the audit archive, with
some traces edited to diverge, some cut short, one naming a module that is not
given and one naming a module that does not decode.  Every command runs in a
subprocess; the LocalCluster is started once for the module (two worker
processes, one thread each, bound to 127.0.0.1, no dashboard) and reached by
`--dask tcp://...`; one run starts its own with `--dask local`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROWS = 10_000
#: Rows that do not return: d = 0 traps; two rows are not JSON; two have a str where an int is declared.
TRAPPING = {row for row in range(ROWS) if row % 641 == 0}
NOT_JSON = {13, 7777}
WRONG_TYPES = {21, 5000}
#: Audit archive lines (0-based) edited to diverge, cut short, or naming other modules.
DIVERGED = {3, 1500, 2999}
CUT = {10, 2000}
AUDITED = 3_000


def _dask_available() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        if os.environ.get("CHRONICLE_REQUIRE_DASK"):
            raise  # the CI sessions install the dask extra: its tests never skip there
        return False
    return True


DASK = _dask_available()
needs_dask = pytest.mark.skipif(not DASK, reason="dask.distributed is not installed (pip install chronicle-cli[dask])")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A two-worker LocalCluster for the whole module: its scheduler address."""
    if not DASK:
        pytest.skip("dask.distributed is not installed")
    import logging

    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        ) as local,
        distributed.Client(local) as client,
    ):
        client.wait_for_workers(2, timeout=60)
        yield str(local.scheduler_address)


def _row(row: int) -> str:
    if row in NOT_JSON:
        return "[1, 2"
    if row in WRONG_TYPES:
        return json.dumps(["three", 1])
    return json.dumps([row % 40, 0 if row in TRAPPING else 1 + row % 3])


@pytest.fixture(scope="module")
def rows(workdir: Path) -> Path:
    path = workdir / "rows.jsonl"
    path.write_text("".join(_row(row) + "\n" for row in range(ROWS)), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def serial_map(cli: Any, rows: Path, workdir: Path) -> dict[str, Any]:
    done = cli(
        "chronicle-vm", "--json", "map", "batch.cmod", "--input", rows.name, "-o", "serial.jsonl",
        "--policy", "batch.toml", "--traces", "traces-serial", "--workers", "0",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    return done.json()


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_map_writes_one_line_per_row_and_names_exactly_the_rows_that_failed(
    serial_map: dict[str, Any], workdir: Path
) -> None:
    summary = serial_map["map"]
    failing = TRAPPING | NOT_JSON | WRONG_TYPES
    assert serial_map["status"] == "error" and serial_map["error"]["code"] == "runtime.map-failures"
    assert summary["counts"] == {"ok": ROWS - len(failing), "error": len(failing), "lost": 0}
    lines = _lines(workdir / "serial.jsonl")
    assert [line["row"] for line in lines] == list(range(ROWS))
    assert {line["row"] for line in lines if line["status"] != "ok"} == failing
    codes = {line["row"]: line["error"]["code"] for line in lines if line["status"] == "error"}
    assert {codes[row] for row in TRAPPING} == {"runtime.division-by-zero"}
    assert {codes[row] for row in NOT_JSON} == {"usage.bad-row"}
    assert {codes[row] for row in WRONG_TYPES} == {"usage.bad-arguments"}
    assert lines[5] == {
        "row": 5, "status": "ok", "value": 10 // 3, "instructions": lines[5]["instructions"],
        "log": ["[info] row 5"], "source": "rows.jsonl:6", "trace_line": 6,
    }  # fmt: skip
    # Every run that started has its trace (the rows refused before running have none), in row order.
    traced = [line["trace_line"] for line in lines if "trace_line" in line]
    assert traced == list(range(1, ROWS - len(NOT_JSON) - len(WRONG_TYPES) + 1))


def test_a_local_pool_writes_the_same_files_as_a_serial_run(
    cli: Any, rows: Path, workdir: Path, serial_map: dict[str, Any]
) -> None:
    done = cli(
        "chronicle-vm", "--json", "map", "batch.cmod", "--input", rows.name, "-o", "pool.jsonl",
        "--policy", "batch.toml", "--traces", "traces-pool", "--workers", "2", "--chunk-size", "300",
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.json()["map"]["executor"] == "pool"
    assert done.json()["map"]["counts"] == serial_map["map"]["counts"]
    assert (workdir / "pool.jsonl").read_bytes() == (workdir / "serial.jsonl").read_bytes()
    assert (workdir / "traces-pool" / "traces.jsonl").read_bytes() == (
        workdir / "traces-serial" / "traces.jsonl"
    ).read_bytes()


@needs_dask
def test_a_dask_cluster_writes_the_same_files_as_a_serial_run(
    cli: Any, rows: Path, workdir: Path, serial_map: dict[str, Any], cluster: str
) -> None:
    done = cli(
        "chronicle-vm", "--json", "map", "batch.cmod", "--input", rows.name, "-o", "dask.jsonl",
        "--policy", "batch.toml", "--traces", "traces-dask", "--dask", cluster,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.json()["map"]["executor"] == "dask"
    assert done.json()["map"]["workers"] == 2
    assert (workdir / "dask.jsonl").read_bytes() == (workdir / "serial.jsonl").read_bytes()
    assert (workdir / "traces-dask" / "traces.jsonl").read_bytes() == (
        workdir / "traces-serial" / "traces.jsonl"
    ).read_bytes()


# -- audit -----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(serial_map: dict[str, Any], workdir: Path) -> Path:
    """The first AUDITED traces of the map, some edited; modules/ holds the module, one that does not decode and
    one that does not verify."""
    lines = (workdir / "traces-serial" / "traces.jsonl").read_text(encoding="utf-8").splitlines()[:AUDITED]
    broken = b"CHRM\x01 this is not a module"
    modules = workdir / "modules"
    modules.mkdir(exist_ok=True)
    shutil.copy(workdir / "batch.cmod", modules / "batch.cmod")
    (modules / "broken.cmod").write_bytes(broken)
    for index in DIVERGED:
        document = json.loads(lines[index])
        document["events"][0]["args"] = ["row 999"]  # the log line the run makes is not this one
        lines[index] = json.dumps(document)
    for index in CUT:
        lines[index] = lines[index][: len(lines[index]) // 2]
    missing = json.loads(lines[20])
    missing["provenance"]["module_sha256"] = "0" * 64
    lines[20] = json.dumps(missing)
    invalid = json.loads(lines[21])
    invalid["provenance"]["module_sha256"] = hashlib.sha256(broken).hexdigest()
    lines[21] = json.dumps(invalid)
    unverifiable = (workdir / "unverifiable.cmod").read_bytes()  # decodes, fails verification
    shutil.copy(workdir / "unverifiable.cmod", modules / "unverifiable.cmod")
    refused = json.loads(lines[22])
    refused["provenance"]["module_sha256"] = hashlib.sha256(unverifiable).hexdigest()
    lines[22] = json.dumps(refused)
    path = workdir / "archive.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def serial_audit(cli: Any, archive: Path) -> dict[str, Any]:
    done = cli("chronicle-vm", "--json", "audit", archive.name, "--modules", "modules", "-o", "audit-serial.jsonl",
               "--workers", "0")  # fmt: skip
    assert done.returncode == 15, done.stderr
    return done.json()


def test_audit_reports_exactly_the_traces_that_are_not_exact(serial_audit: dict[str, Any], workdir: Path) -> None:
    summary = serial_audit["audit"]
    assert serial_audit["error"]["code"] == "replay.audit-failures"
    assert summary["counts"] == {
        "exact": AUDITED - len(DIVERGED) - len(CUT) - 3,
        "diverged": len(DIVERGED),
        "malformed": len(CUT),
        "module-missing": 1,
        "module-invalid": 2,
        "lost": 0,
    }
    report = _lines(workdir / "audit-serial.jsonl")
    assert [line["index"] for line in report] == list(range(AUDITED))
    by_status: dict[str, set[int]] = {}
    for line in report:
        by_status.setdefault(line["status"], set()).add(line["index"])
    assert by_status["diverged"] == DIVERGED
    assert by_status["malformed"] == CUT
    assert by_status["module-missing"] == {20}
    assert by_status["module-invalid"] == {21, 22}
    assert report[21]["error"]["category"] == "decode" and report[22]["error"]["category"] == "verify"
    first = report[3]
    assert first["source"] == "archive.jsonl:4"
    assert first["error"]["code"] == "replay.divergence"
    assert first["event"] == 0 and first["location"]["line"] == 5  # the log.info call in batch.chr
    assert report[0]["reproduced"] == "trap"  # row 0 divides by zero: an exact replay of a trap
    assert report[0]["outcome"]["error"]["code"] == "runtime.division-by-zero"
    assert report[1]["reproduced"] == "returned"


def test_audit_on_a_pool_and_on_dask_writes_the_serial_report(
    cli: Any, archive: Path, workdir: Path, serial_audit: dict[str, Any]
) -> None:
    runs = [("pool", ["--workers", "2"])]
    if DASK:
        runs.append(("dask", ["--dask", "local", "--workers", "2"]))
    for name, options in runs:
        done = cli("chronicle-vm", "--json", "audit", archive.name, "--modules", "modules/batch.cmod",
                   "--modules", "modules/broken.cmod", "--modules", "modules/unverifiable.cmod",
                   "-o", f"audit-{name}.jsonl", *options)  # fmt: skip
        assert done.returncode == 15, (name, done.stderr)
        assert done.json()["audit"]["counts"] == serial_audit["audit"]["counts"]
        assert (workdir / f"audit-{name}.jsonl").read_bytes() == (workdir / "audit-serial.jsonl").read_bytes(), name


def test_an_exact_archive_exits_0_and_human_output_has_the_summary_table(cli: Any, workdir: Path) -> None:
    lines = (workdir / "traces-serial" / "traces.jsonl").read_text(encoding="utf-8").splitlines()[:50]
    (workdir / "good").mkdir(exist_ok=True)
    (workdir / "good" / "a.jsonl").write_text("\n".join(lines[:30]) + "\n", encoding="utf-8")
    for index, line in enumerate(lines[30:]):
        (workdir / "good" / f"t{index}.json").write_text(line, encoding="utf-8")
    done = cli("chronicle-vm", "audit", "good", "--modules", "batch.cmod", "--workers", "0")
    assert done.returncode == 0, done.stderr
    assert "exact" in done.stdout and "50" in done.stdout
    globbed = cli("chronicle-vm", "--json", "audit", "good/t*.json", "--modules", "batch.cmod", "--workers", "0")
    assert globbed.returncode == 0 and globbed.json()["audit"]["traces"] == 20


def test_bad_whole_command_inputs_are_usage_errors(cli: Any, rows: Path) -> None:
    nothing = cli("chronicle-vm", "--json", "audit", "no-such-*.jsonl", "--modules", "batch.cmod")
    assert nothing.returncode == 2 and nothing.json()["error"]["code"] == "usage.no-input"
    missing = cli("chronicle-vm", "--json", "audit", "missing.jsonl", "--modules", "batch.cmod", "-o", "r.jsonl")
    assert missing.returncode == 2 and missing.json()["error"]["code"] == "usage.unreadable-file"
    entry = cli("chronicle-vm", "--json", "map", "batch.cmod", "--entry", "nope", "--input", rows.name, "-o", "x.jsonl")
    assert entry.returncode == 2 and entry.json()["error"]["code"] == "usage.bad-arguments"
    refused = cli("chronicle-vm", "--json", "map", "batch.cmod", "--input", rows.name, "-o", "x.jsonl")
    assert refused.returncode == 13 and refused.json()["error"]["code"] == "policy.refused"
    address = cli("chronicle-vm", "--json", "map", "batch.cmod", "--input", rows.name, "-o", "x.jsonl",
                  "--policy", "batch.toml", "--dask", "127.0.0.1:8786")  # fmt: skip
    assert address.returncode == 2 and address.json()["error"]["code"] == "usage.arguments"


@needs_dask
def test_a_chunk_that_keeps_killing_dask_workers_is_reported_lost_and_the_rest_runs(cluster: str) -> None:
    from chronicle_cli.batch import chunked
    from chronicle_cli.executors import DaskExecutor
    from chronicle_testing.batch_work import SquareContext

    executor = DaskExecutor(cluster)
    try:
        items = ((f"rows:{i + 1}", str(i).encode()) for i in range(40))
        done = list(executor.run(SquareContext(kill_at=10), chunked(items, 10)))  # type: ignore[arg-type]
    finally:
        executor.close()
    assert [result.chunk.start for result in done] == [0, 10, 20, 30]
    assert [result.results is None for result in done] == [False, True, False, False]
    assert done[1].lost is not None and "run alone, they killed workers" in done[1].lost
    assert done[3].results is not None and [line["value"] for line in done[3].results] == [i * i for i in range(30, 40)]


@needs_dask
def test_dask_retries_a_chunk_whose_worker_died_once(cluster: str, tmp_path: Path) -> None:
    from chronicle_cli.batch import chunked
    from chronicle_cli.executors import DaskExecutor
    from chronicle_testing.batch_work import SquareContext

    executor = DaskExecutor(cluster)
    try:
        items = ((f"rows:{i + 1}", str(i).encode()) for i in range(30))
        context = SquareContext(kill_at=10, kill_once=str(tmp_path / "killed"))
        done = list(executor.run(context, chunked(items, 10)))  # type: ignore[arg-type]
    finally:
        executor.close()
    assert (tmp_path / "killed").exists()  # a worker did die
    assert [line["value"] for result in done for line in result.results or []] == [i * i for i in range(30)]


def test_map_reads_stdin_and_writes_stdout_with_the_summary_on_stderr(
    cli_command: Any, cli_env: dict[str, str], workdir: Path
) -> None:
    import subprocess

    done = subprocess.run(
        cli_command("chronicle-vm", "map", "batch.cmod", "--input", "-", "-o", "-", "--policy", "batch.toml",
                    "--workers", "0"),
        input="[4, 2]\n[1, 0]\n", capture_output=True, text=True, cwd=workdir, env=cli_env, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["row"], line["status"], line["source"]) for line in lines] == [
        (0, "ok", "<stdin>:1"),
        (1, "error", "<stdin>:2"),
    ]
    assert lines[0]["value"] == 3
    assert "runtime.map-failures" in done.stderr and "map: 2 items" in done.stderr
