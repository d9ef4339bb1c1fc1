"""Resource attacks on the five untrusted inputs, each run in its own process under a memory cap.

    python testing/attacks.py                 # run all, print a markdown table (time, peak RSS, outcome)
    python testing/attacks.py NAME            # run one in this process, print its JSON outcome

Every attack must end in a result or a ChronicleError with the expected code,
within the wall-clock budget and under the address-space cap set for the
child (a blow-up becomes a MemoryError, which is a failure).
tests-integration/test_attacks.py runs each one this way.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from chronicle_vm.core.types import array_type
from chronicle_vm.errors import ChronicleError

#: The child's address-space cap: far below this machine's memory, far above any honest need.
MEMORY_CAP_BYTES = 2 * 1024**3
#: Wall-clock budget per attack, generous for a loaded 2-core machine.
TIME_BUDGET_SECONDS = 60
#: Attacks whose honest work is large: 100,000 functions are 1.6 million tokens for the parser.
SLOW_BUDGETS = {"functions-100k-chr": 400, "trace-real-300k-events": 240}


def _module_bytes(source: str, path: str = "attack.chr") -> bytes:
    from chronicle_lang import compile_to_module

    return compile_to_module(source, path).to_bytes()


def huge_counts() -> str:
    """A 20-byte module whose first section claims four billion constants."""
    from chronicle_vm.core.model import Module

    # magic, version, section 1 of 9 bytes: a u32 count of 0xFFFFFFFF and five bytes of "constants"
    data = b"CHRM\x00\x01" + b"\x01" + (9).to_bytes(4, "big") + b"\xff\xff\xff\xff" + b"\x00" * 5
    assert len(data) == 20
    try:
        Module.from_bytes(data)
    except ChronicleError as exc:
        if exc.details.get("count") != 0xFFFFFFFF:  # refused, but not for the claimed count
            return f"{exc.code} for another reason: {exc}"
        raise
    return "accepted"


def registers_65536() -> str:
    """A function declaring 65,536 registers."""
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT
    from chronicle_vm.verifier.rules import verify

    function = Function("main", True, 0, INT, (INT,) * 65_536, (Instruction(0x25, 65_535),))
    module = Module(functions=(function,), source_map=SourceMap((), ((),)))
    verify(Module.from_bytes(module.to_bytes()))
    return "accepted"


def registers_65535_run() -> str:
    """A function with 65,535 registers (the verifier's maximum) run under the hard limits, 10,000 times."""
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT
    from chronicle_vm.engines.reference import Interpreter
    from chronicle_vm.limits import HARD_LIMITS
    from chronicle_vm.verifier.rules import verify

    big = Function("big", False, 0, INT, (INT,) * 65_535, (Instruction(0x25, 65_534),))
    loop = (
        Instruction(0x23, 0, 0, 1),  # call big -> r1
        Instruction(0x20, 0),  # jmp 0
    )
    main = Function("main", True, 0, INT, (INT, INT), loop)
    module = Module(functions=(big, main), source_map=SourceMap((), ((), ())))
    Interpreter(verify(module), HARD_LIMITS.tightened({"max_instructions": 20_000})).call("main", [])
    return "finished"


def nested_blocks_chr() -> str:
    """10,000-deep nested blocks in `.chr`."""
    depth = 10_000
    source = "pub fn main() -> int {\n" + "if true {\n" * depth + "return 1;\n" + "}\n" * depth + "return 0;\n}\n"
    _module_bytes(source)
    return "compiled"


def string_literal_10mb() -> str:
    """A 10 MB string literal, compiled and run under the default limits."""
    from chronicle_vm.runtime import instantiate, load_module

    source = 'pub fn main() -> int {\n let s = "' + "x" * 10_000_000 + '";\n return len(s);\n}\n'
    instantiate(load_module(_module_bytes(source))).call("main")
    return "finished"


def functions_100k_chr() -> str:
    """100,000 functions in `.chr`, compiled, decoded and verified."""
    from chronicle_vm.runtime import load_module

    parts = [f"fn f{i}(x: int) -> int {{ return x + {i}; }}\n" for i in range(100_000)]
    parts.append("pub fn main() -> int { return f99999(1); }\n")
    result = load_module(_module_bytes("".join(parts)))
    return f"loaded {len(result.module.functions)} functions"


def _sample_trace() -> tuple[bytes, dict[str, object]]:
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import instantiate, load_module

    source = (
        "cap clock.now() -> int;\n"
        "pub fn main(n: int) -> int {\n let t = 0;\n for i in 0..n { t = t + clock.now(); }\n return t;\n}\n"
    )
    data = _module_bytes(source)
    host = Host()

    @host.capability("clock.now")
    def now() -> int:
        return 1

    policy = Policy.from_toml('version = 1\n[capabilities."clock.now"]\nallow = true\n')
    result = instantiate(load_module(data), host=host, policy=policy).call("main", 3, trace=True)
    assert result.trace is not None
    trace = json.loads(result.trace.to_json())
    return data, trace


def trace_million_events() -> str:
    """A trace claiming a million capability events."""
    from chronicle_vm.trace.replay import replay

    module, trace = _sample_trace()
    events = trace["events"]
    assert isinstance(events, list)
    trace["events"] = [events[0]] * 1_000_000
    replay(json.dumps(trace).encode(), module)
    return "replayed"


def trace_50mb_string() -> str:
    """A trace with a 50 MB string in it."""
    from chronicle_vm.trace.replay import replay

    module, trace = _sample_trace()
    trace["entry"] = {"function": "x" * 50_000_000, "args": []}
    replay(json.dumps(trace).encode(), module)
    return "replayed"


def trace_50mb_result() -> str:
    """A trace whose recorded capability result is a 50 MB string (fifty times max_string_len)."""
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.replay import replay

    data = _module_bytes('cap kv.get(key: str) -> str;\npub fn main() -> int {\n return len(kv.get("k"));\n}\n')
    host = Host()

    @host.capability("kv.get")
    def get(key: str) -> str:
        return "value"

    policy = Policy.from_toml('version = 1\n[capabilities."kv.get"]\nallow = true\n')
    result = instantiate(load_module(data), host=host, policy=policy).call("main", trace=True)
    assert result.trace is not None
    trace = json.loads(result.trace.to_json())
    trace["events"][0]["result"] = "x" * 50_000_000
    replay(json.dumps(trace).encode(), data)
    return "replayed"


def trace_deep_nesting() -> str:
    """A trace document nested 100,000 levels deep."""
    from chronicle_vm.trace.replay import replay

    module, _ = _sample_trace()
    replay(b"[" * 100_000 + b"]" * 100_000, module)
    return "replayed"


def trace_real_300k_events() -> str:
    """A genuine recorded trace of 250,000 capability calls (about 46 MB of JSON, under the size cap), replayed.

    300,000 calls (55 MB) before the trace budget: a traced run's calls are now charged at most 56 MiB
    (chronicle_vm.trace.budget, an upper bound of about 222 bytes for each of these calls), so 300,000 of
    them stop with `limit.trace-bytes` near call 264,000."""
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.replay import replay

    source = (
        "cap clock.now() -> int;\n"
        "pub fn main(n: int) -> int {\n let t = 0;\n for i in 0..n { t = t + clock.now(); }\n return t;\n}\n"
    )
    data = _module_bytes(source)
    host = Host()

    @host.capability("clock.now")
    def now() -> int:
        return 1

    policy = Policy.from_toml('version = 1\n[capabilities."clock.now"]\nallow = true\n')
    result = instantiate(load_module(data), host=host, policy=policy).call("main", 250_000, trace=True)
    assert result.trace is not None
    report = replay(result.trace.to_json(), data)
    return f"replayed {report.events} events"


def policy_100k_capabilities() -> str:
    """A policy naming 100,000 capabilities."""
    from chronicle_vm.capabilities.policy import Policy

    text = "version = 1\n" + "".join(f'[capabilities."cap{i}.call"]\nallow = true\n' for i in range(100_000))
    policy = Policy.from_toml(text)
    return f"loaded {len(policy.capabilities)} rules"


def largest_strings_and_arrays() -> str:
    """A plugin that builds the largest strings and arrays the default limits allow, and keeps them."""
    from chronicle_vm.runtime import instantiate, load_module

    source = """
pub fn main() -> int {
    let keep: [str] = [];
    let s = "0123456789";
    while true {
        s = s + s;
        if len(s) > 500000 {
            push(keep, s);
            s = slice(s, 0, 10);
        }
    }
    return 0;
}
"""
    instantiate(load_module(_module_bytes(source))).call("main")
    return "finished"


# -- engine-side attacks (issue 16): work per instruction, values leaving the VM, translation ---------------------


def _run_chr(source: str, *, trace: bool = False, capability: str | None = None) -> str:
    """Compile `source`, grant `capability` (a sink for [[int]]) if named, run `main` under the default limits."""
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.core.types import INT
    from chronicle_vm.runtime import instantiate, load_module

    host = Host()
    policy = None
    if capability is not None:
        host.register(capability, lambda xs: None, params=(array_type(INT.base, 2),), result=None)
        policy = Policy.from_toml(f'version = 1\n[capabilities."{capability}"]\nallow = true\n')
    result = instantiate(load_module(_module_bytes(source)), host=host, policy=policy, trace=trace).call("main")
    return f"finished, {result.instructions} instructions"


def find_periodic_needle() -> str:
    """`find` of a periodic needle in a 1,000,000-character string, in a loop (cost model 1: about 12 hours)."""
    return _run_chr(
        'pub fn main() -> int { let s = repeat("a", 1000000); let needle = repeat("a", 100) + "b"; let n = 0;'
        " while true { n = n + find(s, needle); } return n; }"
    )


def join_empty_strings_loop() -> str:
    """`join` of 100,000 empty strings, in a loop."""
    return _run_chr(
        'pub fn main() -> int { let parts = split(repeat(",", 99999), ","); let n = 0;'
        ' while true { n = n + len(join(parts, "")); } return n; }'
    )


def equal_long_strings_loop() -> str:
    """`==` of two distinct 1,000,000-character strings, in a loop."""
    return _run_chr(
        'pub fn main() -> int { let a = repeat("a", 1000000); let b = repeat("a", 1000000); let n = 0;'
        " while true { if a == b { n = n + 1; } } return n; }"
    )


def trim_spaces_loop() -> str:
    """`trim` of 1,000,000 spaces, in a loop."""
    return _run_chr(
        'pub fn main() -> int { let s = repeat(" ", 1000000); let n = 0;'
        " while true { n = n + len(trim(s)); } return n; }"
    )


_ALIASED = """
cap sink.take(xs: [[int]]);
pub fn main() -> [[int]] {
    let inner: [int] = [];
    let i = 0;
    while i < 10000 { push(inner, i); i = i + 1; }
    let outer: [[int]] = [];
    i = 0;
    while i < 10000 { push(outer, inner); i = i + 1; }
    CALL
    return outer;
}
"""


def aliased_array_returned() -> str:
    """An array holding the same 10,000-item array 10,000 times, returned (cost model 1: 39 s, 2.5 GB)."""
    return _run_chr(_ALIASED.replace("cap sink.take(xs: [[int]]);", "").replace("CALL", ""))


def aliased_array_to_capability() -> str:
    """The same array passed to a capability."""
    return _run_chr(_ALIASED.replace("CALL", "sink.take(outer);"), capability="sink.take")


def aliased_array_traced() -> str:
    """The same array passed to a capability and returned, with a trace recorded."""
    return _run_chr(_ALIASED.replace("CALL", "sink.take(outer);"), capability="sink.take", trace=True)


def split_non_latin1_pieces() -> str:
    """`split` into 100,000 one-character non-Latin-1 pieces, kept, in a loop.

    When max_allocation counted characters and items (about 29 bytes of these per unit), 1.4 GB of peak
    RSS; counted in estimated bytes, the default 256 MiB stops it at about 290 MB.
    """
    return _run_chr(
        'pub fn main() -> int { let keep: [[str]] = []; let s = repeat("\\u{10428},", 99999);'
        ' while true { push(keep, split(s, ",")); } return 0; }'
    )


def wide_call_module(calls: int) -> bytes:
    """`main` calls a 4,095-parameter function `calls` times (the compiled engine wrote 4,095 names per call)."""
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT

    wide = Function("wide", False, 4095, INT, (INT,) * 4095, (Instruction(0x25, 0),))
    code = (*(Instruction(0x23, 1, 0, 4095),) * calls, Instruction(0x25, 4095))
    main = Function("main", True, 0, INT, (INT,) * 4096, code)
    return Module(functions=(main, wide), source_map=SourceMap((), ((), ()))).to_bytes()


def wide_call_4095_params() -> str:
    """A 4,095-parameter function called 5,999 times (cost model 1: an 8 GB cap reached while translating)."""
    from chronicle_vm.runtime import instantiate, load_module

    result = instantiate(load_module(wide_call_module(5_999))).call("main")
    return f"finished, {result.instructions} instructions"


def backward_jump_chain_module(functions: int, jumps: int) -> bytes:
    """`main` calls `functions` functions, each a chain of `jumps` backward jumps from its end to its start."""
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT

    # f: 0 loadk r0, k0; 1 jmp N+1; k in 2..N+1: `jmp k-1` (2: `ret r0`) -- each jump a block, run backwards.
    chain = [Instruction(0x02, 0, 0), Instruction(0x20, jumps + 1), Instruction(0x25, 0)]
    chain += [Instruction(0x20, k - 1) for k in range(3, jumps + 2)]
    chained = [Function(f"chain{i}", False, 0, INT, (INT,), tuple(chain)) for i in range(functions)]
    calls = tuple(Instruction(0x23, 1 + i, 0, 0) for i in range(functions))
    main = Function("main", True, 0, INT, (INT,), (*calls, Instruction(0x25, 0)))
    every = (main, *chained)
    return Module(constants=(7,), functions=every, source_map=SourceMap((), tuple(() for _ in every))).to_bytes()


def backward_jump_chain() -> str:
    """13 functions of 6,000 backward jumps each, a 1 MB module (cost model 1: 68-107 s on the default engine)."""
    from chronicle_vm.runtime import instantiate, load_module

    result = instantiate(load_module(backward_jump_chain_module(13, 6_000))).call("main")
    return f"finished, {result.instructions} instructions"


def parsefloat_1m_loop() -> str:
    """`parsefloat` of a 1,000,000-character decimal in a loop: paid by length (62,500 fuel each), so bounded."""
    from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import FLOAT, STR
    from chronicle_vm.runtime import instantiate, load_module

    code = (Instruction(0x02, 0, 0), Instruction(0x7F, 1, 0), Instruction(0x20, 1))  # loadk; parsefloat; jmp 1
    main = Function("main", True, 0, None, (STR, FLOAT), code)
    digits = "0." + "1" * 999_998
    module = Module(constants=(digits,), functions=(main,), source_map=SourceMap((), ((),)), version=2)
    result = instantiate(load_module(module.to_bytes())).call("main")
    return f"finished, {result.instructions} instructions"


ATTACKS: dict[str, tuple[Callable[[], str], str]] = {
    "huge-counts": (huge_counts, "decode.count-too-large"),
    "registers-65536": (registers_65536, "verify.register-count"),
    "registers-65535-run": (registers_65535_run, "limit.instructions"),
    "nested-blocks-chr": (nested_blocks_chr, "source.too-deep (source.too-deep)"),
    "string-literal-10mb": (string_literal_10mb, "limit.string-len"),
    "functions-100k-chr": (functions_100k_chr, "loaded 100001 functions"),
    "trace-million-events": (trace_million_events, "replay.*"),
    "trace-50mb-string": (trace_50mb_string, "replay.*"),
    "trace-50mb-result": (trace_50mb_result, "replay.*"),
    "trace-deep-nesting": (trace_deep_nesting, "replay.*"),
    "trace-real-300k-events": (trace_real_300k_events, "replayed 250000 events"),
    "policy-100k-capabilities": (policy_100k_capabilities, "loaded 100000 rules"),
    "largest-strings-and-arrays": (largest_strings_and_arrays, "limit.*"),
    "find-periodic-needle": (find_periodic_needle, "limit.instructions"),
    "join-empty-strings-loop": (join_empty_strings_loop, "limit.instructions"),
    "equal-long-strings-loop": (equal_long_strings_loop, "limit.instructions"),
    "trim-spaces-loop": (trim_spaces_loop, "limit.instructions"),
    "aliased-array-returned": (aliased_array_returned, "limit.allocation"),
    "aliased-array-to-capability": (aliased_array_to_capability, "limit.allocation"),
    "aliased-array-traced": (aliased_array_traced, "limit.allocation"),
    "split-non-latin1-pieces": (split_non_latin1_pieces, "limit.allocation"),
    "wide-call-4095-params": (wide_call_4095_params, "finished*"),
    "backward-jump-chain": (backward_jump_chain, "finished*"),
    "parsefloat-1m-loop": (parsefloat_1m_loop, "limit.instructions"),
}


def run_here(name: str) -> dict[str, object]:
    attack, _ = ATTACKS[name]
    started = time.perf_counter()
    try:
        outcome = attack()
    except ChronicleError as exc:
        outcome = exc.code
        diagnostics = exc.details.get("diagnostics")
        if isinstance(diagnostics, list) and diagnostics and isinstance(diagnostics[0], dict):
            outcome = f"{exc.code} ({diagnostics[0].get('code')})"  # which of the source errors it was
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"attack": name, "outcome": outcome, "seconds": round(seconds, 2), "peak_rss_mb": round(peak_mb, 1)}


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))


