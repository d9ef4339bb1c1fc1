"""Version-2 trace documents built by hand, for trace tests: takes a declared type and a struct table, gives the
document the recorder would write for one call of one capability (values in their JSON forms) and its types.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from chronicle_vm.core.types import StructDef, ValueType
from chronicle_vm.limits import DEFAULT_LIMITS
from chronicle_vm.trace.typed import TraceTypes, structs_record

__all__ = ["SHOP_CAPABILITIES", "SHOP_STRUCTS", "shop_document", "trace_types", "v2_document"]


# -- version-2 trace documents built by hand (as the recorder writes them) ---------------------------------------


def _header(vtype: ValueType, structs: Sequence[StructDef]) -> dict[str, Any]:
    signature = f"({vtype}) -> {vtype}"
    decision = {"name": "data.echo", "signature": signature, "decision": "granted", "reason": "", "max_calls": None}
    return {
        "provenance": {
            "runtime": {"name": "chronicle-vm", "version": "0"},
            "module_sha256": "0" * 64,
            "policy_sha256": None,
            "cost_model": 2,
            "limits": DEFAULT_LIMITS.to_dict(),
            "capabilities": [decision],
            "structs": structs_record(structs),
        },
        "entry": {"function": "main", "signature": signature},
    }


def trace_types(vtype: ValueType, structs: Sequence[StructDef]) -> TraceTypes:
    """The declared types of `v2_document(vtype, structs, ...)`, read from its header."""
    header = _header(vtype, structs)
    return TraceTypes.from_header(header["provenance"], header["entry"])


def v2_document(vtype: ValueType, structs: Sequence[StructDef], arg: Any, result: Any, returned: Any) -> dict[str, Any]:
    """A version-2 trace of `main(arg) -> returned` that called data.echo(arg) -> result once (JSON forms)."""
    doc = _header(vtype, structs)
    doc["entry"]["args"] = [arg]
    event = {
        "seq": 0,
        "kind": "call",
        "capability": "data.echo",
        "args": [arg],
        "result": result,
        "instructions": 3,
        "location": {"function": "main", "index": 3},
    }
    doc.update(
        format="chronicle-trace",
        version=2,
        events=[event],
        outcome={"status": "returned", "value": returned, "instructions": 9},
    )
    return doc


# -- a version-2 trace of several capabilities, for the operator tools (policy suggest, report) -----------------

#: The capabilities of `shop_document`: a float and a str, a map, a struct, an array of structs and an int.
SHOP_CAPABILITIES = (
    ("fx.convert", "(float, str) -> float"),
    ("stock.put", "({str: int}) -> bool"),
    ("shop.price", "(Item) -> float"),
    ("shop.batch", "([Item], int)"),
)
SHOP_STRUCTS = [
    {
        "name": "Item",
        "fields": [{"name": "sku", "type": "str"}, {"name": "qty", "type": "int"}, {"name": "unit", "type": "float"}],
    }
]


def shop_document(calls: Sequence[tuple[str, list[Any], Any]], returned: Any = None) -> dict[str, Any]:
    """A version-2 trace of `main(order: Item, rate: float) -> {str: float}` that made `calls` (capability,
    arguments and result in their JSON forms), as the recorder writes it (struct types by name)."""
    decisions = [
        {"name": name, "signature": signature, "decision": "granted", "reason": "", "max_calls": None}
        for name, signature in SHOP_CAPABILITIES
    ]
    events = [
        {
            "seq": seq,
            "kind": "call",
            "capability": capability,
            "args": args,
            "result": result,
            "instructions": 3 + 4 * seq,
            "location": {"function": "main", "index": 3},
        }
        for seq, (capability, args, result) in enumerate(calls)
    ]
    return {
        "format": "chronicle-trace",
        "version": 2,
        "provenance": {
            "runtime": {"name": "chronicle-vm", "version": "0"},
            "module_sha256": "5" * 64,
            "policy_sha256": None,
            "cost_model": 2,
            "limits": DEFAULT_LIMITS.to_dict(),
            "capabilities": decisions,
            "structs": copy.deepcopy(SHOP_STRUCTS),
        },
        "entry": {
            "function": "main",
            "signature": "(Item, float) -> {str: float}",
            "args": [{"qty": 2, "sku": "apple", "unit": 1.5}, 2.0],
        },
        "events": events,
        "outcome": {
            "status": "returned",
            "value": [["apple", 3.0], ["pear", -0.0]] if returned is None else returned,
            "instructions": 10 + 4 * len(events),
        },
    }
