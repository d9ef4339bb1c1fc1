"""The engines: takes a VerifiedModule, limits and capability handlers, gives a run's result or a structured error.

`semantics` says once what every opcode does, and every engine is derived
from it and checked complete against the ISA when it is imported; `oracle`
is the reference interpreter (one step at a time, the oracle every other
engine is tested against); `reference` is the fused interpreter (the
compiled engine's fallback); `compiled` translates verified functions to
Python with identical outcomes to the instruction; `faults` words every
trap and run-time limit once and `entry` checks a host's call once, so a
failure reads the same (and traces are byte-identical) whichever engine ran.
"""
