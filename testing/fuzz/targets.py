"""Fuzz targets, one per untrusted input: each takes bytes and must end in a result or a ChronicleError.

Used three ways: by atheris (`run_all.py`, coverage-guided, `nox -s fuzz`),
by the regression test that replays every saved input in `regressions/`
(the normal `tests` session), and by hypothesis properties.  A target
returns normally when the input was handled (accepted or refused with a
structured error); any other exception is a finding.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from chronicle_vm.core.calls import CallSite
from chronicle_vm.core.types import BaseType, ValueType, array_type
from chronicle_vm.core.values import Value
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits

#: Small limits: a fuzz input must finish quickly whatever it does.
FUZZ_LIMITS = Limits(
    max_instructions=20_000,
    max_call_depth=64,
    max_registers=4_096,
    max_stack_registers=65_536,
    max_array_len=1_000,
    max_string_len=10_000,
    max_allocation=200_000,
)

SAMPLE_CHR = """\
cap log.info(msg: str);
cap kv.get(key: str) -> str;
cap clock.now() -> int;

fn fib(n: int) -> int {
    if n < 2 { return n; }
    return fib(n - 1) + fib(n - 2);
}

pub fn main(limit: int) -> int {
    let xs: [int] = [];
    let total = 0;
    for i in 0..limit {
        push(xs, fib(i));
        total = total + xs[i];
    }
    log.info("total=" + str(total) + kv.get("k"));
    return total + clock.now() % 7;
}
"""

SAMPLE_POLICY = """\
version = 1

[limits]
max_instructions = 100_000

[capabilities."log.info"]
allow = true

[capabilities."kv.get"]
allow = true
max_calls = 3

[capabilities."clock.now"]
allow = true
"""


def zero_value(vtype: ValueType) -> Value:
    if vtype.depth:
        return []
    simple: dict[BaseType, Value] = {BaseType.INT: 3, BaseType.BOOL: True, BaseType.STR: "x"}
    return simple[vtype.base]


def stub_handler(result: ValueType | None) -> Callable[[Sequence[Value], CallSite], Value | None]:
    def handler(args: Sequence[Value], site: CallSite) -> Value | None:
        return None if result is None else zero_value(result)

    return handler


def run_all_exports(data: bytes) -> None:
    """Decode, verify, and run every export with simple typed arguments under FUZZ_LIMITS, on both engines."""
    from chronicle_vm.engines.reference import Interpreter
    from chronicle_vm.runtime import load_module, make_engine

    loaded = load_module(data)
    module = loaded.module
    handlers = [stub_handler(cap.result) for cap in module.capabilities]
    for name, index in sorted(loaded.verified.exports.items()):
        args = [zero_value(t) for t in module.functions[index].params]
        outcomes: list[tuple[object, ...]] = []
        for engine in (
            Interpreter(loaded.verified, FUZZ_LIMITS, handlers),
            make_engine(loaded.verified, FUZZ_LIMITS, handlers),
        ):
            try:
                result = engine.call(name, args)
                outcomes.append(("ok", result.value, result.instructions))
            except ChronicleError as exc:
                outcomes.append(("error", exc.code, exc.details.get("location")))
        if outcomes[0] != outcomes[1]:
            raise AssertionError(f"engines disagree on {name}: {outcomes}")


def target_module(data: bytes) -> None:
    with contextlib.suppress(ChronicleError):
        run_all_exports(data)


def target_casm(data: bytes) -> None:
    from chronicle_asm import assemble_text

    try:
        text = data.decode("utf-8", errors="surrogateescape")
        module = assemble_text(text, "fuzz.casm")
        run_all_exports(module.to_bytes())
    except ChronicleError:
        pass


def target_chr(data: bytes) -> None:
    from chronicle_lang import compile_to_module

    try:
        module = compile_to_module(data, "fuzz.chr")
        run_all_exports(module.to_bytes())
    except ChronicleError:
        pass


@cache
def sample_module_bytes() -> bytes:
    from chronicle_lang import compile_to_module

    return compile_to_module(SAMPLE_CHR, "sample.chr").to_bytes()


@cache
def sample_trace_bytes() -> bytes:
    """A genuine trace of the sample module's `main(6)`, with all three capabilities called."""
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import instantiate, load_module

    host = Host()
    host.register("log.info", lambda msg: None, params=[array_type(BaseType.STR)], result=None)
    host.register("kv.get", lambda key: "v", params=[array_type(BaseType.STR)], result=array_type(BaseType.STR))
    host.register("clock.now", lambda: 1234, params=[], result=array_type(BaseType.INT))
    instance = instantiate(load_module(sample_module_bytes()), host=host, policy=Policy.from_toml(SAMPLE_POLICY))
    trace = instance.call("main", 6, trace=True).trace
    assert trace is not None
    return trace.to_json()


