"""An empty array literal is typed by any other item of the literal, earlier or later (`[[], [1]]` as `[[1], []]`)."""

from __future__ import annotations

import pytest

from chronicle_lang import compile_to_module
from chronicle_vm.errors import SourceError
from chronicle_vm.runtime import instantiate, load_module


def _run(body: str) -> object:
    module = compile_to_module(f"pub fn main() -> int {{\n{body}\n}}\n", "infer.chr")
    return instantiate(load_module(module.to_bytes())).call("main").value


@pytest.mark.parametrize(
    ("body", "value"),
    [
        ("let v = [[], [1]]; return len(v) * 10 + v[1][0];", 21),
        ("let v = [[1], []]; return len(v) * 10 + v[0][0];", 21),
        ("let v = [[], [], [7, 8]]; return len(v[0]) + len(v[1]) + v[2][1];", 8),
        ("let w = [[[]], [[2, 3]], []]; return len(w) * 100 + len(w[0]) * 10 + len(w[1][0]);", 312),
    ],
)
def test_later_items_type_the_empty_ones(body: str, value: int) -> None:
    assert _run(body) == value


def test_items_still_evaluate_in_order() -> None:
    # The typing item is compiled first, but only empty literals (which have no effects) move behind it.
    body = "let log: [int] = [];\nlet v = [[], [push_len(log, 1)], [push_len(log, 2)]];\nreturn log[0] * 10 + log[1];"
    source = (
        "fn push_len(xs: [int], x: int) -> int {\n    push(xs, x);\n    return len(xs);\n}\n"
        f"pub fn main() -> int {{\n{body}\n}}\n"
    )
    module = compile_to_module(source, "order.chr")
    assert instantiate(load_module(module.to_bytes())).call("main").value == 12


@pytest.mark.parametrize("body", ["let v = [[], []]; return 0;", "let v = [[[]], []]; return 0;"])
def test_only_empty_items_still_cannot_be_inferred(body: str) -> None:
    with pytest.raises(SourceError) as caught:
        _run(body)
    assert caught.value.details["diagnostics"][0]["code"] == "source.cannot-infer"


def test_a_mismatch_is_reported_against_the_typing_item() -> None:
    with pytest.raises(SourceError) as caught:
        _run('let v = [[1], ["a"]]; return 0;')
    assert caught.value.details["diagnostics"][0]["code"] == "source.type-mismatch"
