"""`report`: takes a checked trace (and optionally its module and source), gives one self-contained HTML page.

The page needs nothing but itself: inline CSS, an inline SVG timeline, no
script at all, no link, font or image from anywhere (a Content-Security-
Policy meta tag forbids them too).  Every string that came from a trace,
a module or a source file goes through `html.escape`, so no plugin,
argument, result or file name can inject markup: a plugin that logs
`</pre><script>` shows that text, nothing runs.

A trace may hold a million events: the page stays bounded.  The counts,
the per-capability table and the timeline (at most `TIMELINE_BINS` marks a
capability, each one bin of instructions) cover every event; the event table
shows the first `MAX_ROWS` events and says how many it left out.  The
source view (`--source`, with `--module` for its source map check) marks
each line that made capability calls, with their count.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chronicle_vm.core.types import ValueType, type_text

if TYPE_CHECKING:
    from chronicle_vm.trace.typed import Signature, TraceTypes

__all__ = ["MAX_ROWS", "TIMELINE_BINS", "render_report"]

#: Rows of the event table; past this the report summarises (counts and timeline still cover every event).
MAX_ROWS = 2_000
#: Marks per capability on the timeline: calls falling into one bin of instructions share a mark.
TIMELINE_BINS = 400
#: Characters of one value shown in the event table.
_VALUE_CHARS = 160
#: Source lines shown at most.
_MAX_SOURCE_LINES = 5_000

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:16px 28px}
header h1{margin:0;font-size:20px;font-weight:600}
header p{margin:4px 0 0;color:#b8c0d0;font-size:13px}
main{padding:8px 28px 40px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:15px;margin:4px 0 10px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceff3;vertical-align:top}
th{color:#5b6475;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px}
.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}.muted{color:#6b7384}
.pill{display:inline-block;padding:0 8px;border-radius:10px;font-size:12px;background:#e8f0fe;color:#174ea6}
.pill.refused{background:#fce8e6;color:#b3261e}
.note{color:#6b7384;font-size:12.5px;margin:8px 0 0}
pre.source{margin:0;overflow-x:auto}
pre.source span.line{display:block;padding:0 6px}
pre.source span.hit{background:#fff4ce}
pre.source span.ln{display:inline-block;width:4em;color:#9aa1ad;user-select:none}
pre.source span.calls{color:#a05a00;margin-left:1em}
svg text{font:12px system-ui,sans-serif;fill:#394150}
"""

_PALETTE = ("#1a73e8", "#e8710a", "#188038", "#d93025", "#9334e6", "#007b83", "#b06000", "#c5221f")


def _e(value: object) -> str:
    """Any value as escaped text (the only way plugin-controlled text reaches the page)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _json_text(value: object, limit: int = _VALUE_CHARS) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text):,} characters)"
    return _e(text)


class _Values:
    """Writes a recorded value for the page: by its declared type in a version-2 trace, else as its JSON text.

    A version-2 value's JSON form only reads right with its type (trace_view.py): a map is `[key, value]`
    pairs, shown `{"a": 1}` in insertion order; a struct is an object whose keys the canonical JSON sorted,
    shown `Item { sku: "a", qty: 1 }` in declared field order; a float is its `repr` (`1.0`, `-0.0`).
    """

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.types = _trace_types(doc)

    def text(self, value: object, vtype: ValueType | None, limit: int = _VALUE_CHARS) -> str:
        if self.types is None or vtype is None:
            return _json_text(value, limit)
        from .trace_view import show_typed

        text = str(show_typed(value, vtype, self.types))
        if len(text) > limit:
            text = text[:limit] + "..."
        return _e(text)

    def signature(self, capability: object) -> Signature | None:
        return None if self.types is None else self.types.capabilities.get(str(capability))

    def listed(self, values: object, params: Sequence[ValueType] | None, limit: int, most: int) -> str:
        """Up to `most` values of a list (arguments), each by its parameter's type when the counts agree."""
        items = values if isinstance(values, list) else []
        typed = params is not None and len(params) == len(items)
        return ", ".join(
            self.text(item, params[index] if typed and params is not None else None, limit)
            for index, item in enumerate(items[:most])
        )


