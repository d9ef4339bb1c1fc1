"""Command-line plumbing: takes argv and a command table, gives an exit code; guarantees one JSON object under --json.

Every console script runs through `run_main`, which parses the arguments
(argparse errors become `usage.arguments`), calls the command, and turns
whatever ends it into exactly one outcome: a `ChronicleError` is printed
(or written as the JSON error object) with its category's exit code,
Ctrl-C is exit 130, and any other exception is a bug, printed as an
internal error with exit 70, never as a traceback (set CHRONICLE_DEBUG=1 to
see one).  This module imports nothing heavy: rich is loaded only by the
human renderers, and only when something is printed for people.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import gc
import io
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, NoReturn

from chronicle_vm.errors import ChronicleError, UsageError

from . import colors

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EXIT_CODES",
    "EXIT_INTERRUPTED",
    "Command",
    "Output",
    "Parser",
    "exit_code",
    "run_main",
]


#: Exit status per error category (CONTRACT section 4).
EXIT_CODES: Mapping[str, int] = {
    "runtime": 1,
    "usage": 2,
    "source": 10,
    "decode": 11,
    "verify": 12,
    "policy": 13,
    "limit": 14,
    "replay": 15,
    "internal": 70,
}
EXIT_INTERRUPTED = 130

#: A command: the parsed arguments and the output channel in, the exit status out.
Command = Callable[[argparse.Namespace, "Output"], int]


def exit_code(error: ChronicleError) -> int:
    """The exit status of an error: its category's code, 70 for an unknown category."""
    return EXIT_CODES.get(error.category, 70)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are `usage.arguments` ChronicleErrors instead of a print and exit(2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError("usage.arguments", f"{self.prog}: {message}", usage=self.format_usage().strip())

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse makes a formatter for every add_argument (to check its metavar), and the formatter's
        # default width asks shutil for the terminal size: importing shutil (bz2, lzma, fnmatch) cost a
        # small run ~4 ms.  The same width, asked of os directly (as shutil.get_terminal_size does).
        make: Callable[..., argparse.HelpFormatter] = self.formatter_class  # every HelpFormatter takes a width
        return make(prog=self.prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """The terminal's width as `shutil.get_terminal_size().columns` gives it: $COLUMNS, the tty's, or 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


class Output:
    """Where a command's results go: one JSON object on stdout (`--json`), or rich text for people.

    Plugin log lines go to stderr under `--json` (stdout stays one object)
    and to stdout otherwise.  Colour only when the stream is a terminal.
    """

    def __init__(self, json_mode: bool, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> None:
        self.json = json_mode
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self._console: Console | None = None
        self._err_console: Console | None = None
        self.emitted = False
        #: `--source DIR`: the only folder a runtime error's source line may be quoted from (chronicle_cli.sources).
        self.source_dir: str | None = None

    # -- rich consoles, created on first use ------------------------------------------------------------------

    def console(self) -> Console:
        if self._console is None:
            self._console = _make_console(self.stdout)
        return self._console

    def err_console(self) -> Console:
        if self._err_console is None:
            self._err_console = _make_console(self.stderr)
        return self._err_console

    # -- results ---------------------------------------------------------------------------------------------

    def ok(self, payload: Mapping[str, Any], human: Callable[[Console], None] | None = None) -> None:
        """Report success: `{"status": "ok", **payload}` under --json, else `human(console)`."""
        if self.json:
            self._write_json({"status": "ok", **payload})
        elif human is not None:
            # Human renderers print strings a plugin or a file chose: callers pass them through `cleaned`.
            human(self.console())
        self.emitted = True

    def error(self, error: ChronicleError, extra: Mapping[str, Any] | None = None) -> int:
        """Report a failure and give its exit status."""
        from .stacks import bounded_stack

        return self.error_dict(error.category, bounded_stack(error.to_dict()), extra, error)

    def error_dict(
        self,
        category: str,
        error: Mapping[str, Any],
        extra: Mapping[str, Any] | None = None,
        original: ChronicleError | None = None,
    ) -> int:
        code = EXIT_CODES.get(category, 70)
        if self.json:
            payload: dict[str, Any] = {"status": "error", "error": _json_safe(dict(error))}
            if extra:
                payload.update(_json_safe(dict(extra)))
            self._write_json(payload)
        else:
            from .render import render_error

            render_error(self.err_console(), cleaned(dict(error)), original, self.source_dir)
            if extra and isinstance(extra.get("trace"), str):
                self.err_console().print(f"trace written to {extra['trace']}", style="dim", markup=False)
        self.emitted = True
        return code

    def log(self, level: str, message: str) -> None:
        """A plugin's log line, printed as it happens, its control characters made visible."""
        message = visible(message)
        stream = self.stderr if self.json else self.stdout
        if not self.json and colors.enabled(stream):
            colour = {"info": "36", "warn": "33", "error": "31"}.get(level, "0")
            stream.write(f"\x1b[{colour}m[{level}]\x1b[0m {message}\n")
        else:
            stream.write(f"[{level}] {message}\n")
        stream.flush()

    def _write_json(self, payload: Mapping[str, Any]) -> None:
        import json  # here: a run printed for people never loads it (start-up)

        text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
        try:
            self.stdout.write(text + "\n")
        except UnicodeEncodeError:
            # A lone surrogate in some detail, or a stream that is not UTF-8: ASCII escapes always print.
            self.stdout.write(json.dumps(payload, ensure_ascii=True, sort_keys=True) + "\n")
        self.stdout.flush()


_CONTROL = {code: f"\\x{code:02x}" for code in [*range(0x20), *range(0x7F, 0xA0)] if code != 0x09}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r"})
# Bidirectional overrides and isolates reorder what a terminal shows ("Trojan Source"): shown as escapes too.
_CONTROL.update({code: f"\\u{code:04x}" for code in (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
# The Arabic letter mark reorders too; the line and paragraph separators break lines on some terminals.
_CONTROL.update({code: f"\\u{code:04x}" for code in (0x061C, 0x2028, 0x2029)})
_CONTROL_KEEP_NEWLINES = {code: text for code, text in _CONTROL.items() if code != 0x0A}


def visible(text: str, keep_newlines: bool = False) -> str:
    """`text` with control characters escaped, so a plugin cannot move the cursor, recolour or hide lines."""
    if text.isprintable():
        return text
    return text.translate(_CONTROL_KEEP_NEWLINES if keep_newlines else _CONTROL)


def cleaned(value: Any) -> Any:
    """A JSON-safe value with every string made `visible` (newlines kept), for printing to people."""
    if isinstance(value, str):
        return visible(value, keep_newlines=True)
    if isinstance(value, Mapping):
        return {cleaned(key): cleaned(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [cleaned(item) for item in value]
    return value


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _make_console(stream: IO[str]) -> Console:
    from rich.console import Console

    tty = _is_tty(stream)
    styled = colors.enabled(stream)
    # Off a terminal rich would otherwise wrap at 80 columns; keep whole lines for pipes and logs.
    # Without styles there is no colour system at all: no colour, and no bold or dim either (NO_COLOR).
    return Console(
        file=stream,
        force_terminal=styled,
        color_system=("auto" if tty else "standard") if styled else None,
        no_color=not styled,
        highlight=False,
        soft_wrap=not tty,
        width=None if tty else 200,
    )


def _json_safe(value: Any) -> Any:
    """Details as JSON can hold them: tuples as lists, unknown objects as their text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return str(value)


def _freeze_heap_at_exit() -> None:
    """At interpreter exit, move every live object to the collector's permanent generation.

    CPython's finalization runs full collections over the whole heap; for a command, that is every module,
    class and function it imported (~100,000 objects), and those passes cost a small run 4 ms after its
    output was written.  Frozen objects are not examined: what still lives at exit is freed with the
    process, as CPython already leaves it to do ("__del__ is not guaranteed to be called for objects that
    still exist when the interpreter exits").  Registered by the first command a process runs, so it runs
    before any exit handler registered earlier; a process that calls `run_main` and goes on is unaffected
    until it exits.
    """
    gc.freeze()


_EXIT_HANDLER: list[bool] = []


def run_main(build: Callable[[], Parser], argv: Sequence[str] | None) -> int:
    """Parse `argv` with the parser `build()` gives, run the chosen command, and give the exit status."""
    if not _EXIT_HANDLER:
        atexit.register(_freeze_heap_at_exit)
        _EXIT_HANDLER.append(True)
    args = list(sys.argv[1:] if argv is None else argv)
    colors.set_mode(colors.color_mode_from_args(args))
    out = Output("--json" in args)
    try:
        parser = build()
        namespace = _parse(parser, args, out)
        out.json = out.json or bool(getattr(namespace, "json", False))
        out.source_dir = getattr(namespace, "source_dir", None)
        command: Command | None = getattr(namespace, "command_func", None)
        if command is None:
            parser.print_help(out.stdout)
            return EXIT_CODES["usage"]
        return command(namespace, out)
    except KeyboardInterrupt:
        _interrupted(out)
        return EXIT_INTERRUPTED
    except ChronicleError as error:
        return _report_or_code(out, error)
    except SystemExit as stop:  # argparse's --help and --version
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_CODES["usage"])
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more can be said on stdout.
        _silence_stdout()
        return 0
    except Exception as exc:  # the top of the program: every bug ends as an internal error, not a traceback
        if os.environ.get("CHRONICLE_DEBUG"):
            import traceback

            traceback.print_exc()
        internal = ChronicleError(
            "internal.unexpected",
            f"unexpected {type(exc).__name__}: {exc} (a bug in ChronicleVM; set CHRONICLE_DEBUG=1 for the traceback)",
            exception=type(exc).__name__,
        )
        return _report_or_code(out, internal)


def _parse(parser: Parser, args: list[str], out: Output) -> argparse.Namespace:
    """`parser.parse_args`; under --json, what --help or --version prints becomes the JSON object's `text`."""
    if not out.json:
        return parser.parse_args(args)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            return parser.parse_args(args)
    except SystemExit as stop:
        if stop.code in (0, None):
            out.ok({"text": printed.getvalue()})
        raise


def _report_or_code(out: Output, error: ChronicleError) -> int:
    try:
        return out.error(error)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return exit_code(error)
    except Exception:  # printing the error failed (a broken terminal): say it in the plainest way
        # If even this fails nothing more can be said; the exit status still tells.
        with contextlib.suppress(Exception):
            sys.stderr.write(ascii(f"error[{error.code}]: {error.message}") + "\n")
        return exit_code(error)


def _interrupted(out: Output) -> None:
    try:
        if out.json and not out.emitted:
            out.error_dict(
                "usage", {"category": "usage", "code": "usage.interrupted", "message": "interrupted (Ctrl-C)"}
            )
        else:
            out.stderr.write("interrupted\n")
    except Exception:  # the terminal may be gone while we are stopping
        pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
