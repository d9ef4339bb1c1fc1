"""Human output: takes the JSON-safe dicts the commands build, gives rich text and tables; decides nothing.

Only this module imports rich, and only when a person is reading: under
`--json` it is never loaded.  Every string that comes from a plugin, a
trace or a file is put in a `Text` (never parsed as markup), so a plugin
cannot style or hide what the operator sees.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .common import visible
from .plain import Shown, show_value
from .sources import quoted_source_line

__all__ = [
    "render_diagnostic",
    "render_diff",
    "render_error",
    "render_negotiation",
    "render_replay",
    "render_trace",
    "plural",
    "render_verify",
    "show_value",
]

#: Events shown as table rows by `inspect`; the rest are counted (a table of a million rows helps nobody).
MAX_EVENT_ROWS = 500

_DECISION_STYLE = {
    "granted": "green",
    "denied": "red",
    "missing": "yellow",
    "unknown": "magenta",
    "type-invalid": "red",
}


def _clip(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# -- errors ------------------------------------------------------------------------------------------------------


#: How the front end's diagnostic roles (chronicle_asm.source.render_parts) look in a terminal.
_DIAGNOSTIC_STYLES = {
    "place": "bold",
    "error": "bold red",
    "code": "dim",
    "gutter": "blue",
    "caret": "bold red",
    "hint": "cyan",
}


def render_diagnostic(console: Console, diag: Mapping[str, Any]) -> None:
    """The front end's one rendering of a diagnostic (`render_parts`), styled: place, message, source, caret, hint."""
    from chronicle_asm.source import render_parts

    for segments in render_parts(diag):
        text = Text()
        for role, piece in segments:
            # Tabs show as one space in the source line and under it; plugin text (the source line, messages
            # quoting it) is escaped for the terminal.
            piece = piece.replace("\t", " ")
            shown = visible(piece) if role in ("source", "message", "hint", "place") else piece
            text.append(shown, style=_DIAGNOSTIC_STYLES.get(role, ""))
        console.print(text)


def _snippet(console: Console, line: int | None, source: str, col: int, width: int = 1) -> None:
    gutter = f"{line} | " if line is not None else "  | "
    pad = " " * (len(gutter) - 2) + "| "
    body = Text(gutter, style="blue")
    body.append(source.replace("\t", " ").rstrip("\r\n"))
    console.print(body)
    caret = Text(pad, style="blue")
    caret.append(" " * (min(col, len(source) + 1) - 1) + "^" + "~" * (width - 1), style="bold red")
    console.print(caret)


def render_error(
    console: Console, error: Mapping[str, Any], original: object = None, source_dir: str | None = None
) -> None:
    """An error for people: `error[code]: message`, then what helps act on it (diagnostics, source, decisions).

    A location's source line is quoted only from under `source_dir` (`--source DIR`): see `sources`."""
    code = str(error.get("code", "internal"))
    diagnostics = error.get("diagnostics")
    if isinstance(diagnostics, list) and diagnostics:
        for diag in diagnostics:
            if isinstance(diag, Mapping):
                render_diagnostic(console, diag)
        count = len(diagnostics)
        summary = Text(f"error[{code}]: ", style="bold red")
        summary.append(f"{count} problem{'s' if count != 1 else ''} found; nothing was written")
        console.print(summary)
        if error.get("note"):
            console.print(Text(f"  note: {error['note']}", style="cyan"))
        return
    decisions = error.get("decisions")
    message = str(error.get("message", ""))
    if isinstance(decisions, list) and decisions:
        # The table below says per capability what the message lists line by line.
        message = message.split("\n", 1)[0]
    head = Text(f"error[{code}]: ", style="bold red")
    head.append(message)
    console.print(head)
    location = error.get("location")
    if isinstance(location, Mapping):
        _render_location(console, location, source_dir)
    stack = error.get("stack")
    if isinstance(stack, list) and len(stack) > 1:
        from .stacks import folded_frames

        console.print(Text("  call stack (innermost last):", style="dim"))
        omitted = error.get("stack_omitted")
        for line in folded_frames(stack, _place, omitted if isinstance(omitted, int) else 0):
            console.print(Text("    " + line, style="dim"))
    if isinstance(decisions, list) and decisions:
        render_negotiation(console, {"decisions": decisions, "ok": False})
    for key in ("expected", "actual"):
        if key in error and isinstance(error[key], (Mapping, list)):
            text = Text(f"  {key}: ", style="bold")
            text.append(_clip(json.dumps(error[key], sort_keys=True, ensure_ascii=False), 160))
            console.print(text)
    hint = error.get("hint")
    if hint:
        console.print(Text(f"  hint: {hint}", style="cyan"))


