"""A trace's `meta`: takes the host's own JSON values (an order id, a tenant), gives them checked and bounded.

`meta` is a JSON object the host sets per call (`Instance.call(..., meta=...)`).  It is part of the
canonical trace bytes, so the trace digest covers it and slices keep it; replay reads it but compares
nothing in it (it is the host's, not the run's).  It is checked both where the host gives it (a
`UsageError`) and where an untrusted trace carries it (`replay.schema`), with the same bounds, so a
hostile trace cannot make the reader recurse or allocate without limit beyond the trace size bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from chronicle_vm.errors import ReplayError, UsageError, declare_codes

__all__ = ["MAX_META_BYTES", "MAX_META_DEPTH", "check_meta", "check_recorded_meta"]

declare_codes("usage", {"trace-meta": "a call's `meta` is not a bounded JSON object of JSON values"})

#: Deepest nesting of arrays and objects inside `meta` (the object itself is depth 1).
MAX_META_DEPTH = 16
#: Most JSON values (objects, arrays, scalars, keys) in one `meta`.
MAX_META_ITEMS = 10_000
#: Most characters of all strings and keys in one `meta` together.
MAX_META_BYTES = 1 << 20

_I64 = 2**63


def check_meta(meta: object) -> dict[str, Any]:
    """The host's `meta` as a plain JSON object (copied), or `UsageError('usage.trace-meta')`."""

    def fail(path: str, problem: str) -> NoReturn:
        raise UsageError("usage.trace-meta", f"meta{path}: {problem}", path=path)

    if not isinstance(meta, Mapping):
        fail("", f"expected a mapping of JSON values, found {type(meta).__name__}")
    copied = _checked(dict(meta), "", 1, [0, 0], fail)
    assert isinstance(copied, dict)
    return copied


def check_recorded_meta(meta: object) -> None:
    """Check a loaded trace's `meta`; a defect is `replay.schema` naming its path."""

    def fail(path: str, problem: str) -> NoReturn:
        raise ReplayError("replay.schema", f"trace field meta{path}: {problem}", path=f"meta{path}")

    if type(meta) is not dict:
        fail("", "expected an object")
    _checked(meta, "", 1, [0, 0], fail)


def _checked(value: object, path: str, depth: int, used: list[int], fail: Callable[[str, str], NoReturn]) -> object:
    """A copy of `value` as plain JSON; `used` counts [items, characters] against the bounds."""
    used[0] += 1
    if used[0] > MAX_META_ITEMS:
        fail(path, f"holds more than {MAX_META_ITEMS} values")
    if value is None or type(value) is bool:
        return value
    if type(value) is int:
        if not -_I64 <= value < _I64:
            fail(path, "int is outside signed 64 bits")
        return value
    if type(value) is float:
        if not math.isfinite(value):
            fail(path, "a float must be finite")
        return value
    if type(value) is str:
        return _text(value, path, used, fail)
    if depth >= MAX_META_DEPTH and isinstance(value, (list, tuple, dict)):
        fail(path, f"nests deeper than {MAX_META_DEPTH}")
    if type(value) is list or type(value) is tuple:
        return [_checked(item, f"{path}[{index}]", depth + 1, used, fail) for index, item in enumerate(value)]
    if type(value) is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                fail(path, f"keys are strings, found {type(key).__name__}")
            _text(key, path, used, fail)
            out[key] = _checked(item, f"{path}.{key[:40]}", depth + 1, used, fail)
        return out
    return fail(path, f"expected a JSON value (null, bool, int, float, str, list, dict), found {type(value).__name__}")


def _text(text: str, path: str, used: list[int], fail: Callable[[str, str], NoReturn]) -> str:
    used[1] += len(text)
    if used[1] > MAX_META_BYTES:
        fail(path, f"holds more than {MAX_META_BYTES} characters of text")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            fail(path, "a string holds a lone surrogate (not UTF-8 encodable)")
    return text