def _trace_types(doc: Mapping[str, Any]) -> TraceTypes | None:
    """A version-2 trace's declared types, read from its header (None for version 1 or an unreadable header)."""
    if doc.get("version") != 2:
        return None
    from chronicle_vm.trace.typed import HeaderError, TraceTypes

    provenance, entry = doc.get("provenance"), doc.get("entry")
    if not isinstance(provenance, Mapping) or not isinstance(entry, Mapping):
        return None
    try:
        return TraceTypes.from_header(provenance, entry)
    except (HeaderError, KeyError, TypeError):  # load_trace refuses such headers; a hand-built document may not
        return None


@dataclass(slots=True)
class _CapabilityStats:
    name: str
    calls: int = 0
    errors: int = 0
    first: int = 0
    last: int = 0
    lead: int = 0  # instructions run since the previous event, summed over this capability's calls


def _stats(events: Sequence[Mapping[str, Any]]) -> tuple[dict[str, _CapabilityStats], dict[tuple[str, int], int]]:
    stats: dict[str, _CapabilityStats] = {}
    lines: dict[tuple[str, int], int] = {}
    previous = 0
    for event in events:
        at = event["instructions"] if type(event.get("instructions")) is int else previous
        if event["kind"] == "call":
            row = stats.get(event["capability"])
            if row is None:
                row = stats[event["capability"]] = _CapabilityStats(event["capability"], first=at)
            row.calls += 1
            row.last = at
            row.lead += max(0, at - previous)
            if "error" in event:
                row.errors += 1
            location = event.get("location") or {}
            if "file" in location:
                key = (location["file"], location["line"])
                lines[key] = lines.get(key, 0) + 1
        previous = at
    return stats, lines


def _timeline(events: Sequence[Mapping[str, Any]], names: list[str], total: int) -> str:
    """An SVG strip per capability: one mark per bin of instructions holding calls (bounded by TIMELINE_BINS)."""
    if not names:
        return '<p class="muted">No capability calls.</p>'
    span = max(total, 1)
    bins: dict[str, dict[int, int]] = {name: {} for name in names}
    for event in events:
        if event["kind"] == "call":
            slot = min(TIMELINE_BINS - 1, event["instructions"] * TIMELINE_BINS // span)
            row = bins[event["capability"]]
            row[slot] = row.get(slot, 0) + 1
    label_w, width, row_h = 170, 960, 26
    plot_w = width - label_w - 20
    height = row_h * len(names) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="capability calls by instruction count">'
    ]
    for index, name in enumerate(names):
        y = index * row_h + 4
        colour = _PALETTE[index % len(_PALETTE)]
        parts.append(f'<text x="0" y="{y + 15}">{_e(name[:24])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 10}" width="{plot_w}" height="1" fill="#dde1e8"/>')
        for slot, count in sorted(bins[name].items()):
            x = label_w + slot * plot_w / TIMELINE_BINS
            mark_h = min(20, 8 + 3 * (count.bit_length() - 1))
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 11 - mark_h / 2:.1f}" width="3" height="{mark_h}" fill="{colour}">'
                f"<title>{_e(name)}: {count:,} call(s) near instruction {slot * span // TIMELINE_BINS:,}</title></rect>"
            )
    axis_y = row_h * len(names) + 18
    parts.append(f'<text x="{label_w}" y="{axis_y}">0</text>')
    parts.append(f'<text x="{width - 20}" y="{axis_y}" text-anchor="end">{total:,} instructions</text>')
    parts.append("</svg>")
    return "".join(parts)


def _provenance(provenance: Mapping[str, Any], values: _Values) -> str:
    runtime = provenance.get("runtime", {})
    rows = [
        ("runtime", f"{runtime.get('name', '?')} {runtime.get('version', '?')}"),
        ("module sha256", provenance.get("module_sha256")),
        ("policy sha256", provenance.get("policy_sha256") or "none (the deny-all policy)"),
        ("cost model", provenance.get("cost_model")),
    ]
    out = ["<table>"]
    for key, value in rows:
        out.append(f'<tr><th>{_e(key)}</th><td class="mono">{_e(value)}</td></tr>')
    limits = provenance.get("limits") or {}
    if limits:
        shown = ", ".join(f"{_e(name)} {int(value):,}" for name, value in sorted(limits.items()))
        out.append(f'<tr><th>limits</th><td class="mono">{shown}</td></tr>')
    if values.types is not None:
        out.append(f'<tr><th>structs</th><td class="mono">{_structs(values.types)}</td></tr>')
    out.append("</table>")
    decisions = provenance.get("capabilities", [])
    if decisions:
        out.append('<h2 style="margin-top:14px">Capability decisions</h2><table>')
        out.append("<tr><th>capability</th><th>signature</th><th>decision</th><th>reason</th></tr>")
        for decision in decisions:
            css = "pill" if decision.get("decision") == "granted" else "pill refused"
            signature = _signature_text(values, decision.get("name")) or decision.get("signature")
            out.append(
                f"<tr><td class=mono>{_e(decision.get('name'))}</td><td class=mono>{_e(signature)}"
                f'</td><td><span class="{css}">{_e(decision.get("decision"))}</span></td>'
                f"<td>{_e(decision.get('reason'))}</td></tr>"
            )
        out.append("</table>")
    return "".join(out)


