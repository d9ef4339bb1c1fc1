"""Structure-aware mutations of a genuine version-2 trace (floats, maps, structs, a recursive struct), in the
regular suite: every mutant is loaded, replayed on both engines (which must agree) and read by `policy
suggest`, the report and the inspect view (`testing/fuzz/targets.py:target_trace_v2`, the atheris target
`trace-v2` of `nox -s fuzz`), and ends in a result or a ChronicleError.

Byte-level noise (test_trace_v2*.py in chronicle-vm) mostly breaks the JSON; these mutants stay JSON and
change one value's type or shape, a key, an item or a header type text, so they reach the typed readers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "testing" / "fuzz"))

import targets  # noqa: E402

from chronicle_vm.trace.document import canonical_json  # noqa: E402

SAMPLE = json.loads(targets.sample_v2_trace_bytes())

#: JSON values a mutation puts in: floats at repr's corners, ints at and past 64 bits, texts of types.
SCALARS = st.one_of(
    st.sampled_from([0.0, -0.0, 5e-324, 1e16, 0.1, 1.7976931348623157e308, 2**63, -(2**63) - 1, 2**1100]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(),
    st.booleans(),
    st.none(),
    st.sampled_from(["Item", "Node", "struct#1", "struct#9", "{str: float}", "[Node]", "(Item) -> float", "x"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(SCALARS, inner).map(list), max_size=3),  # map-like pairs
        st.dictionaries(st.sampled_from(["sku", "qty", "unit", "name", "kids", "x"]), inner, max_size=4),
    ),
    max_leaves=12,
)


def _paths(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document (the root excluded), depth first."""
    found: list[tuple[Any, ...]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append((*at, key))
        found += _paths(child, (*at, key))
    return found


PATHS = _paths(SAMPLE)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutants(draw: st.DrawFn) -> bytes:
    doc = json.loads(canonical_json(SAMPLE))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        try:
            parent = _parent(doc, path)
            key = path[-1]
            parent[key]
        except (KeyError, IndexError, TypeError):
            continue
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "wrap"]))
        if action == "replace":
            parent[key] = draw(VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif action == "wrap":
            parent[key] = [parent[key]] if draw(st.booleans()) else [[parent[key], parent[key]]]
    return canonical_json(doc)


def test_the_sample_replays_exactly_and_suggests_a_policy() -> None:
    targets.target_trace_v2(targets.sample_v2_trace_bytes())
    doc = SAMPLE
    assert doc["version"] == 2 and {s["name"] for s in doc["provenance"]["structs"]} == {"Item", "Node"}
    assert "-0.0" in json.dumps(doc["entry"]["args"]) and "5e-324" in json.dumps(doc["entry"]["args"])


@given(mutants())
@settings(max_examples=120, deadline=None)
def test_mutated_version_2_traces_end_in_a_result_or_a_structured_error(data: bytes) -> None:
    targets.target_trace_v2(data)
