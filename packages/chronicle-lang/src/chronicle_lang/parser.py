"""The `.chr` parser: takes source text, gives a `Program` syntax tree or records syntax diagnostics.

Lark's LALR parser runs on the grammar shipped as `grammar.lark`.  Lark
exceptions never escape: they become diagnostics with what was expected and
what was found, and a hint for habits from other languages (`hints.py`).
After a syntax error the file is cut into top-level items (`cap`, `fn`,
`pub fn`) and each is parsed alone, so every broken function reports its
first error and one mistake does not cascade; the items that parsed are
then given back as a `Program` (the broken ones blanked out, a parsed header
kept), so the type checker still reports their errors.  Nesting deeper than
`MAX_DEPTH` tree levels is refused before any recursive walk.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from chronicle_asm.source import ESCAPE_HINT, parse_int_literal, unescape

from . import literals
from .diagnostics import Diagnostics
from .hints import compound_assignment_hint, syntax_word_hint, top_level_hint, unexpected_character_hint
from .syntax import (
    MAP_BASE,
    ArrayLit,
    Assign,
    Binary,
    Block,
    BoolLit,
    Break,
    Call,
    CapCall,
    CapDecl,
    ConstDecl,
    Continue,
    Expr,
    ExprStmt,
    Field,
    FieldDecl,
    FloatLit,
    FnDecl,
    ForEach,
    ForPair,
    ForRange,
    If,
    Index,
    IntLit,
    Let,
    MapLit,
    Name,
    Param,
    Program,
    Return,
    Span,
    StrLit,
    StructDecl,
    StructLit,
    TypeExpr,
    Unary,
    While,
)

__all__ = ["MAX_DEPTH", "parse_program"]

#: Deepest parse tree accepted (an `if` inside an `if` adds two levels, a binary operator one).
MAX_DEPTH = 400

_LOCK = threading.Lock()

_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "STRING": "a string",
    "FLOAT": "a float",
    "MLBRACE": "'{'",
    "SLBRACE": "'{'",
    "$END": "the end of the file",
}
_OPERATORS = {
    *("PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "EQ", "NE", "LT", "LE", "GT", "GE", "ANDAND", "OROR"),
    *("PIPE", "AMP", "CARET", "SHL", "SHR"),
}
_COMPARISONS = {"EQ", "NE", "LT", "LE", "GT", "GE"}
_EXPR_START = {"INT", "FLOAT", "NAME", "STRING", "LPAR", "LSQB", "MLBRACE", "MINUS", "BANG", "TILDE", "TRUE", "FALSE"}

#: Tokens after which a value starts: a '{' there opens a map literal (or a map type after ':' and '->').
_OPENS_VALUE = frozenset(
    {
        *("EQUAL", "LPAR", "LSQB", "COMMA", "COLON", "ARROW", "RETURN", "IN", "MLBRACE", "__ANON_0"),
        *("PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "EQ", "NE", "LT", "LE", "GT", "GE", "ANDAND", "OROR"),
        *("PIPE", "AMP", "CARET", "SHL", "SHR", "BANG", "TILDE"),
    }
)
#: Keywords whose header runs to the '{' of their block: there `Name {` opens the block, not a struct literal.
_HEADERS = frozenset({"IF", "WHILE", "FOR", "FN", "STRUCT"})
_OPENERS = frozenset({"LPAR", "LSQB", "LBRACE"})
_CLOSERS = frozenset({"RPAR", "RSQB", "RBRACE"})


class _Braces:
    """Lark post-lexer: tells the three meanings of '{' apart by the token before it (grammar.lark).

    After a token that a value follows (`=`, `(`, `,`, `:`, `->`, an operator, `return`, ...) it opens a map
    literal or type (MLBRACE).  After a name it opens a struct literal (SLBRACE), except in the header of an
    `if`, `while`, `for`, `fn` or `struct` outside any bracket, where it opens the block (so a struct literal
    in a header needs parentheses).  Anywhere else it opens a block (LBRACE).  Linear, no lookahead.
    """

    always_accept: tuple[str, ...] = ()

    def process(self, stream: Any) -> Any:
        depth = 0  # open brackets of any kind
        header: int | None = None  # the bracket depth of the header being read, if any
        previous = ""
        for token in stream:
            kind = token.type
            if kind in _HEADERS:
                header = depth
            elif kind == "LBRACE":
                if previous in _OPENS_VALUE:
                    token = Token.new_borrow_pos("MLBRACE", token.value, token)
                elif previous == "NAME" and header != depth:
                    token = Token.new_borrow_pos("SLBRACE", token.value, token)
                elif header == depth:
                    header = None
            if kind in _OPENERS:
                depth += 1
            elif kind in _CLOSERS:
                depth = max(0, depth - 1)
            elif kind == "SEMICOLON":
                header = None
            previous = token.type
            yield token


def _grammar() -> str:
    return resources.files("chronicle_lang").joinpath("grammar.lark").read_text(encoding="utf-8")


class _Nothing:
    """What the checking parser builds for every rule: no tree (an inlined `?rule` reads its `children`)."""

    __slots__ = ()
    children: tuple[()] = ()


_NOTHING = _Nothing()


def _nothing(_children: list[Any]) -> _Nothing:
    return _NOTHING


class _Discard:
    """Lark callbacks that build nothing: checking that an item parses then costs no tree (about a third less)."""

    __visit_tokens__ = False

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _nothing


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The parser for error reporting and for checking that an item parses: builds nothing."""
    return Lark(
        _grammar(),
        parser="lalr",
        lexer="basic",
        keep_all_tokens=True,
        maybe_placeholders=True,
        transformer=_Discard(),
        postlex=_Braces(),
    )


