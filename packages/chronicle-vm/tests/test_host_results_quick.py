"""A capability's scalar result: the handler's quick acceptance agrees with the full import at every edge.

The live handler takes an int, bool, str or float result as it is when it
is plainly in range and imports anything else in full; either way the run
sees the same value or fails with the same `runtime.capability-result`.
"""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_vm import ExecutionError, Host, Limits, Policy, UsageError, instantiate
from chronicle_vm.core.types import BOOL, FLOAT, INT, STR, ValueType
from chronicle_vm.core.values import ValueMismatch, import_value

chronicle_lang = pytest.importorskip("chronicle_lang")

I64 = 2**63
CASES: list[tuple[str, ValueType, Any]] = [
    ("int", INT, 0),
    ("int", INT, I64 - 1),
    ("int", INT, -I64),
    ("int", INT, I64),
    ("int", INT, -I64 - 1),
    ("int", INT, True),
    ("int", INT, 1.0),
    ("int", INT, "1"),
    ("bool", BOOL, False),
    ("bool", BOOL, 1),
    ("str", STR, ""),
    ("str", STR, "a" * 64),
    ("str", STR, "a" * 65),
    ("str", STR, "é" * 64),
    ("str", STR, "é" * 65),
    ("str", STR, "\ud800"),
    ("str", STR, None),
    ("float", FLOAT, 1.5),
    ("float", FLOAT, -0.0),
    ("float", FLOAT, float("inf")),
    ("float", FLOAT, float("nan")),
    ("float", FLOAT, 3),
    ("float", FLOAT, 2**60 + 1),
    ("float", FLOAT, True),
]
LIMITS = Limits(max_string_len=64)


def expected(vtype: ValueType, returned: Any) -> tuple[str, Any]:
    try:
        value, _units = import_value(returned, vtype, LIMITS, "result of answer.get")
    except ValueMismatch as exc:
        return "error", str(exc)
    return "ok", value


@pytest.mark.parametrize("engine", ["reference", "compiled"])
@pytest.mark.parametrize(("kind", "vtype", "returned"), CASES)
def test_a_scalar_result_is_taken_or_refused_as_the_full_import_says(
    engine: str, kind: str, vtype: ValueType, returned: Any
) -> None:
    source = f"cap answer.get() -> {kind};\npub fn main() -> {kind} {{ return answer.get(); }}\n"
    host = Host()
    host.register("answer.get", lambda: returned, params=(), result=vtype)
    policy = Policy.from_toml('version = 1\n[capabilities."answer.get"]\nallow = true\n')
    module = chronicle_lang.compile_to_module(source, "quick.chr").to_bytes()
    instance = instantiate(module, host=host, policy=policy, limits=LIMITS, engine=engine)  # type: ignore[arg-type]
    want = expected(vtype, returned)
    for traced in (False, True):
        try:
            value = instance.call("main", trace=traced).value
        except ExecutionError as exc:
            assert want[0] == "error", exc
            assert exc.code == "runtime.capability-result"
            assert exc.message == want[1]
        else:
            assert want[0] == "ok", value
            assert type(value) is type(want[1])
            assert repr(value) == repr(want[1])  # -0.0 stays -0.0


@pytest.mark.parametrize("engine", ["reference", "compiled"])
@pytest.mark.parametrize(("kind", "vtype", "given"), CASES)
def test_a_scalar_argument_is_taken_or_refused_as_the_full_import_says(
    engine: str, kind: str, vtype: ValueType, given: Any
) -> None:
    # The compiled engine and the trace's entry take plain scalar arguments without the full import.
    source = f"pub fn echo(x: {kind}, n: int) -> {kind} {{ return x; }}\n"
    module = chronicle_lang.compile_to_module(source, "echo.chr").to_bytes()
    instance = instantiate(module, limits=LIMITS, engine=engine)  # type: ignore[arg-type]
    try:
        value, _units = import_value(given, vtype, LIMITS, "argument 1 of `echo`")
        want: tuple[str, Any] = ("ok", value)
    except ValueMismatch as exc:
        want = ("error", str(exc))
    for traced in (False, True):
        for _ in range(2):  # the first call prepares the entry, the second reuses it
            try:
                result = instance.call("echo", given, 3, trace=traced)
            except UsageError as exc:
                assert want == ("error", exc.message)
                assert exc.code == "usage.bad-arguments"
            else:
                assert want[0] == "ok"
                assert type(result.value) is type(want[1])
                assert repr(result.value) == repr(want[1])
                if traced:
                    assert result.trace is not None
                    assert result.trace.entry["args"][1] == 3
                    assert repr(result.trace.entry["args"][0]) == repr(want[1])
