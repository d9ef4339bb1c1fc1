"""`chronicle-vm`: takes a command line, gives verify/negotiate/run/trace/replay/inspect/diff and an exit code.

Each command loads what it needs from the libraries inside its function
(argparse first, the runtime only when a command runs), so a small run
starts fast.  All decisions are the libraries': this module reads files,
builds the CLI host, calls the runtime and renders what it answers.
Exit codes are CONTRACT section 4's (see `common.EXIT_CODES`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .colors import add_color_option
from .common import Output, Parser, cleaned, run_main, visible

if TYPE_CHECKING:
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import LoadedModule

    from .custom_host import CustomHost
    from .host import CliHost

__all__ = ["build_parser", "main"]

_DESCRIPTION = "ChronicleVM: verify, negotiate, run, trace, replay and inspect sandboxed plugins."
_HOST_HELP = "use this application's own chronicle_vm Host (a module or .py file, and the Host or a factory in it)"
#: Wall-clock bound of `run` and `trace` unless --timeout or --unbounded says otherwise (seconds).
DEFAULT_TIMEOUT = 60.0
_NO_POLICY_HINT = (
    "no --policy was given, so the deny-all policy refused every capability; "
    "pass --policy HOST.toml granting what the plugin needs"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point of `chronicle-vm`."""
    args = _arg_values_kept(list(sys.argv[1:] if argv is None else argv))
    only = command_word(args)
    return run_main(lambda: build_parser(only), args)


#: Every command `build_parser` registers, each with the group that registers it (a test checks the two agree).
COMMAND_GROUPS: dict[str, str] = {
    "verify": "verify",
    "negotiate": "negotiate",
    "run": "run",
    "trace": "trace",
    "host-manifest": "host-manifest",
    "replay": "traces",
    "inspect": "traces",
    "diff": "traces",
    "policy": "operator",
    "report": "operator",
    "audit": "batch",
    "map": "batch",
}


def command_word(args: Sequence[str]) -> str | None:
    """The command an argument list names, when it surely names one (else None: the whole parser is built).

    A run builds only its own command's options, so start-up does not pay for every other command's.
    """
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--json":
            index += 1
        elif word == "--color":
            index += 2
        elif word.startswith("--color="):
            index += 1
        else:
            return word if word in COMMAND_GROUPS else None
    return None


def _arg_values_kept(args: list[str]) -> list[str]:
    """`--arg V` always takes the next word as its value, even `-abc` (argparse would read it as an option)."""
    out: list[str] = []
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            out.extend(args[index:])
            break
        if word == "--arg" and index + 1 < len(args) and args[index + 1].startswith("-"):
            out.append("--arg=" + args[index + 1])
            index += 2
            continue
        out.append(word)
        index += 1
    return out


# -- argument parsing --------------------------------------------------------------------------------------------


def build_parser(only: str | None = None) -> Parser:
    """The command line's parser: every command, or with `only` just that command (and those registered with it)."""
    group = None if only is None else COMMAND_GROUPS[only]

    def wanted(name: str) -> bool:
        return group is None or group == name

    parser = Parser(prog="chronicle-vm", description=_DESCRIPTION)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_color_option(parser)
    parser.add_argument("--version", action="version", version="chronicle-vm 0.1.0")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help_text: str, epilog: str | None = None) -> Parser:
        sub: Parser = commands.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        add_color_option(sub)
        return sub

    if wanted("verify"):
        verify = command("verify", "decode and verify a module; print its entry points and capabilities")
        verify.add_argument("module", metavar="MOD.cmod")
        verify.set_defaults(command_func=cmd_verify)
    if wanted("negotiate"):
        negotiate = command(
            "negotiate", "dry run: each declared capability's decision under a policy (exit 13 if any is refused)"
        )
        negotiate.add_argument("module", metavar="MOD.cmod")
        negotiate.add_argument("--policy", metavar="HOST.toml", help="the host policy (default: deny all)")
        negotiate.add_argument("--host", metavar="MODULE:ATTR", help=_HOST_HELP)
        negotiate.set_defaults(command_func=cmd_negotiate)
    if wanted("run") or wanted("trace"):
        _add_run_commands(command, tuple(name for name in ("run", "trace") if wanted(name)))
    if wanted("host-manifest"):
        _add_manifest_command(command)
    if wanted("traces"):
        _add_trace_commands(command)
    if wanted("operator"):
        from .operator_commands import add_operator_commands

        add_operator_commands(command)
    if wanted("batch"):
        from .batch_cli import add_batch_commands  # audit and map (issue 22)

        add_batch_commands(command)
    return parser


