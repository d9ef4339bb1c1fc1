"""The error-code registry: one owner and one meaning per code."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import chronicle_vm.engines.reference  # noqa: F401  (declares usage.unknown-entry)
from chronicle_vm import errors
from chronicle_vm.errors import declare_codes, declared_codes


@pytest.fixture(autouse=True)
def _registry_restored() -> Iterator[None]:
    """These tests declare codes; the registry is put back so the generated-docs test sees only real ones."""
    codes, owners = dict(errors._CODES), dict(errors._OWNERS)
    yield
    errors._CODES.clear()
    errors._CODES.update(codes)
    errors._OWNERS.clear()
    errors._OWNERS.update(owners)


def test_a_code_declared_by_another_module_is_refused() -> None:
    # `usage.unknown-entry` belongs to the interpreter; a second owner must not redefine it.
    assert "usage.unknown-entry" in declared_codes()
    with pytest.raises(ValueError, match=r"usage\.unknown-entry"):
        declare_codes("usage", {"unknown-entry": "something else"})


def test_redeclaring_with_another_meaning_is_refused() -> None:
    declare_codes("usage", {"test-only-code": "first meaning"})
    declare_codes("usage", {"test-only-code": "first meaning"})  # a re-imported module: same owner, same meaning
    with pytest.raises(ValueError, match=r"usage\.test-only-code"):
        declare_codes("usage", {"test-only-code": "second meaning"})
    assert declared_codes()["usage.test-only-code"] == "first meaning"


def test_every_package_imports_without_a_conflicting_code() -> None:
    import importlib
    import pkgutil

    for name in ("chronicle_vm", "chronicle_asm", "chronicle_lang", "chronicle_cli"):
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, name + "."):
            importlib.import_module(info.name)
    assert "source.invalid-utf8" in declared_codes("chronicle_asm")
