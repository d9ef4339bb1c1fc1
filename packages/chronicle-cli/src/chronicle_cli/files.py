"""Files named on the command line: takes paths, gives bytes or writes files; guarantees errors that name the file.

Reading refuses a missing, unreadable or non-regular file (a directory,
a device, a FIFO) with `usage.*` (exit 2), a file over its kind's size cap
with the stage's `*.too-large` before reading it (chronicle_vm.inputs) and an empty one with the error of the stage that
expected it, so each message says which file and what was expected.  The
loaders wrap each library loader (module, policy, trace, source) so that a
file of the wrong kind (a trace given as a module, a module as a policy) is
told apart by its first bytes and named as such.  Writing goes to a
temporary file in the target's folder (created if missing), renamed over the target only when
complete: Ctrl-C or a failure never leaves a partial output file.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TYPE_CHECKING, TypeVar

from chronicle_vm.errors import (
    ChronicleError,
    DecodeError,
    PolicyError,
    ReplayError,
    SourceError,
    UsageError,
)
from chronicle_vm.inputs import (
    MAX_MODULE_FILE_BYTES,
    MAX_POLICY_FILE_BYTES,
    MAX_SOURCE_FILE_BYTES,
    MAX_TRACE_FILE_BYTES,
    read_capped,
)

if TYPE_CHECKING:
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.runtime import LoadedModule

__all__ = [
    "describe_kind",
    "load_module_file",
    "load_policy_file",
    "read_input",
    "read_trace_file",
    "write_output",
    "write_output_or_stdout",
]


#: What each kind of input is called in messages.
_EXPECTED = {
    "module": "a ChronicleVM module (.cmod)",
    "policy": "a host policy (TOML)",
    "trace": "a ChronicleVM trace (JSON)",
    "chr": "a .chr plugin source",
    "casm": "a .casm assembly source",
}
_EMPTY: dict[str, type[ChronicleError]] = {
    "module": DecodeError,
    "policy": PolicyError,
    "trace": ReplayError,
    "chr": SourceError,
    "casm": SourceError,
}

#: The size cap of each kind of input (docs/security-model.md): checked before reading, and again while reading.
_CAPS = {
    "module": MAX_MODULE_FILE_BYTES,
    "policy": MAX_POLICY_FILE_BYTES,
    "trace": MAX_TRACE_FILE_BYTES,
    "chr": MAX_SOURCE_FILE_BYTES,
    "casm": MAX_SOURCE_FILE_BYTES,
}

_E = TypeVar("_E", bound=ChronicleError)


def read_input(path: str, kind: str) -> bytes:
    """The bytes of `path`, which should hold `kind` (module, policy, trace, chr, casm), read under its size cap."""
    expected = _EXPECTED[kind]
    data = read_capped(path, _CAPS[kind], _EMPTY[kind], f"{_EMPTY[kind].category}.too-large", expected)
    if not data:
        error = _EMPTY[kind]
        raise error(f"{error.category}.empty-file", f"{path}: the file is empty; expected {expected}", path=path)
    return data


def describe_kind(data: bytes) -> str | None:
    """A guess at what the bytes hold, for messages when they are not what was expected."""
    head = data[:64].lstrip()
    if data[:4] == b"CHRM":
        return "a ChronicleVM module"
    if head.startswith(b"{"):
        if b'"chronicle-trace"' in data[:65536]:
            return "a ChronicleVM trace (JSON)"
        return "JSON (a trace?)" if b'"events"' in data[:65536] else "JSON"
    if head.startswith((b"version", b"[", b"#")) and b"=" in data[:4096]:
        return "TOML (a policy?)"
    if b"fn " in data[:4096] or b"cap " in data[:4096]:
        return "a .chr source"
    if head.startswith(b".") or b".func" in data[:4096]:
        return "a .casm source"
    if b"\x00" in data[:512]:
        return "binary data"
    return None


def _with_file(error: _E, path: str, kind: str, data: bytes) -> _E:
    """The library's error, its message prefixed with the file and, when it helps, what the file seems to hold."""
    message = error.message
    if not message.startswith(path):
        message = f"{path}: {message}"
    found = describe_kind(data)
    if found is not None and found != "a ChronicleVM module":
        message += f" (expected {_EXPECTED[kind]}; this looks like {found})"
    error.message = message
    error.details.setdefault("path", path)
    error.args = (message,)
    return error


def load_module_file(path: str) -> tuple[bytes, LoadedModule]:
    """Read, decode and verify a module file; DecodeError (11) or VerifyError (12) name the file."""
    from chronicle_vm.errors import VerifyError
    from chronicle_vm.runtime import load_module

    data = read_input(path, "module")
    try:
        return data, load_module(data)
    except DecodeError as error:
        raise _with_file(error, path, "module", data) from None
    except VerifyError as error:
        if not error.message.startswith(path):
            error.message = f"{path}: {error.message}"
            error.args = (error.message,)
        error.details.setdefault("path", path)
        raise


def load_policy_file(path: str) -> Policy:
    """Read and check a policy file; PolicyError (13) names the file, and says so when it holds something else."""
    from chronicle_vm.capabilities.policy import Policy

    data = read_input(path, "policy")
    try:
        return Policy.from_toml(data, source=path)
    except PolicyError as error:
        found = describe_kind(data)
        if found is not None and "TOML" not in found:
            error.message = f"{path}: expected {_EXPECTED['policy']}; this looks like {found}"
            error.args = (error.message,)
        error.details.setdefault("path", path)
        raise


def read_trace_file(path: str) -> bytes:
    """Read a trace file (checked by the replay library); a module given as a trace is named as such."""
    data = read_input(path, "trace")
    if data.lstrip()[:1] != b"{":
        found = describe_kind(data) or "something else"
        raise ReplayError(
            "replay.not-a-trace",
            f"{path}: expected {_EXPECTED['trace']}; this looks like {found}",
            path=path,
        )
    return data


def write_output_or_stdout(path: str, data: bytes | str, json_mode: bool) -> bool:
    """`write_output`, except that `-` means stdout (not under --json); True when written to stdout."""
    if path != "-":
        write_output(path, data)
        return False
    if json_mode:
        raise UsageError("usage.arguments", "-o - writes to stdout, which --json keeps for its JSON object")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    sys.stdout.flush()
    sys.stdout.buffer.write(payload)
    sys.stdout.buffer.flush()
    return True


def write_output(path: str, data: bytes | str) -> None:
    """Write `data` to `path` atomically: a temporary file in the same folder, renamed over `path` when complete."""
    import tempfile  # here: it pulls in random and shutil, which reading a file never needs

    payload = data.encode("utf-8") if isinstance(data, str) else data
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError("usage.output-file", f"{path}: is a directory; expected an output file name", path=path)
    try:
        # A missing output folder is created (`-o out/hello.cmod` on a fresh checkout).
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".~" + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError("usage.output-file", f"{path}: cannot write: {exc.strerror or exc}", path=path) from None
    renamed = False
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, path)
        renamed = True
    except OSError as exc:
        raise UsageError("usage.output-file", f"{path}: cannot write: {exc.strerror or exc}", path=path) from None
    finally:
        # Also on KeyboardInterrupt: the partial temporary file goes, the target is untouched.
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