def _place(location: Mapping[str, Any]) -> str:
    text = f"{location.get('function', '?')} @ {location.get('index', '?')}"
    if "file" in location:
        text += f"  ({location.get('file')}:{location.get('line')}:{location.get('col')})"
    return text


def _render_location(console: Console, location: Mapping[str, Any], source_dir: str | None) -> None:
    file, line, col = location.get("file"), location.get("line"), location.get("col")
    if not isinstance(file, str) or not isinstance(line, int) or not isinstance(col, int):
        return
    text = Text("  --> ", style="blue")
    text.append(f"{file}:{line}:{col}", style="bold")
    text.append(f" (in {location.get('function', '?')})", style="dim")
    console.print(text)
    source = quoted_source_line(source_dir, file, line)
    if source is not None:
        _snippet(console, line, visible(source), col)


# -- verify and negotiate ---------------------------------------------------------------------------------------


def render_verify(console: Console, summary: Mapping[str, Any]) -> None:
    """The verified module: digest, sizes, entry points and declared capabilities."""
    head = Text("verified ", style="bold green")
    head.append(str(summary.get("path", "")), style="bold")
    console.print(head)
    console.print(
        Text(
            f"  {plural(summary.get('functions', 0), 'function')}, {plural(summary.get('constants', 0), 'constant')}, "
            f"{plural(summary.get('instructions', 0), 'instruction')}, {summary.get('size', 0):,} bytes, "
            f"format v{summary.get('format_version', '?')}",
        )
    )
    console.print(Text(f"  sha256 {summary.get('sha256', '')}", style="dim"))
    structs = summary.get("structs", [])
    if structs:
        table = Table(title="structs", title_justify="left", show_edge=False)
        table.add_column("name", style="bold")
        table.add_column("fields")
        for item in structs:
            fields = ", ".join(f"{field['name']}: {field['type']}" for field in item.get("fields", []))
            table.add_row(Text(str(item["name"])), Text(f"{{ {fields} }}" if fields else "{}"))
        console.print(table)
    entries = Table(title="entry points", title_justify="left", show_edge=False)
    entries.add_column("name", style="bold")
    entries.add_column("signature")
    for entry in summary.get("entry_points", []):
        entries.add_row(Text(str(entry["name"])), Text(str(entry["signature"])))
    console.print(entries)
    caps = summary.get("capabilities", [])
    if caps:
        table = Table(title="capabilities it declares", title_justify="left", show_edge=False)
        table.add_column("name", style="bold")
        table.add_column("signature")
        for cap in caps:
            table.add_row(Text(str(cap["name"])), Text(str(cap["signature"])))
        console.print(table)
    else:
        console.print(Text("  no capabilities declared: it can run under the deny-all policy", style="dim"))


def render_negotiation(console: Console, negotiation: Mapping[str, Any]) -> None:
    """One row per declared capability: its signature, the decision and why."""
    decisions = negotiation.get("decisions", [])
    if not decisions:
        console.print(Text("the module declares no capabilities: nothing to negotiate", style="green"))
        return
    table = Table(title="capability negotiation", title_justify="left", show_edge=False)
    table.add_column("capability", style="bold")
    table.add_column("declared")
    table.add_column("decision")
    table.add_column("reason")
    for decision in decisions:
        kind = str(decision.get("decision", "?"))
        table.add_row(
            Text(str(decision.get("name", "?"))),
            Text(str(decision.get("declared_signature", decision.get("signature", "")))),
            Text(kind, style=_DECISION_STYLE.get(kind, "")),
            Text(str(decision.get("reason", ""))),
        )
    console.print(table)


