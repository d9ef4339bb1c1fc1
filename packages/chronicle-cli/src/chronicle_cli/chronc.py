"""`chronc`: takes a `.chr` plugin source, gives a verified `.cmod` (or its `.casm`), or every diagnostic (exit 10).

The compiler's output is verified before it is written, so a module chronc
writes always loads; a verify failure here would be a compiler bug and
exits 12.  The output file is written atomically (see `files.write_output`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from .colors import add_color_option
from .common import Output, Parser, run_main

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Console script entry point of `chronc`."""
    return run_main(build_parser, argv)


def build_parser() -> Parser:
    parser = Parser(prog="chronc", description="Compile a .chr plugin to a ChronicleVM module.")
    parser.add_argument("source", metavar="PLUGIN.chr")
    parser.add_argument(
        "-o", "--output", metavar="OUT", help="output file, - for stdout (default: the source with .cmod or .casm)"
    )
    parser.add_argument(
        "--emit", choices=("cmod", "casm"), default="cmod", help="a binary module (default) or its assembly text"
    )
    parser.add_argument(
        "--source-name",
        metavar="NAME",
        help="the file name recorded in the module (default: the source path relative to the working directory)",
    )
    parser.add_argument(
        "--host-manifest",
        metavar="HOST.json",
        help="check each `cap` declaration against this host manifest (from `chronicle-vm host-manifest`)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_color_option(parser)
    parser.add_argument("--version", action="version", version="chronc 0.1.0")
    parser.set_defaults(command_func=compile_command)
    return parser


def default_output(source: str, suffix: str) -> str:
    """`plugin.chr` -> `plugin.cmod` (or `.casm`), next to the source."""
    root, ext = os.path.splitext(source)
    return (root if ext else source) + suffix


def recorded_name(source: str) -> str:
    """The source path as recorded in the module: relative to the working directory, `/`-separated.

    The same file compiled as `trivial.chr` or by its absolute path gives the same module (and digest),
    and no build machine's absolute path ends up in modules and traces.
    """
    try:
        relative = os.path.relpath(os.path.abspath(source))
    except ValueError:  # another drive (Windows): the bare file name
        relative = os.path.basename(source)
    return relative.replace(os.sep, "/")


def compile_command(ns: argparse.Namespace, out: Output) -> int:
    from chronicle_lang import compile_to_module
    from chronicle_vm.errors import SourceError
    from chronicle_vm.runtime import load_module

    from .files import describe_kind, read_input, write_output_or_stdout

    data = read_input(ns.source, "chr")
    name = ns.source_name if ns.source_name is not None else recorded_name(ns.source)
    try:
        module = compile_to_module(data, name)
    except SourceError as error:
        found = describe_kind(data)
        if found is not None and found != "a .chr source":
            error.details["note"] = f"{ns.source}: expected a .chr plugin source; this looks like {found}"
        raise
    if ns.host_manifest is not None:
        from .manifest_check import check_against_manifest

        check_against_manifest(module, data.decode("utf-8", "replace"), name, ns.host_manifest)
    encoded = module.to_bytes()
    # Verify exactly the bytes that will be written (decode included), as any host will load them.
    verified = load_module(encoded).verified
    output = ns.output or default_output(ns.source, "." + ns.emit)
    if ns.emit == "casm":
        from chronicle_asm import disassemble

        payload_bytes = disassemble(module).encode("utf-8")
    else:
        payload_bytes = encoded
    if write_output_or_stdout(output, payload_bytes, out.json):
        out.emitted = True
        return 0
    exports = sorted(verified.exports)
    result: dict[str, Any] = {
        "source": ns.source,
        "output": output,
        "emit": ns.emit,
        "bytes": len(payload_bytes),
        "functions": len(module.functions),
        "entry_points": exports,
        "capabilities": [cap.name + cap.signature(module.structs) for cap in module.capabilities],
    }

    def human(console: Any) -> None:
        from rich.text import Text

        from .render import plural

        text = Text("compiled ", style="bold green")
        text.append(f"{ns.source} -> {output}", style="bold")
        text.append(
            f"  ({len(payload_bytes):,} bytes, {plural(len(module.functions), 'function')}, "
            f"entry points: {', '.join(exports) or 'none'})",
            style="dim",
        )
        console.print(text)

    out.ok(result, human)
    return 0


if __name__ == "__main__":
    sys.exit(main())
