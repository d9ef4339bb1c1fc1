"""Traces: takes a run's capability calls and outcome, gives a canonical JSON trace; takes a trace and its module,
gives an exact replay (no live capability is called) or a ReplayError naming the divergence.

`document` (the trace: recording, canonical JSON, loading and checking,
slices, diff), `replay` (re-execution against the recorded events).
`chronicle_vm.trace.document` itself offers the trace's public names.
"""

from .document import *  # noqa: F403  (the public names of chronicle_vm.trace.document, as before the package existed)
from .document import __all__ as __all__
