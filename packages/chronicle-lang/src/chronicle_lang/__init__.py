"""The `.chr` plugin language: takes source text or bytes, gives ChronicleVM IR or a module, or one SourceError.

    compile_source(text, path) -> IRModule          parse, check, lower
    compile_to_module(text, path) -> Module          ... and assemble
    render_diagnostic(d) -> str                      file:line:col, source line, caret

Every problem in the input ends in `chronicle_vm.errors.SourceError` with code
`source.compile` and `details["diagnostics"]`, a list of diagnostic dicts.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from chronicle_asm.ir import IRModule
from chronicle_vm.errors import SourceError
from chronicle_vm.limits import DEFAULT_LIMITS
from chronicle_vm.model import Module

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


def _decode(data: str | bytes, diags: Diagnostics) -> str | None:
    if isinstance(data, str):
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            # Only a lone surrogate cannot be encoded: such text cannot come from any file.
            line = text.count("\n", 0, err.start) + 1
            col = err.start - (text.rfind("\n", 0, err.start) + 1) + 1
            diags.error(
                "invalid-utf8",
                f"the text holds a lone surrogate U+{ord(text[err.start]):04X}, which UTF-8 cannot encode",
                Span(line, col, line, col + 1),
            )
            return None
    else:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raw = bytes(data)
            line_start = raw.rfind(b"\n", 0, err.start) + 1
            line = raw.count(b"\n", 0, err.start) + 1
            col = len(raw[line_start : err.start].decode("utf-8", errors="replace")) + 1
            diags.error(
                "invalid-utf8",
                f"invalid UTF-8 byte 0x{raw[err.start]:02x}",
                Span(line, col, line, col + 1),
                hint="save the file as UTF-8",
            )
            return None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def compile_source(
    text: str | bytes,
    path: str = "<input>",
    *,
    max_registers: int = DEFAULT_LIMITS.max_registers,
) -> IRModule:
    """Compile `.chr` source to IR; raises `SourceError("source.compile")` listing every diagnostic."""
    shown = text if isinstance(text, str) else bytes(text).decode("utf-8", errors="replace")
    diags = Diagnostics(path, shown)
    decoded = _decode(text, diags)
    if decoded is None:
        diags.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
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
        raise SourceError("source.compile", f"cannot compile {path}", diagnostics=[])
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
