"""Traces are the same bytes on every Python: record the example and test plugins on two Pythons, replay across.

    python testing/cross_python.py compile DIR            # with the four packages: DIR/modules/*.cmod + manifest
    python testing/cross_python.py record DIR TAG         # with chronicle-vm alone: DIR/TAG/*.json
    python testing/cross_python.py replay DIR TAG         # replay DIR/TAG's traces on this Python
    python testing/cross_python.py compare DIR TAG1 TAG2  # the two recordings byte for byte

`nox -s cross-python` runs the whole round: it compiles once, records on
Python 3.10 (Unicode 13.0) and 3.13 (Unicode 15.1), replays each
recording on the other Python and requires the two recordings to be
identical.  Every exported function of every example, and every runnable
program of chronicle-lang's tests, is called; the arguments are chosen by
parameter type and the strings include characters whose case mapping or
printability differs between those Unicode versions.  The host answers
every capability with a fixed value of its declared type, so the only
thing that could tell the two Pythons apart is the runtime itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
#: Text whose case mapping (U+10597, added in Unicode 14) or repr() (U+10570) differs between Python 3.10 and 3.13.
TEXT = "Straße \u03a3\U00010597\U00010570 \u202e"
_LIMITS = {"max_instructions": 200_000}


def _sample(vtype: Any) -> object:
    from chronicle_vm.core.types import BaseType, TypeKind

    if vtype.depth > 0:
        return [_sample(vtype.element())]
    if vtype.kind is TypeKind.FLOAT:
        return 0.1  # its repr, "0.1", is the shortest text that reads back: the same algorithm on 3.10 and 3.13
    return {BaseType.INT: 3, BaseType.BOOL: True, BaseType.STR: TEXT}[vtype.base]


def compile_all(folder: Path) -> None:
    """Compile every example and runnable test program; the manifest names each call to make."""
    sys.path.insert(0, str(ROOT / "testing"))
    from chronicle_lang import compile_to_module
    from chronicle_testing.lang_run import expectations
    from chronicle_vm.runtime import load_module

    modules = folder / "modules"
    modules.mkdir(parents=True, exist_ok=True)
    calls: list[dict[str, Any]] = []
    sources = sorted((ROOT / "examples").glob("*.chr")) + sorted(
        (ROOT / "packages/chronicle-lang/tests/programs").glob("*.chr")
    )
    for source in sources:
        text = source.read_text(encoding="utf-8")
        want = expectations(text)
        if want["errors"]:
            continue  # a program that must not compile
        data = compile_to_module(text, source.name).to_bytes()
        name = f"{source.parent.name}-{source.stem}"
        (modules / f"{name}.cmod").write_bytes(data)
        verified = load_module(data).verified
        if source.parent.name == "examples":
            for entry in sorted(verified.exports):
                function = verified.function(entry)
                assert function is not None
                args = [_sample(param) for param in function.params]
                calls.append({"name": f"{name}.{entry}", "module": name, "entry": entry, "args": args})
        else:
            calls.append({"name": name, "module": name, "entry": want["entry"], "args": want["args"]})
    (folder / "manifest.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"compiled {len(sources)} sources: {len(calls)} calls")


def _host_and_policy(module: Any) -> tuple[Any, Any]:
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy

    host = Host()
    lines = ["version = 1"]
    for capability in module.capabilities:
        answer = None if capability.result is None else _sample(capability.result)
        host.register(
            capability.name, lambda *args, _answer=answer: _answer, params=capability.params, result=capability.result
        )
        lines += [f'[capabilities."{capability.name}"]', "allow = true"]
    return host, Policy.from_toml("\n".join(lines) + "\n")


def record_all(folder: Path, tag: str) -> None:
    """Record one trace per manifest call with chronicle-vm alone."""
    from chronicle_vm.errors import ChronicleError
    from chronicle_vm.limits import Limits
    from chronicle_vm.runtime import instantiate, load_module
    from chronicle_vm.trace.document import error_trace

    out = folder / tag
    out.mkdir(parents=True, exist_ok=True)
    calls = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for call in calls:
        loaded = load_module((folder / "modules" / f"{call['module']}.cmod").read_bytes())
        host, policy = _host_and_policy(loaded.module)
        instance = instantiate(loaded, host=host, policy=policy, limits=Limits(**_LIMITS), engine="reference")
        try:
            trace = instance.call(call["entry"], *call["args"], trace=True).trace
        except ChronicleError as error:
            trace = error_trace(error)
        if trace is None:
            raise SystemExit(f"{call['name']}: no trace")
        (out / f"{call['name']}.json").write_bytes(trace.to_json())
    print(f"{sys.version.split()[0]}: recorded {len(calls)} traces in {tag}")


def replay_all(folder: Path, tag: str) -> int:
    from chronicle_vm.errors import ChronicleError
    from chronicle_vm.trace.replay import replay

    calls = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    failed = 0
    for call in calls:
        module = (folder / "modules" / f"{call['module']}.cmod").read_bytes()
        engines: tuple[Literal["reference"], Literal["compiled"]] = ("reference", "compiled")
        for engine in engines:
            try:
                replay((folder / tag / f"{call['name']}.json").read_bytes(), module, engine=engine)
            except ChronicleError as error:
                failed += 1
                print(f"{call['name']} ({engine}): {error.code}: {error.message[:300]}")
    print(f"{sys.version.split()[0]}: replayed {len(calls)} traces of {tag} on both engines, {failed} failed")
    return 1 if failed else 0


def compare(folder: Path, first: str, second: str) -> int:
    names = sorted(path.name for path in (folder / first).glob("*.json"))
    differ = [name for name in names if (folder / first / name).read_bytes() != (folder / second / name).read_bytes()]
    for name in differ:
        print(f"{name}: the {first} and {second} recordings differ")
    print(f"{len(names)} traces compared, {len(differ)} differ")
    return 1 if differ or not names else 0


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    command, folder = argv[0], Path(argv[1])
    if command == "compile":
        compile_all(folder)
        return 0
    if command == "record":
        record_all(folder, argv[2])
        return 0
    if command == "replay":
        return replay_all(folder, argv[2])
    if command == "compare":
        return compare(folder, argv[2], argv[3])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