def _structs(types: TraceTypes) -> str:
    """The struct table, `Item { sku: str, qty: int }; ...` (escaped), at most 50 structs."""
    shown = [
        _e(f"{struct.name} {{ " + ", ".join(f"{f.name}: {type_text(f.type, types.structs)}" for f in struct.fields))
        + " }"
        for struct in types.structs[:50]
    ]
    more = f"; ... ({len(types.structs):,} in all)" if len(types.structs) > 50 else ""
    return "; ".join(shown) + more if shown else "none"


def _signature_text(values: _Values, name: object) -> str | None:
    """A declared signature with struct names (`(Item) -> float`) where the trace records `struct#0`."""
    signature = values.signature(name)
    if signature is None or values.types is None:
        return None
    structs = values.types.structs
    text = "(" + ", ".join(type_text(param, structs) for param in signature.params) + ")"
    return text if signature.result is None else f"{text} -> {type_text(signature.result, structs)}"


def _outcome(outcome: Mapping[str, Any], values: _Values) -> str:
    instructions = outcome.get("instructions")
    after = f' <span class="muted">after {instructions:,} instructions</span>' if type(instructions) is int else ""
    if outcome.get("status") == "error":
        error = outcome.get("error", {})
        return f'<p><span class="bad">{_e(error.get("code"))}</span>: {_e(error.get("message"))}{after}</p>'
    entry = values.types.entry if values.types is not None else None
    declared = entry.result if entry is not None else None
    shown = values.text(outcome.get("value"), declared if outcome.get("value") is not None else None)
    return f'<p><span class="ok">returned</span> <code>{shown}</code>{after}</p>'


def _capability_table(stats: Mapping[str, _CapabilityStats], total: int) -> str:
    if not stats:
        return '<p class="muted">The run made no capability calls.</p>'
    out = [
        "<table><tr><th>capability</th><th class=num>calls</th><th class=num>errors</th>"
        "<th class=num>first at</th><th class=num>last at</th><th class=num>instructions before its calls</th>"
        "<th class=num>share of the run</th></tr>"
    ]
    for row in stats.values():
        share = f"{100 * row.lead / total:.1f}%" if total else "-"
        out.append(
            f"<tr><td class=mono>{_e(row.name)}</td><td class=num>{row.calls:,}</td>"
            f"<td class=num>{row.errors:,}</td><td class=num>{row.first:,}</td><td class=num>{row.last:,}</td>"
            f"<td class=num>{row.lead:,}</td><td class=num>{share}</td></tr>"
        )
    out.append("</table>")
    out.append(
        '<p class="note">Time is counted in instructions, the VM\'s deterministic clock: "instructions before its '
        'calls" adds up, for each call, the instructions the plugin ran since the event before it.</p>'
    )
    return "".join(out)


def _events_table(events: Sequence[Mapping[str, Any]], values: _Values) -> str:
    shown = events[:MAX_ROWS]
    out = [
        "<table><tr><th class=num>seq</th><th class=num>instruction</th><th>event</th><th>arguments</th>"
        "<th>result</th><th>location</th></tr>"
    ]
    for event in shown:
        location = event.get("location") or {}
        where = f"{location['file']}:{location['line']}:{location['col']}" if "file" in location else ""
        if event["kind"] == "call":
            signature = values.signature(event["capability"])
            if "error" in event:
                result = f'<span class="bad">{_e(event["error"].get("code"))}</span>'
            else:
                declared = signature.result if signature is not None and event.get("result") is not None else None
                result = f"<code>{values.text(event.get('result'), declared)}</code>"
            args = values.listed(event.get("args", []), signature.params if signature else None, 80, 8)
            name = _e(event["capability"])
        else:
            name = f'<span class="bad">{_e(event["kind"])}</span>'
            args = ""
            result = f'<span class="bad">{_e(event.get("code"))}</span>'
        instructions = event.get("instructions")
        out.append(
            f"<tr><td class=num>{int(event['seq']):,}</td>"
            f"<td class=num>{'' if instructions is None else f'{instructions:,}'}</td>"
            f"<td class=mono>{name}</td><td class=mono>{args}</td><td>{result}</td>"
            f"<td class=mono>{_e(where)}</td></tr>"
        )
    out.append("</table>")
    if len(events) > MAX_ROWS:
        out.append(
            f'<p class="note">Showing the first {MAX_ROWS:,} of {len(events):,} events; the counts and the '
            f"timeline above cover all of them. <code>chronicle-vm inspect --events A..B</code> shows any range.</p>"
        )
    return "".join(out)


