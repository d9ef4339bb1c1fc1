"""The top of every script in process: exit codes per category, --json shapes, Ctrl-C, internal errors."""

from __future__ import annotations

import io
import json
import sys
from typing import Any

import pytest

from chronicle_cli import common, vm
from chronicle_cli.common import EXIT_CODES, Output, Parser, run_main
from chronicle_vm.errors import (
    ChronicleError,
    DecodeError,
    ExecutionError,
    PolicyError,
    ReplayError,
    ResourceLimitError,
    SourceError,
    UsageError,
    VerifyError,
)


def test_every_category_has_its_contract_exit_code() -> None:
    classes: list[type[ChronicleError]] = [
        ExecutionError,
        UsageError,
        SourceError,
        DecodeError,
        VerifyError,
        PolicyError,
        ResourceLimitError,
        ReplayError,
    ]
    assert {cls.category: EXIT_CODES[cls.category] for cls in classes} == {
        "runtime": 1,
        "usage": 2,
        "source": 10,
        "decode": 11,
        "verify": 12,
        "policy": 13,
        "limit": 14,
        "replay": 15,
    }
    assert EXIT_CODES["internal"] == 70


def _run(build: Any, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    code = run_main(build, argv)
    return code, stdout.getvalue(), stderr.getvalue()


def _parser_with(action: Any) -> Any:
    def build() -> Parser:
        parser = Parser(prog="t")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(command_func=lambda ns, out: action())
        return parser

    return build


def test_an_unexpected_exception_is_exit_70_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> int:
        raise KeyError("surprise")

    code, out, err = _run(_parser_with(boom), ["--json"], monkeypatch)
    assert code == 70
    payload = json.loads(out)
    assert payload["status"] == "error"
    assert payload["error"]["code"] == "internal.unexpected"
    assert "KeyError" in payload["error"]["message"]
    assert err == ""


def test_ctrl_c_is_exit_130(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    code, out, err = _run(_parser_with(interrupted), [], monkeypatch)
    assert code == 130
    assert out == ""
    assert err == "interrupted\n"


def test_argument_errors_are_usage_errors_in_json(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(vm.build_parser, ["run", "--json"], monkeypatch)
    assert code == 2
    error = json.loads(out)["error"]
    assert error["category"] == "usage"
    assert error["code"] == "usage.arguments"
    assert "MOD.cmod" in error["message"]


def test_json_before_the_command_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(vm.build_parser, ["--json", "verify", "/nonexistent/x.cmod"], monkeypatch)
    assert code == 2
    assert json.loads(out)["error"]["code"] == "usage.unreadable-file"


def test_logs_go_to_stderr_under_json_and_stdout_otherwise() -> None:
    out, err = io.StringIO(), io.StringIO()
    Output(True, out, err).log("info", "hi")
    assert (out.getvalue(), err.getvalue()) == ("", "[info] hi\n")
    out, err = io.StringIO(), io.StringIO()
    Output(False, out, err).log("warn", "careful")
    assert (out.getvalue(), err.getvalue()) == ("[warn] careful\n", "")


def test_plugin_text_cannot_drive_the_terminal() -> None:
    out, err = io.StringIO(), io.StringIO()
    Output(False, out, err).log("info", "\x1b[2J\x1b[31mred\rover\x07\x9b")
    assert out.getvalue() == "[info] \\x1b[2J\\x1b[31mred\\rover\\x07\\x9b\n"
    assert common.visible("tab\tok, line\nbreak") == "tab\tok, line\\nbreak"
    assert common.cleaned({"m": ["a\x1bb", "two\nlines"], "n": 3}) == {"m": ["a\\x1bb", "two\nlines"], "n": 3}


def test_json_output_survives_a_lone_surrogate_in_a_detail() -> None:
    class Ascii(io.StringIO):
        def write(self, text: str) -> int:
            text.encode("utf-8")  # a lone surrogate cannot be written to a UTF-8 stream
            return super().write(text)

    out = Ascii()
    code = Output(True, out, io.StringIO()).error(UsageError("usage.arguments", "bad \udc80 byte"))
    assert code == 2
    assert json.loads(out.getvalue())["error"]["message"] == "bad \udc80 byte"


def test_bidirectional_overrides_are_shown_not_obeyed() -> None:
    assert common.visible("abc\u202edef\u2066x") == "abc\\u202edef\\u2066x"
    assert common.visible("plain ünïcödé ✓") == "plain ünïcödé ✓"


def test_help_and_version_under_json_are_one_json_object(monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = _run(vm.build_parser, ["--json", "--version"], monkeypatch)
    assert code == 0
    assert json.loads(out) == {"status": "ok", "text": "chronicle-vm 0.1.0\n"}
    code, out, _ = _run(vm.build_parser, ["run", "--help", "--json"], monkeypatch)
    assert code == 0
    assert "--max-instructions N" in json.loads(out)["text"]
