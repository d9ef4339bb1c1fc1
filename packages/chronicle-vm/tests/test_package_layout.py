"""The package follows the pipeline: no import circles, every subpackage says what it takes and gives, the fronts
of the embedding API keep working."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import chronicle_vm

PACKAGE = Path(chronicle_vm.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """chronicle_vm modules imported at module level (TYPE_CHECKING blocks included; imports inside functions,
    which run only when called, are not edges of the import graph)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    stack: list[ast.AST] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.If, ast.Try)):
            stack.extend(node.body)
            stack.extend(getattr(node, "orelse", []))
            stack.extend(h for handler in getattr(node, "handlers", []) for h in handler.body)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("chronicle_vm"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("chronicle_vm"):
                found.add(target)
                found.update(f"{target}.{alias.name}" for alias in node.names)
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def test_no_import_circles() -> None:
    graph = _graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith(node + ".") or node == "chronicle_vm":
                continue  # a package importing its own submodules (its front) is not a circle
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_every_subpackage_says_what_it_takes_and_gives() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "takes" in doc and "gives" in doc, init.parent.name


def test_the_documented_fronts_still_import() -> None:
    for name, attribute in [
        ("chronicle_vm.runtime", "instantiate"),
        ("chronicle_vm.capabilities.host", "Host"),
        ("chronicle_vm.capabilities.policy", "Policy"),
        ("chronicle_vm.trace.document", "load_trace"),
        ("chronicle_vm.trace.replay", "replay"),
        ("chronicle_vm.errors", "ChronicleError"),
        ("chronicle_vm.limits", "Limits"),
    ]:
        assert hasattr(importlib.import_module(name), attribute), (name, attribute)


def test_top_level_names_are_the_functions_even_after_their_modules_load() -> None:
    import chronicle_vm.trace.replay
    import chronicle_vm.verifier  # noqa: F401
    from chronicle_vm import negotiate, replay, verify

    assert callable(verify) and verify.__name__ == "verify"
    assert callable(negotiate) and negotiate.__name__ == "negotiate"
    assert callable(replay)
