"""Test helper: takes `.chr` source, gives the result of compiling and running it on the VM with fake capabilities.

The fake host is deterministic: `log.info` records messages, `clock.now`
returns 1_700_000_000_000, `random.int(lo, hi)` returns `lo`, `kv` is an
in-memory dict, `catalog.lookup(sku)` gives the struct `{sku, name: upper(sku),
unit: 0.25 per letter of sku}` (a struct value: its fields in declaration
order) and `fx.rate(from, to)` gives 1.25.  Modules go through their bytes,
as the CLI does.  Arguments and results of programs are compared in their
JSON forms (CONTRACT 3.1: a map is `[key, value]` pairs, a struct an object).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from chronicle_lang import compile_source, compile_to_module
from chronicle_vm.core.calls import CallSite, CapabilityHandler
from chronicle_vm.core.model import Module
from chronicle_vm.core.type_registry import JsonForm, from_json, to_json
from chronicle_vm.core.values import Value
from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError, SourceError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import VerifiedModule, verify

__all__ = [
    "ENGINES",
    "FakeHost",
    "RunReport",
    "check_program",
    "expectations",
    "run_chr",
    "skip_unless_the_vm_has_its_instructions",
]

CLOCK_NOW = 1_700_000_000_000


@dataclass
class FakeHost:
    logs: list[str] = field(default_factory=list)
    kv: dict[str, str] = field(default_factory=dict)

    def handler(self, name: str) -> CapabilityHandler | None:
        def log_info(args: Sequence[Value], site: CallSite) -> Value | None:
            self.logs.append(str(args[0]))
            return None

        def clock_now(args: Sequence[Value], site: CallSite) -> Value | None:
            return CLOCK_NOW

        def random_int(args: Sequence[Value], site: CallSite) -> Value | None:
            return args[0]

        def kv_get(args: Sequence[Value], site: CallSite) -> Value | None:
            return self.kv.get(str(args[0]), "")

        def kv_set(args: Sequence[Value], site: CallSite) -> Value | None:
            self.kv[str(args[0])] = str(args[1])
            return None

        def catalog_lookup(args: Sequence[Value], site: CallSite) -> Value | None:
            sku = str(args[0])
            return cast(Value, [sku, sku.upper(), 0.25 * len(sku)])

        def fx_rate(args: Sequence[Value], site: CallSite) -> Value | None:
            return cast(Value, 1.25)

        table: dict[str, CapabilityHandler] = {
            "catalog.lookup": catalog_lookup,
            "fx.rate": fx_rate,
            "log.info": log_info,
            "clock.now": clock_now,
            "random.int": random_int,
            "kv.get": kv_get,
            "kv.set": kv_set,
        }
        return table.get(name)


@dataclass
class RunReport:
    value: Any = None
    error: ChronicleError | None = None
    instructions: int = 0
    host: FakeHost = field(default_factory=FakeHost)


#: The engines every test program runs on: the reference interpreter (the one-step oracle of
#: chronicle_vm.engines.oracle), the fused interpreter with and without superinstructions, and the compiled
#: engine.  Their outcomes must agree exactly (value, error, location, count, logs).
ENGINES = ("reference", "fused", "unfused", "compiled")


def _engine(verified: VerifiedModule, engine: str, limits: Limits, handlers: list[CapabilityHandler | None]) -> Any:
    if engine == "compiled":
        return CompiledEngine(verified, limits, handlers)
    if engine == "reference":
        return Oracle(verified, limits, handlers)
    return Interpreter(verified, limits, handlers, superinstructions=engine == "fused")


def run_chr(
    source: str | bytes,
    entry: str = "main",
    args: Sequence[Any] = (),
    *,
    path: str = "<test>",
    limits: Limits | None = None,
    host: FakeHost | None = None,
    engine: str = "fused",
    json_args: bool = False,
) -> RunReport:
    """Compile, encode, decode, verify and run on `engine`; compile errors propagate, run errors are reported."""
    module = compile_to_module(source, path)
    decoded = Module.from_bytes(module.to_bytes())
    form = JsonForm(getattr(decoded, "structs", ()), lenient=True)
    exported = {fn.name: fn for fn in decoded.functions}
    function = exported.get(entry)
    if function is not None and json_args and len(args) == len(function.params):
        pairs = enumerate(zip(args, function.params, strict=True))
        args = [from_json(arg, vtype, form, f"args[{i}]") for i, (arg, vtype) in pairs]
    verified = verify(decoded)
    host = host if host is not None else FakeHost()
    handlers = [host.handler(cap.name) for cap in decoded.capabilities]
    report = RunReport(host=host)
    try:
        runner = _engine(verified, engine, limits if limits is not None else Limits(), handlers)
        outcome = runner.call(entry, list(args))
    except ChronicleError as err:
        report.error = err
        return report
    report.value = outcome.value
    if json_args and function is not None and function.result is not None:
        report.value = to_json(outcome.value, function.result, JsonForm(form.structs))  # the canonical form
    report.instructions = outcome.instructions
    return report


_DIRECTIVE = re.compile(r"//\s*(expect runtime error|expect log|expect|args|entry):\s?(.*)$")
_LINE_ERROR = re.compile(r"//\s*error:\s*(source\.[a-z0-9-]+)\s*$")


def expectations(text: str) -> dict[str, Any]:
    """The inline expectations of a test program: value, trap, logs, args, entry and per-line errors.

    A directive on a line of its own is about the program; one after code is about that line: a trailing
    `// expect runtime error: CODE` traps on this line, a trailing `// expect log: TEXT` is logged here.
    """
    out: dict[str, Any] = {"logs": [], "errors": [], "entry": "main", "args": []}
    for number, line in enumerate(text.splitlines(), start=1):
        e = _LINE_ERROR.search(line)
        if e:
            out["errors"].append((number, e.group(1)))
            continue
        m = _DIRECTIVE.search(line)
        if not m:
            continue
        trailing = not line.strip().startswith("//")
        key, value = m.group(1), m.group(2)
        if key == "expect":
            out["value"] = json.loads(value)
        elif key == "expect runtime error":
            code, _, at = value.partition(" at ")
            out["trap"] = (code.strip(), int(at) if at else number if trailing else None)
        elif key == "expect log":
            out["logs"].append(value)
        elif key == "args":
            out["args"] = json.loads(value)
        else:
            out["entry"] = value.strip()
    return out


def _observed(report: RunReport) -> tuple[Any, ...]:
    error = report.error
    if error is None:
        return ("value", report.value, report.instructions, report.host.logs)
    return ("error", type(error), error.code, error.message, error.details, report.host.logs)


def skip_unless_the_vm_has_its_instructions(text: str, path: str) -> None:
    """Skip (not fail) a program whose instructions this VM build lacks (`source.unsupported`: the maps and
    structs of issue 17 until they are merged); any other outcome is the test's to judge."""
    try:
        compile_source(text, path)
    except SourceError as err:
        missing = sorted({d["message"] for d in err.details["diagnostics"] if d["code"] == "source.unsupported"})
        if missing:
            pytest.skip(f"{path}: {missing[0]}")


