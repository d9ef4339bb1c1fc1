"""The operator's side end to end: scoped grants, replay --policy, inspect summaries, diff exit codes, --color,
progress, policy suggest and the HTML report, each through real subprocesses."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ANSI = re.compile(r"\x1b\[[0-9;]*m")

SCOPED = """version = 1

[host]
kv_path = "scoped-kv.sqlite"

[capabilities."log.info"]
allow = true
[capabilities."clock.now"]
allow = true
[capabilities."random.int"]
allow = true
[capabilities."random.int".args.lo]
min = 1
max = 1
[capabilities."kv.get"]
allow = true
[capabilities."kv.get".args.key]
prefix = "visits:"
max_len = 12
[capabilities."kv.set"]
allow = true
"""


@pytest.fixture(scope="module")
def scoped(cli: Any, workdir: Path) -> Path:
    (workdir / "scoped.toml").write_text(SCOPED, encoding="utf-8")
    return workdir


def run_env(cli_command: Callable[..., list[str]], cwd: Path, env: dict[str, str], *args: str) -> Any:
    return subprocess.run(cli_command(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False)


# --- scoped grants -------------------------------------------------------------------------------------------------


def test_a_call_outside_its_scope_exits_13_and_the_trace_records_the_rule(cli: Any, scoped: Path) -> None:
    negotiated = cli("chronicle-vm", "negotiate", "greet.cmod", "--policy", "scoped.toml", "--json")
    assert negotiated.returncode == 0, negotiated.stdout
    decisions = {d["name"]: d for d in negotiated.json()["negotiation"]["decisions"]}
    assert decisions["kv.get"]["args"] == [{"position": 0, "param": "key", "prefix": ["visits:"], "max_len": 12}]
    assert 'only key: prefix "visits:", max_len 12' in decisions["kv.get"]["reason"]

    within = cli("chronicle-vm", "trace", "greet.cmod", "--policy", "scoped.toml", "--arg", "zoe", "-o", "in.json")
    assert within.returncode == 0, within.stderr
    refused = cli(
        "chronicle-vm", "trace", "greet.cmod", "--policy", "scoped.toml", "--arg", "bartholomew", "-o", "out.json",
        "--json",
    )  # fmt: skip
    assert refused.returncode == 13
    error = refused.json()["error"]
    assert (error["code"], error["check"], error["param"]) == ("policy.scope", "max_len", "key")
    assert error["location"]["line"] == 10
    doc = json.loads((scoped / "out.json").read_bytes())
    (event,) = doc["events"]
    assert event["error"]["rule"]["check"] == "max_len"
    assert event["args"] == ["visits:bartholomew"]

    for trace in ("in.json", "out.json"):
        replayed = cli("chronicle-vm", "replay", trace, "--module", "greet.cmod", "--policy", "scoped.toml", "--json")
        assert replayed.returncode == 0, replayed.stdout
    other = cli("chronicle-vm", "replay", "out.json", "--module", "greet.cmod", "--policy", "greet.toml", "--json")
    assert other.returncode == 15
    assert other.json()["error"]["code"] == "replay.policy-digest"


def test_replay_policy_refuses_a_forged_decision(cli: Any, scoped: Path) -> None:
    doc = json.loads((scoped / "in.json").read_bytes())
    doc["provenance"]["capabilities"][3]["args"][0]["prefix"] = ["v"]  # widen the recorded scope of kv.get
    (scoped / "forged.json").write_text(json.dumps(doc), encoding="utf-8")
    plain = cli("chronicle-vm", "replay", "forged.json", "--module", "greet.cmod")
    assert plain.returncode == 0, plain.stderr  # without the policy, nothing says the record was widened
    checked = cli(
        "chronicle-vm", "replay", "forged.json", "--module", "greet.cmod", "--policy", "scoped.toml", "--json"
    )
    assert checked.returncode == 15
    assert checked.json()["error"]["code"] == "replay.policy-decision"


def scoped_rule(capability: str, param: str, body: str) -> str:
    """A policy granting `capability` with one `args` rule (its header on line 4, its keys from line 5)."""
    return (
        f'version = 1\n[capabilities."{capability}"]\nallow = true\n[capabilities."{capability}".args.{param}]\n{body}'
    )


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        (scoped_rule("kv.get", "key", "one_of = []\n"), "scope-empty", 5),
        (scoped_rule("random.int", "lo", "min = 3\nmax = 2\n"), "scope-range", 5),
        (scoped_rule("random.int", "lo", 'prefix = "1"\n'), "scope-type", 4),
        (scoped_rule("kv.get", "name", 'prefix = "a"\n'), "scope-param", 4),
        ("version = 1\n\n[capabilities.log.info]\nallow = true\n", "cap-name", 3),
    ],
)
def test_bad_scopes_are_policy_errors_naming_their_line(
    cli: Any, workdir: Path, text: str, code: str, line: int
) -> None:
    (workdir / "bad-scope.toml").write_text(text, encoding="utf-8")
    result = cli("chronicle-vm", "negotiate", "greet.cmod", "--policy", "bad-scope.toml", "--json")
    assert result.returncode == 13
    error = result.json()["error"]
    assert (error["code"], error["line"]) == (f"policy.{code}", line)
    if code == "cap-name":
        assert '[capabilities."log.info"]' in error["hint"]
    human = cli("chronicle-vm", "negotiate", "greet.cmod", "--policy", "bad-scope.toml")
    assert f"bad-scope.toml:{line}:" in human.stderr


# --- inspect, diff ---------------------------------------------------------------------------------------------------


def test_inspect_summary_and_filters(cli: Any, scoped: Path) -> None:
    summary = cli("chronicle-vm", "inspect", "in.json", "--summary", "--json").json()["summary"]
    assert [row["capability"] for row in summary["capabilities"]] == [
        "kv.get",
        "kv.set",
        "random.int",
        "clock.now",
        "log.info",
    ]
    assert all(row["calls"] == 1 and row["errors"] == 0 for row in summary["capabilities"])
    first = summary["capabilities"][0]
    assert first["first_instruction"] == first["last_instruction"] > 0
    assert (summary["status"], summary["end"], summary["events"]) == ("returned", "returned", 5)
    refused = cli("chronicle-vm", "inspect", "out.json", "--summary", "--json").json()["summary"]
    assert (refused["end"], refused["error"]["code"], refused["capabilities"][0]["errors"]) == (
        "capability-error",
        "policy.scope",
        1,
    )
    human = cli("chronicle-vm", "inspect", "in.json", "--summary")
    assert "kv.get" in human.stdout and "outcome: returned 1" in human.stdout

    only = cli("chronicle-vm", "inspect", "in.json", "--capability", "kv.set", "--capability", "log.info", "--json")
    assert [e["capability"] for e in only.json()["trace"]["events"]] == ["kv.set", "log.info"]
    ranged = cli("chronicle-vm", "inspect", "in.json", "--events", "1..3", "--json").json()
    assert [e["seq"] for e in ranged["trace"]["events"]] == [1, 2]
    assert ranged["selection"]["total"] == 5
    assert cli("chronicle-vm", "inspect", "in.json", "--events", "3..1").returncode == 2
    assert cli("chronicle-vm", "inspect", "in.json", "--events", "x").returncode == 2


def test_diff_exits_1_on_a_difference_and_names_provenance_first(cli: Any, scoped: Path) -> None:
    same = cli("chronicle-vm", "diff", "in.json", "in.json")
    assert same.returncode == 0 and "agree" in same.stdout
    # the same run under two policies: the first difference is the policy digest, not the events after it
    cli("chronicle-vm", "trace", "greet.cmod", "--policy", "greet.toml", "--arg", "zoe", "-o", "plain.json")
    differ = cli("chronicle-vm", "diff", "in.json", "plain.json", "--json")
    assert differ.returncode == 1
    result = differ.json()["diff"]
    assert result["where"] == "provenance"
    assert "policy_sha256" in result["fields"]
    entry = cli("chronicle-vm", "trace", "greet.cmod", "--policy", "scoped.toml", "--arg", "amy", "-o", "amy.json")
    assert entry.returncode == 0
    assert cli("chronicle-vm", "diff", "in.json", "amy.json", "--json").json()["diff"]["where"] == "entry"
    assert cli("chronicle-vm", "diff", "in.json", "missing.json").returncode == 2


# --- colour and progress ---------------------------------------------------------------------------------------------


def test_color_flags_and_environment(
    cli_command: Callable[..., list[str]], scoped: Path, cli_env: dict[str, str]
) -> None:
    env = {key: value for key, value in cli_env.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    verify = ("chronicle-vm", "verify", "greet.cmod")
    assert not ANSI.search(run_env(cli_command, scoped, env, *verify).stdout)  # a pipe: no styles by default
    assert ANSI.search(run_env(cli_command, scoped, env, *verify, "--color", "always").stdout)
    assert ANSI.search(
        run_env(cli_command, scoped, env, "chronicle-vm", "--color=always", "verify", "greet.cmod").stdout
    )
    assert ANSI.search(run_env(cli_command, scoped, {**env, "FORCE_COLOR": "1"}, *verify).stdout)
    assert not ANSI.search(
        run_env(cli_command, scoped, {**env, "FORCE_COLOR": "1"}, *verify, "--color", "never").stdout
    )
    # NO_COLOR: no escape at all, bold and dim included (rich's no_color alone keeps them)
    no_color = run_env(cli_command, scoped, {**env, "NO_COLOR": "1", "FORCE_COLOR": "1"}, *verify)
    assert "\x1b" not in no_color.stdout and "verified" in no_color.stdout
    assert ANSI.search(run_env(cli_command, scoped, {**env, "NO_COLOR": "1"}, *verify, "--color", "always").stdout)
    run = run_env(
        cli_command, scoped, env, "chronicle-vm", "run", "pure.cmod", "--arg", "2", "--arg", "3", "--color", "always"
    )
    assert ANSI.search(run.stdout), run.stderr
    errors = run_env(cli_command, scoped, env, "chronicle-vm", "verify", "nope.cmod", "--color", "always")
    assert errors.returncode == 2 and ANSI.search(errors.stderr)
    for script, args in (("chronc", ("greet.chr", "-o", "c.cmod")), ("chrasm", ("pure.casm", "-o", "p.cmod"))):
        assert run_env(cli_command, scoped, env, script, *args, "--color", "never").returncode == 0
    bad = run_env(cli_command, scoped, env, *verify, "--color", "sometimes")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_progress_is_shown_on_long_replays_only(
    cli_command: Callable[..., list[str]], scoped: Path, cli_env: dict[str, str]
) -> None:
    args = ("chronicle-vm", "replay", "in.json", "--module", "greet.cmod")
    forced = run_env(
        cli_command, scoped, {**cli_env, "CHRONICLE_PROGRESS": "always", "CHRONICLE_PROGRESS_DELAY": "0"}, *args
    )
    assert forced.returncode == 0 and "in.json" in forced.stderr
    quick = run_env(cli_command, scoped, {**cli_env, "CHRONICLE_PROGRESS": "always"}, *args)  # done within the second
    assert quick.returncode == 0 and quick.stderr == ""
    json_mode = run_env(
        cli_command,
        scoped,
        {**cli_env, "CHRONICLE_PROGRESS": "always", "CHRONICLE_PROGRESS_DELAY": "0"},
        *args,
        "--json",
    )
    assert json_mode.stderr == ""


# --- policy suggest ---------------------------------------------------------------------------------------------------


def test_policy_suggest_writes_a_policy_the_traces_run_under(cli: Any, scoped: Path) -> None:
    for name in ("amy", "bob", "cy"):
        done = cli(
            "chronicle-vm", "trace", "greet.cmod", "--policy", "scoped.toml", "--arg", name, "-o", f"s-{name}.json"
        )
        assert done.returncode == 0, done.stderr
    result = cli(
        "chronicle-vm", "policy", "suggest", "s-amy.json", "s-bob.json", "s-cy.json", "-o", "suggested.toml", "--json"
    )
    assert result.returncode == 0, result.stdout
    text = (scoped / "suggested.toml").read_text(encoding="utf-8")
    assert text == result.json()["policy"]
    assert '[capabilities."kv.get".args.1]' in text and 'prefix = "visits:"' in text
    assert "one_of = [1]" in text and "one_of = [6]" in text  # random.int(1, 6) three times
    assert all("#" in line for line in text.splitlines() if "=" in line and line != "version = 1")
    caps = result.json()["suggestion"]["capabilities"]
    assert caps["kv.get"]["max_calls"] == 1
    (scoped / "suggested-kv.toml").write_text(text + '\n[host]\nkv_path = "suggested-kv.sqlite"\n', encoding="utf-8")
    again = cli("chronicle-vm", "trace", "greet.cmod", "--policy", "suggested-kv.toml", "--arg", "amy", "-o", "s2.json")
    assert again.returncode == 0, again.stderr
    printed = cli("chronicle-vm", "policy", "suggest", "s-amy.json", "--margin", "3")
    assert printed.stdout.startswith("# Suggested by") and "max_calls = 3" in printed.stdout


def test_policy_suggest_bad_input(cli: Any, scoped: Path) -> None:
    cli("chronicle-vm", "inspect", "in.json", "--slice", "0..2", "-o", "cut.json")
    sliced = cli("chronicle-vm", "policy", "suggest", "in.json", "cut.json", "--json")
    assert (sliced.returncode, sliced.json()["error"]["code"]) == (15, "replay.sliced")
    assert "cut.json" in sliced.json()["error"]["message"]
    (scoped / "junk.json").write_text("{not json", encoding="utf-8")
    junk = cli("chronicle-vm", "policy", "suggest", "in.json", "junk.json", "--json")
    assert (junk.returncode, junk.json()["error"]["code"]) == (15, "replay.malformed-json")
    assert cli("chronicle-vm", "policy", "suggest", "in.json", "--margin", "0.5").returncode == 2
    assert cli("chronicle-vm", "policy", "suggest").returncode == 2
    assert cli("chronicle-vm", "policy").returncode == 2
    # traces of two modules: one policy for both
    cli("chronicle-vm", "trace", "pure.cmod", "--arg", "2", "--arg", "3", "-o", "pure.json")
    both = cli("chronicle-vm", "policy", "suggest", "in.json", "pure.json", "--json")
    assert both.returncode == 0 and len(both.json()["suggestion"]["modules"]) == 2
    # one capability under two signatures cannot be served by one policy
    doc = json.loads((scoped / "in.json").read_bytes())
    doc["provenance"]["module_sha256"] = "0" * 64
    doc["provenance"]["capabilities"][3]["signature"] = "(int) -> str"
    (scoped / "clash.json").write_text(json.dumps(doc), encoding="utf-8")
    clash = cli("chronicle-vm", "policy", "suggest", "in.json", "clash.json", "--json")
    assert (clash.returncode, clash.json()["error"]["code"]) == (2, "usage.suggest-conflict")


# --- the report -------------------------------------------------------------------------------------------------

#: Every tag the report may hold: no script, iframe, img, link, object, form.
SAFE_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "p", "main", "section", "table",
             "tr", "th", "td", "code", "span", "pre", "svg", "text", "rect"}  # fmt: skip


def parsed_tags(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """Every start tag of the page with its attributes, as a browser's tokenizer reads them."""
    from html.parser import HTMLParser

    found: list[tuple[str, list[tuple[str, str | None]]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, attrs))

    Collect().feed(page)
    return found


