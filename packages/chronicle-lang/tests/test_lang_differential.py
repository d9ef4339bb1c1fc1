"""Differential property: random well-typed programs give the same value or the same trap on the VM as in Python.

The generator builds a small program tree (int and bool arithmetic with
wrapping, floor division, the bitwise operators and shifts, comparisons, short-circuit logic, if/else, bounded
while loops, an int array with indexing, assignment and push, and a call that
pushes onto the caller's array from inside an expression), renders it as
`.chr`, and also evaluates it directly here with the semantics docs/language.md
states.  Both must agree on the result, or on the trap's code.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_lang import compile_source
from chronicle_testing.lang_run import run_chr
from chronicle_vm.errors import SourceError

INT_MIN, INT_MAX = -(2**63), 2**63 - 1
INT_VARS = ("a", "b", "v0", "v1")
ASSIGNABLE = ("v0", "v1", "a")

Node = tuple[Any, ...]


def wrap(value: int) -> int:
    return (value + 2**63) % 2**64 - 2**63


class Trap(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- generation ----------------------------------------------------------------

_LITERALS = st.one_of(
    st.integers(-20, 20),
    st.sampled_from([INT_MIN, INT_MAX, INT_MIN + 1, INT_MAX - 1, 2**32, -(2**31)]),
    st.integers(INT_MIN, INT_MAX),
)


def int_expr(depth: int, arrays: bool = True) -> st.SearchStrategy[Node]:
    """Int expressions; `arrays=False` leaves out `xs` (for the items of its own literal)."""
    leaves = st.one_of(
        _LITERALS.map(lambda v: ("int", v)),
        st.sampled_from(INT_VARS).map(lambda n: ("var", n)),
        *([st.just(("len",))] if arrays else []),
    )
    if depth <= 0:
        return leaves
    sub = int_expr(depth - 1, arrays)
    return st.one_of(
        leaves,
        st.tuples(st.just("bin"), st.sampled_from(["+", "-", "*", "/", "%", "&", "|", "^", "<<", ">>"]), sub, sub),
        st.tuples(st.just("neg"), sub),
        st.tuples(st.just("bnot"), sub),
        *([st.tuples(st.just("idx"), sub), st.tuples(st.just("bump"), sub)] if arrays else []),
    )


def bool_expr(depth: int) -> st.SearchStrategy[Node]:
    ints = int_expr(max(0, depth - 1))
    leaves = st.one_of(
        st.booleans().map(lambda v: ("bool", v)),
        st.tuples(st.just("cmp"), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), ints, ints),
    )
    if depth <= 0:
        return leaves
    sub = bool_expr(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(st.just("and"), sub, sub),
        st.tuples(st.just("or"), sub, sub),
        st.tuples(st.just("not"), sub),
        st.tuples(st.just("beq"), sub, sub),
    )


def stmts(depth: int) -> st.SearchStrategy[list[Node]]:
    simple = st.one_of(
        st.tuples(st.just("set"), st.sampled_from(ASSIGNABLE), int_expr(2)),
        st.tuples(st.just("seti"), int_expr(1), int_expr(2)),
        st.tuples(st.just("push"), int_expr(1)),
    )
    if depth <= 0:
        return st.lists(simple, max_size=3)
    inner = stmts(depth - 1)
    compound = st.one_of(
        simple,
        st.tuples(st.just("if"), bool_expr(2), inner, inner),
        st.tuples(st.just("loop"), st.integers(0, 4), inner),
    )
    return st.lists(compound, max_size=4)


programs = st.tuples(
    stmts(2),
    int_expr(3),
    st.lists(int_expr(1, arrays=False), min_size=1, max_size=4),
    st.integers(-(2**40), 2**40),
    st.integers(-5, 5),
)


# --- rendering -------------------------------------------------------------------


def render_expr(node: Node) -> str:
    kind = node[0]
    if kind == "int":
        return f"({node[1]})"
    if kind == "bool":
        return "true" if node[1] else "false"
    if kind == "var":
        return str(node[1])
    if kind == "len":
        return "len(xs)"
    if kind in ("bin", "cmp"):
        return f"({render_expr(node[2])} {node[1]} {render_expr(node[3])})"
    if kind == "neg":
        return f"(-{render_expr(node[1])})"
    if kind == "bnot":
        return f"(~{render_expr(node[1])})"
    if kind == "not":
        return f"(!{render_expr(node[1])})"
    if kind == "idx":
        return f"xs[{render_expr(node[1])}]"
    if kind == "bump":
        return f"bump(xs, {render_expr(node[1])})"
    op = {"and": "&&", "or": "||", "beq": "=="}[kind]
    return f"({render_expr(node[1])} {op} {render_expr(node[2])})"


def render_stmts(body: list[Node], indent: str, counter: list[int]) -> list[str]:
    out: list[str] = []
    for node in body:
        kind = node[0]
        if kind == "set":
            out.append(f"{indent}{node[1]} = {render_expr(node[2])};")
        elif kind == "seti":
            out.append(f"{indent}xs[{render_expr(node[1])}] = {render_expr(node[2])};")
        elif kind == "push":
            out.append(f"{indent}push(xs, {render_expr(node[1])});")
        elif kind == "if":
            out.append(f"{indent}if {render_expr(node[1])} {{")
            out.extend(render_stmts(node[2], indent + "    ", counter))
            out.append(f"{indent}}} else {{")
            out.extend(render_stmts(node[3], indent + "    ", counter))
            out.append(f"{indent}}}")
        else:
            counter[0] += 1
            k = f"k{counter[0]}"
            out.append(f"{indent}let {k} = 0;")
            out.append(f"{indent}while {k} < {node[1]} {{")
            out.extend(render_stmts(node[2], indent + "    ", counter))
            out.append(f"{indent}    {k} = {k} + 1;")
            out.append(f"{indent}}}")
    return out


def render(program: tuple[Any, ...]) -> str:
    body, result, items, _, _ = program
    lines = [
        "// A call with a side effect on the caller's array, inside expressions.",
        "fn bump(ys: [int], k: int) -> int {",
        "    push(ys, k);",
        "    return len(ys);",
        "}",
        "",
        "pub fn main(a: int, b: int) -> int {",
        "    let v0 = a;",
        "    let v1 = b;",
        f"    let xs = [{', '.join(render_expr(i) for i in items)}];",
    ]
    lines.extend(render_stmts(body, "    ", [0]))
    lines.append(f"    return {render_expr(result)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- direct evaluation -------------------------------------------------------------

_BITWISE = {"&": lambda x, y: x & y, "|": lambda x, y: x | y, "^": lambda x, y: x ^ y}


def binary(op: str, left: int, right: int) -> int:
    """An int operator as docs/language.md states it: wrapping, floor division, shifts by 0..63."""
    if op in ("+", "-", "*"):
        return wrap(left + right if op == "+" else left - right if op == "-" else left * right)
    if op in _BITWISE:
        return _BITWISE[op](left, right)
    if op in ("<<", ">>"):
        if not 0 <= right <= 63:
            raise Trap("runtime.shift-count")
        return wrap(left << right) if op == "<<" else left >> right
    if right == 0:
        raise Trap("runtime.division-by-zero")
    return wrap(left // right) if op == "/" else wrap(left % right)


class Evaluator:
    def __init__(self, a: int, b: int) -> None:
        self.env: dict[str, int] = {"a": a, "b": b, "v0": a, "v1": b}
        self.xs: list[int] = []

    def index(self, i: int) -> int:
        if not 0 <= i < len(self.xs):
            raise Trap("runtime.index-out-of-range")
        return i

    def int_(self, node: Node) -> int:
        kind = node[0]
        if kind == "int":
            return int(node[1])
        if kind == "var":
            return self.env[node[1]]
        if kind == "len":
            return len(self.xs)
        if kind == "neg":
            return wrap(-self.int_(node[1]))
        if kind == "bnot":
            return ~self.int_(node[1])
        if kind == "idx":
            return self.xs[self.index(self.int_(node[1]))]
        if kind == "bump":
            self.xs.append(self.int_(node[1]))
            return len(self.xs)
        return binary(node[1], self.int_(node[2]), self.int_(node[3]))

    def bool_(self, node: Node) -> bool:
        kind = node[0]
        if kind == "bool":
            return bool(node[1])
        if kind == "cmp":
            left, right = self.int_(node[2]), self.int_(node[3])
            return {
                "<": left < right,
                "<=": left <= right,
                ">": left > right,
                ">=": left >= right,
                "==": left == right,
                "!=": left != right,
            }[node[1]]
        if kind == "not":
            return not self.bool_(node[1])
        if kind == "and":
            return self.bool_(node[1]) and self.bool_(node[2])
        if kind == "or":
            return self.bool_(node[1]) or self.bool_(node[2])
        return self.bool_(node[1]) == self.bool_(node[2])

    def run(self, body: list[Node]) -> None:
        for node in body:
            kind = node[0]
            if kind == "set":
                self.env[node[1]] = self.int_(node[2])
            elif kind == "seti":
                i = self.int_(node[1])
                value = self.int_(node[2])
                self.xs[self.index(i)] = value
            elif kind == "push":
                self.xs.append(self.int_(node[1]))
            elif kind == "if":
                self.run(node[2] if self.bool_(node[1]) else node[3])
            else:
                for _ in range(node[1]):
                    self.run(node[2])


def evaluate(program: tuple[Any, ...]) -> tuple[str, Any]:
    body, result, items, a, b = program
    ev = Evaluator(a, b)
    try:
        ev.xs = [ev.int_(item) for item in items]
        ev.run(body)
        return "value", ev.int_(result)
    except Trap as trap:
        return "trap", trap.code


@given(programs)
def test_lang_differential_vm_agrees_with_python(program: tuple[Any, ...]) -> None:
    source = render(program)
    expected = evaluate(program)
    report = run_chr(source, "main", [program[3], program[4]])
    got = ("trap", report.error.code) if report.error is not None else ("value", report.value)
    assert got == expected, source


def test_lang_differential_evaluator_can_trap_and_wrap() -> None:
    # The reference itself: a wrap and a floor, then a trap, so the property compares something.
    prog: tuple[Any, ...] = ([], ("bin", "/", ("int", INT_MIN), ("int", -1)), [("int", 1)], 0, 0)
    assert evaluate(prog) == ("value", INT_MIN)
    assert run_chr(render(prog), "main", [0, 0]).value == INT_MIN
    trap: tuple[Any, ...] = ([], ("bin", "%", ("int", 7), ("var", "a")), [("int", 1)], 0, 0)
    assert evaluate(trap) == ("trap", "runtime.division-by-zero")
    assert run_chr(render(trap), "main", [0, 0]).error is not None


@given(int_expr(3, arrays=False).filter(lambda node: "var" not in repr(node)))
def test_lang_constants_fold_as_the_vm_computes(expr: Node) -> None:
    # The same literal expression as a `const` (folded by the compiler) and in a function (run by the VM).
    text = render_expr(expr)
    expected = evaluate(([], expr, [], 0, 0))
    at_run_time = run_chr(f"pub fn main() -> int {{ return {text}; }}", "main", [])
    got = ("trap", at_run_time.error.code) if at_run_time.error is not None else ("value", at_run_time.value)
    assert got == expected, text
    source = f"const C: int = {text};\npub fn main() -> int {{ return C; }}"
    if expected[0] == "value":
        assert run_chr(source, "main", []).value == expected[1], text
    else:
        with pytest.raises(SourceError) as info:
            compile_source(source, "c.chr")
        assert info.value.code == "source.const-fold", text


# --- strings ---------------------------------------------------------------------

_TEXTS = st.text(alphabet=st.sampled_from("ab Zé\tß☃\U0001f600-,"), max_size=6)
_SMALL = st.integers(-3, 8)


def str_expr(depth: int) -> st.SearchStrategy[Node]:
    leaves = st.one_of(_TEXTS.map(lambda v: ("s", v)), st.just(("var", "p")), _SMALL.map(lambda n: ("tostr", n)))
    if depth <= 0:
        return leaves
    sub = str_expr(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(st.just("cat"), sub, sub),
        st.tuples(st.just("slice"), sub, _SMALL, _SMALL),
        st.tuples(st.sampled_from(["upper", "lower", "trim"]), sub),
        st.tuples(st.just("repeat"), sub, st.integers(-1, 3)),
        st.tuples(st.just("charat"), sub, _SMALL),
        st.tuples(st.just("join"), sub, sub, sub),
        st.tuples(st.just("replace"), sub, sub, sub),
        st.tuples(st.just("chr"), st.sampled_from([65, 0xE9, 0x2603, 0x1F600, 0xD800, -1, 0x110000])),
    )


def render_str(node: Node) -> str:
    kind = node[0]
    if kind == "s":
        body = "".join(
            {"\\": "\\\\", '"': '\\"', "\t": "\\t"}.get(c, c) if c.isascii() else f"\\u{{{ord(c):x}}}" for c in node[1]
        )
        return f'"{body}"'
    if kind == "var":
        return "p"
    if kind == "tostr":
        return f"str({node[1]})"
    if kind == "cat":
        return f"({render_str(node[1])} + {render_str(node[2])})"
    if kind == "slice":
        return f"slice({render_str(node[1])}, {node[2]}, {node[3]})"
    if kind == "repeat":
        return f"repeat({render_str(node[1])}, {node[2]})"
    if kind == "charat":
        return f"{render_str(node[1])}[{node[2]}]"
    if kind == "join":
        return f'join(split({render_str(node[1])}, {render_str(node[2])} + ","), {render_str(node[3])})'
    if kind == "replace":
        return f"replace({render_str(node[1])}, {render_str(node[2])}, {render_str(node[3])})"
    if kind == "chr":
        return f"chr({node[1]})"
    return f"{kind}({render_str(node[1])})"


def eval_new_builtin(node: Node, p: str) -> str:
    """`replace` and `chr` as docs/language.md states them."""
    if node[0] == "replace":
        s, old, new = eval_str(node[1], p), eval_str(node[2], p), eval_str(node[3], p)
        if not old:
            raise Trap("runtime.empty-pattern")
        return s.replace(old, new)
    if not 0 <= node[1] <= 0x10FFFF or 0xD800 <= node[1] <= 0xDFFF:
        raise Trap("runtime.bad-operand")
    return chr(node[1])


def _string_facts(s: str, n: str) -> list[bool]:
    """contains, ==, <, >=, starts_with, ends_with: strings order by code point, as Python's do."""
    return [n in s, s == n, s < n, s >= n, s.startswith(n), s.endswith(n)]