def _add_manifest_command(command: Callable[..., Parser]) -> None:
    manifest = command("host-manifest", "write a host's capability signatures, for `chronc --host-manifest`")
    manifest.add_argument("--host", metavar="MODULE:ATTR", help=_HOST_HELP)
    manifest.add_argument(
        "-o", "--output", metavar="HOST.json", default="-", help="where to write it (default: stdout)"
    )
    manifest.set_defaults(command_func=cmd_host_manifest)


def _add_run_commands(command: Callable[..., Parser], names: Sequence[str] = ("run", "trace")) -> None:
    """`run` and `trace` (those of `names`): the same options, and where the trace goes.

    Each is built only when named: a run does not pay for the trace command's parser and its options.
    """
    from .options import add_limit_options, limits_epilog

    for name, help_text in (
        ("run", "run an entry point of a module under a policy and limits"),
        ("trace", "run like `run` and write the trace (also when the run ends on a trap or a limit)"),
    ):
        if name not in names:
            continue
        sub = command(name, help_text, limits_epilog())
        sub.add_argument("module", metavar="MOD.cmod")
        sub.add_argument("--policy", metavar="HOST.toml", help="the host policy (default: deny all capabilities)")
        sub.add_argument("--entry", default="main", help="the exported function to call (default: main)")
        sub.add_argument("--host", metavar="MODULE:ATTR", help=_HOST_HELP)
        sub.add_argument(
            "--timeout",
            type=float,
            metavar="SECONDS",
            help=f"stop the run after this wall-clock time, exit 14 (default {DEFAULT_TIMEOUT:g}; none: --unbounded)",
        )
        sub.add_argument(
            "--arg",
            action="append",
            default=[],
            metavar="V",
            help="an argument, read by the entry's parameter type: 42, true, text, [1, 2] (repeat in order)",
        )
        sub.add_argument(
            "--engine",
            choices=("auto", "compiled", "reference"),
            default="auto",
            help="the execution engine (same results; auto: the compiled one where it exists)",
        )
        if name == "run":
            sub.add_argument("--trace-out", metavar="T.json", help="also write the trace of the run")
            sub.set_defaults(command_func=cmd_run)
        else:
            sub.add_argument("-o", "--output", metavar="T.json", required=True, help="where to write the trace")
            sub.set_defaults(command_func=cmd_trace)
        add_limit_options(sub)
        _add_source_option(sub)


def _add_trace_commands(command: Callable[..., Parser]) -> None:
    """`replay`, `inspect` and `diff`: the commands that read traces."""
    replay = command("replay", "replay a trace exactly against its module; no live capability is called")
    replay.add_argument("trace", metavar="T.json")
    replay.add_argument("--module", metavar="MOD.cmod", required=True, help="the module the trace was recorded with")
    replay.add_argument(
        "--engine", choices=("auto", "compiled", "reference"), default="auto", help="the execution engine"
    )
    replay.add_argument(
        "--policy", metavar="HOST.toml", help="also check the trace's policy digest and every recorded decision"
    )
    replay.add_argument(
        "--unbounded",
        action="store_true",
        help="replay under the trace's recorded limits up to the hard ceilings, not under the safe defaults "
        "(a forged trace may record limits that let it run for days: use only for traces you trust)",
    )
    _add_source_option(replay)
    replay.set_defaults(command_func=cmd_replay)

    inspect = command("inspect", "show a trace: provenance, events, outcome; or cut an inspection-only slice")
    inspect.add_argument("trace", metavar="T.json")
    inspect.add_argument("--slice", metavar="A..B", help="events A (included) to B (excluded)")
    inspect.add_argument("-o", "--output", metavar="S.json", help="write the slice here")
    inspect.add_argument(
        "--summary", action="store_true", help="calls per capability, first and last instruction, the outcome"
    )
    inspect.add_argument(
        "--capability", action="append", metavar="NAME", help="show only the calls of this capability (repeatable)"
    )
    inspect.add_argument("--events", metavar="A..B", help="show only events A (included) to B (excluded)")
    inspect.set_defaults(command_func=cmd_inspect)

    diff = command(
        "diff",
        "name the first difference between two traces: provenance, entry, events, outcome (exit 1 if they differ)",
    )
    diff.add_argument("first", metavar="A.json")
    diff.add_argument("second", metavar="B.json")
    diff.set_defaults(command_func=cmd_diff)


