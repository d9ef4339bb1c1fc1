"""Bounded reads of untrusted input files: takes a path and a byte cap, gives the bytes; never hangs nor floods memory.

A file an operator names (a module, a trace, a policy) may be anything:
`/dev/zero`, a FIFO nobody writes to, `/dev/stdin`, a 5 GB file.  So a read
opens without blocking (`O_NONBLOCK`: opening a FIFO does not wait for a
writer), checks the open descriptor with `fstat` (what was opened, not what
the name pointed at a moment earlier), refuses anything but a regular file,
refuses a file larger than its cap before reading a byte, and then reads at
most cap + 1 bytes, so a file that grows while it is read is still refused
rather than read whole.
"""

from __future__ import annotations

import os
import stat

from .errors import ChronicleError, UsageError, declare_codes

__all__ = [
    "MAX_MODULE_FILE_BYTES",
    "MAX_POLICY_FILE_BYTES",
    "MAX_SOURCE_FILE_BYTES",
    "MAX_TRACE_FILE_BYTES",
    "read_capped",
]

declare_codes("usage", {"not-a-file": "a path named on the command line is a directory or not a regular file"})
declare_codes("decode", {"too-large": "the module file is larger than MAX_MODULE_FILE_BYTES (16 MiB)"})
declare_codes("policy", {"too-large": "the policy file is larger than MAX_POLICY_FILE_BYTES (1 MiB)"})
declare_codes("source", {"too-large": "the source file is larger than MAX_SOURCE_FILE_BYTES (8 MiB)"})

#: Size caps of the files read by the CLI and `Policy.from_file` (docs/security-model.md, "Input sizes").
MAX_MODULE_FILE_BYTES = 16 * 1024 * 1024
MAX_POLICY_FILE_BYTES = 1024 * 1024
MAX_SOURCE_FILE_BYTES = 8 * 1024 * 1024
#: The same as trace.MAX_TRACE_BYTES (not imported: trace.py is heavy and this module is read first).
MAX_TRACE_FILE_BYTES = 64 * 1024 * 1024

_CHUNK = 1024 * 1024


def read_capped(path: str, cap: int, too_large: type[ChronicleError], code: str, expected: str) -> bytes:
    """The bytes of the regular file `path`, at most `cap` of them.

    A missing or unreadable file is `usage.unreadable-file`, a directory, a
    device or a FIFO `usage.not-a-file`, a file over `cap` bytes the
    error `too_large(code, ...)` of the stage that would have read it.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise UsageError(
            "usage.unreadable-file", f"{path}: cannot read {expected}: {exc.strerror or exc}", path=path
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise UsageError("usage.not-a-file", f"{path}: is {what}; expected {expected}", path=path)
        if info.st_size > cap:
            raise _too_large(too_large, code, path, expected, info.st_size, cap)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, min(_CHUNK, cap + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:  # the file grew after fstat
                raise _too_large(too_large, code, path, expected, total, cap)
        return b"".join(chunks)
    except OSError as exc:
        raise UsageError(
            "usage.unreadable-file", f"{path}: cannot read {expected}: {exc.strerror or exc}", path=path
        ) from None
    finally:
        os.close(fd)


def _too_large(error: type[ChronicleError], code: str, path: str, expected: str, size: int, cap: int) -> ChronicleError:
    return error(
        code,
        f"{path}: {expected} of {size:,} bytes or more is over the {cap:,}-byte cap; it was not read",
        path=path,
        size=size,
        cap=cap,
    )