def eval_str(node: Node, p: str) -> str:
    kind = node[0]
    if kind == "s":
        return str(node[1])
    if kind == "var":
        return p
    if kind == "tostr":
        return str(node[1])
    if kind == "cat":
        return eval_str(node[1], p) + eval_str(node[2], p)
    if kind == "slice":
        s = eval_str(node[1], p)
        lo, hi = (max(0, min(int(v), len(s))) for v in (node[2], node[3]))
        return s[lo:hi]
    if kind == "repeat":
        return eval_str(node[1], p) * max(0, int(node[2]))
    if kind == "charat":
        s = eval_str(node[1], p)
        if not 0 <= node[2] < len(s):
            raise Trap("runtime.index-out-of-range")
        return s[node[2]]
    if kind == "join":
        s, sep, glue = eval_str(node[1], p), eval_str(node[2], p) + ",", eval_str(node[3], p)
        return glue.join(s.split(sep))
    if kind in ("replace", "chr"):
        return eval_new_builtin(node, p)
    s = eval_str(node[1], p)
    return {"upper": s.upper, "lower": s.lower, "trim": s.strip}[kind]()


@given(str_expr(3), str_expr(2), _TEXTS)
def test_lang_differential_strings_agree_with_python(expr: Node, needle: Node, p: str) -> None:
    source = (
        "pub fn main(p: str) -> [str] {\n"
        f"    let s = {render_str(expr)};\n"
        f"    let n = {render_str(needle)};\n"
        "    return [s, str(len(s)), str(find(s, n)), str(contains(s, n)), str(s == n), str(s < n), str(s >= n),\n"
        "        str(starts_with(s, n)), str(ends_with(s, n))];\n"
        "}\n"
    )
    try:
        s, n = eval_str(expr, p), eval_str(needle, p)
        expected: tuple[str, Any] = (
            "value",
            [s, str(len(s)), str(s.find(n)), *(str(x).lower() for x in _string_facts(s, n))],
        )
    except Trap as trap:
        expected = ("trap", trap.code)
    report = run_chr(source, "main", [p])
    got = ("trap", report.error.code) if report.error is not None else ("value", report.value)
    assert got == expected, source
