"""Hints for what authors write out of habit from other languages: takes what was found, gives a hint or None.

The parser and the type checker find the error; these functions only word
the way out, so each habit (`x += 1`, `elif`, `and`, `a ? b : c`, `0..=n`,
`null`, `s.len()`, a top-level `let`, `"1" == 1`) has its hint in one place.
docs/language.md's Diagnostics section lists them; keep the two in step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = [
    "NULL_WORDS",
    "compound_assignment_hint",
    "equality_hint",
    "method_call_hint",
    "name_hint",
    "null_hint",
    "syntax_word_hint",
    "top_level_hint",
    "undeclared_assignment_hint",
    "unexpected_character_hint",
]

#: Words other languages use for "no value"; `.chr` has none of them.
NULL_WORDS = frozenset({"null", "None", "nil", "undefined", "NULL"})

#: Words other languages declare functions with.
_FUNCTION_WORDS = frozenset({"def", "function", "func", "fun", "sub", "proc"})

#: Operator words and the `.chr` operator each stands for.
_WORD_OPERATORS = {"and": "&&", "or": "||"}

#: Methods of other languages' strings and lists, and the builtin that does the same.
_METHOD_BUILTINS = {
    "append": "push",
    "length": "len",
    "size": "len",
    "substring": "slice",
    "substr": "slice",
    "index": "find",
    "indexOf": "find",
    "index_of": "find",
    "includes": "contains",
    "strip": "trim",
    "toUpperCase": "upper",
    "to_uppercase": "upper",
    "toLowerCase": "lower",
    "to_lowercase": "lower",
    "toString": "str",
    "to_string": "str",
}

_IF_STATEMENT = "use an if statement: 'if c { x = a; } else { x = b; }'"

# The statement around a compound assignment: the target, the operator and the value (one line).
# Every repetition is bounded, so a long line costs linear time.
_COMPOUND = re.compile(
    r"([A-Za-z_][A-Za-z0-9_\[\]. ]{0,40}?)[ \t]{0,8}([-+*/%])=[ \t]{0,8}([^;{}\n]{1,40}?)[ \t]{0,8};"
)


def compound_assignment_hint(op: str, line: str) -> str:
    """`x += 1` is not `.chr`: spell out `x = x + 1` with the author's own target and value when they are short."""
    for m in _COMPOUND.finditer(line):
        if m.group(2) == op:
            target, value = m.group(1).strip(), m.group(3)
            return f"there is no '{op}=': write '{target} = {target} {op} {value};'"
    return f"there is no '{op}=': write 'x = x {op} y;'"


def syntax_word_hint(found_type: str, found_text: str, previous_word: str | None, before: str) -> str | None:
    """A hint for a syntax error caused by a word or operator from another language, or None.

    `found_type` and `found_text` are the unexpected token, `previous_word`
    the name just before it (if the token follows a name), `before` the
    character just before it.
    """
    if previous_word == "elif":
        return "there is no 'elif': write 'else if'"
    if found_type == "NAME" and found_text in _WORD_OPERATORS:
        return f"there is no '{found_text}' operator: write '{_WORD_OPERATORS[found_text]}'"
    if previous_word in _WORD_OPERATORS:
        return f"there is no '{previous_word}' operator: write '{_WORD_OPERATORS[previous_word]}'"
    if previous_word == "not":
        return "there is no 'not' operator: write '!' (as in '!done')"
    if found_type == "IF":
        return "there is no 'x if c else y' expression: " + _IF_STATEMENT
    if found_type == "EQUAL" and before == "=":
        return "there is no '===' (or '!=='): compare with '==' (or '!=')"
    if found_type == "EQUAL" and before == ".":
        return "there is no '..=': a range excludes its end, write '0..n + 1' to include n"
    return None


def unexpected_character_hint(char: str) -> str | None:
    if char == "'":
        return "strings are written in double quotes"
    if char == "?":
        return "there is no 'a ? b : c' expression: " + _IF_STATEMENT
    return None


def top_level_hint(word: str, has_const: bool) -> str | None:
    """A hint for a declaration that is not allowed at the top level (`let`, `var`, `def`, ...), or None."""
    if word in _FUNCTION_WORDS:
        return "functions are declared with 'fn': 'fn name(x: int) -> int { ... }' ('pub fn' for an entry)"
    if word == "const" and not has_const:
        return "this version has no module-level constants: declare it with 'let' in the function that uses it"
    if word not in ("let", "var", "val"):
        return None
    # Worded on what this grammar accepts, so it stays true before and after `const` exists.
    if has_const:
        return f"a '{word}' belongs inside a function; a module-level value is a constant: 'const NAME: int = 1;'"
    return f"a '{word}' belongs inside a function: declare it in the function that uses it"


def name_hint(name: str) -> str | None:
    """A hint for an unknown name that is another language's literal (`null`, `None`, `True`), or None."""
    if name in NULL_WORDS:
        return null_hint(name)
    if name in ("True", "False", "TRUE", "FALSE"):
        return f"booleans are written in lower case: '{name.lower()}'"
    return None


def null_hint(name: str) -> str:
    return (
        f"there is no '{name}': every value has its type; return a value of the declared type, "
        'or use a bool flag or a sentinel such as -1 or ""'
    )


def method_call_hint(receiver: str, method: str, builtin_arity: Mapping[str, int]) -> str:
    """`s.len()` on a variable: name the builtin taking it as first argument, or say there are no methods.

    `builtin_arity` maps each builtin's name to its parameter count.  A
    method known under another name elsewhere (`append`, `substring`) names
    the builtin that does it.
    """
    builtin = method if method in builtin_arity else _METHOD_BUILTINS.get(method)
    if builtin is not None and builtin in builtin_arity:
        rest = ", ..." if builtin_arity[builtin] > 1 else ""
        return f"values have no methods: call the builtin '{builtin}({receiver}{rest})'"
    return f"values have no methods: write a function and call it as '{method}({receiver}, ...)'"


def undeclared_assignment_hint(name: str, value: str, near: str | None) -> str:
    """`x = 5` where no `x` is declared: `let x = 5;` declares it (`value` is the source text, or "...")."""
    declare = f"declare it first: 'let {name} = {value};'"
    return f"did you mean '{near}'? or {declare}" if near else declare


def equality_hint(op: str, left: str, right: str) -> str | None:
    """`"1" == 1`: a str compared with an int; say how to convert one side."""
    if {left, right} == {"str", "int"}:
        return f"convert one side first: 'str(n) {op} s' or 'parse_int(s) {op} n'"
    return None