# -- shared steps ------------------------------------------------------------------------------------------------


def _add_source_option(parser: Parser) -> None:
    parser.add_argument(
        "--source",
        dest="source_dir",
        metavar="DIR",
        help="quote the source line of a runtime error from the file the module's source map names, looked up "
        "under DIR only (relative names, no `..`, no symlinks out); without it no file a module names is opened",
    )


def _json_value(value: Any, vtype: Any, structs: Any) -> Any:
    """The `"value"` of a run's result: structs and str-keyed maps as JSON objects, other maps as pairs."""
    if vtype is None or value is None or isinstance(value, (bool, int, str, float)):
        return value
    from chronicle_vm.core.structured import to_json

    return to_json(value, vtype, structs)


def _load_policy(path: str | None) -> Policy:
    from chronicle_vm.capabilities.policy import Policy

    if path is None:
        return Policy.deny_all()
    from .files import load_policy_file

    return load_policy_file(path)


def _host(
    out: Output,
    policy: Policy,
    policy_path: str | None,
    spec: str | None = None,
    module: LoadedModule | None = None,
) -> CliHost | CustomHost:
    """The CLI host, or with `--host MODULE:ATTR` the application's own.

    With `module`, the CLI host offers only the capabilities the module declares (negotiation looks up no
    other); `_offered` names all of them for a refusal's hint.
    """
    if spec is not None:
        from .custom_host import load_host

        return load_host(spec)
    from .host import KV_PATH_SETTING, build_host, host_bounds, resolve_kv_path

    kv_path = resolve_kv_path(policy.host.get(KV_PATH_SETTING), policy_path)
    only = None if module is None else {capability.name for capability in module.module.capabilities}
    return build_host(out.log, kv_path, host_bounds(policy.host), only)


def _offered(host: CliHost | CustomHost) -> str:
    """Every capability the host offers, with its signature (the CLI host's whole table)."""
    if getattr(host, "spec", None) is None:
        from .host import build_host

        offered = build_host(lambda _level, _message: None).host
    else:
        offered = host.host
    return ", ".join(f"{cap.name}{cap.signature()}" for cap in offered) or "none"


def _refusal_hint(error: Any, policy_path: str | None, host: CliHost | CustomHost) -> None:
    """What to do about a refusal: pass a policy, or use only what this host offers."""
    if error.code != "policy.refused":
        return
    if policy_path is None:
        error.details["hint"] = _NO_POLICY_HINT
        return
    decisions = error.details.get("decisions", [])
    if any(decision.get("decision") == "unknown" for decision in decisions):
        offered = _offered(host)
        who = "chronicle-vm" if getattr(host, "spec", None) is None else f"the host {getattr(host, 'spec', '')}"
        error.details["hint"] = f"{who} offers these capabilities: {offered}"
    elif any(decision.get("decision") == "missing" for decision in decisions):
        error.details["hint"] = (
            f"{policy_path} does not mention some capabilities, so they are denied; "
            '[capabilities."NAME"] allow = true grants one'
        )