def check_program(text: str, path: str, *, limits: Limits | None = None) -> RunReport | None:
    """Compile and run `text` on every engine, asserting its inline expectations and that the engines agree."""
    skip_unless_the_vm_has_its_instructions(text, path)
    want = expectations(text)
    if want["errors"]:
        with pytest.raises(SourceError) as info:
            compile_source(text, path)
        got = sorted((d["line"], d["code"]) for d in info.value.details["diagnostics"])
        assert got == sorted(want["errors"])
        return None
    assert "value" in want or "trap" in want, f"{path} states no expectation"
    reports = {
        engine: run_chr(text, want["entry"], want["args"], path=path, limits=limits, engine=engine, json_args=True)
        for engine in ENGINES
    }
    report = reports["fused"]
    for engine, other in reports.items():
        assert _observed(other) == _observed(report), f"{engine} disagrees with the fused interpreter"
    if "trap" in want:
        code, line = want["trap"]
        assert report.error is not None, f"expected {code}, got value {report.value!r}"
        assert report.error.code == code
        if line is not None:
            assert report.error.details["location"]["line"] == line
            assert report.error.details["location"]["file"] == path
    else:
        assert report.error is None, str(report.error)
        assert report.value == want["value"]
    assert report.host.logs == want["logs"]
    return report
