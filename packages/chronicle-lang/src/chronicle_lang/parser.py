"""The `.chr` parser: takes source text, gives a `Program` syntax tree or records syntax diagnostics.

Lark's LALR parser runs on the grammar shipped as `grammar.lark`.  Lark
exceptions never escape: they become diagnostics with what was expected and
what was found.  After a syntax error the file is cut into top-level items
(`cap`, `fn`, `pub fn`) and each is parsed alone, so every broken function
reports its first error and one mistake does not cascade.  Nesting deeper
than `MAX_DEPTH` tree levels is refused before any recursive walk.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostics
from .syntax import (
    ArrayLit,
    Assign,
    Binary,
    Block,
    BoolLit,
    Break,
    Call,
    CapCall,
    CapDecl,
    Continue,
    Expr,
    ExprStmt,
    FnDecl,
    ForEach,
    ForRange,
    If,
    Index,
    IntLit,
    Let,
    Name,
    Param,
    Program,
    Return,
    Span,
    Stmt,
    StrLit,
    TypeExpr,
    Unary,
    While,
)

__all__ = ["MAX_DEPTH", "parse_program"]

#: Deepest parse tree accepted (an `if` inside an `if` adds two levels, a binary operator one).
MAX_DEPTH = 400

_TOKEN_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "STRING": "a string",
    "$END": "the end of the file",
}
_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "PERCENT", "EQ", "NE", "LT", "LE", "GT", "GE", "ANDAND", "OROR"}
_EXPR_START = {"INT", "NAME", "STRING", "LPAR", "LSQB", "MINUS", "BANG", "TRUE", "FALSE"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files("chronicle_lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=True)


@lru_cache(maxsize=1)
def _terminal_display() -> dict[str, str]:
    shown: dict[str, str] = dict(_TOKEN_NAMES)
    for term in _parser().terminals:
        if term.name not in shown and term.pattern.type == "str":
            shown[term.name] = f"'{term.pattern.value}'"
    return shown


def parse_program(text: str, diags: Diagnostics) -> Program | None:
    """The syntax tree of `text`, or None after recording every syntax error in `diags`."""
    try:
        tree = _parser().parse(text)
    except LarkError:
        _report_by_item(text, diags)
        return None
    deep = _too_deep(tree)
    if deep is not None:
        diags.error(
            "too-deep",
            f"nesting deeper than {MAX_DEPTH} levels",
            deep,
            hint="split the expression or the nested blocks into functions",
        )
        return None
    return _Builder(diags).program(tree)


# --- syntax errors ---------------------------------------------------------

_ITEM_SCAN = re.compile(r'"(?:[^"\\\n]|\\[^\n])*"?|//[^\n]*|[{}]|\b(?:pub|fn|cap)\b')


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
        elif word in ("pub", "fn", "cap") and depth == 0:
            if not (word == "fn" and after_pub) and m.start() > starts[-1]:
                starts.append(m.start())
            after_pub = word == "pub"
            continue
        after_pub = False
    return starts


def _report_by_item(text: str, diags: Diagnostics) -> None:
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
            _report(err, chunk, line - 1, start - line_start, diags)
        except LarkError as err:  # pragma: no cover - Lark raises UnexpectedInput for input errors
            diags.error("syntax", f"cannot parse: {err}", Span(line, 1, line, 2))


def _report(err: UnexpectedInput, chunk: str, line_offset: int, col_offset: int, diags: Diagnostics) -> None:
    def place(line: int, col: int, width: int) -> Span:
        real_col = col + col_offset if line == 1 else col
        return Span(line + line_offset, real_col, line + line_offset, real_col + max(1, width))

    if isinstance(err, UnexpectedCharacters):
        pos: int | None = getattr(err, "pos_in_stream", None)
        char = chunk[pos] if isinstance(pos, int) and 0 <= pos < len(chunk) else "?"
        span = place(err.line, err.column, 1)
        if char == '"':
            diags.error(
                "unterminated-string",
                "string literal is not closed on this line",
                span,
                hint='close it with " (use \\n for a line break inside a string)',
            )
        else:
            diags.error("unexpected-character", f"unexpected character {char!r}", span)
        return
    if isinstance(err, UnexpectedToken):
        token = err.token
        expected = sorted(err.expected)
        shown = _describe_expected(expected)
        if token.type == "$END":
            end_line = chunk.count("\n") + 1
            end_col = len(chunk) - (chunk.rfind("\n") + 1) + 1
            span = place(end_line, end_col, 1)
            found = "the end of the file"
        else:
            span = place(token.line or 1, token.column or 1, len(str(token)))
            found = _describe_token(token)
        hint = None
        previous = _previous_end(chunk, token.start_pos) if token.type != "$END" else None
        if "SEMICOLON" in expected and previous is not None and previous[0] < (token.line or 1):
            # A missing ';' at a line end: point just after the last token, where it belongs.
            span = place(previous[0], previous[1], 1)
            shown = "';'"
            hint = f"add ';' here (the next line starts with {found})"
        elif "SEMICOLON" in expected and token.type != "$END":
            hint = "is a ';' missing at the end of the previous statement?"
        elif "RBRACE" in expected and token.type == "$END":
            hint = "is a '}' missing?"
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
        rest -= _OPERATORS | {"LSQB"}
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


# --- depth bound -------------------------------------------------------------


def _too_deep(tree: Tree[Token]) -> Span | None:
    """The span of the first node below `MAX_DEPTH` levels, found without recursion."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return _tree_span(node)
        for child in node.children:
            if isinstance(child, Tree):
                stack.append((child, depth + 1))
    return None


