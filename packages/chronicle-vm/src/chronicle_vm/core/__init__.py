"""The VM's vocabulary: takes nothing, gives value types, the instruction set, the module model and VM values.

Everything later in the pipeline speaks these terms; nothing here depends on
any later stage.  `types` (value types), `isa` (the opcode table), `model`
(the immutable module a decoder or assembler builds), `values` (VM values and
the checked copy across the host boundary), `calls` (the capability-handler
protocol the engines call).
"""

from __future__ import annotations

import _thread
import importlib
import sys
import types
from typing import Any

# -- dataclasses without inspect ------------------------------------------------------------------------------
#
# `dataclasses` imports `inspect` at its top, and with it ast, dis, tokenize and linecache: 6 ms of a small
# run's start-up, a tenth of it.  It uses `inspect` for one thing only, a docstring for a class that has
# none (`inspect.signature`), and every dataclass of this package has one.  So the first import of
# `dataclasses` (when neither it nor `inspect` is imported yet) finds a stand-in under the name `inspect`,
# which is removed again once `dataclasses` is imported: `dataclasses` keeps it as its `inspect`, and every
# attribute asked of it is the real module's, imported then as any import is.  A later `import inspect`
# imports the real module; only a thread that imported it during those few milliseconds got the stand-in
# (which gives it the real module's attributes, after that import is over).

_STANDING_IN = _thread.RLock()


class _InspectOnUse(types.ModuleType):
    """`dataclasses`' `inspect` until it first asks for an attribute: then the real module's attribute."""

    def __getattr__(self, name: str) -> Any:
        with _STANDING_IN:  # not while `dataclasses` is being imported with this in sys.modules
            if sys.modules.get("inspect") is self:  # asked for during that import (by this thread): step aside
                del sys.modules["inspect"]
        return getattr(importlib.import_module("inspect"), name)


def _import_dataclasses() -> None:
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    stand_in = _InspectOnUse("inspect")
    with _STANDING_IN:
        sys.modules["inspect"] = stand_in
        try:
            import dataclasses  # noqa: F401  (the import this stands in for)
        finally:
            if sys.modules.get("inspect") is stand_in:
                del sys.modules["inspect"]


_import_dataclasses()
