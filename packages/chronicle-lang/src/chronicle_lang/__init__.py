"""The `.chr` plugin language: takes source text or bytes, gives ChronicleVM IR or a module, or one SourceError.

    compile_source(text, path) -> IRModule          parse, check, lower
    compile_to_module(text, path) -> Module          ... and assemble
    render_diagnostic(d) -> str                      file:line:col, source line, caret

Every problem in the input ends in one `chronicle_vm.errors.SourceError` whose
code is the first problem's and whose `details["diagnostics"]` lists each
problem as a diagnostic dict (the front end shared with `.casm`:
`chronicle_asm.source`).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from chronicle_asm.ir import IRModule
from chronicle_asm.source import decode_source
from chronicle_vm.core.model import Module
from chronicle_vm.errors import SourceError
from chronicle_vm.limits import DEFAULT_LIMITS

from .compiler import BUILTINS, compile_program
from .diagnostics import Diagnostics, render_diagnostic
from .parser import MAX_DEPTH, parse_program
from .syntax import Span

__all__ = ["BUILTINS", "MAX_DEPTH", "compile_source", "compile_to_module", "render_diagnostic"]

__version__ = "0.1.0"

# The tree walks recurse once or a few times per level; MAX_DEPTH levels need this much room.
_RECURSION_ROOM = MAX_DEPTH * 6 + 500


@contextmanager
def _compiling() -> Iterator[None]:
    """Room for the bounded recursion, and no cyclic GC: a compile allocates many objects and frees no cycles."""
    old = sys.getrecursionlimit()
    if old < _RECURSION_ROOM:
        sys.setrecursionlimit(_RECURSION_ROOM)
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
        if old < _RECURSION_ROOM:
            sys.setrecursionlimit(old)


def compile_source(
    text: str | bytes,
    path: str = "<input>",
    *,
    max_registers: int = DEFAULT_LIMITS.max_registers,
) -> IRModule:
    """Compile `.chr` source to IR; raises one `SourceError` listing every diagnostic."""
    decoded = decode_source(text, path)
    diags = Diagnostics(path, decoded)
    try:
        with _compiling():
            program = parse_program(decoded, diags)
            module = None if program is None else compile_program(program, diags, path, max_registers)
    except RecursionError:
        # Depth is bounded before any recursive walk; this only guards a too-small C stack.
        diags.error("too-deep", "the program nests too deeply to compile", Span(1, 1, 1, 2))
        module = None
    diags.raise_if_any()
    if module is None:  # pragma: no cover - a failed parse always leaves a diagnostic
        raise SourceError("source.syntax", f"cannot compile {path}", diagnostics=[])
    return module


def compile_to_module(
    text: str | bytes,
    path: str = "<input>",
    *,
    max_registers: int = DEFAULT_LIMITS.max_registers,
) -> Module:
    """Compile `.chr` source and assemble it into a `chronicle_vm.Module` (not yet verified)."""
    from chronicle_asm import assemble

    ir = compile_source(text, path, max_registers=max_registers)
    shown = text if isinstance(text, str) else bytes(text).decode("utf-8", errors="replace")
    # The assembler's own limits (table sizes, constant lengths) can still refuse a module: it
    # raises SourceError too, quoting the .chr line from `sources`.
    return assemble(ir, sources={path: shown})
