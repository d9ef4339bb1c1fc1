"""The peers' versions of the VM workloads: takes a workload name, gives callables running it on lupa and starlark-pyo3.

lupa (Lua 5.4) and starlark-pyo3 (Rust) are installed by the `bench` nox
session only, never as dependencies; when one does not import, its column
shows "-".  Lua runs the same while loops and recursion under a count hook
(called every HOOK_COUNT instructions, the way Lua hosts meter untrusted
code).  Starlark has no `while`: its loops are `for` over `range`, the
closest form of the same algorithm (each `while` a `for` over a long
enough `range` with a `break`); starlark-rust allows recursion, but its call
stack overflows on Ackermann(3, 7).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["HOOK_COUNT", "peer_runners"]

HOOK_COUNT = 1_000

LUA: dict[str, tuple[str, str]] = {
    "fib": (
        "fib",
        """
        local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
        return fib
        """,
    ),
    "sum": (
        "sum",
        """
        return function(n)
            local s, i = 0, 0
            while i < n do s = (s + i * i) % 1000003; i = i + 1 end
            return s
        end
        """,
    ),
    "sieve": (
        "sieve",
        """
        return function(n)
            local flags = {}
            local i = 0
            while i <= n do flags[i] = true; i = i + 1 end
            local count, p = 0, 2
            while p <= n do
                if flags[p] then
                    count = count + 1
                    local m = p * p
                    while m <= n do flags[m] = false; m = m + p end
                end
                p = p + 1
            end
            return count
        end
        """,
    ),
    "ackermann": (
        "ack37",
        """
        local function ack(m, n)
            if m == 0 then return n + 1 end
            if n == 0 then return ack(m - 1, 1) end
            return ack(m - 1, ack(m, n - 1))
        end
        return function(x) return ack(3, x) end
        """,
    ),
}

STARLARK: dict[str, str] = {
    "fib": """
def main(n):
    if n < 2:
        return n
    return main(n - 1) + main(n - 2)
""",
    "sum": """
def main(n):
    s = 0
    for i in range(n):
        s = (s + i * i) % 1000003
    return s
""",
    "sieve": """
def main(n):
    flags = []
    for _ in range(n + 1):
        flags.append(True)
    count = 0
    for p in range(2, n + 1):
        if flags[p]:
            count = count + 1
            m = p * p
            for _ in range(n):
                if m > n:
                    break
                flags[m] = False
                m = m + p
    return count
""",
    "ackermann": """
def ack(m, n):
    if m == 0:
        return n + 1
    if n == 0:
        return ack(m - 1, 1)
    return ack(m - 1, ack(m, n - 1))
def main(x):
    return ack(3, x)
""",
}


def _optional(name: str) -> Any:
    try:  # imported by name: installed only in the bench session, so type checkers may not see it
        return importlib.import_module(name)
    except ImportError:
        return None


def peer_runners(workload: str) -> dict[str, Callable[[int], object]]:
    """`{"lupa": f, "starlark-pyo3": g}` for the peers that import and have this workload."""
    runners: dict[str, Callable[[int], object]] = {}
    lupa = _optional("lupa")
    if lupa is not None and workload in LUA:
        lua = lupa.LuaRuntime()
        lua.execute(f"debug.sethook(function() end, '', {HOOK_COUNT})")
        runners["lupa"] = lua.execute(LUA[workload][1])
    starlark = _optional("starlark")
    if starlark is not None and workload in STARLARK:
        module = starlark.Module()
        program = starlark.parse(f"{workload}.star", STARLARK[workload])
        starlark.eval(module, program, starlark.Globals.standard())
        frozen = module.freeze()
        runners["starlark-pyo3"] = lambda n: frozen.call("main", n)
    return runners