# --- tree to syntax --------------------------------------------------------


def _tok_span(token: Token) -> Span:
    line = token.line or 1
    col = token.column or 1
    return Span(line, col, token.end_line or line, token.end_column or col + 1)


def _tree_span(tree: Tree[Token]) -> Span:
    meta = tree.meta
    if getattr(meta, "empty", True):
        return Span(1, 1, 1, 2)
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _span(node: Tree[Token] | Token) -> Span:
    return _tok_span(node) if isinstance(node, Token) else _tree_span(node)


def _join(a: Span, b: Span) -> Span:
    return Span(a.line, a.col, b.end_line, b.end_col)


_ESCAPE = re.compile(r"\\(u\{[0-9a-fA-F]{1,6}\}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


class _Builder:
    """Turns Lark's tree into syntax nodes; depth is already bounded, so recursion is safe."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags

    def program(self, tree: Tree[Token]) -> Program:
        caps: list[CapDecl] = []
        functions: list[FnDecl] = []
        for item in tree.children:
            assert isinstance(item, Tree)
            if item.data == "cap_decl":
                caps.append(self.cap_decl(item))
            else:
                functions.append(self.fn_decl(item))
        return Program(tuple(caps), tuple(functions))

    def cap_decl(self, tree: Tree[Token]) -> CapDecl:
        dotted, params, _arrow, result = tree.children
        assert isinstance(dotted, Tree)
        name = ".".join(str(part) for part in dotted.children)
        return CapDecl(
            name,
            _span(dotted),
            self.params(params),
            self.type(result) if result is not None else None,
            _span(tree),
        )

    def fn_decl(self, tree: Tree[Token]) -> FnDecl:
        pub, name, params, _arrow, result, body = tree.children
        assert isinstance(name, Token) and isinstance(body, Tree)
        return FnDecl(
            pub is not None,
            str(name),
            _tok_span(name),
            self.params(params),
            self.type(result) if result is not None else None,
            self.block(body),
            _span(tree),
        )

    def params(self, tree: Any) -> tuple[Param, ...]:
        if tree is None:
            return ()
        out: list[Param] = []
        for param in tree.children:
            if param is None:  # the optional trailing comma
                continue
            name, type_ = param.children
            out.append(Param(str(name), self.type(type_), _span(param)))
        return tuple(out)

    def type(self, tree: Any) -> TypeExpr:
        depth = 0
        span = _span(tree)
        while isinstance(tree, Tree) and tree.data == "array_type":
            depth += 1
            tree = tree.children[0]
        assert isinstance(tree, Tree)
        return TypeExpr(str(tree.children[0]), depth, span)

    def block(self, tree: Tree[Token]) -> Block:
        return Block(tuple(self.stmt(child) for child in tree.children if isinstance(child, Tree)), _span(tree))

    def stmt(self, tree: Tree[Token]) -> Stmt:
        kind = tree.data
        children = tree.children
        span = _span(tree)
        if kind == "let_stmt":
            name, annotation, value = children
            assert isinstance(name, Token)
            return Let(
                str(name),
                _tok_span(name),
                self.type(annotation) if annotation is not None else None,
                self.expr(value),
                span,
            )
        if kind == "assign_stmt":
            return Assign(self.expr(children[0]), self.expr(children[1]), span)
        if kind == "expr_stmt":
            return ExprStmt(self.expr(children[0]), span)
        if kind == "if_stmt":
            branches = [(self.expr(children[0]), self.block(children[1]))]  # type: ignore[arg-type]
            otherwise = None
            for clause in children[2:]:
                if not isinstance(clause, Tree):  # the absent optional else
                    continue
                if clause.data == "elif_clause":
                    branches.append((self.expr(clause.children[0]), self.block(clause.children[1])))  # type: ignore[arg-type]
                else:
                    otherwise = self.block(clause.children[0])  # type: ignore[arg-type]
            return If(tuple(branches), otherwise, span)
        if kind == "while_stmt":
            return While(self.expr(children[0]), self.block(children[1]), span)  # type: ignore[arg-type]
        if kind == "for_each":
            var = children[0]
            assert isinstance(var, Token)
            return ForEach(str(var), _tok_span(var), self.expr(children[1]), self.block(children[2]), span)  # type: ignore[arg-type]
        if kind == "for_range":
            var = children[0]
            assert isinstance(var, Token)
            return ForRange(
                str(var),
                _tok_span(var),
                self.expr(children[1]),
                self.expr(children[2]),
                self.block(children[3]),  # type: ignore[arg-type]
                span,
            )
        if kind == "break_stmt":
            return Break(span)
        if kind == "continue_stmt":
            return Continue(span)
        if kind == "return_stmt":
            value = children[0]
            return Return(self.expr(value) if value is not None else None, span)
        if kind == "block":
            return self.block(tree)
        raise AssertionError(f"unknown statement {kind}")

    def args(self, tree: Any) -> tuple[Expr, ...]:
        if tree is None:
            return ()
        return tuple(self.expr(child) for child in tree.children if child is not None)

    def expr(self, node: Any) -> Expr:
        assert isinstance(node, Tree)
        kind = node.data
        children = node.children
        span = _span(node)
        if kind == "int_lit":
            return self.int_lit(children[0], span)  # type: ignore[arg-type]
        if kind == "bool_lit":
            return BoolLit(str(children[0]) == "true", span)
        if kind == "str_lit":
            return StrLit(self.string(children[0], span), span)  # type: ignore[arg-type]
        if kind == "name":
            return Name(str(children[0]), span)
        if kind == "array_lit":
            return ArrayLit(self.args(children[0]), span)
        if kind == "index":
            return Index(self.expr(children[0]), self.expr(children[1]), span)
        if kind == "call":
            name = children[0]
            assert isinstance(name, Token)
            return Call(str(name), _tok_span(name), self.args(children[1]), span)
        if kind == "capcall":
            dotted = children[0]
            assert isinstance(dotted, Tree)
            name = ".".join(str(part) for part in dotted.children)
            return CapCall(name, _span(dotted), self.args(children[1]), span)
        if kind == "unary":
            op = children[0]
            assert isinstance(op, Token)
            return Unary(str(op), self.expr(children[1]), span)
        if kind == "binary":
            op = children[1]
            assert isinstance(op, Token)
            return Binary(str(op), self.expr(children[0]), self.expr(children[2]), _tok_span(op), span)
        raise AssertionError(f"unknown expression {kind}")

    def int_lit(self, token: Token, span: Span) -> IntLit:
        text = str(token).replace("_", "")
        try:
            value = int(text[2:], 16) if text[:2] in ("0x", "0X") else int(text, 10)
        except ValueError:
            self.diags.error("int-out-of-range", f"malformed integer literal {str(token)!r}", span)
            value = 0
        return IntLit(value, span)

    def string(self, token: Token, span: Span) -> str:
        body = str(token)[1:-1]
        if "\\" not in body:
            return body

        def unescape(m: re.Match[str]) -> str:
            esc = m.group(1)
            if esc in _SIMPLE_ESCAPES:
                return _SIMPLE_ESCAPES[esc]
            if esc.startswith("u{"):
                code = int(esc[2:-1], 16)
                if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                    return chr(code)
            col = span.col + 1 + m.start()
            self.diags.error(
                "invalid-escape",
                f"unknown escape sequence '\\{esc}'",
                Span(span.line, col, span.line, col + len(m.group())),
                hint="known escapes: \\n \\t \\r \\0 \\\\ \\\" \\' \\u{hex}",
            )
            return ""

        return _ESCAPE.sub(unescape, body)
