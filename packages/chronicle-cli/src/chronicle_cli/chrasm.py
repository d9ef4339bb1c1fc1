"""`chrasm`: takes `.casm` text (or a `.cmod` with --disassemble), gives a `.cmod` module (or `.casm` text).

Assembling reports every problem of the file at once (exit 10); a module
to disassemble is only decoded, not verified, so an unverifiable module can
still be read (exit 11 when it does not decode).  Without `-o`, assembly
writes next to the source and disassembly prints the text.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from chronicle_vm.errors import SourceError

from .chronc import default_output
from .colors import add_color_option
from .common import Output, Parser, run_main

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point of `chrasm`."""
    return run_main(build_parser, argv)


def build_parser() -> Parser:
    parser = Parser(prog="chrasm", description="Assemble .casm text into a module, or disassemble a module.")
    parser.add_argument("input", metavar="FILE", help="PLUGIN.casm, or MOD.cmod with --disassemble")
    parser.add_argument("-o", "--output", metavar="OUT", help="output file, - for stdout")
    parser.add_argument("-d", "--disassemble", action="store_true", help="read a .cmod module and write .casm text")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_color_option(parser)
    parser.add_argument("--version", action="version", version="chrasm 0.1.0")
    parser.set_defaults(command_func=chrasm_command)
    return parser


def chrasm_command(ns: argparse.Namespace, out: Output) -> int:
    return _disassemble(ns, out) if ns.disassemble else _assemble(ns, out)


def _assemble(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_asm import assemble_text
    from chronicle_asm.source import decode_source

    from .files import describe_kind, read_input, write_output_or_stdout

    data = read_input(ns.input, "casm")
    note = None
    if data[:4] == b"CHRM":
        note = "(expected a .casm assembly source; this looks like a ChronicleVM module: use --disassemble)"
    text = decode_source(data, ns.input, note=note)
    try:
        module = assemble_text(text, ns.input)
    except SourceError as error:
        found = describe_kind(data)
        if found is not None and found != "a .casm source":
            error.details["note"] = f"{ns.input}: expected a .casm assembly source; this looks like {found}"
        raise
    output = ns.output or default_output(ns.input, ".cmod")
    payload = module.to_bytes()
    if write_output_or_stdout(output, payload, out.json):
        out.emitted = True
        return 0
    result = {"input": ns.input, "output": output, "bytes": len(payload), "functions": len(module.functions)}

    def human(console: Any) -> None:
        from rich.text import Text

        from .render import plural

        text = Text("assembled ", style="bold green")
        text.append(f"{ns.input} -> {output}", style="bold")
        text.append(f"  ({len(payload):,} bytes, {plural(len(module.functions), 'function')})", style="dim")
        console.print(text)

    out.ok(result, human)
    return 0


def _disassemble(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_asm import disassemble
    from chronicle_vm.core.model import Module
    from chronicle_vm.errors import DecodeError

    from .files import describe_kind, read_input, write_output

    data = read_input(ns.input, "module")
    try:
        module = Module.from_bytes(data)
    except DecodeError as error:
        found = describe_kind(data)
        error.message = f"{ns.input}: {error.message}"
        if found is not None and found != "a ChronicleVM module":
            error.message += f" (expected a ChronicleVM module (.cmod); this looks like {found})"
        error.args = (error.message,)
        error.details.setdefault("path", ns.input)
        raise
    text = disassemble(module)
    result: dict[str, Any] = {"input": ns.input, "functions": len(module.functions)}
    if ns.output is not None and ns.output != "-":
        write_output(ns.output, text)
        result["output"] = ns.output
    else:
        result["casm"] = text

    def human(console: Any) -> None:
        if ns.output in (None, "-"):
            out.stdout.write(text if text.endswith("\n") else text + "\n")
            return
        from rich.text import Text

        message = Text("disassembled ", style="bold green")
        message.append(f"{ns.input} -> {ns.output}", style="bold")
        console.print(message)

    if ns.output in (None, "-") and not out.json:
        human(None)
        out.emitted = True
    else:
        out.ok(result, human)
    return 0


if __name__ == "__main__":
    sys.exit(main())
