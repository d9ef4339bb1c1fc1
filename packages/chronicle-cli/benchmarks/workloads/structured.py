"""The structured-values workloads (issue 18's bar): each `.chr` program here written line for line in Python.

Each `.chr` file has `main` (the published answer, checked by the `.chr` program tests on every engine) and
`bench(n)`; the functions below are `bench` in plain Python, so the ratio of the two timings taken in the same
process is the VM's slowdown against CPython on the same algorithm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["base64_bench", "binary_trees_bench", "json_tokens_bench", "spectral_norm_bench", "wordfreq_bench"]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def encode(data: list[int]) -> str:
    digits = ALPHABET
    out: list[str] = []
    n = len(data)
    i = 0
    while i + 2 < n:
        v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2]
        out.append(digits[(v >> 18) & 63])
        out.append(digits[(v >> 12) & 63])
        out.append(digits[(v >> 6) & 63])
        out.append(digits[v & 63])
        i = i + 3
    rest = n - i
    if rest == 1:
        v = data[i] << 16
        out.append(digits[(v >> 18) & 63])
        out.append(digits[(v >> 12) & 63])
        out.append("==")
    elif rest == 2:
        v = (data[i] << 16) | (data[i + 1] << 8)
        out.append(digits[(v >> 18) & 63])
        out.append(digits[(v >> 12) & 63])
        out.append(digits[(v >> 6) & 63])
        out.append("=")
    return "".join(out)


def base64_bench(n: int) -> int:
    data: list[int] = []
    i = 0
    while i < n:
        data.append((i * 7 + 3) & 255)
        i = i + 1
    text = encode(data)
    return len(text) * 1000 + ord(text[len(text) // 2])


def count(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in text.lower().split(" "):
        if word != "":
            counts[word] = counts.get(word, 0) + 1
    return counts


def top(counts: dict[str, int]) -> str:
    best = ""
    most = 0
    for word, n in counts.items():
        if n > most or (n == most and word < best):
            best = word
            most = n
    return best


def wordfreq_bench(n: int) -> int:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda"]
    parts: list[str] = []
    i = 0
    while i < n:
        parts.append(words[(i * 7 + i // 3) % 11])
        i = i + 1
    counts = count(" ".join(parts))
    return counts[top(counts)] * 100 + len(counts)


@dataclass
class Token:
    kind: str
    text: str


def is_digit(c: str) -> bool:
    return c >= "0" and c <= "9"


def tokenize(s: str) -> list[Token]:  # noqa: PLR0912 - line for line the .chr tokenizer
    tokens: list[Token] = []
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c in " \n\t\r":
            i = i + 1
        elif c in "{}[]:,":
            tokens.append(Token(c, c))
            i = i + 1
        elif c == '"':
            j = i + 1
            while j < n and s[j] != '"':
                if s[j] == "\\":
                    j = j + 1
                j = j + 1
            tokens.append(Token("string", s[i : j + 1]))
            i = j + 1
        elif c == "-" or is_digit(c):
            j = i + 1
            while j < n and s[j] in "0123456789.eE+-":
                j = j + 1
            tokens.append(Token("number", s[i:j]))
            i = j
        else:
            j = i
            while j < n and s[j] >= "a" and s[j] <= "z":
                j = j + 1
            if j == i:
                j = i + 1
            word = s[i:j]
            kind = "error"
            if word == "true" or word == "false":
                kind = "bool"
            elif word == "null":
                kind = "null"
            tokens.append(Token(kind, word))
            i = j
    return tokens


def kinds(tokens: list[Token]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t.kind] = counts.get(t.kind, 0) + 1
    return counts


def json_tokens_bench(n: int) -> int:
    parts: list[str] = []
    i = 0
    while i < n:
        parts.append('{"id": ' + str(i) + ', "name": "item' + str(i % 10) + '", "price": 1.5e2, "ok": true}')
        i = i + 1
    tokens = tokenize("[" + ", ".join(parts) + "]")
    counts = kinds(tokens)
    return len(tokens) * 10 + counts["string"] % 10


def a(i: int, j: int) -> float:
    ij = i + j
    return 1.0 / float(ij * (ij + 1) // 2 + i + 1)


def mul_av(v: list[float], out: list[float], n: int) -> None:
    for i in range(n):
        s = 0.0
        for j in range(n):
            s = s + a(i, j) * v[j]
        out[i] = s


def mul_atv(v: list[float], out: list[float], n: int) -> None:
    for i in range(n):
        s = 0.0
        for j in range(n):
            s = s + a(j, i) * v[j]
        out[i] = s


def mul_atav(v: list[float], out: list[float], tmp: list[float], n: int) -> None:
    mul_av(v, tmp, n)
    mul_atv(tmp, out, n)


def spectral(n: int) -> float:
    u: list[float] = []
    v: list[float] = []
    tmp: list[float] = []
    for _i in range(n):
        u.append(1.0)
        v.append(0.0)
        tmp.append(0.0)
    for _k in range(10):
        mul_atav(u, v, tmp, n)
        mul_atav(v, u, tmp, n)
    vbv = 0.0
    vv = 0.0
    for i in range(n):
        vbv = vbv + u[i] * v[i]
        vv = vv + v[i] * v[i]
    return math.sqrt(vbv / vv)


def spectral_norm_bench(n: int) -> int:
    return round(spectral(n) * 1e9)


@dataclass
class Node:
    kids: list[Node]


def make(depth: int) -> Node:
    if depth == 0:
        return Node([])
    return Node([make(depth - 1), make(depth - 1)])


def check(t: Node) -> int:
    if len(t.kids) == 0:
        return 1
    return 1 + check(t.kids[0]) + check(t.kids[1])


def trees(n: int) -> int:
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    stretch = max_depth + 1
    total = check(make(stretch))
    long_lived = make(max_depth)
    d = min_depth
    while d <= max_depth:
        iterations = 1 << (max_depth - d + min_depth)
        total_d = 0
        for _i in range(iterations):
            total_d = total_d + check(make(d))
        total = total + total_d
        d = d + 2
    return total + check(long_lived)


def binary_trees_bench(n: int) -> int:
    return trees(n)
