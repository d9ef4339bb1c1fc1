"""The typed syntax tree of `.chr`: takes nothing, gives frozen node classes, each with its source span.

Nodes compare by identity (`eq=False`), so the checker can key side tables
by node and hashing never walks a deep tree.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ArrayLit",
    "Field",
    "FieldDecl",
    "FloatLit",
    "ForPair",
    "MapLit",
    "StructDecl",
    "StructLit",
    "Assign",
    "Binary",
    "Block",
    "BoolLit",
    "Break",
    "Call",
    "CapCall",
    "CapDecl",
    "ConstDecl",
    "Continue",
    "Expr",
    "ExprStmt",
    "FnDecl",
    "ForEach",
    "ForRange",
    "If",
    "Index",
    "IntLit",
    "Let",
    "Name",
    "Param",
    "Program",
    "Return",
    "Span",
    "Stmt",
    "StrLit",
    "TypeExpr",
    "Unary",
    "While",
]


@dataclass(frozen=True, slots=True)
class Span:
    """1-based start line and column; end column is exclusive."""

    line: int
    col: int
    end_line: int
    end_col: int


#: The `base` of a written map type `{K: V}` (its `args` are K and V); not a name anyone can write.
MAP_BASE = "{:}"


@dataclass(frozen=True, slots=True, eq=False)
class TypeExpr:
    """A written type: base name (`int`, `float`, a struct's name, or `MAP_BASE`) inside `depth` brackets.

    A map type `{K: V}` has base `MAP_BASE` and its key and value types in `args`.
    """

    base: str
    depth: int
    span: Span
    args: tuple[TypeExpr, ...] = ()


@dataclass(frozen=True, slots=True, eq=False)
class IntLit:
    value: int
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class FloatLit:
    """A float literal (a literal that is not finite, `1e999`, is reported by the parser and reads as 0.0)."""

    value: float
    text: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class BoolLit:
    value: bool
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class StrLit:
    value: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Name:
    name: str
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ArrayLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class MapLit:
    """`{k: v, ...}`; `{}` is typed by its context."""

    entries: tuple[tuple[Expr, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class StructLit:
    """`Name { field: expr, ... }`: the fields as written, in the order written."""

    name: str
    name_span: Span
    fields: tuple[tuple[str, Span, Expr], ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Field:
    """`base.name`: a struct field read (a dotted call `a.b(...)` is a `CapCall` instead)."""

    base: Expr
    name: str
    name_span: Span
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    base: Expr
    index: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Call:
    """A call of a function or builtin by name."""

    name: str
    name_span: Span
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class CapCall:
    """A call of a declared capability by dotted name."""

    name: str
    name_span: Span
    args: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Unary:
    op: str
    operand: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Binary:
    op: str
    left: Expr
    right: Expr
    op_span: Span
    span: Span


Expr = (
    IntLit
    | FloatLit
    | BoolLit
    | StrLit
    | Name
    | ArrayLit
    | MapLit
    | StructLit
    | Field
    | Index
    | Call
    | CapCall
    | Unary
    | Binary
)


@dataclass(frozen=True, slots=True, eq=False)
class Block:
    stmts: tuple[Stmt, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Let:
    name: str
    name_span: Span
    annotation: TypeExpr | None
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Assign:
    target: Expr
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ExprStmt:
    expr: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class If:
    """`if c0 {b0} else if c1 {b1} ... else {other}`: the branches in order, flat."""

    branches: tuple[tuple[Expr, Block], ...]
    otherwise: Block | None
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class While:
    cond: Expr
    body: Block
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ForEach:
    var: str
    var_span: Span
    iterable: Expr
    body: Block
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ForPair:
    """`for k, v in m`: a map's keys and values in insertion order."""

    key: str
    key_span: Span
    value: str
    value_span: Span
    iterable: Expr
    body: Block
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ForRange:
    var: str
    var_span: Span
    lo: Expr
    hi: Expr
    body: Block
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Break:
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Continue:
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Return:
    value: Expr | None
    span: Span


Stmt = Let | Assign | ExprStmt | If | While | ForEach | ForPair | ForRange | Break | Continue | Return | Block


@dataclass(frozen=True, slots=True, eq=False)
class Param:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class CapDecl:
    name: str
    name_span: Span
    params: tuple[Param, ...]
    result: TypeExpr | None
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class FnDecl:
    exported: bool
    name: str
    name_span: Span
    params: tuple[Param, ...]
    result: TypeExpr | None
    body: Block
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class ConstDecl:
    """`const NAME: T = expr;` at the top level: folded at compile time (chronicle_lang.consts)."""

    name: str
    name_span: Span
    type: TypeExpr
    value: Expr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class FieldDecl:
    name: str
    type: TypeExpr
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class StructDecl:
    """`struct Name { field: T, ... }` at the top level."""

    name: str
    name_span: Span
    fields: tuple[FieldDecl, ...]
    span: Span


@dataclass(frozen=True, slots=True, eq=False)
class Program:
    caps: tuple[CapDecl, ...]
    functions: tuple[FnDecl, ...]
    # After a syntax error the items that parsed are still checked.  A function whose header parsed but
    # whose body did not is kept with an empty body: its signature counts, its body (the name span
    # listed here) is not checked.  A function or capability whose declaration did not parse at all
    # leaves only its name, so calls of it are not reported as unknown.
    unchecked_bodies: frozenset[Span] = frozenset()
    unparsed_names: frozenset[str] = frozenset()
    consts: tuple[ConstDecl, ...] = ()  # in declaration order
    structs: tuple[StructDecl, ...] = ()  # in declaration order