def _source(source_name: str, text: str, lines: Mapping[tuple[str, int], int]) -> str:
    calls_by_line: dict[int, int] = {}
    base = source_name.replace("\\", "/").rsplit("/", 1)[-1]
    for (file, line_number), calls in lines.items():
        if file == source_name or file.replace("\\", "/").rsplit("/", 1)[-1] == base:
            calls_by_line[line_number] = calls_by_line.get(line_number, 0) + calls
    source_lines = text.split("\n")
    out = [f'<p class="muted mono">{_e(source_name)}</p><pre class="source">']
    for number, line in enumerate(source_lines[:_MAX_SOURCE_LINES], start=1):
        count = calls_by_line.get(number)
        css = "line hit" if count else "line"
        tail = f'<span class="calls">&#9664; {count:,} call(s)</span>' if count else ""
        out.append(f'<span class="{css}"><span class="ln">{number}</span>{_e(line)}{tail}</span>')
    out.append("</pre>")
    if len(source_lines) > _MAX_SOURCE_LINES:
        out.append(f'<p class="note">The first {_MAX_SOURCE_LINES:,} of {len(source_lines):,} lines.</p>')
    return "".join(out)


def render_report(
    doc: Mapping[str, Any],
    *,
    title: str,
    source: tuple[str, str] | None = None,
    source_files: Sequence[str] = (),
) -> str:
    """The HTML page for a checked trace document.

    `source` is (name, text) of the plugin's source, if given; `source_files` are the files the module's
    source map names (shown, never opened: the operator passes the source with --source).
    """
    events = doc["events"]
    outcome = doc["outcome"]
    stats, lines = _stats(events)
    last_event = events[-1]["instructions"] if events and type(events[-1].get("instructions")) is int else 0
    total = outcome.get("instructions") if type(outcome.get("instructions")) is int else last_event
    entry = doc["entry"]
    values = _Values(doc)
    params = values.types.entry.params if values.types is not None and values.types.entry is not None else None
    args = values.listed(entry.get("args", []), params, 120, 16)
    slice_note = ""
    if doc.get("slice") is not None:
        start, end = doc["slice"]["range"]
        slice_note = f'<p class="bad">An inspection-only slice: events {start:,} to {end:,} of the full trace.</p>'
    sections = [
        f"<section><h2>Outcome</h2>{slice_note}{_outcome(outcome, values)}"
        f"<p>entry <code>{_e(entry.get('function'))}({args})</code> &middot; {len(events):,} events</p></section>",
        f"<section><h2>Capability calls by instruction count</h2>{_timeline(events, list(stats), total)}</section>",
        f"<section><h2>Calls per capability</h2>{_capability_table(stats, total)}</section>",
        f"<section><h2>Provenance</h2>{_provenance(doc['provenance'], values)}</section>",
    ]
    if source is not None:
        sections.append(f"<section><h2>Plugin source</h2>{_source(source[0], source[1], lines)}</section>")
    elif source_files:
        named = ", ".join(f"<code>{_e(name)}</code>" for name in source_files[:8])
        sections.append(
            f'<section><h2>Plugin source</h2><p class="muted">The module\'s source map names {named}; '
            "pass <code>--source FILE</code> to show it here with the lines that made calls marked "
            "(the report never opens a file named inside its inputs).</p></section>"
        )
    sections.append(f"<section><h2>Events</h2>{_events_table(events, values)}</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>ChronicleVM trace report: {_e(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Trace report</h1><p>{_e(title)}</p></header><main>"
        + "".join(sections)
        + '<p class="note">Written by chronicle-vm report: a static page, no script, nothing loaded from elsewhere.</p>'
        "</main></body></html>\n"
    )