@lru_cache(maxsize=1)
def _building_parser() -> tuple[_Builder, Lark]:
    """The parser that builds syntax nodes; Lark binds its transformer once, so the builder is reused."""
    builder = _Builder()
    return builder, Lark(
        _grammar(),
        parser="lalr",
        lexer="basic",
        keep_all_tokens=True,
        maybe_placeholders=True,
        transformer=builder,
        postlex=_Braces(),
    )


@lru_cache(maxsize=1)
def _terminal_display() -> dict[str, str]:
    shown: dict[str, str] = dict(_TOKEN_NAMES)
    for term in _parser().terminals:
        if term.name not in shown and term.pattern.type == "str":
            shown[term.name] = f"'{term.pattern.value}'"
    return shown


def parse_program(text: str, diags: Diagnostics) -> Program | None:
    """The syntax tree of `text`, or None when nothing can be checked.

    After a syntax error (recorded in `diags`) the tree holds the items that
    parsed, so the type checker still reports their errors (see `_salvage`).
    """
    with _LOCK:
        builder, parser = _building_parser()
        builder.reset()
        program: Program | None
        try:
            program = parser.parse(text)  # type: ignore[assignment]  # the builder gives a Program
        except LarkError as err:
            builder.reset()
            before = len(diags.items) + diags.dropped
            broken = _report_by_item(text, diags)
            if len(diags.items) + diags.dropped == before:
                # Every item parses alone, so the error lies across items: report it as found.
                if isinstance(err, UnexpectedInput):
                    _report(err, text, 0, 0, diags)
                else:  # pragma: no cover - Lark raises UnexpectedInput for input errors
                    diags.error("syntax", "cannot parse this file", Span(1, 1, 1, 2))
                return None
            program = _salvage(text, broken, parser)
        problems, too_deep = builder.problems, builder.too_deep
        builder.reset()
    if too_deep is not None:
        diags.error(
            "too-deep",
            f"nesting deeper than {MAX_DEPTH} levels",
            too_deep,
            hint="split the expression or the nested blocks into functions",
        )
        return None
    for code, message, span, hint in problems:
        diags.error(code, message, span, hint=hint)
    assert program is None or isinstance(program, Program)
    return program


# --- syntax errors ---------------------------------------------------------

# A declaration keyword, or at a line's first column a word other languages start a declaration with.
_ITEM_SCAN = re.compile(
    r'"(?:[^"\\\n]|\\[^\n])*"?|//[^\n]*|[{}]|\b(?:pub|fn|cap)\b|^(?:const|struct|def|function|func)\b', re.MULTILINE
)
_FOREIGN_ITEM = frozenset({"const", "struct", "def", "function", "func"})


def _item_starts(text: str) -> list[int]:
    """Offsets where top-level items begin (a keyword at brace depth 0), always including 0."""
    starts = [0]
    depth = 0
    after_pub = False
    for m in _ITEM_SCAN.finditer(text):
        word = m.group()
        if word == "{":
            depth += 1
        elif word == "}":
            depth = max(0, depth - 1)
        elif word in _FOREIGN_ITEM or (
            word in ("pub", "fn", "cap") and (depth == 0 or _at_line_start(text, m.start()))
        ):
            # At a line's first column a declaration starts an item even inside an unclosed '{':
            # a missing '}' then breaks one function, not every function after it.
            depth = 0
            if not (word == "fn" and after_pub) and m.start() > starts[-1]:
                starts.append(m.start())
            after_pub = word == "pub"
            continue
        after_pub = False
    return starts


