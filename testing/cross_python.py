"""Traces are the same bytes on every Python: record the example and test plugins on two Pythons, replay across.

    python testing/cross_python.py compile DIR            # with the four packages: DIR/modules/*.cmod + manifest
    python testing/cross_python.py record DIR TAG         # with chronicle-vm alone: DIR/TAG/*.json
    python testing/cross_python.py replay DIR TAG         # replay DIR/TAG's traces on this Python
    python testing/cross_python.py compare DIR TAG1 TAG2  # the two recordings byte for byte

`nox -s cross-python` runs the whole round: it compiles once, records on
Python 3.10 (Unicode 13.0) and 3.13 (Unicode 15.1), replays each
recording on the other Python and requires the two recordings to be
identical.  Every exported function of every example, and every runnable
program of chronicle-lang's tests (`programs/<feature>/*.chr`), is called;
the arguments are chosen by parameter type and the strings include
characters whose case mapping or printability differs between those Unicode
versions.  The version-2 sample plugin (testing/chronicle_testing/
sample_v2.chr: floats, maps, structs) is called with the floats of `FLOATS`
(-0.0, subnormals, 1e16, 0.1 + 0.2, ...), so its traces hold their repr
texts, arithmetic and square roots.  Arguments travel in the manifest in
their JSON forms and are read by the entry's declared types.  The host
answers every capability with a fixed value of its declared type, so the
only thing that could tell the two Pythons apart is the runtime itself.
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


#: Floats whose repr, arithmetic and square roots must give the same bits and texts on every Python: -0.0, the
#: smallest subnormal, the largest subnormal and the smallest normal, 1e16 (repr `1e+16`), 0.1 + 0.2, 2**53 + 1
#: (not a float: it reads as 2**53), 1e-07, a third, and one with an exact binary fraction.
FLOATS = [
    -0.0, 5e-324, 2.225073858507201e-308, 2.2250738585072014e-308, 1e16, 0.1 + 0.2, float(2**53 + 1), 1e-07,
    1 / 3, 123456789.125, 4.35,
]  # fmt: skip
#: The version-2 sample plugin (floats, maps, structs; testing/fuzz/targets.py's `trace-v2` target) and its calls.
V2_SAMPLE = ROOT / "testing" / "chronicle_testing" / "sample_v2.chr"
_ORDER = [{"sku": TEXT, "qty": 2, "unit": 1.5}, {"sku": "pear", "qty": 1, "unit": -0.0}]
V2_CALLS = [
    ("v2-sample.main", [_ORDER, {"vip": True}, FLOATS]),
    ("v2-sample.plain", [[], {}, [0.1, 0.2, 0.30000000000000004, -5e-324]]),
]


def _sample(vtype: Any, structs: Any = ()) -> object:
    """A fixed value of a type in its JSON form (a map as `[key, value]` pairs, a struct by field name), as the
    manifest stores arguments; `_host_form` reads it back by the declared type."""
    from chronicle_vm.core.types import TypeKind

    kind = vtype.kind
    if kind is TypeKind.ARRAY:
        return [_sample(vtype.element(), structs)]
    if kind is TypeKind.MAP:
        key, value = vtype.args
        return [[_sample(key, structs), _sample(value, structs)]]
    if kind is TypeKind.STRUCT:
        return {field.name: _sample(field.type, structs) for field in structs[vtype.ref].fields}
    if kind is TypeKind.FLOAT:
        return 0.1  # its repr, "0.1", is the shortest text that reads back: the same algorithm on 3.10 and 3.13
    return {TypeKind.INT: 3, TypeKind.BOOL: True, TypeKind.STR: TEXT}[kind]


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
        (ROOT / "packages/chronicle-lang/tests/programs").rglob("*.chr")  # filed by feature: programs/floats/...
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
                args = [_sample(param, verified.module.structs) for param in function.params]
                calls.append({"name": f"{name}.{entry}", "module": name, "entry": entry, "args": args})
        else:
            calls.append({"name": name, "module": name, "entry": want["entry"], "args": want["args"]})
    (modules / "v2-sample.cmod").write_bytes(
        compile_to_module(V2_SAMPLE.read_text(encoding="utf-8"), V2_SAMPLE.name).to_bytes()
    )
    calls += [{"name": name, "module": "v2-sample", "entry": "main", "args": args} for name, args in V2_CALLS]
    (folder / "manifest.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"compiled {len(sources) + 1} sources: {len(calls)} calls")


def _host_form(obj: object, vtype: Any, structs: Any, what: str) -> object:
    """The host value a JSON form holds for `vtype` (the CLI's lenient forms too: a str-keyed map as an object)."""
    from chronicle_vm.core.type_registry import JsonForm, from_json

    return from_json(obj, vtype, JsonForm(structs, lenient=True), what)


def _host_and_policy(module: Any) -> tuple[Any, Any]:
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy

    host = Host()
    lines = ["version = 1"]
    for capability in module.capabilities:
        result = capability.result
        answer = None if result is None else _host_form(_sample(result, module.structs), result, module.structs, "")
        host.register(
            capability.name,
            lambda *args, _answer=answer: _answer,
            params=capability.params,
            result=capability.result,
            structs=module.structs,
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
        function = loaded.verified.function(call["entry"])
        args = call["args"]
        if function is not None and len(args) == len(function.params):
            pairs = enumerate(zip(args, function.params, strict=True))
            args = [_host_form(arg, vtype, loaded.module.structs, f"args[{i}]") for i, (arg, vtype) in pairs]
        try:
            trace = instance.call(call["entry"], *args, trace=True).trace
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
