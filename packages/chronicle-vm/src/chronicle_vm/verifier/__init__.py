"""The verifier: takes a decoded Module, gives a VerifiedModule (the only thing the engines run) or a VerifyError.

One linear pass over typed registers proves operand bounds, register types,
jump targets, call signatures, capability declarations and source-map shape,
so the engines need not check them again.  Only `verify` makes a
VerifiedModule.
"""

from .rules import CAP_NAME_MAX_LEN, VerifiedModule, verify

__all__ = ["CAP_NAME_MAX_LEN", "VerifiedModule", "verify"]