def _at_line_start(text: str, offset: int) -> bool:
    return offset == 0 or text[offset - 1] == "\n"


def _report_by_item(text: str, diags: Diagnostics) -> list[tuple[int, int]]:
    """Parse each top-level item alone and report its first error; give the (start, end) of each broken item."""
    broken: list[tuple[int, int]] = []
    starts = _item_starts(text)
    bounds = [*starts[1:], len(text)]
    line = 1
    line_start = 0
    position = 0
    parser = _parser()
    for start, end in zip(starts, bounds, strict=True):
        # Advance the line count incrementally so the whole scan stays linear.
        line += text.count("\n", position, start)
        last_nl = text.rfind("\n", 0, start)
        line_start = last_nl + 1
        position = start
        chunk = text[start:end]
        try:
            parser.parse(chunk)
        except UnexpectedInput as err:
            broken.append((start, end))
            _report(err, chunk, line - 1, start - line_start, diags, at_end=None if end == len(text) else text[end:])
        except LarkError as err:  # pragma: no cover - Lark raises UnexpectedInput for input errors
            broken.append((start, end))
            diags.error("syntax", f"cannot parse: {err}", Span(line, 1, line, 2))
    return broken


# --- recovery --------------------------------------------------------------

_BLANK = re.compile(r"[^\n]")
_DECLARED_NAME = re.compile(
    r"\s*(?:pub\s+)?(?:fn|cap|const|struct|def|function|func)\s+([A-Za-z_][A-Za-z0-9_]*(?:\s*\.\s*[A-Za-z_][A-Za-z0-9_]*)*)"
)
# Any declaration inside a broken item (a missing '}' swallows the items after it).
_INNER_DECLARATION = re.compile(r"\b(?:fn|cap)\s+([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")
#: How many '{' of a broken function are tried as the start of its body (a header has none today, a map type one).
_HEADER_TRIES = 4


def _blank(chunk: str) -> str:
    """`chunk` with every character but line breaks turned into a space: positions after it do not move."""
    return _BLANK.sub(" ", chunk)


def _header_only(chunk: str) -> str | None:
    """A broken function item rewritten to its header and an empty body, same length, if its header parses."""
    parser = _parser()
    if not re.match(r"\s*(pub\s+)?fn\b", chunk):
        return None
    for tried, m in enumerate(re.finditer(r"\{", chunk)):
        if tried == _HEADER_TRIES:
            break
        body = m.start()
        rest = _blank(chunk[body + 1 :])
        space = rest.find(" ")
        if space < 0:
            return None  # no room for the closing brace without moving a line break
        candidate = chunk[: body + 1] + rest[:space] + "}" + rest[space + 1 :]
        try:
            parser.parse(candidate)
        except LarkError:
            continue
        return candidate
    return None


def _salvage(text: str, broken: list[tuple[int, int]], parser: Lark) -> Program | None:
    """The program of the items that parsed, each broken item blanked out (its header kept when it parses).

    Blanking keeps every offset, so the one re-parse gives the same lines and
    columns as the original text.  Calls of a broken item must not cascade
    into "unknown function" errors: a kept header gives its signature, and a
    name with no header parsed is listed in `unparsed_names`.
    """
    pieces: list[str] = []
    position = 0
    headers: set[tuple[int, str]] = set()
    names: set[str] = set()
    for start, end in broken:
        pieces.append(text[position:start])
        chunk = text[start:end]
        kept = _header_only(chunk)
        declared = _DECLARED_NAME.match(chunk)
        inner = _INNER_DECLARATION.finditer(chunk, declared.end() if declared is not None else 0)
        names.update(m.group(1) for m in inner)
        if kept is not None and declared is not None:
            headers.add((text.count("\n", 0, start + declared.start(1)) + 1, declared.group(1)))
            pieces.append(kept)
        else:
            if declared is not None:
                names.add(re.sub(r"\s+", "", declared.group(1)))
            pieces.append(_blank(chunk))
        position = end
    pieces.append(text[position:])
    try:
        program = parser.parse("".join(pieces))
    except LarkError:  # pragma: no cover - every piece parses alone and items only follow one another
        return None
    assert isinstance(program, Program)
    unchecked = frozenset(f.name_span for f in program.functions if (f.name_span.line, f.name) in headers)
    return replace(program, unchecked_bodies=unchecked, unparsed_names=frozenset(names))