def target_policy(data: bytes) -> None:
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.negotiation import negotiate
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import load_module

    host = Host()

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        return None

    @host.capability("kv.get")
    def kv_get(key: str) -> str:
        return ""

    try:
        policy = Policy.from_toml(data, "fuzz.toml")
        negotiation = negotiate(load_module(sample_module_bytes()).verified, policy, host)
        negotiation.to_dict()
        if negotiation.ok:
            negotiation.handlers(policy.effective_limits(FUZZ_LIMITS))
    except ChronicleError:
        pass


def target_trace(data: bytes) -> None:
    from chronicle_vm.trace.replay import replay

    with contextlib.suppress(ChronicleError):
        replay(data, sample_module_bytes())


#: The version-2 sample plugin: floats, maps, structs and a recursive struct, in arguments, calls and results.
SAMPLE_V2_CHR = Path(__file__).resolve().parent.parent / "chronicle_testing" / "sample_v2.chr"
#: Its entry's arguments in a recorded sample: floats at repr's corners (-0.0, a subnormal, 1e16, 0.1 + 0.2).
SAMPLE_V2_ARGS = (
    [{"sku": "apple", "qty": 2, "unit": 1.5}, {"sku": "pear", "qty": 1, "unit": 0.1}],
    {"vip": True},
    [0.1, -0.0, 5e-324, 1e16, 0.1 + 0.2, 1e-7, 123456789.125],
)


@cache
def sample_v2_module_bytes() -> bytes:
    from chronicle_lang import compile_to_module

    return compile_to_module(SAMPLE_V2_CHR.read_text(encoding="utf-8"), "sample_v2.chr").to_bytes()


def sample_v2_host(module: Any) -> tuple[Any, Any]:
    """A host answering the v2 sample's capabilities with fixed values of their types, and a policy granting them."""
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy

    answers: dict[str, Callable[..., object]] = {
        "fx.rate": lambda source, target: 0.1 + 0.2,
        "catalog.lookup": lambda sku: {"sku": sku, "qty": 1, "unit": 5e-324},
        "stock.put": lambda counts, tree: {"neg": -0.0, "big": 1e16},
        "log.info": lambda msg: None,
    }
    host = Host()
    for cap in module.capabilities:
        host.register(cap.name, answers[cap.name], params=cap.params, result=cap.result, structs=module.structs)
    text = "version = 1\n" + "".join(f'[capabilities."{cap.name}"]\nallow = true\n' for cap in module.capabilities)
    return host, Policy.from_toml(text)


@cache
def sample_v2_trace_bytes() -> bytes:
    """A genuine version-2 trace of the v2 sample's `main(SAMPLE_V2_ARGS)`: every capability called."""
    from chronicle_vm.runtime import instantiate, load_module

    loaded = load_module(sample_v2_module_bytes())
    host, policy = sample_v2_host(loaded.module)
    trace = instantiate(loaded, host=host, policy=policy).call("main", *SAMPLE_V2_ARGS, trace=True).trace
    assert trace is not None
    return trace.to_json()


def operator_views(trace: Any) -> None:
    """What the operator's tools make of a loaded trace: `policy suggest` (a policy that must load), the report
    and the inspect view; each ends in a result or a ChronicleError."""
    from chronicle_cli.report import render_report
    from chronicle_cli.suggest import suggest_policy
    from chronicle_cli.trace_view import typed_document
    from chronicle_vm.capabilities.policy import Policy

    with contextlib.suppress(ChronicleError):
        Policy.from_toml(suggest_policy([("fuzz.json", trace)]).text, "<suggested>")
    render_report(trace.doc, title="fuzz.json")
    typed_document(trace.doc)


def target_trace_v2(data: bytes) -> None:
    """A version-2 trace: loaded, replayed on both engines (which must agree), and read by the operator tools."""
    from chronicle_vm.trace.document import load_trace
    from chronicle_vm.trace.replay import replay

    try:
        trace = load_trace(data)
    except ChronicleError:
        return
    outcomes: list[str] = []
    for engine in ("reference", "compiled"):
        try:
            replay(trace, sample_v2_module_bytes(), engine=engine, limits=FUZZ_LIMITS)
            outcomes.append("exact")
        except ChronicleError as exc:
            outcomes.append(exc.code)
    if outcomes[0] != outcomes[1]:
        raise AssertionError(f"the engines replay the trace differently: {outcomes}")
    operator_views(trace)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "module": target_module,
    "casm": target_casm,
    "chr": target_chr,
    "policy": target_policy,
    "trace": target_trace,
    "trace-v2": target_trace_v2,
}