# -- run, trace, replay, diff -----------------------------------------------------------------------------------


def _location_text(where: object) -> str:
    if not isinstance(where, Mapping):
        return ""
    if "file" in where:
        return f"{where.get('file')}:{where.get('line')}:{where.get('col')}"
    if "function" in where:
        return f"{where.get('function')} @ {where.get('index', '?')}"
    return ""


def render_trace(console: Console, trace: Mapping[str, Any], path: str) -> None:
    """A trace: provenance, entry, events and outcome as tables, with source locations."""
    head = Text("trace ", style="bold")
    head.append(path, style="bold")
    if isinstance(trace.get("slice"), Mapping):
        head.append("  (slice: inspection only, not replayable)", style="yellow")
    console.print(head)
    _render_provenance(console, trace.get("provenance"))
    _render_entry(console, trace)
    _render_events(console, trace.get("events", []))
    _render_outcome(console, trace.get("outcome"))


def _render_provenance(console: Console, provenance: object) -> None:
    if isinstance(provenance, Mapping):
        table = Table(title="provenance", title_justify="left", show_header=False, show_edge=False)
        table.add_column("field", style="bold")
        table.add_column("value")
        for key in sorted(provenance):
            value = provenance[key]
            if key in {"capabilities", "limits"}:
                continue
            table.add_row(Text(str(key)), Text(_clip(_scalar(value), 100)))
        limits = provenance.get("limits")
        if isinstance(limits, Mapping):
            for key, value in sorted(limits.items()):
                table.add_row(Text(f"limits.{key}"), Text(f"{value:,}" if isinstance(value, int) else str(value)))
        console.print(table)
        decisions = provenance.get("capabilities")
        if isinstance(decisions, list) and decisions:
            render_negotiation(console, {"decisions": decisions})


def _render_entry(console: Console, trace: Mapping[str, Any]) -> None:
    entry = trace.get("entry")
    if isinstance(entry, Mapping):
        args = entry.get("args", [])
        shown = ", ".join(show_value(a) for a in args) if isinstance(args, list) else _scalar(args)
        console.print(Text(f"entry: {entry.get('function', '?')}({_clip(shown, 120)})", style="bold"))
    meta = trace.get("meta")
    if isinstance(meta, Mapping):  # the host's own values: shown as recorded, never compared by replay
        console.print(Text(f"meta: {_clip(json.dumps(meta, sort_keys=True, ensure_ascii=False), 200)}"))


def _render_events(console: Console, events: object) -> None:
    if isinstance(events, list):
        table = Table(title=f"events ({len(events)})", title_justify="left", show_edge=False)
        for column in ("seq", "instr", "event", "arguments", "result", "location"):
            table.add_column(column, justify="right" if column in {"seq", "instr"} else "left")
        for event in events[:MAX_EVENT_ROWS]:
            if isinstance(event, Mapping):
                table.add_row(*_event_row(event))
        console.print(table)
        if len(events) > MAX_EVENT_ROWS:
            console.print(
                Text(
                    f"... {len(events) - MAX_EVENT_ROWS:,} more events: cut one part with --slice A..B, "
                    "or read them all with --json",
                    style="yellow",
                )
            )


def _event_row(event: Mapping[str, Any]) -> tuple[Text, ...]:
    name = event.get("capability") or event.get("kind") or "?"
    args = event.get("args")
    shown = ", ".join(show_value(a) for a in args) if isinstance(args, list) else ""
    if "result" in event:
        result = show_value(event.get("result"))
    elif "error" in event:
        error = event.get("error")
        result = str(error.get("code")) if isinstance(error, Mapping) else _scalar(error)
    else:
        result = ""
    return (
        Text(str(event.get("seq", ""))),
        Text(str(event.get("instructions", ""))),
        Text(str(name), style="bold"),
        Text(_clip(shown, 60)),
        Text(_clip(result, 40)),
        Text(_location_text(event.get("location"))),
    )