def _report_character(err: UnexpectedCharacters, chunk: str, span: Span, diags: Diagnostics) -> None:
    pos: int | None = getattr(err, "pos_in_stream", None)
    char = chunk[pos] if isinstance(pos, int) and 0 <= pos < len(chunk) else "?"
    if char == '"':
        diags.error(
            "unterminated-string",
            "string literal is not closed on this line",
            span,
            hint='close it with " (use \\n for a line break inside a string)',
        )
    else:
        hint = unexpected_character_hint(char)
        diags.error("unexpected-character", f"unexpected character {char!r}", span, hint=hint)


def _report(
    err: UnexpectedInput, chunk: str, line_offset: int, col_offset: int, diags: Diagnostics, at_end: str | None = None
) -> None:
    """Record `err` found in `chunk` (its first line starts at `col_offset`; `at_end`: the text after it, if any)."""

    def place(line: int, col: int, width: int) -> Span:
        real_col = col + col_offset if line == 1 else col
        return Span(line + line_offset, real_col, line + line_offset, real_col + max(1, width))

    if isinstance(err, UnexpectedCharacters):
        _report_character(err, chunk, place(err.line, err.column, 1), diags)
        return
    if isinstance(err, UnexpectedToken):
        token = err.token
        expected = sorted(_acceptable(err))
        shown = _describe_expected(expected)
        previous_token = _previous_end(chunk, len(chunk)) if token.type == "$END" and at_end is not None else None
        if previous_token is not None and at_end is not None:
            # The item ends where the next declaration starts: point after its last token.
            span = place(previous_token[0], previous_token[1], 1)
            found = f"the next declaration ('{(at_end.split(None, 1) or ['?'])[0][:20]}')"
        elif token.type == "$END":
            end_line = chunk.count("\n") + 1
            end_col = len(chunk) - (chunk.rfind("\n") + 1) + 1
            span = place(end_line, end_col, 1)
            found = "the end of the file"
        else:
            span = place(token.line or 1, token.column or 1, len(str(token)))
            found = _describe_token(token)
        hint = None
        previous = _previous_end(chunk, token.start_pos) if token.type != "$END" else None
        at_line_end = "SEMICOLON" in expected and previous is not None and previous[0] < (token.line or 1)
        if at_line_end and previous is not None:
            # A missing ';' at a line end: point just after the last token, where it belongs.
            span = place(previous[0], previous[1], 1)
            shown = "';'"
            hint = f"add ';' here (the next line starts with {found})"
        else:
            hint = _token_hint(token, expected, chunk)
        diags.error(
            "syntax",
            f"expected {shown}, found {found}",
            span,
            hint=hint,
            expected=[_terminal_display().get(name, name) for name in expected],
            found=found,
        )
        return
    diags.error("syntax", "cannot parse this", place(1, 1, 1))


def _token_hint(token: Token, expected: list[str], chunk: str) -> str | None:
    """What an unexpected token most likely means (no missing ';' at a line end: the caller has checked)."""
    hint = None
    if "SEMICOLON" in expected and token.type != "$END":
        hint = "is a ';' missing at the end of the previous statement?"
    elif "RBRACE" in expected and token.type == "$END":
        hint = "is a '}' missing?"
    before = chunk[token.start_pos - 1] if token.type != "$END" and token.start_pos else ""
    if token.type == "COLON" and token.start_pos:
        literal = _HEADER_LITERAL.search(chunk, max(0, token.start_pos - 200), token.start_pos)
        if literal is not None:
            name = literal.group(1)
            return f"a struct literal in an if, while or for header needs parentheses: ({name} {{ ... }})"
    habit = None if token.type == "$END" else _habit_hint(token, expected, chunk, before)
    if habit is not None:
        return habit
    if token.type == "EQUAL" and before and before in "+-*/%":
        line_start = chunk.rfind("\n", 0, token.start_pos) + 1
        line_end = chunk.find("\n", token.start_pos)
        return compound_assignment_hint(before, chunk[line_start : line_end if line_end >= 0 else len(chunk)])
    if token.type in ("PLUS", "MINUS") and before == str(token):
        return f"there is no '{token}{token}': write 'x = x {token} 1;'"
    if token.type in _COMPARISONS and token.type not in expected:
        return "comparisons do not chain: write 'a < b && b < c'"
    if token.type == "EQUAL":
        return "'=' assigns; compare with '=='"
    if set(expected) == {"COLON", "EQUAL"}:
        return "a variable starts with a value: 'let x = 0;' or 'let xs: [int] = [];'"
    return hint


