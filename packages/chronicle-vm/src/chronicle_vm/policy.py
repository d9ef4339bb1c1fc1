"""Front for `chronicle_vm.capabilities.policy` (the name the embedding API documents)."""

from .capabilities.policy import *  # noqa: F403