def run_isolated(name: str) -> dict[str, object]:
    """Run one attack in a child process with the memory cap and the time budget."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), *sys.path]))
    budget = SLOW_BUDGETS.get(name, TIME_BUDGET_SECONDS)
    try:
        done = subprocess.run(
            [sys.executable, __file__, name],
            capture_output=True,
            text=True,
            timeout=budget,
            preexec_fn=_cap_memory,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"attack": name, "outcome": f"timeout after {budget} s"}
    if done.returncode != 0:
        return {"attack": name, "outcome": "crashed", "stderr": done.stderr[-2000:]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def expected_outcome(name: str, outcome: object) -> bool:
    pattern = ATTACKS[name][1]
    if pattern.endswith("*"):
        return isinstance(outcome, str) and outcome.startswith(pattern[:-1])
    return outcome == pattern


def main(argv: list[str]) -> int:
    if argv:
        print(json.dumps(run_here(argv[0])))
        return 0
    print("| attack | outcome | seconds | peak RSS (MB) |\n|---|---|---|---|")
    failed = 0
    for name in ATTACKS:
        result = run_isolated(name)
        ok = expected_outcome(name, result["outcome"])
        failed += not ok
        mark = "" if ok else " (UNEXPECTED)"
        print(
            f"| {name} | `{result['outcome']}`{mark} | {result.get('seconds', '-')} "
            f"| {result.get('peak_rss_mb', '-')} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