# `Name { field` just before a ':' that the parser did not take: a struct literal read as a block.
_HEADER_LITERAL = re.compile(r"([A-Z][A-Za-z0-9_]*)[ \t]*\{[ \t\n]*[A-Za-z_][A-Za-z0-9_]*[ \t]*$")
_WORD_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*$")


def _habit_hint(token: Token, expected: list[str], chunk: str, before: str) -> str | None:
    """A hint for a habit from another language (`elif`, `and`, `x if c else y`, `0..=n`, a top-level `let`)."""
    if "FN" in expected and "SEMICOLON" not in expected:
        # At the top level: only declarations may start here.
        return top_level_hint(str(token), "CONST" in _terminal_display())
    start = token.start_pos or 0
    word = _WORD_BEFORE.search(chunk, max(0, start - 64), start)
    return syntax_word_hint(token.type, str(token), word.group(1) if word else None, before)


def _acceptable(err: UnexpectedToken) -> set[str]:
    """The tokens the parser would really take here.

    LALR tables reduce by default, so `err.expected` can list tokens of a
    merged state that would fail a step later; trying each one on a copy of
    the parser gives the exact set (this runs once per reported error).
    """
    interactive = getattr(err, "interactive_parser", None)
    if interactive is not None:
        try:
            accepted = set(interactive.accepts())
        except LarkError:  # pragma: no cover - accepts() only feeds tokens to copies
            accepted = set()
        if accepted:
            return accepted
    return set(err.expected)


def _previous_end(chunk: str, start: int | None) -> tuple[int, int] | None:
    """Line and column just after the last non-blank character before `start` (comments not skipped)."""
    if start is None:
        return None
    i = start - 1
    while i >= 0 and chunk[i] in " \t\r\n\f":
        i -= 1
    if i < 0:
        return None
    line = chunk.count("\n", 0, i) + 1
    col = i - (chunk.rfind("\n", 0, i) + 1) + 2
    return line, col


def _describe_expected(names: list[str]) -> str:
    display = _terminal_display()
    parts: list[str] = []
    rest = set(names)
    if {"INT", "NAME", "STRING", "LPAR"} <= rest:
        parts.append("an expression")
        rest -= _EXPR_START
    if len(rest & _OPERATORS) >= 3:
        rest -= _OPERATORS | {"LSQB", "LPAR", "DOT"}
        parts.append("an operator")
    parts.extend(sorted(display.get(name, name) for name in rest))
    if len(parts) > 8:
        parts = [*parts[:8], "..."]
    if len(parts) == 1:
        return parts[0]
    return "one of " + ", ".join(parts)


def _describe_token(token: Token) -> str:
    if token.type == "NAME":
        return f"name '{token}'"
    if token.type == "INT":
        return f"integer {token}"
    if token.type == "STRING":
        text = str(token)
        return "string " + (text if len(text) <= 30 else text[:27] + '..."')
    return f"'{token}'"


# --- tree to syntax --------------------------------------------------------


def _pos(item: Any) -> Span:
    """The span of a token or a syntax node."""
    if type(item) is Token:
        # The basic lexer always sets every position field.
        return Span(item.line, item.column, item.end_line, item.end_column)  # type: ignore[arg-type]
    span: Span = item.span
    return span


def _sp(first: Any, last: Any) -> Span:
    if type(first) is Token:
        line, col = first.line, first.column
    else:
        line, col = first.span.line, first.span.col
    if type(last) is Token:
        return Span(line, col, last.end_line, last.end_column)  # type: ignore[arg-type]
    end: Span = last.span
    return Span(line, col, end.end_line, end.end_col)  # type: ignore[arg-type]


def _nodes(children: list[Any]) -> list[Any]:
    """The children that are syntax nodes (not tokens, not absent optionals)."""
    return [c for c in children if c is not None and not isinstance(c, Token)]


