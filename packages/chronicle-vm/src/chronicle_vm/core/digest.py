"""SHA-256 of module and policy bytes: takes bytes, gives the hex digest, without loading OpenSSL.

`hashlib` loads OpenSSL's libcrypto before it hashes anything, about 3 ms
of a small run's start-up; CPython's own SHA-256 (`_sha256` up to 3.11,
`_sha2` from 3.12) gives the same digest at once.  Where neither exists
(another implementation), hashlib's is used.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["sha256_hex"]


def _builtin_sha256() -> Callable[[bytes], Any]:
    # This Python's module first: a module that is missing costs a search of every sys.path entry (0.5 ms).
    names = ("_sha2", "_sha256") if sys.version_info >= (3, 12) else ("_sha256", "_sha2")
    for name in names:
        try:
            found: Callable[[bytes], Any] = importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
        return found
    import hashlib

    return hashlib.sha256


_SHA256 = _builtin_sha256()


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` as 64 lowercase hex digits (what `hashlib.sha256(data).hexdigest()` gives)."""
    return str(_SHA256(data).hexdigest())
