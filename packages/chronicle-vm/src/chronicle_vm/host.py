"""Front for `chronicle_vm.capabilities.host` (the name the embedding API documents)."""

from .capabilities.host import *  # noqa: F403