def _dotted_name(expr: Expr) -> tuple[str, Span] | None:
    """`a.b.c` read as fields of a name, as one dotted name and its span (None when it is something else)."""
    parts: list[str] = []
    node: Expr = expr
    while isinstance(node, Field):
        parts.append(node.name)
        node = node.base
    if not isinstance(node, Name) or not parts:
        return None
    parts.append(node.name)
    end = expr.span
    return ".".join(reversed(parts)), Span(node.span.line, node.span.col, end.end_line, end.end_col)


@dataclass(frozen=True, slots=True)
class _Dotted:
    name: str
    span: Span


@dataclass(frozen=True, slots=True)
class _Clause:
    cond: Expr | None
    block: Block


class _Builder(Transformer[Token, Any]):
    """Lark callbacks building syntax nodes while LALR reduces: no intermediate tree, no recursion.

    Each node's depth is tracked so `parse_program` can refuse deep nesting
    before any recursive walk.  Problems inside tokens (bad escapes,
    malformed ints) are kept apart and reported only when the parse succeeds.
    """

    __visit_tokens__ = False

    def __init__(self) -> None:
        super().__init__()
        self.reset()

    def reset(self) -> None:
        self.problems: list[tuple[str, str, Span, str | None]] = []
        self.depths: dict[int, int] = {}
        self.too_deep: Span | None = None

    def _node(self, node: Any, *kids: Any) -> Any:
        depths = self.depths
        depth = 0
        for kid in kids:
            d = depths.get(id(kid), 0)
            depth = max(depth, d)
        depth += 1
        depths[id(node)] = depth
        if depth > MAX_DEPTH and self.too_deep is None:
            self.too_deep = node.span
        return node

    def _deep(self, node: Any, kids: list[Any]) -> Any:
        return self._node(node, *kids)

    # --- declarations ---

    def start(self, children: list[Any]) -> Program:
        caps = tuple(c for c in children if isinstance(c, CapDecl))
        functions = tuple(c for c in children if isinstance(c, FnDecl))
        consts = tuple(c for c in children if isinstance(c, ConstDecl))
        structs = tuple(c for c in children if isinstance(c, StructDecl))
        return Program(caps, functions, consts=consts, structs=structs)

    def struct_decl(self, children: list[Any]) -> StructDecl:
        name = children[1]
        fields = children[3] if children[3] is not None else ()
        return StructDecl(str(name), _pos(name), fields, _sp(children[0], children[-1]))

    def field_decls(self, children: list[Any]) -> tuple[FieldDecl, ...]:
        return tuple(c for c in children if isinstance(c, FieldDecl))

    def field_decl(self, children: list[Any]) -> FieldDecl:
        return FieldDecl(str(children[0]), children[2], _sp(children[0], children[2]))

    def dotted(self, children: list[Any]) -> _Dotted:
        names = [str(c) for c in children if isinstance(c, Token) and c.type == "NAME"]
        return _Dotted(".".join(names), _sp(children[0], children[-1]))

    def cap_decl(self, children: list[Any]) -> CapDecl:
        dotted = children[1]
        params = children[3] if children[3] is not None else ()
        result = children[6]
        return CapDecl(dotted.name, dotted.span, params, result, _sp(children[0], children[-1]))

    def fn_decl(self, children: list[Any]) -> FnDecl:
        pub, fn_kw, name = children[0], children[1], children[2]
        params = children[4] if children[4] is not None else ()
        result, body = children[7], children[8]
        node = FnDecl(pub is not None, str(name), _pos(name), params, result, body, _sp(pub or fn_kw, body))
        return self._node(node, body)  # type: ignore[no-any-return]

    def const_decl(self, children: list[Any]) -> ConstDecl:
        name, written, value = children[1], children[3], children[5]
        node = ConstDecl(str(name), _pos(name), written, value, _sp(children[0], children[-1]))
        return self._node(node, value)  # type: ignore[no-any-return]

    def params(self, children: list[Any]) -> tuple[Param, ...]:
        return tuple(c for c in children if isinstance(c, Param))

    def param(self, children: list[Any]) -> Param:
        return Param(str(children[0]), children[2], _sp(children[0], children[2]))

    def base_type(self, children: list[Any]) -> TypeExpr:
        return TypeExpr(str(children[0]), 0, _pos(children[0]))

    def array_type(self, children: list[Any]) -> TypeExpr:
        inner: TypeExpr = children[1]
        # Capped so a type like [[[[...]]]] a million deep stays one small node.
        return TypeExpr(inner.base, min(inner.depth + 1, 1_000_000), _sp(children[0], children[2]), inner.args)

    def map_type(self, children: list[Any]) -> TypeExpr:
        key, value = children[1], children[3]
        node = TypeExpr(MAP_BASE, 0, _sp(children[0], children[-1]), (key, value))
        return self._node(node, key, value)  # type: ignore[no-any-return]

    # --- statements ---

    def block(self, children: list[Any]) -> Block:
        stmts = _nodes(children)
        return self._deep(Block(tuple(stmts), _sp(children[0], children[-1])), stmts)  # type: ignore[no-any-return]

    def let_stmt(self, children: list[Any]) -> Let:
        name = children[1]
        annotation = next((c for c in children[2:-2] if isinstance(c, TypeExpr)), None)
        value = children[-2]
        node = Let(str(name), _pos(name), annotation, value, _sp(children[0], children[-1]))
        return self._node(node, value)  # type: ignore[no-any-return]

    def assign_stmt(self, children: list[Any]) -> Assign:
        node = Assign(children[0], children[2], _sp(children[0], children[-1]))
        return self._node(node, children[0], children[2])  # type: ignore[no-any-return]

    def expr_stmt(self, children: list[Any]) -> ExprStmt:
        return self._node(ExprStmt(children[0], _sp(children[0], children[-1])), children[0])  # type: ignore[no-any-return]

    def elif_clause(self, children: list[Any]) -> _Clause:
        return _Clause(children[2], children[3])

    def else_clause(self, children: list[Any]) -> _Clause:
        return _Clause(None, children[1])

    def if_stmt(self, children: list[Any]) -> If:
        branches: list[tuple[Expr, Block]] = [(children[1], children[2])]
        otherwise: Block | None = None
        kids: list[Any] = [children[1], children[2]]
        last: Any = children[2]
        for clause in children[3:]:
            if not isinstance(clause, _Clause):
                continue
            last = clause.block
            kids.append(clause.block)
            if clause.cond is None:
                otherwise = clause.block
            else:
                kids.append(clause.cond)
                branches.append((clause.cond, clause.block))
        return self._deep(If(tuple(branches), otherwise, _sp(children[0], last)), kids)  # type: ignore[no-any-return]

    def while_stmt(self, children: list[Any]) -> While:
        node = While(children[1], children[2], _sp(children[0], children[2]))
        return self._node(node, children[1], children[2])  # type: ignore[no-any-return]

    def for_each(self, children: list[Any]) -> ForEach:
        var = children[1]
        node = ForEach(str(var), _pos(var), children[3], children[4], _sp(children[0], children[4]))
        return self._node(node, children[3], children[4])  # type: ignore[no-any-return]

    def for_pair(self, children: list[Any]) -> ForPair:
        key, value, iterable, body = children[1], children[3], children[5], children[6]
        node = ForPair(str(key), _pos(key), str(value), _pos(value), iterable, body, _sp(children[0], body))
        return self._node(node, iterable, body)  # type: ignore[no-any-return]

    def for_range(self, children: list[Any]) -> ForRange:
        var = children[1]
        node = ForRange(str(var), _pos(var), children[3], children[5], children[6], _sp(children[0], children[6]))
        return self._node(node, children[3], children[5], children[6])  # type: ignore[no-any-return]

    def break_stmt(self, children: list[Any]) -> Break:
        return Break(_sp(children[0], children[-1]))

    def continue_stmt(self, children: list[Any]) -> Continue:
        return Continue(_sp(children[0], children[-1]))

    def return_stmt(self, children: list[Any]) -> Return:
        value = children[1]
        return self._node(Return(value, _sp(children[0], children[-1])), value)  # type: ignore[no-any-return]

    # --- expressions ---

    def args(self, children: list[Any]) -> tuple[Expr, ...]:
        return tuple(_nodes(children))

    def paren(self, children: list[Any]) -> Expr:
        return children[1]  # type: ignore[no-any-return]

    def name(self, children: list[Any]) -> Name:
        t = children[0]
        return Name(str(t), Span(t.line, t.column, t.end_line, t.end_column))

    def bool_lit(self, children: list[Any]) -> BoolLit:
        return BoolLit(str(children[0]) == "true", _pos(children[0]))

    def int_lit(self, children: list[Any]) -> IntLit:
        token = children[0]
        span = _pos(token)
        parsed = parse_int_literal(str(token))
        if parsed is None:
            self.problems.append(("int-out-of-range", f"malformed integer literal {str(token)[:40]!r}", span, None))
        value = 0 if parsed is None else parsed
        return IntLit(value, span)

    def float_lit(self, children: list[Any]) -> FloatLit:
        token = children[0]
        span = _pos(token)
        text = str(token)
        value, problem = literals.read_float(text)
        if problem is not None:
            self.problems.append(("float-literal", problem, span, literals.FLOAT_HINT))
        return FloatLit(value, text[:40], span)

    def str_lit(self, children: list[Any]) -> StrLit:
        token = children[0]
        span = _pos(token)
        return StrLit(self.string(str(token), span), span)

    def array_lit(self, children: list[Any]) -> ArrayLit:
        items = children[1] if children[1] is not None else ()
        return self._deep(ArrayLit(items, _sp(children[0], children[-1])), list(items))  # type: ignore[no-any-return]

    def index(self, children: list[Any]) -> Index:
        node = Index(children[0], children[2], _sp(children[0], children[-1]))
        return self._node(node, children[0], children[2])  # type: ignore[no-any-return]

    def map_lit(self, children: list[Any]) -> MapLit:
        entries = children[1] if children[1] is not None else ()
        kids = [e for pair in entries for e in pair]
        return self._deep(MapLit(entries, _sp(children[0], children[-1])), kids)  # type: ignore[no-any-return]

    def entries(self, children: list[Any]) -> tuple[tuple[Expr, Expr], ...]:
        return tuple(c for c in children if isinstance(c, tuple))

    def entry(self, children: list[Any]) -> tuple[Expr, Expr]:
        return (children[0], children[2])

    def struct_lit(self, children: list[Any]) -> StructLit:
        name = children[0]
        inits = children[2] if children[2] is not None else ()
        node = StructLit(str(name), _pos(name), inits, _sp(name, children[-1]))
        return self._deep(node, [value for _n, _s, value in inits])  # type: ignore[no-any-return]

    def inits(self, children: list[Any]) -> tuple[tuple[str, Span, Expr], ...]:
        return tuple(c for c in children if isinstance(c, tuple))

    def init(self, children: list[Any]) -> tuple[str, Span, Expr]:
        return (str(children[0]), _pos(children[0]), children[2])

    def field(self, children: list[Any]) -> Field:
        base, name = children[0], children[2]
        node = Field(base, str(name), _pos(name), _sp(base, name))
        return self._node(node, base)  # type: ignore[no-any-return]

    def call(self, children: list[Any]) -> Expr:
        callee = children[0]
        args = children[2] if children[2] is not None else ()
        span = _sp(callee, children[-1])
        node: Expr
        if isinstance(callee, Name):
            node = Call(callee.name, callee.span, args, span)
        else:
            dotted = _dotted_name(callee)
            if dotted is None:
                self.problems.append(
                    (
                        "syntax",
                        "only a function or a capability can be called",
                        callee.span,
                        "call a function by its name, a capability by its dotted name",
                    )
                )
                dotted = ("?", callee.span)
            node = CapCall(dotted[0], dotted[1], args, span)
        return self._deep(node, list(args))  # type: ignore[no-any-return]

    def unary(self, children: list[Any]) -> Unary:
        op, operand = children
        return self._node(Unary(str(op), operand, _sp(op, operand)), operand)  # type: ignore[no-any-return]

    def binary(self, children: list[Any]) -> Binary:
        # The hottest callback: depth bookkeeping inlined.
        left, op, right = children
        ls, rs = left.span, right.span
        node = Binary(
            str(op),
            left,
            right,
            Span(op.line, op.column, op.end_line, op.end_column),
            Span(ls.line, ls.col, rs.end_line, rs.end_col),
        )
        depths = self.depths
        a = depths.get(id(left), 0)
        b = depths.get(id(right), 0)
        depth = (a if a > b else b) + 1
        depths[id(node)] = depth
        if depth > MAX_DEPTH and self.too_deep is None:
            self.too_deep = node.span
        return node

    def string(self, token: str, span: Span) -> str:
        text, problems = unescape(token[1:-1])
        for start, end, message in problems:
            col = span.col + 1 + start
            self.problems.append(
                ("invalid-escape", message, Span(span.line, col, span.line, col + end - start), ESCAPE_HINT)
            )
        return text
