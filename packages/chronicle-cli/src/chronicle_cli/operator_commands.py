"""The operator's commands of `chronicle-vm`: `policy suggest` (suggest.py) and `report` (report.py).

Registered by `vm.build_parser` through `add_operator_commands`; each
command reads its inputs with the same size-capped readers as the others
(files.py) and opens no file that an input names: the report shows the
plugin's source only from a file given with `--source`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from typing import Any

from .colors import add_color_option
from .common import Output, Parser, cleaned, visible

__all__ = ["add_operator_commands", "cmd_policy_suggest", "cmd_report"]


def add_operator_commands(command: Callable[..., Parser]) -> None:
    """Add `policy suggest` and `report` through vm.py's `command(name, help)` helper."""
    policy = command("policy", "policy tools: `policy suggest TRACE...` learns the smallest policy from traces")
    actions = policy.add_subparsers(title="actions", metavar="ACTION", parser_class=Parser)
    suggest: Parser = actions.add_parser(
        "suggest",
        help="the smallest policy under which every given trace would have run",
        description="the smallest policy under which every given trace would have run; each line says why",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    suggest.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_color_option(suggest)
    suggest.add_argument("traces", metavar="TRACE", nargs="+", help="full traces (not slices)")
    suggest.add_argument("-o", "--output", metavar="HOST.toml", help="write the policy here (default: print it)")
    suggest.add_argument(
        "--margin", type=float, default=1.0, help="multiply each observed call count by this (default 1: exact)"
    )
    suggest.add_argument(
        "--limit-margin",
        type=float,
        default=2.0,
        help="multiply the largest instruction use by this for max_instructions (default 2)",
    )
    suggest.set_defaults(command_func=cmd_policy_suggest)

    report = command("report", "write one self-contained HTML page about a trace: timeline, counts, outcome, source")
    report.add_argument("trace", metavar="T.json")
    report.add_argument("-o", "--output", metavar="report.html", required=True, help="where to write the page")
    report.add_argument("--module", metavar="MOD.cmod", help="the module: its digest must match the trace's")
    report.add_argument(
        "--source", metavar="PLUGIN.chr", help="the plugin's source file: its lines that made calls are marked"
    )
    report.set_defaults(command_func=cmd_report)


def _traces(paths: list[str], out: Output) -> Iterator[tuple[str, Any]]:
    """Each trace read, checked and handed on in turn (never all at once)."""
    from .vm import _load_trace_file

    for path in paths:
        yield path, _load_trace_file(path, None, out)


def cmd_policy_suggest(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_vm.capabilities.policy import Policy

    from .files import write_output
    from .progress import long_task
    from .suggest import suggest_policy

    with long_task(out, f"reading {len(ns.traces):,} trace(s)"):
        suggestion = suggest_policy(_traces(ns.traces, out), margin=ns.margin, limit_margin=ns.limit_margin)
    Policy.from_toml(suggestion.text, source="<suggested policy>")  # a bug here must not write a broken policy
    if ns.output is not None:
        write_output(ns.output, suggestion.text)
    payload: dict[str, Any] = {"suggestion": dict(suggestion.summary), "policy": suggestion.text}
    if ns.output is not None:
        payload["output"] = ns.output

    def human(console: Any) -> None:
        from rich.text import Text

        if ns.output is None:
            console.print(Text(visible(suggestion.text, keep_newlines=True)), end="")
        else:
            summary = suggestion.summary
            console.print(
                Text(
                    f"policy for {len(summary['capabilities'])} capabilities from {summary['traces']} trace(s) "
                    f"written to {visible(ns.output)}",
                    style="bold green",
                )
            )

    out.ok(payload, human)
    return 0


def cmd_report(ns: argparse.Namespace, out: Output) -> int:
    import hashlib

    from chronicle_vm.errors import ReplayError, UsageError

    from .files import read_input, write_output
    from .progress import long_task
    from .report import MAX_ROWS, render_report
    from .vm import _load_trace_file

    trace = _load_trace_file(ns.trace, None, out)
    source_files: tuple[str, ...] = ()
    if ns.module is not None:
        module = read_input(ns.module, "module")
        digest = hashlib.sha256(module).hexdigest()
        if digest != trace.provenance["module_sha256"]:
            raise ReplayError(
                "replay.module-digest",
                f"{ns.module}: the module's sha256 is {digest}; the trace was recorded with "
                f"{trace.provenance['module_sha256']}",
                expected=trace.provenance["module_sha256"],
                actual=digest,
            )
        from chronicle_vm.runtime import load_module

        source_files = load_module(module).module.source_map.files
    source = None
    if ns.source is not None:
        raw = read_input(ns.source, "chr")
        try:
            source = (ns.source, raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise UsageError("usage.unreadable-file", f"{ns.source}: the source is not UTF-8", path=ns.source) from None
    with long_task(out, f"writing the report of {visible(ns.trace)}"):
        page = render_report(trace.doc, title=ns.trace, source=source, source_files=source_files)
    write_output(ns.output, page)
    events = len(trace.events)
    payload = {"output": ns.output, "events": events, "rows": min(events, MAX_ROWS), "bytes": len(page.encode())}

    def human(console: Any) -> None:
        from rich.text import Text

        shown = cleaned(payload)
        note = f" (first {MAX_ROWS:,} of {events:,} events in the table)" if events > MAX_ROWS else ""
        console.print(Text(f"report written to {shown['output']}{note}", style="bold green"))

    out.ok({"report": payload}, human)
    return 0
