"""A linear pre-scan of policy TOML: takes the text, refuses keys longer or deeper than a bound before tomllib runs.

tomllib is quadratic in the number of parts of one dotted key (a 200 KB
policy with one 100,000-part key took 35-45 s and then a MemoryError), so
the policy loader runs this scan first.  It walks the text once, skipping
strings (basic, literal, multi-line) and comments, and measures every run
of bare words and quoted strings joined by dots: a key is such a run (in a
table header, before `=`, inside an inline table), and no value has more
than a couple of dotted parts, so the bounds need no TOML grammar.  The
scan validates nothing else: whatever it lets through, tomllib checks.
"""

from __future__ import annotations

from chronicle_vm.errors import PolicyError, declare_codes

__all__ = ["MAX_KEY_CHARS", "MAX_KEY_PARTS", "check_key_bounds"]

declare_codes(
    "policy",
    {
        "key-too-deep": "a TOML key has more dotted parts than MAX_KEY_PARTS (16); refused before parsing",
        "key-too-long": "a TOML key is longer than MAX_KEY_CHARS (1,024 characters); refused before parsing",
    },
)

#: The deepest key a policy may write (`capabilities."kv.get".max_calls` has 3 parts).
MAX_KEY_PARTS = 16
#: The longest key path, in characters of its TOML text (quotes and dots included).
MAX_KEY_CHARS = 1024

_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def check_key_bounds(text: str, source: str = "<policy>") -> None:
    """Raise `policy.key-too-deep` or `policy.key-too-long` for the first key over a bound; one pass over `text`."""
    # A key lies on one line, so short lines with few dots hold no key over a bound: the usual policy is
    # settled here in C-speed string methods, and only a suspicious one is walked character by character.
    lines = text.split("\n")
    if max(map(len, lines)) <= MAX_KEY_CHARS and max(line.count(".") for line in lines) < MAX_KEY_PARTS:
        return
    n = len(text)
    i = 0
    run_start = -1  # where the current run of dotted parts began, or -1
    parts = 0
    while i < n:
        ch = text[i]
        if ch in "\"'":
            if run_start < 0:
                run_start, parts = i, 1
            i = _string_end(text, i)
            _check(text, run_start, i, parts, source)
        elif ch in _BARE:
            if run_start < 0:
                run_start, parts = i, 1
            i += 1
        elif ch == "." and run_start >= 0:
            parts += 1
            _check(text, run_start, i, parts, source)
            i += 1
        elif ch in " \t":
            i += 1
        else:
            i = _end_run(text, i, run_start, parts, source)
            run_start, parts = -1, 0


def _end_run(text: str, i: int, run_start: int, parts: int, source: str) -> int:
    """Any other character ends the current run (checked as a key when it ends in `=`); gives the next index."""
    ch = text[i]
    if ch == "=" and run_start >= 0:
        end = i
        while text[end - 1] in " \t":
            end -= 1
        _check(text, run_start, end, max(parts, 2), source)  # a run that ends in `=` is a key, of any parts
    if ch == "#":
        newline = text.find("\n", i)
        i = len(text) if newline < 0 else newline
    return i + 1


def _check(text: str, start: int, end: int, parts: int, source: str) -> None:
    """A run of key parts has grown (or ended in `=`): refuse it once it is deeper or longer than a key may be.

    Every run of bare words and strings joined by dots is checked, key or
    value: a value never has more than a couple of dotted parts (a float, a
    date), and a string value is one part, checked for length only when it
    ends in `=` (then it is a key) or is joined by a dot (only keys are)."""
    if parts > MAX_KEY_PARTS:
        line = text.count("\n", 0, start) + 1
        raise PolicyError(
            "policy.key-too-deep",
            f"{source}:{line}: a key with more than {MAX_KEY_PARTS} dotted parts; refused before parsing",
            source=source,
            key=None,
            line=line,
        )
    if parts > 1 and end - start > MAX_KEY_CHARS:
        line = text.count("\n", 0, start) + 1
        raise PolicyError(
            "policy.key-too-long",
            f"{source}:{line}: a key longer than {MAX_KEY_CHARS:,} characters; refused before parsing",
            source=source,
            key=None,
            line=line,
        )


def _string_end(text: str, i: int) -> int:
    """The index just past the string that opens at `i` (an unterminated one runs to the end of the line or text)."""
    quote = text[i]
    if text.startswith(quote * 3, i):
        close = text.find(quote * 3, i + 3)
        if close < 0:
            return len(text)
        end = close + 3
        while end < len(text) and text[end] == quote:  # up to two quotes may end the content: """a"""""
            end += 1
        return end
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\" and quote == '"':
            j += 2
            continue
        if c == quote:
            return j + 1
        if c == "\n":
            return j
        j += 1
    return n
