"""Run options: takes command-line text, gives entry arguments by declared type and the base limits of a run.

`--arg` texts are read by the entry's parameter types, in order: an int
(`42`, `-7`, `0x2a`, `1_000`), a bool (`true`/`false`), a str (the text as
it is), an array as JSON (`[1, 2]`).  A text that does not fit its type is
`usage.bad-argument` (exit 2) naming the argument and the type; the values
are then checked again by the runtime (ranges, nested types, sizes).
The base limits are the CLI's safe defaults (`DEFAULT_LIMITS`), or the hard
ceilings with `--unbounded` (but `max_trace_bytes`, see `KEPT_BY_UNBOUNDED`),
lowered by each `--max-...` flag given; the policy's ceilings are applied on
top by the runtime.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chronicle_vm.errors import UsageError
from chronicle_vm.limits import DEFAULT_LIMITS, HARD_LIMITS, LIMIT_DOCS, Limits

if TYPE_CHECKING:
    from chronicle_vm.core.types import ValueType

__all__ = ["KEPT_BY_UNBOUNDED", "add_limit_options", "base_limits", "limits_epilog", "parse_entry_args"]

#: Defaults `--unbounded` keeps: the CLI reads traces of at most trace.MAX_TRACE_BYTES (64 MiB), and a larger
#: trace budget would let a run write a trace its own replay, inspect and diff then refuse.
KEPT_BY_UNBOUNDED = ("max_trace_bytes",)

_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*)")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _count(text: str) -> int:
    """A limit flag's value: a non-negative int, `_` separators allowed."""
    if not re.fullmatch(r"[0-9](?:_?[0-9])*", text.strip()) or len(text) > 40:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}")
    return int(text.strip())


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """`--unbounded` and one `--max-...` flag per `Limits` field (each can only lower)."""
    group = parser.add_argument_group(
        "limits", "safe defaults apply; a flag can only lower a limit; the policy's [limits] always hold"
    )
    group.add_argument(
        "--unbounded",
        action="store_true",
        help="lift the CLI's safe default limits (up to the hard ceilings; not max_trace_bytes, which the CLI's "
        "trace reader caps); the policy's limits still hold",
    )
    for name in Limits.names():
        default = getattr(DEFAULT_LIMITS, name)
        kept = ", kept by --unbounded" if name in KEPT_BY_UNBOUNDED else ""
        group.add_argument(
            _flag(name),
            dest=name,
            metavar="N",
            type=_count,
            default=None,
            help=f"{LIMIT_DOCS.get(name, name)} (default {default:,}{kept})",
        )


def limits_epilog() -> str:
    """The safe default limits, for --help."""
    lines = ["safe default limits (lifted by --unbounded; lowered by the flags and the policy):"]
    for name in Limits.names():
        lines.append(f"  {name:<22} {getattr(DEFAULT_LIMITS, name):>14,}   {LIMIT_DOCS.get(name, '')}")
    return "\n".join(lines)


def base_limits(namespace: argparse.Namespace) -> Limits:
    """The defaults (or the hard ceilings but KEPT_BY_UNBOUNDED with --unbounded) lowered by the flags given."""
    base = DEFAULT_LIMITS
    if getattr(namespace, "unbounded", False):
        base = HARD_LIMITS.tightened({name: getattr(DEFAULT_LIMITS, name) for name in KEPT_BY_UNBOUNDED})
    lowered = {name: value for name in Limits.names() if (value := getattr(namespace, name, None)) is not None}
    return base.tightened(lowered)


def parse_entry_args(
    texts: Sequence[str], params: Sequence[ValueType], entry: str, structs: Sequence[Any] = ()
) -> list[object]:
    """The `--arg` texts read by the parameter types (extra texts stay text: the runtime reports the count)."""
    values: list[object] = []
    for position, text in enumerate(texts):
        if position >= len(params):
            values.append(text)
            continue
        values.append(_read(text, params[position], position, entry, structs))
    return values


def _read_float(text: str, fail: Callable[[str], UsageError]) -> float:
    """A float argument: the `parse_float` grammar (docs/isa.md), finite."""
    from chronicle_vm.engines.semantics import FLOAT_TEXT

    if len(text) > 400 or not FLOAT_TEXT.fullmatch(text):
        raise fail("write a decimal number such as 1.5, -2 or 6.02e23")
    number = float(text)
    if math.isinf(number):
        raise fail("it is too large for a float (floats are finite)")
    return number


def _read(text: str, vtype: ValueType, position: int, entry: str, structs: Sequence[Any] = ()) -> object:
    from chronicle_vm.core.type_registry import json_example
    from chronicle_vm.core.types import TypeKind, type_text

    named = type_text(vtype, structs)  # structs by their names, as the plugin's author wrote them

    def fail(why: str) -> UsageError:
        shown = text if len(text) <= 60 else text[:57] + "..."
        return UsageError(
            "usage.bad-argument",
            f"--arg {shown!r}: argument {position + 1} of `{entry}` is {named}; {why}",
            position=position,
            expected=named,
        )

    if vtype.kind is TypeKind.MAP or vtype.kind is TypeKind.STRUCT or _holds_structured(vtype):
        return _read_structured(text, vtype, structs, fail)
    if not vtype.is_scalar_kind:
        try:
            import json  # here: only array and structured arguments are JSON (start-up)

            value = json.loads(text)
        except (ValueError, RecursionError):
            raise fail(f"write it as a JSON array such as {json_example(vtype)}") from None
        if not isinstance(value, list):
            raise fail(f"write it as a JSON array such as {json_example(vtype)}")
        return value
    if vtype.kind is TypeKind.STR:
        return text
    if vtype.kind is TypeKind.BOOL:
        if text in {"true", "false"}:
            return text == "true"
        raise fail("write true or false")
    if vtype.kind is TypeKind.FLOAT:
        return _read_float(text.strip(), fail)
    stripped = text.strip()
    if len(stripped) > 80 or not _INT.fullmatch(stripped):
        raise fail("write a decimal or 0x integer such as 42")
    sign = -1 if stripped.startswith("-") else 1
    digits = stripped.lstrip("+-").replace("_", "")
    number = sign * (int(digits[2:], 16) if digits[:2].lower() == "0x" else int(digits))
    if not -(2**63) <= number < 2**63:
        raise fail("it must fit in signed 64 bits")
    return number


def _holds_structured(vtype: ValueType) -> bool:
    from chronicle_vm.core.types import TypeKind

    if vtype.kind is TypeKind.MAP or vtype.kind is TypeKind.STRUCT:
        return True
    return any(_holds_structured(arg) for arg in vtype.args)


def _read_structured(text: str, vtype: ValueType, structs: Sequence[Any], fail: Any) -> object:
    """A map or struct argument (or an array holding them) as JSON: objects for structs and str-keyed maps."""
    from chronicle_vm.core.structured import JSONShapeError, from_json, type_text
    from chronicle_vm.core.types import TypeKind

    shown = type_text(vtype, structs)
    if vtype.kind is TypeKind.STRUCT:
        example = "a JSON object of its fields"
    elif vtype.kind is TypeKind.MAP and vtype.args[0].kind is TypeKind.STR:
        example = 'a JSON object such as {"a": ...}'
    elif vtype.kind is TypeKind.MAP:
        example = "a JSON array of [key, value] pairs"
    else:
        example = "a JSON array"
    import json

    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise fail(f"write it ({shown}) as {example}") from None
    try:
        return from_json(data, vtype, structs)
    except JSONShapeError as exc:
        raise fail(f"{exc} (write {shown} as {example})") from None
