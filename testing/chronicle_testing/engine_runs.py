"""Every engine on one verified module: takes a VerifiedModule, gives the four engine set-ups and comparable outcomes.

The differential tests of the value model (floats, maps, structs) compare the same run on the reference oracle,
the fused interpreter with and without superinstructions, and the compiled engine: result, trap code, message,
location and instruction count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chronicle_vm.engines.compiled import CompiledEngine
from chronicle_vm.engines.oracle import Oracle
from chronicle_vm.engines.reference import Interpreter
from chronicle_vm.errors import ChronicleError
from chronicle_vm.limits import Limits
from chronicle_vm.verifier.rules import VerifiedModule

__all__ = ["every_engine", "outcome"]


def every_engine(verified: VerifiedModule, limits: Limits) -> dict[str, Any]:
    """The four engine set-ups, by name."""
    return {
        "reference": Oracle(verified, limits),
        "fused": Interpreter(verified, limits),
        "unfused": Interpreter(verified, limits, superinstructions=False),
        "compiled": CompiledEngine(verified, limits),
    }


def outcome(engine: Any, args: list[Any], shown: Callable[[Any], Any] = lambda value: value) -> tuple[Any, ...]:
    """`main(*args)` on `engine`: ("ok", shown(value), instructions) or ("error", code, message, location, count)."""
    try:
        result = engine.call("main", args)
    except ChronicleError as err:
        return ("error", err.code, str(err), err.details.get("location"), err.details.get("instructions"))
    return ("ok", shown(result.value), result.instructions)
