"""Front for `chronicle_vm.trace.replay` (the name the embedding API documents).

`chronicle_vm.trace.replay` is both this module and, in the package's lazy names,
the `replay` function; once the module is imported Python binds the package
attribute to the module, so the module is made callable to keep
`from chronicle_vm import replay; replay(trace, module)` working either way.
"""

import sys
import types
from typing import Any

from .trace.replay import *  # noqa: F403
from .trace.replay import replay as _replay


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return _replay(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
