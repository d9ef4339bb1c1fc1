"""Issue 16's input-side attacks (names, sizes, bytes out, forged limits), each in its own process under a memory cap.

    python testing/attacks_inputs.py          # run all, print a markdown table (time, peak RSS, outcome)
    python testing/attacks_inputs.py NAME     # run one in this process, print its JSON outcome

The same harness as testing/attacks.py (its memory cap and its way of
running a child); tests-integration/test_attacks_inputs.py runs each one
and checks its outcome and its bound: every row of docs/security-model.md's
"Bounds that measure what matters" table that is an input-side attack.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chronicle_vm.capabilities.host import Host
from chronicle_vm.errors import ChronicleError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attacks import MEMORY_CAP_BYTES, _module_bytes

#: Wall-clock budget per attack (the issue's bar: 30 s and 512 MB for the worst run, on a loaded machine).
TIME_BUDGET_SECONDS = 30
PEAK_RSS_BUDGET_MB = 512

_LOG_BOMB = """cap log.info(msg: str);
pub fn main(piece: str, size: int, times: int) -> int {
    let s = repeat(piece, size);
    for i in 0..times { log.info(s); }
    return times;
}
"""


def _log_host(store: bool = False) -> tuple[Host, dict[str, int]]:
    """A host without bounds of its own: log.info counts its calls, kv.set keeps value sizes in memory."""

    host = Host()
    kept: dict[str, int] = {}

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        kept["log"] = kept.get("log", 0) + 1

    if store:

        @host.capability("kv.set")
        def kv_set(key: str, value: str) -> None:
            kept[key] = len(value)  # an in-memory store: the bound must stop the run, not the host's disk
            kept["kv"] = kept.get("kv", 0) + 1

    return host, kept


def _api_bomb(source: str, grants: str, args: tuple[object, ...], *, traced: bool, limits: object = None) -> str:
    """Run a bomb through the embedding API (no host bounds); a stopped traced run's trace is replayed, loaded
    (what inspect reads) and diffed against itself."""
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.limits import Limits
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.document import diff_traces, error_trace, load_trace
    from chronicle_vm.trace.replay import replay

    module = _module_bytes(source)
    policy = Policy.from_toml("version = 1\n" + grants)
    host, kept = _log_host(store="kv.set" in source)
    given = limits if isinstance(limits, Limits) else None
    instance = instantiate(load_module(module), host=host, policy=policy, limits=given)
    try:
        result = instance.call("main", *args, trace=traced)
    except ChronicleError as error:
        stopped = error_trace(error)
        if stopped is None:
            if traced:
                raise
            received = kept.get("log", 0) + kept.get("kv", 0)
            return f"{error.code}, {received} calls reached the host"
        data = stopped.to_json()
        report = replay(data, module)
        events = len(load_trace(data).events)
        same = diff_traces(data, data)["equal"]
        return (
            f"{error.code} at call {events}, {len(data) // 1_000_000} MB trace, replayed exactly: {report.exact}, "
            f"inspected and diffed: {same}"
        )
    if result.trace is None:
        return "returned"
    data = result.trace.to_json()
    return f"returned, {len(data) // 1_000_000} MB trace, replayed exactly: {replay(data, module).exact}"


_LOG_GRANT = '[capabilities."log.info"]\nallow = true\n'
_KV_BOMB = """cap kv.set(key: str, value: str);
pub fn main(size: int, times: int) -> int {
    let v = repeat("v", size);
    for i in 0..times { kv.set("k", v); }
    return times;
}
"""
_KV_GRANT = '[capabilities."kv.set"]\nallow = true\n'


def _log_bomb(piece: str, size: int, times: int) -> str:
    return _api_bomb(_LOG_BOMB, _LOG_GRANT, (piece, size, times), traced=True)


def log_bomb_1m_x1000() -> str:
    """1,000 log.info calls with a 1M-character string, traced, through the embedding API (no host bounds)."""
    return _log_bomb("x", 1_000_000, 1_000)


def log_bomb_1m_x2000_untraced() -> str:
    """2,000 such calls, untraced (a MemoryError traced before the trace budget; unbounded untraced before
    max_output_bytes): the host receives 33 of them."""
    return _api_bomb(_LOG_BOMB, _LOG_GRANT, ("x", 1_000_000, 2_000), traced=False)


def log_bomb_trace_budget() -> str:
    """The traced log bomb with max_output_bytes lifted to its ceiling: the trace budget (max_trace_bytes) stops it."""
    from chronicle_vm.limits import HARD_LIMITS, Limits

    lifted = Limits(max_output_bytes=HARD_LIMITS.max_output_bytes)
    return _api_bomb(_LOG_BOMB, _LOG_GRANT, ("x", 1_000_000, 2_000), traced=True, limits=lifted)


def log_brackets_1m_x5() -> str:
    """5 log.info calls of 1M `[`: a trace that replay, inspect and diff used to refuse."""
    return _log_bomb("[", 1_000_000, 5)


def kv_set_1mb_values() -> str:
    """kv.set of 1 MB values in a loop of 1,000, traced, through the API with a store that keeps everything."""
    return _api_bomb(_KV_BOMB, _KV_GRANT, (1_000_000, 1_000), traced=True)


def cli_log_bomb() -> str:
    """The same log bomb through the CLI: the host's own bound stops it at the first call."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "bomb.cmod").write_bytes(_module_bytes(_LOG_BOMB))
        Path(folder, "bomb.toml").write_text('version = 1\n[capabilities."log.info"]\nallow = true\n', encoding="utf-8")
        args = ["--arg", "x", "--arg", "1000000", "--arg", "1000", "--policy", "bomb.toml", "--json"]
        done = subprocess.run(
            [sys.executable, "-m", "chronicle_cli.vm", "trace", "bomb.cmod", *args, "-o", "t.json"],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        error = json.loads(done.stdout)["error"]
        size = os.path.getsize(Path(folder, "t.json"))
        bound = "log_max_chars" if "log_max_chars" in error.get("host_message", "") else "?"
        return f"exit {done.returncode}, {error['code']} ({bound}), {size // 1_000_000} MB trace"


#: The CLI host's own bounds lifted by the policy, so that the VM's bytes-out bounds are what stops a bomb.
_NO_HOST_BOUNDS = "[host]\nlog_max_chars = 100000000\nlog_max_total_chars = 100000000000\n"


def _cli(folder: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chronicle_cli.vm", *argv], cwd=folder, capture_output=True, text=True, check=False
    )


def _cli_bomb(args: list[str], policy: str, source: str = _LOG_BOMB) -> str:
    """`trace` a bomb through the CLI, then `replay`, `inspect` and `diff` its trace: their exit codes."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "bomb.cmod").write_bytes(_module_bytes(source))
        Path(folder, "bomb.toml").write_text(policy, encoding="utf-8")
        done = _cli(folder, "trace", "bomb.cmod", *args, "--policy", "bomb.toml", "--json", "-o", "t.json")
        error = json.loads(done.stdout).get("error") or {}
        size = os.path.getsize(Path(folder, "t.json"))
        replayed = _cli(folder, "replay", "t.json", "--module", "bomb.cmod", "--json")
        inspected = _cli(folder, "inspect", "t.json", "--json")
        diffed = _cli(folder, "diff", "t.json", "t.json", "--json")
        reproduced = json.loads(replayed.stdout).get("replay", {}).get("reproduced") if replayed.stdout else None
        bound = next((n for n in ("log_max_chars", "kv_max_value_chars") if n in error.get("host_message", "")), "")
        code = error.get("code", "returned") + (f" ({bound})" if bound else "")
        return (
            f"exit {done.returncode}, {code}, {size // 1_000_000} MB trace; "
            f"replay exit {replayed.returncode} ({reproduced}), inspect exit {inspected.returncode}, "
            f"diff exit {diffed.returncode}"
        )


def cli_log_bomb_output_bytes() -> str:
    """2,000 log.info calls of 1M characters through the CLI with the host's log bounds lifted by the policy:
    the CLI's default max_output_bytes stops the run, and the trace replays, inspects and diffs."""
    args = ["--arg", "x", "--arg", "1000000", "--arg", "2000"]
    return _cli_bomb(args, "version = 1\n" + _NO_HOST_BOUNDS + _LOG_GRANT)


def cli_log_bomb_trace_bytes() -> str:
    """The same with --unbounded (max_output_bytes lifted; max_trace_bytes kept): the trace budget stops it."""
    args = ["--arg", "x", "--arg", "1000000", "--arg", "2000", "--unbounded", "--timeout", "60"]
    return _cli_bomb(args, "version = 1\n" + _NO_HOST_BOUNDS + _LOG_GRANT)


def cli_log_brackets_1m_x5() -> str:
    """5 log.info calls of 1M `[` through the CLI (host bounds lifted): the trace replays, inspects and diffs."""
    args = ["--arg", "[", "--arg", "1000000", "--arg", "5"]
    return _cli_bomb(args, "version = 1\n" + _NO_HOST_BOUNDS + _LOG_GRANT)


def cli_kv_set_1mb_values() -> str:
    """kv.set of 1 MB values through the CLI: the host's kv_max_value_chars refuses the first call."""
    args = ["--arg", "1000000", "--arg", "1000"]
    policy = 'version = 1\n[host]\nkv_path = "kv.sqlite"\n' + _KV_GRANT
    return _cli_bomb(args, policy, _KV_BOMB)


def _forged(change: Callable[[dict[str, object]], None], source: str) -> str:
    from chronicle_vm.limits import Limits
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.document import error_trace
    from chronicle_vm.trace.replay import replay

    module = _module_bytes(source)
    try:
        instantiate(load_module(module), limits=Limits(max_instructions=500)).call("main", trace=True)
    except ChronicleError as error:
        trace = error_trace(error)
        assert trace is not None
        doc = trace.to_dict()
    change(doc)
    from chronicle_vm.trace.document import canonical_json

    replay(canonical_json(doc), module)
    return "replayed"


def forged_trace_runaway() -> str:
    """A runaway module's trace forged to record 2^62 instructions of limits (and of outcome)."""
    from chronicle_vm.limits import HARD_LIMITS

    def change(doc: dict[str, object]) -> None:
        big = HARD_LIMITS.max_instructions
        doc["provenance"]["limits"]["max_instructions"] = big  # type: ignore[index]
        doc["outcome"]["instructions"] = big  # type: ignore[index]
        doc["events"][-1]["instructions"] = big  # type: ignore[index]

    return _forged(change, "pub fn main() -> int {\n    let x = 0;\n    while true { x = x + 1; }\n    return x;\n}\n")


def forged_trace_doubling() -> str:
    """A doubling-string module's trace forged to record the hard ceilings, claiming a return."""
    from chronicle_vm.limits import HARD_LIMITS

    def change(doc: dict[str, object]) -> None:
        doc["provenance"]["limits"] = HARD_LIMITS.to_dict()  # type: ignore[index]
        doc["events"] = []
        doc["outcome"] = {"status": "returned", "value": 0, "instructions": 400}

    source = 'pub fn main() -> int {\n    let s = "ab";\n    while true { s = s + s; }\n    return len(s);\n}\n'
    return _forged(change, source)


def trace_5gb_sparse() -> str:
    """A 5 GB trace file (sparse), through the CLI's reader: refused by its size before a byte is read."""
    from chronicle_vm.errors import ReplayError
    from chronicle_vm.inputs import MAX_TRACE_FILE_BYTES, read_capped

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.json")
        with open(path, "wb") as handle:
            handle.truncate(5 * 1024**3)
        read_capped(path, MAX_TRACE_FILE_BYTES, ReplayError, "replay.too-large", "a trace")
    return "read"


def policy_dotted_key_100k() -> str:
    """A 200 KB policy with one 100,000-part dotted key (tomllib: 35-45 s, then MemoryError)."""
    from chronicle_vm.capabilities.policy import Policy

    Policy.from_toml("version = 1\n" + "a." * 100_000 + "b = 1\n")
    return "loaded"


def source_map_etc_passwd() -> str:
    """A module whose source map names /etc/passwd, trapping under the CLI with --source: no file is opened."""
    with tempfile.TemporaryDirectory() as folder:
        source = "pub fn main(n: int) -> int {\n    return 1 / n;\n}\n"
        Path(folder, "m.cmod").write_bytes(_module_bytes(source, "/etc/passwd"))
        done = subprocess.run(
            [sys.executable, "-m", "chronicle_cli.vm", "run", "m.cmod", "--arg", "0", "--source", "."],
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        quoted = " | " in done.stderr or "root:" in done.stderr
        return f"exit {done.returncode}, {'a line was quoted' if quoted else 'no line quoted'}"


def dev_zero_as_module() -> str:
    """/dev/zero given as a module (a MemoryError before) and a FIFO nobody writes to (a hang before)."""
    from chronicle_vm.errors import DecodeError
    from chronicle_vm.inputs import MAX_MODULE_FILE_BYTES, read_capped

    codes = []
    with tempfile.TemporaryDirectory() as folder:
        fifo = os.path.join(folder, "pipe")
        os.mkfifo(fifo)
        for path in ("/dev/zero", fifo):
            try:
                read_capped(path, MAX_MODULE_FILE_BYTES, DecodeError, "decode.too-large", "a module")
            except ChronicleError as error:
                codes.append(error.code)
    return ", ".join(codes)


def fresh_frame_million_fields() -> str:
    """200 calls of a function whose 4,000 registers are 255-field structs: 1,406 units of fuel and 53 s before.

    Now the 33rd call (3 + 32 * 64,007 + 3 + 64,000 units) would pass max_allocation, on both engines."""
    from chronicle_vm.core.isa import OPS_BY_NAME
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import BOOL, INT, StructDef, StructField, TypeKind, ValueType
    from chronicle_vm.engines.compiled import CompiledEngine
    from chronicle_vm.engines.oracle import Oracle
    from chronicle_vm.limits import Limits
    from chronicle_vm.verifier.rules import verify

    def ins(name: str, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
        return Instruction(OPS_BY_NAME[name].op.value, a, b, c)

    wide = StructDef("Wide", tuple(StructField(f"f{i}", INT) for i in range(255)))
    callee = Function(
        "fresh",
        False,
        0,
        INT,
        (ValueType(TypeKind.STRUCT, ref=0),) * 4000 + (INT,),
        (ins("loadk", 4000), ins("ret", 4000)),
    )
    loop: tuple[Instruction, ...] = (ins("loadk", 0, 0), ins("loadk", 1, 1), ins("loadk", 3, 2), ins("lt", 2, 0, 1))
    loop += (ins("jmpifnot", 2, 8), ins("call", 1, 0, 4), ins("add", 0, 0, 3), ins("jmp", 3), ins("ret", 0))
    main = Function("main", True, 0, INT, (INT, INT, BOOL, INT, INT), loop)
    verified = verify(Module((0, 200, 1), (), (main, callee), SourceMap((), ((), ())), structs=(wide,)))
    stops = []
    for engine in (Oracle(verified, Limits()), CompiledEngine(verified, Limits())):
        try:
            engine.call("main", [])
            stops.append("returned")
        except ChronicleError as error:
            stops.append(f"{error.code} at {error.details.get('instructions')}")
    return ", ".join(stops)


ATTACKS: dict[str, tuple[Callable[[], str], str]] = {
    "log-bomb-1m-x1000": (
        log_bomb_1m_x1000,
        "limit.output-bytes at call 34, 34 MB trace, replayed exactly: True, inspected and diffed: True",
    ),
    "log-bomb-1m-x2000-untraced": (
        log_bomb_1m_x2000_untraced,
        "limit.output-bytes, 33 calls reached the host",
    ),
    "log-bomb-trace-budget": (
        log_bomb_trace_budget,
        "limit.trace-bytes at call 59, 59 MB trace, replayed exactly: True, inspected and diffed: True",
    ),
    "log-brackets-1m-x5": (log_brackets_1m_x5, "returned, 5 MB trace, replayed exactly: True"),
    "kv-set-1mb-values": (
        kv_set_1mb_values,
        "limit.output-bytes at call 34, 34 MB trace, replayed exactly: True, inspected and diffed: True",
    ),
    "cli-log-bomb": (cli_log_bomb, "exit 1, runtime.capability-failed (log_max_chars), 1 MB trace"),
    "cli-log-bomb-output-bytes": (
        cli_log_bomb_output_bytes,
        "exit 14, limit.output-bytes, 34 MB trace; replay exit 0 (limit), inspect exit 0, diff exit 0",
    ),
    "cli-log-bomb-trace-bytes": (
        cli_log_bomb_trace_bytes,
        "exit 14, limit.trace-bytes, 59 MB trace; replay exit 0 (limit), inspect exit 0, diff exit 0",
    ),
    "cli-log-brackets-1m-x5": (
        cli_log_brackets_1m_x5,
        "exit 0, returned, 5 MB trace; replay exit 0 (returned), inspect exit 0, diff exit 0",
    ),
    "cli-kv-set-1mb-values": (
        cli_kv_set_1mb_values,
        "exit 1, runtime.capability-failed (kv_max_value_chars), 1 MB trace; replay exit 0 (capability-error), "
        "inspect exit 0, diff exit 0",
    ),
    "forged-trace-runaway": (forged_trace_runaway, "replay.limits"),
    "forged-trace-doubling": (forged_trace_doubling, "replay.limits"),
    "trace-5gb-sparse": (trace_5gb_sparse, "replay.too-large"),
    "policy-dotted-key-100k": (policy_dotted_key_100k, "policy.key-too-deep"),
    "source-map-etc-passwd": (source_map_etc_passwd, "exit 1, no line quoted"),
    "dev-zero-and-fifo-as-module": (dev_zero_as_module, "usage.not-a-file, usage.not-a-file"),
    "fresh-frame-million-fields": (
        fresh_frame_million_fields,
        "limit.allocation at 2112230, limit.allocation at 2112230",
    ),
}


def run_here(name: str) -> dict[str, object]:
    attack, _ = ATTACKS[name]
    started = time.perf_counter()
    try:
        outcome = attack()
    except ChronicleError as exc:
        outcome = exc.code
    seconds = time.perf_counter() - started
    # The CLI attacks run the CLI in a grandchild: its peak counts too.
    peak_kb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    peak_mb = peak_kb / 1024
    return {"attack": name, "outcome": outcome, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1)}


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def run_isolated(name: str) -> dict[str, object]:
    """Run one attack in a child process with the memory cap and the time budget."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    try:
        done = subprocess.run(
            [sys.executable, __file__, name],
            capture_output=True,
            text=True,
            timeout=TIME_BUDGET_SECONDS * 2,  # the budget is checked on the child's own figure; this only stops a hang
            preexec_fn=_cap_memory,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"attack": name, "outcome": f"timeout after {TIME_BUDGET_SECONDS * 2} s"}
    if done.returncode != 0:
        return {"attack": name, "outcome": "crashed", "stderr": done.stderr[-2000:]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def within_bounds(name: str, result: dict[str, object]) -> bool:
    seconds, peak = result.get("seconds"), result.get("peak_rss_mb")
    return (
        result.get("outcome") == ATTACKS[name][1]
        and isinstance(seconds, (int, float))
        and seconds <= TIME_BUDGET_SECONDS
        and isinstance(peak, (int, float))
        and peak <= PEAK_RSS_BUDGET_MB
    )


def main(argv: list[str]) -> int:
    if argv:
        print(json.dumps(run_here(argv[0])))
        return 0
    print("| attack | outcome | seconds | peak RSS (MB) |\n|---|---|---|---|")
    failed = 0
    for name in ATTACKS:
        result = run_isolated(name)
        ok = within_bounds(name, result)
        failed += not ok
        mark = "" if ok else " (UNEXPECTED)"
        print(
            f"| {name} | `{result['outcome']}`{mark} | {result.get('seconds', '-')} "
            f"| {result.get('peak_rss_mb', '-')} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