HOSTILE = """cap log.info(msg: str);
cap kv.get(key: str) -> str;

pub fn main(name: str) -> int {
    log.info("</td></tr></table><script>alert(1)</script><img src=x onerror=alert(2)>");
    let v = kv.get("<b onmouseover=alert(3)>" + name);
    return len(v);
}
"""


def test_report_is_self_contained_and_escapes_every_plugin_string(cli: Any, workdir: Path) -> None:
    (workdir / "hostile.chr").write_text(HOSTILE, encoding="utf-8")
    (workdir / "hostile.toml").write_text(
        'version = 1\n[host]\nkv_path = "hostile.sqlite"\n[capabilities."log.info"]\nallow = true\n'
        '[capabilities."kv.get"]\nallow = true\n',
        encoding="utf-8",
    )
    assert cli("chronc", "hostile.chr").returncode == 0
    traced = cli(
        "chronicle-vm", "trace", "hostile.cmod", "--policy", "hostile.toml", "--arg", '"><script>alert(4)</script>',
        "-o", "hostile.json",
    )  # fmt: skip
    assert traced.returncode == 0, traced.stderr
    made = cli(
        "chronicle-vm", "report", "hostile.json", "--module", "hostile.cmod", "--source", "hostile.chr",
        "-o", "hostile.html", "--json",
    )  # fmt: skip
    assert made.returncode == 0, made.stdout
    page = (workdir / "hostile.html").read_text(encoding="utf-8")
    tags = parsed_tags(page)
    assert {tag for tag, _ in tags} <= SAFE_TAGS, {tag for tag, _ in tags} - SAFE_TAGS
    attributes = {name for _, attrs in tags for name, _ in attrs}
    assert not {name for name in attributes if name.startswith("on") or name in ("src", "href", "srcset", "action")}
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the plugin's text is shown, as text
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in page
    assert "&lt;b onmouseover=alert(3)&gt;" in page
    # self-contained: nothing fetched from anywhere, and a CSP that forbids it anyway
    assert "url(" not in page and "@import" not in page
    assert "default-src 'none'" in page
    for heading in ("Outcome", "Capability calls by instruction count", "Calls per capability", "Provenance",
                    "Plugin source", "Events"):  # fmt: skip
        assert f"<h2>{heading}</h2>" in page
    assert page.count('class="line hit"') == 2  # the two source lines that made calls
    unsourced = cli("chronicle-vm", "report", "hostile.json", "--module", "hostile.cmod", "-o", "nosrc.html")
    assert unsourced.returncode == 0, unsourced.stderr
    page = (workdir / "nosrc.html").read_text(encoding="utf-8")
    assert "source map names <code>hostile.chr</code>" in page and 'class="line' not in page
    wrong = cli("chronicle-vm", "report", "hostile.json", "--module", "greet.cmod", "-o", "x.html")
    assert wrong.returncode == 15
    assert cli("chronicle-vm", "report", "missing.json", "-o", "x.html").returncode == 2
