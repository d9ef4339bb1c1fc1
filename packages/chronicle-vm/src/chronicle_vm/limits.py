"""Named resource limits in one place: takes numbers, gives the `Limits` a run is bounded by.

Every limit is an int and always enforced; "unbounded" means the hard
ceiling below, which no policy, host or flag can raise.  Limits combine by
taking the smaller value field by field (`Limits.tightened`), so a policy's
limits are ceilings that host code and CLI flags can only lower.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, fields, replace

from chronicle_vm.core.codecache import dataclass

from .errors import UsageError, declare_codes

__all__ = ["DEFAULT_LIMITS", "HARD_LIMITS", "LIMIT_DOCS", "RECORDED_BEFORE", "Limits"]

declare_codes("usage", {"limits": "a Limits field is not an int within 0..its hard ceiling"})

#: The hard ceilings by field (HARD_LIMITS below holds the same numbers); a Limits outside them is refused.
_CEILINGS: Mapping[str, int] = {
    "max_instructions": 2**62,
    "max_call_depth": 100_000,
    "max_registers": 65_535,
    "max_stack_registers": 16_000_000,
    "max_array_len": 2**31 - 1,
    "max_string_len": 2**31 - 1,
    "max_allocation": 2**62,
    "max_output_bytes": 2**62,
    "max_trace_bytes": 2**62,
}

#: What a trace recorded before a field existed ran under (its `provenance.limits` lacks the field): the
#: behaviour of the runtime that recorded it.  Capability arguments were not bounded in bytes (the hard
#: ceiling), and a traced run's calls had the fixed 56 MiB trace budget.  `Limits.from_recorded` fills these.
RECORDED_BEFORE: Mapping[str, int] = {
    "max_output_bytes": 2**62,
    "max_trace_bytes": 56 * 1024 * 1024,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """Deterministic bounds of one run.  Defaults are the safe defaults."""

    #: Fuel: 1 per instruction plus cost model 2's charge by work (docs/isa.md); the run stops before the
    #: first instruction it cannot pay for in full.
    max_instructions: int = 10_000_000
    #: Frames live at once (the entry function is depth 1).
    max_call_depth: int = 1_000
    #: Registers of one frame; checked for each frame pushed.
    max_registers: int = 4_096
    #: Registers of all live frames together; checked for each frame pushed.
    max_stack_registers: int = 1_000_000
    #: Items in one array.
    max_array_len: int = 100_000
    #: Characters in one string.
    max_string_len: int = 1_000_000
    #: Bytes of strings and arrays allocated over the whole run, by a fixed estimate (chronicle_vm.engines.costs):
    #: 76 + 4 per character for a string, 56 + 8 per item for an array.
    max_allocation: int = 268_435_456
    #: Bytes out: the capability arguments of the whole run together, by the per-value estimate of their JSON
    #: text that the trace budget uses (chronicle_vm.core.payload: a printable ASCII string its length plus 2
    #: and its escapes, other text 6 bytes a character, 20 an int, 5 a bool, an array its items plus 1 each
    #: and 2).  Checked before the host sees a call's arguments: the call that would pass it stops the run
    #: with `limit.output-bytes` at that call, traced or not.
    max_output_bytes: int = 33_554_432
    #: Bytes of trace a traced run's capability calls may take (chronicle_vm.trace.budget): the call that
    #: would pass it is recorded as failed with `limit.trace-bytes`.  Untraced runs write no trace.  The
    #: default leaves room under the 64 MiB a trace reader accepts, so every trace a run writes replays.
    max_trace_bytes: int = 58_720_256

    def __post_init__(self) -> None:
        # Checked at construction, so a bad number (2**70, "10", -5) is the host's usage error here and
        # never a raw TypeError inside a call or a trace that cannot replay.
        for name, ceiling in _CEILINGS.items():
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= ceiling:
                shown = repr(value) if type(value) in (int, str, float) and len(repr(value)) <= 40 else type(value)
                raise UsageError(
                    "usage.limits",
                    f"Limits.{name} must be an int in 0..{ceiling}, got {shown}",
                    field=name,
                    maximum=ceiling,
                )

    def tightened(self, other: Limits | Mapping[str, int] | None) -> Limits:
        """These limits lowered field by field to `other` where it is smaller."""
        if other is None:
            return self
        values = asdict(other) if isinstance(other, Limits) else dict(other)
        lowered = {name: min(getattr(self, name), int(value)) for name, value in values.items() if value is not None}
        return replace(self, **lowered)

    def to_dict(self) -> dict[str, int]:
        # Not dataclasses.asdict: its deep copy made up a third of recording a trivial traced call.
        return {name: getattr(self, name) for name in _NAMES}

    @classmethod
    def from_dict(cls, values: Mapping[str, int]) -> Limits:
        """Exactly the named fields; raises KeyError or TypeError otherwise (callers convert)."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        missing = names - set(values)
        if unknown or missing:
            raise KeyError(f"unknown {sorted(unknown)} missing {sorted(missing)}")
        for name, value in values.items():
            if type(value) is not int or not 0 <= value <= getattr(HARD_LIMITS, name):
                raise TypeError(f"{name} must be an int in 0..{getattr(HARD_LIMITS, name)}")
        return cls(**values)

    @classmethod
    def from_recorded(cls, values: Mapping[str, int]) -> Limits:
        """A trace's `provenance.limits`, the fields it predates read as `RECORDED_BEFORE` says."""
        return cls.from_dict({**{k: v for k, v in RECORDED_BEFORE.items() if k not in values}, **values})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_NAMES = tuple(f.name for f in fields(Limits))
# Every field needs its ceiling above (the construction check and HARD_LIMITS come from it).
assert set(_NAMES) == set(_CEILINGS), "each Limits field needs an entry in _CEILINGS"
assert set(RECORDED_BEFORE) <= set(_NAMES)

#: The hard ceilings: what `--unbounded` means (the largest Limits there is).
HARD_LIMITS = Limits(**_CEILINGS)

#: The safe defaults (the CLI's, and `Limits()`).
DEFAULT_LIMITS = Limits()

#: One line per limit, for help texts and docs.
LIMIT_DOCS: Mapping[str, str] = {
    "max_instructions": "fuel (1 per instruction plus a charge by work) before the run stops",
    "max_call_depth": "frames live at once",
    "max_registers": "registers in one frame",
    "max_stack_registers": "registers in all live frames together",
    "max_array_len": "items in one array",
    "max_string_len": "characters in one string",
    "max_allocation": "bytes of strings and arrays allocated over the run (estimated)",
    "max_output_bytes": "bytes of capability arguments the run may send out (estimated as JSON text)",
    "max_trace_bytes": "bytes of trace a traced run's capability calls may take (estimated)",
}
