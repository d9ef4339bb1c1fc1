"""Trace summaries and filters for `inspect`: takes a checked trace document, gives per-capability counts or a subset.

`summarize` is one pass over the events: calls per capability (with their
failures and the first and last instruction count at which each was
called), the run's end and outcome.  `select_events` keeps the events of
some capabilities and/or a `seq` range; it never changes the events
themselves, so what `inspect --json` shows is still the trace's record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["parse_range", "render_summary", "select_events", "summarize"]


def parse_range(text: str, flag: str) -> tuple[int, int]:
    """`A..B` (A included, B excluded) as two ints; anything else is a usage error naming `flag`."""
    from chronicle_vm.errors import UsageError

    start, sep, end = text.partition("..")
    if not sep or not start.strip().isdigit() or not end.strip().isdigit() or len(text) > 40:
        raise UsageError("usage.arguments", f"{flag} {text!r}: write the range as A..B, for example 0..3")
    low, high = int(start), int(end)
    if low > high:
        raise UsageError("usage.arguments", f"{flag} {text!r}: the start is after the end")
    return low, high


def summarize(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Calls per capability in first-call order, the final event's kind, the outcome and the instruction count."""
    rows: dict[str, dict[str, Any]] = {}
    end: str | None = None
    for event in doc["events"]:
        if event["kind"] != "call":
            end = event["kind"]
            continue
        name = event["capability"]
        row = rows.get(name)
        if row is None:
            row = rows[name] = {
                "capability": name,
                "calls": 0,
                "errors": 0,
                "first_instruction": event["instructions"],
                "last_instruction": event["instructions"],
            }
        row["calls"] += 1
        row["last_instruction"] = event["instructions"]
        if "error" in event:
            row["errors"] += 1
            end = "capability-error"
    outcome = doc["outcome"]
    summary: dict[str, Any] = {
        "events": len(doc["events"]),
        "capabilities": list(rows.values()),
        "end": end or ("returned" if outcome.get("status") == "returned" else None),
        "status": outcome.get("status"),
        "instructions": outcome.get("instructions"),
    }
    if outcome.get("status") == "error":
        summary["error"] = {"code": outcome["error"]["code"], "message": outcome["error"]["message"]}
    else:
        summary["value"] = outcome.get("value")
    return summary


def select_events(
    events: Sequence[Mapping[str, Any]], capabilities: Sequence[str] | None, seq_range: tuple[int, int] | None
) -> list[Mapping[str, Any]]:
    """The events whose `seq` is in the range and, for call events, whose capability is one of `capabilities`.

    With a capability filter the final trap or limit event is dropped (it belongs to no capability).
    """
    wanted = set(capabilities) if capabilities else None
    kept = []
    for event in events:
        if seq_range is not None and not seq_range[0] <= event["seq"] < seq_range[1]:
            continue
        if wanted is not None and event.get("capability") not in wanted:
            continue
        kept.append(event)
    return kept


def render_summary(console: Console, summary: Mapping[str, Any], path: str) -> None:
    """The summary as a table of capabilities and one outcome line (strings already made visible)."""
    from rich.table import Table
    from rich.text import Text

    console.print(Text(f"trace {path}: {summary['events']:,} events", style="bold"))
    if summary["capabilities"]:
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("capability", style="bold")
        table.add_column("calls", justify="right")
        table.add_column("errors", justify="right")
        table.add_column("first instruction", justify="right")
        table.add_column("last instruction", justify="right")
        for row in summary["capabilities"]:
            table.add_row(
                str(row["capability"]),
                f"{row['calls']:,}",
                Text(f"{row['errors']:,}", style="red" if row["errors"] else ""),
                f"{row['first_instruction']:,}",
                f"{row['last_instruction']:,}",
            )
        console.print(table)
    else:
        console.print(Text("no capability calls", style="dim"))
    text = Text("outcome: ", style="bold")
    if summary["status"] == "error":
        text.append(f"{summary['error']['code']}: {summary['error']['message']}", style="red")
    else:
        from .plain import show_value

        text.append(f"returned {show_value(summary.get('value'))}", style="green")
    if isinstance(summary.get("instructions"), int):
        text.append(f"  after {summary['instructions']:,} instructions", style="dim")
    console.print(text)