def _module_summary(path: str, data: bytes, loaded: LoadedModule) -> dict[str, Any]:
    from chronicle_vm.core.types import type_text

    module = loaded.module
    exports = loaded.verified.exports
    structs = module.structs
    summary: dict[str, Any] = {
        "path": path,
        "sha256": loaded.digest,
        "size": len(data),
        "format_version": module.version,
        "functions": len(module.functions),
        "constants": len(module.constants),
        "instructions": sum(len(function.code) for function in module.functions),
        "entry_points": [
            {"name": name, "signature": module.functions[index].signature(structs)}
            for name, index in sorted(exports.items())
        ],
        "capabilities": [{"name": cap.name, "signature": cap.signature(structs)} for cap in module.capabilities],
    }
    if structs:  # a version-1 module's summary keeps exactly its old keys
        summary["structs"] = [
            {"name": s.name, "fields": [{"name": f.name, "type": type_text(f.type, structs)} for f in s.fields]}
            for s in structs
        ]
    return summary


# -- commands ----------------------------------------------------------------------------------------------------


def cmd_verify(ns: argparse.Namespace, out: Output) -> int:
    from .files import load_module_file

    data, loaded = load_module_file(ns.module)
    summary = _module_summary(ns.module, data, loaded)

    def human(console: Any) -> None:
        from .render import render_verify

        render_verify(console, cleaned(summary))

    out.ok({"module": summary}, human)
    return 0


