"""`--host MODULE:ATTR`: takes the operator's host spec, gives that application's own `chronicle_vm.host.Host`.

MODULE is a dotted module name, imported with the working directory first on
the module path (as `python -m` does), or a path to a `.py` file.  ATTR names
a `Host` object in it, or a function taking no arguments that returns one
(a factory, for hosts built per process).  This runs the operator's own code,
as their service would; anything wrong with it (no such module, an import
that raises, no such attribute, not a Host) is a usage error naming the
spec, never a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from types import ModuleType

from chronicle_vm.capabilities.host import Host
from chronicle_vm.errors import UsageError, declare_codes

__all__ = ["CustomHost", "load_host"]

declare_codes("usage", {"host-spec": "--host does not name an importable module and a Host object in it"})


class CustomHost:
    """A host application's Host, shaped like the CLI host (`host`, `close`) for the commands."""

    def __init__(self, host: Host, spec: str) -> None:
        self.host = host
        self.spec = spec

    def close(self) -> None:
        """Nothing to release: the application owns its host's resources."""


def load_host(spec: str) -> CustomHost:
    """Import `spec` (MODULE:ATTR) and give its Host; raises `UsageError('usage.host-spec')` otherwise."""

    def fail(problem: str) -> UsageError:
        return UsageError("usage.host-spec", f"--host {spec}: {problem}", spec=spec)

    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise fail("expected MODULE:ATTR, such as myservice.plugins:host or hosts/pricing.py:host")
    module = _import(module_name, fail)
    target = module
    for part in attr.split("."):
        if not part.isidentifier():
            raise fail(f"{attr!r} is not an attribute name")
        try:
            target = getattr(target, part)
        except AttributeError:
            raise fail(f"{module_name} has no attribute {attr!r}") from None
        except Exception as exc:  # a module's __getattr__ is the application's code too
            raise fail(f"reading {attr!r} raised {type(exc).__name__}: {_text(exc)}") from None
    host = target
    if not isinstance(host, Host) and callable(host):
        try:
            host = host()
        except Exception as exc:
            raise fail(f"calling {attr}() raised {type(exc).__name__}: {_text(exc)}") from None
    if not isinstance(host, Host):
        raise fail(f"{attr} is {type(host).__name__}, not a chronicle_vm.host.Host (or a function returning one)")
    return CustomHost(host, spec)


def _import(name: str, fail: Callable[[str], UsageError]) -> ModuleType:
    try:
        if name.endswith(".py") or os.sep in name or "/" in name:
            path = os.path.abspath(name)
            if not os.path.isfile(path):
                raise fail(f"no such file {name}")
            module_name = "_chronicle_host_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
            spec = importlib.util.spec_from_file_location(module_name, path)
            if spec is None or spec.loader is None:
                raise fail(f"{name} cannot be imported as a Python file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            return module
        if "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m`: the operator's own modules first
        return importlib.import_module(name)
    except UsageError:
        raise
    except ModuleNotFoundError as exc:
        raise fail(f"no module named {exc.name or name!r}") from None
    except (Exception, SystemExit) as exc:  # the import ran the application's code: any failure is reported
        raise fail(f"importing {name} raised {type(exc).__name__}: {_text(exc)}") from None


def _text(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        return "<unprintable>"
    return text if len(text) <= 300 else text[:300] + "..."
