"""Source lines quoted under runtime errors: takes a `--source DIR` and a file name from a source map, gives one line.

The file name of an error's location comes from the module's source map or
from a trace, both untrusted: a module may name `/etc/passwd`,
`/proc/self/environ`, `/dev/zero` or `/dev/stdin`.  So no file is opened
unless the user passed `--source DIR`, and then only a relative name with
no `..` part, whose real path (symlinks followed) is a regular file inside
DIR, no larger than the source size cap.  Anything else quotes nothing:
the location line (`--> file:line:col`) is still printed.
"""

from __future__ import annotations

import os

from chronicle_vm.errors import ChronicleError, SourceError
from chronicle_vm.inputs import MAX_SOURCE_FILE_BYTES, read_capped

__all__ = ["quoted_source_line", "resolve_source"]


def resolve_source(root: str, name: str) -> str | None:
    """The path of `name` under `root` if the name is allowed there, else None (nothing is opened here)."""
    if not name or "\x00" in name or os.path.isabs(name) or name.startswith(("/", "\\")):
        return None
    parts = name.replace("\\", "/").split("/")
    if any(part == ".." for part in parts) or (len(name) > 1 and name[1] == ":"):  # `..`, or a drive `C:`
        return None
    try:
        base = os.path.realpath(root)
        target = os.path.realpath(os.path.join(base, name))
    except (OSError, ValueError):
        return None
    if os.path.commonpath([base, target]) != base or target == base:
        return None  # a symlink out of the folder
    return target


def quoted_source_line(root: str | None, name: str, line: int) -> str | None:
    """Line `line` of source file `name`, found under `root`; None without `--source` or when not allowed."""
    if root is None or line < 1:
        return None
    path = resolve_source(root, name)
    if path is None:
        return None
    try:
        data = read_capped(path, MAX_SOURCE_FILE_BYTES, SourceError, "source.too-large", "a source file")
    except ChronicleError:
        return None
    lines = data.split(b"\n")
    if line > len(lines):
        return None
    return lines[line - 1].rstrip(b"\r").decode("utf-8", errors="replace")