def cmd_negotiate(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.capabilities.negotiation import negotiate
    from chronicle_vm.errors import PolicyError

    from .files import load_module_file

    _, loaded = load_module_file(ns.module)
    policy = _load_policy(ns.policy)
    host = _host(out, policy, ns.policy, ns.host, loaded)
    negotiation = negotiate(loaded.verified, policy, host.host)
    result = negotiation.to_dict()
    if negotiation.ok:

        def human(console: Any) -> None:
            from rich.text import Text

            from .render import render_negotiation

            render_negotiation(console, cleaned(result))
            console.print(Text("every declared capability is granted", style="bold green"))

        out.ok({"negotiation": result}, human)
        return 0
    try:
        negotiation.require()
    except PolicyError as error:
        _refusal_hint(error, ns.policy, host)
        return out.error(error, {"negotiation": result})
    raise AssertionError("a refused negotiation raises")  # pragma: no cover


def cmd_run(ns: argparse.Namespace, out: Output) -> int:
    return _run(ns, out, ns.trace_out)


def cmd_trace(ns: argparse.Namespace, out: Output) -> int:
    return _run(ns, out, ns.output)


def _run(ns: argparse.Namespace, out: Output, trace_path: str | None) -> int:
    from chronicle_vm.errors import ChronicleError, PolicyError
    from chronicle_vm.runtime import instantiate

    from .files import load_module_file
    from .options import base_limits, parse_entry_args

    _, loaded = load_module_file(ns.module)
    policy = _load_policy(ns.policy)
    limits = base_limits(ns)
    timeout = ns.timeout if ns.timeout is not None else (None if ns.unbounded else DEFAULT_TIMEOUT)
    host = _host(out, policy, ns.policy, ns.host, loaded)
    try:
        try:
            instance = instantiate(loaded, host=host.host, policy=policy, limits=limits, engine=ns.engine)
        except PolicyError as error:
            _refusal_hint(error, ns.policy, host)
            raise
        # Only an exported entry's parameters read the texts; any other name is the runtime's unknown-entry error.
        function = loaded.verified.function(ns.entry) if ns.entry in loaded.verified.exports else None
        params = function.params if function is not None else ()
        structs = getattr(loaded.module, "structs", ())
        args = parse_entry_args(ns.arg, params, ns.entry, structs)
        effective = instance.limits.to_dict()
        try:
            result, trace = _call(instance, ns.entry, args, trace_path is not None, timeout)
        except ChronicleError as error:
            if error.code == "usage.bad-arguments" and function is not None:
                shown = ", ".join(str(param) for param in function.params) or "none"
                error.details.setdefault(
                    "hint", f"give one --arg per parameter of `{ns.entry}`, in order (parameter types: {shown})"
                )
            extra: dict[str, Any] = {"limits": effective}
            if trace_path is not None:
                from chronicle_vm.trace.document import error_trace

                failed_trace = error_trace(error)
                if failed_trace is not None:
                    _write(trace_path, failed_trace.to_json())
                    extra["trace"] = trace_path
            return out.error(error, extra)
        if trace is not None and trace_path is not None:
            _write(trace_path, trace)
    finally:
        host.close()
    payload: dict[str, Any] = {
        "entry": ns.entry,
        "value": _json_value(result.value, function.result if function is not None else None, structs),
        "instructions": result.instructions,
        "limits": effective,
    }
    if trace_path is not None:
        payload["trace"] = trace_path

    if out.json:
        out.ok(payload)
    else:
        # Plain text, not rich: a run's result is two lines, and rich would cost a small run a third of its time.
        from .plain import print_run

        print_run(out.stdout, payload)
        out.emitted = True
    return 0


def _call(
    instance: Any, entry: str, args: list[object], record: bool, timeout: float | None = None
) -> tuple[Any, bytes | None]:
    """One call of the entry; with `record`, also the canonical trace bytes."""
    if not record:
        return instance.call(entry, *args, timeout=timeout), None
    from chronicle_vm.errors import ChronicleError

    result = instance.call(entry, *args, trace=True, timeout=timeout)
    trace = getattr(result, "trace", None)
    if trace is None:
        raise ChronicleError("internal.unexpected", "the runtime returned no trace for a traced call")
    encoded: bytes = trace.to_json()
    return result, encoded


def cmd_host_manifest(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.capabilities.manifest import host_manifest
    from chronicle_vm.capabilities.policy import Policy

    from .files import write_output_or_stdout

    host = _host(out, Policy.deny_all(), None, ns.host)
    try:
        manifest = host_manifest(host.host)
    finally:
        host.close()
    payload = {"host": ns.host or "chronicle-vm", "manifest": manifest.to_dict()}
    if ns.output == "-" and out.json:
        out.ok(payload)  # the manifest is in the one JSON object
        return 0
    if write_output_or_stdout(ns.output, manifest.to_json(), out.json):
        out.emitted = True
        return 0
    payload["output"] = ns.output
    count = len(manifest.capabilities)

    def human(console: Any) -> None:
        from rich.text import Text

        text = Text("wrote ", style="bold green")
        text.append(ns.output, style="bold")
        noun = "capability" if count == 1 else "capabilities"
        text.append(f"  ({count} {noun} of {payload['host']})", style="dim")
        console.print(text)

    out.ok(payload, human)
    return 0


def _write(path: str, data: bytes) -> None:
    from .files import write_output

    write_output(path, data)


def _load_trace_file(path: str, data: bytes | None = None, out: Output | None = None) -> Any:
    """A checked trace from `path` (or from its bytes, already read); errors name the file; `out` shows progress."""
    import contextlib

    from chronicle_vm.errors import ReplayError
    from chronicle_vm.trace.document import load_trace

    from .files import read_trace_file
    from .progress import long_task

    if data is None:
        data = read_trace_file(path)
    try:
        with long_task(out, f"loading {visible(path)}") if out is not None else contextlib.nullcontext():
            return load_trace(data)
    except ReplayError as error:
        if not error.message.startswith(path):
            error.message = f"{path}: {error.message}"
            error.args = (error.message,)
        error.details.setdefault("path", path)
        raise


def cmd_replay(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.errors import ReplayError
    from chronicle_vm.limits import DEFAULT_LIMITS
    from chronicle_vm.trace.replay import replay

    from .files import read_input, read_trace_file

    # Both files are read before either is parsed, so a missing one is named first.
    raw_trace = read_trace_file(ns.trace)
    module = read_input(ns.module, "module")
    from .progress import long_task

    trace = _load_trace_file(ns.trace, raw_trace, out)
    policy = _load_policy(ns.policy) if ns.policy is not None else None
    try:
        with long_task(out, f"replaying {visible(ns.trace)}"):
            report = replay(
                trace, module, engine=ns.engine, policy=policy, limits=None if ns.unbounded else DEFAULT_LIMITS
            )
    except ReplayError as error:
        error.details.setdefault("trace", ns.trace)
        if error.code == "replay.module-digest":
            from .files import describe_kind

            found = describe_kind(module)
            error.message = f"{ns.module}: {error.message}"
            if found is not None and found != "a ChronicleVM module":
                error.message += f" (expected a ChronicleVM module (.cmod); this looks like {found})"
            error.args = (error.message,)
        raise
    result = report.to_dict()
    if not report.exact:  # the library raises on any divergence; a report that is not exact is still refused
        return out.error_dict(
            "replay",
            {"category": "replay", "code": "replay.outcome", "message": "the replay was not exact"},
            {"replay": result},
        )

    def human(console: Any) -> None:
        from .render import render_replay
        from .trace_view import typed_document

        shown = cleaned(result)
        doc = trace.doc
        if doc.get("version") == 2:  # the returned value shown by its declared type (trace_view.py)
            header = {"version": 2, "provenance": cleaned(doc["provenance"]), "entry": cleaned(doc["entry"])}
            shown["outcome"] = typed_document({**header, "outcome": shown["outcome"]})["outcome"]
        render_replay(console, shown)

    out.ok({"replay": result}, human)
    return 0


def _slice_range(text: str) -> tuple[int, int]:
    from chronicle_vm.errors import UsageError

    start, sep, end = text.partition("..")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit() or len(text) > 40:
        raise UsageError("usage.arguments", f"--slice {text!r}: write the range as A..B, for example 0..3")
    return int(start), int(end)


def cmd_inspect(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.errors import UsageError

    trace = _load_trace_file(ns.trace, None, out)
    if ns.output is not None and ns.slice is None:
        raise UsageError("usage.arguments", "-o/--output writes a slice: give --slice A..B too")
    if ns.slice is not None:
        from chronicle_vm.trace.document import load_trace, slice_trace

        start, end = _slice_range(ns.slice)
        data = slice_trace(trace, start, end)
        if ns.output is not None:
            _write(ns.output, data)
        trace = load_trace(data)
    document = trace.to_dict()
    if ns.summary or ns.capability or ns.events:
        return _inspect_view(ns, out, document)
    payload: dict[str, Any] = {"trace": document, "path": ns.trace}
    if ns.output is not None:
        payload["output"] = ns.output

    def human(console: Any) -> None:
        from rich.text import Text

        from .render import render_trace
        from .trace_view import typed_document

        render_trace(console, typed_document(cleaned(document)), visible(ns.trace))
        if ns.output is not None:
            console.print(Text(f"slice written to {ns.output} (inspection only: replay refuses it)", style="dim"))

    out.ok(payload, human)
    return 0


def _inspect_view(ns: argparse.Namespace, out: Output, document: dict[str, Any]) -> int:
    """`inspect --summary`, `--capability NAME`, `--events A..B` (summary.py): a summary, or a subset of the events."""
    from .summary import parse_range, render_summary, select_events, summarize

    seq_range = parse_range(ns.events, "--events") if ns.events else None
    total = len(document["events"])
    if ns.capability or seq_range is not None:
        document["events"] = select_events(document["events"], ns.capability, seq_range)
    selection = {"capabilities": ns.capability, "events": list(seq_range) if seq_range else None, "total": total}
    payload: dict[str, Any] = {"path": ns.trace, "selection": selection}
    if ns.summary:
        payload["summary"] = summarize(document)
    else:
        payload["trace"] = document

    def human(console: Any) -> None:
        from .render import render_trace
        from .trace_view import typed_document

        if ns.summary:
            render_summary(console, summarize(typed_document(cleaned(document))), visible(ns.trace))
        else:
            render_trace(console, typed_document(cleaned(document)), visible(ns.trace))

    out.ok(payload, human)
    return 0


def cmd_diff(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.trace.document import diff_traces

    from .files import read_trace_file

    raw_first, raw_second = read_trace_file(ns.first), read_trace_file(ns.second)
    first = _load_trace_file(ns.first, raw_first, out)
    second = _load_trace_file(ns.second, raw_second, out)
    result = diff_traces(first, second)

    def human(console: Any) -> None:
        from .render import render_diff
        from .trace_view import typed_diff

        render_diff(console, typed_diff(cleaned(result), cleaned(first.doc), cleaned(second.doc)))

    out.ok({"diff": result}, human)
    # like diff(1) and `git diff --exit-code`: 0 when the traces agree, 1 when they differ (2+ for errors)
    return 0 if result["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