def _render_outcome(console: Console, outcome: object) -> None:
    if isinstance(outcome, Mapping):
        text = Text("outcome: ", style="bold")
        if "error" in outcome and isinstance(outcome["error"], Mapping):
            error = outcome["error"]
            text.append(f"{error.get('code')}: {error.get('message')}", style="red")
        else:
            text.append(show_value(outcome.get("value")), style="green")
        if isinstance(outcome.get("instructions"), int):  # null when the run stopped before any instruction
            text.append(f"  after {outcome['instructions']:,} instructions", style="dim")
        console.print(text)


def _scalar(value: object) -> str:
    if isinstance(value, (Mapping, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return "null" if value is None else str(value)


def plural(count: int, noun: str) -> str:
    """`1 function`, `2 functions`."""
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def render_replay(console: Console, report: Mapping[str, Any]) -> None:
    """An exact replay: what it reproduced, where, and that nothing live ran."""
    text = Text("exact replay", style="bold green")
    events = report.get("events")
    if isinstance(events, int):
        text.append(f": {plural(events, 'recorded event')} matched")
    console.print(text)
    console.print(Text(f"  reproduced: {report.get('reproduced', '?')}"))
    outcome = report.get("outcome")
    if isinstance(outcome, Mapping):
        error = outcome.get("error")
        if isinstance(error, Mapping):
            line = f"  outcome: {error.get('code')}: {error.get('message')}"
        else:
            line = f"  outcome: returned {show_value(outcome.get('value'))}"
        console.print(Text(_clip(line, 200)))
    if isinstance(report.get("instructions"), int):
        console.print(Text(f"  instructions: {report['instructions']}"))
    console.print(Text("  no live capability was called", style="dim"))


def _event_summary(event: object) -> str:
    """One event on one line: `kv.get("k") -> "v"  at instruction 3 (file:line:col)`."""
    if not isinstance(event, Mapping):
        return "(no such event: the trace ends before it)"
    name = event.get("capability") or event.get("kind") or "?"
    args = event.get("args")
    text = str(name)
    if isinstance(args, list):
        text += "(" + ", ".join(show_value(arg) for arg in args) + ")"
    if "result" in event:
        text += " -> " + show_value(event.get("result"))
    elif isinstance(event.get("error"), Mapping):
        text += " failed: " + str(event["error"].get("code"))
    elif "code" in event:
        text += ": " + str(event.get("code"))
    text += f"  at instruction {event.get('instructions', '?')}"
    where = _location_text(event.get("location"))
    return _clip(text + (f" ({where})" if where else ""), 200)


def _has_shown(value: object) -> bool:
    if isinstance(value, Mapping):
        return any(_has_shown(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_shown(item) for item in value)
    return type(value) is Shown


def _part_text(value: object) -> str:
    """An entry or outcome whose values are `Shown`: `args: [{"a": 1.5}], function: "main"`."""
    if type(value) is Shown:
        return str(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{key}: {_part_text(value[key])}" for key in sorted(value))
    if isinstance(value, list):
        return "[" + ", ".join(_part_text(item) for item in value) + "]"
    return _scalar(value)


def render_diff(console: Console, diff: Mapping[str, Any]) -> None:
    """Where two traces part ways, or that they agree."""
    if diff.get("equal"):
        console.print(Text("the traces agree", style="bold green"))
        return
    where = diff.get("where")
    head = Text("the traces part ways ", style="bold yellow")
    if where == "events":
        head.append(f"at event {diff.get('seq')}")
    else:
        head.append(f"in the {where}")
    fields = diff.get("fields")
    if isinstance(fields, list) and fields:
        head.append(f" (differing: {', '.join(str(field) for field in fields)})", style="dim")
    console.print(head)
    if not diff.get("same_module", True):
        console.print(Text("  note: the traces were recorded with different modules", style="cyan"))
    for side in ("a", "b"):
        value = diff.get(side)
        if where == "events":
            shown = _event_summary(value)
        elif _has_shown(value):  # a version-2 entry or outcome, its values written by their types (trace_view.py)
            shown = _clip(_part_text(value), 200)
        else:
            shown = _clip(_scalar(value), 200)
        line = Text(f"  {side.upper()}: ", style="bold")
        line.append(shown)
        console.print(line)
