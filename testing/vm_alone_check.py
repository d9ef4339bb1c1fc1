"""Run where only chronicle-vm (and its own dependencies) is installed: `nox -s vm-alone`.

A host that only runs plugins installs chronicle-vm alone.  This imports
every chronicle_vm module, runs a module end to end through the embedding
API, and fails if anything of lark, rich, chronicle_asm, chronicle_lang or
chronicle_cli was imported or is importable-by-accident from the package.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

FORBIDDEN = ("lark", "rich", "chronicle_asm", "chronicle_lang", "chronicle_cli")


def main() -> int:
    import chronicle_vm
    from chronicle_vm.capabilities.host import Host
    from chronicle_vm.capabilities.policy import Policy
    from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap
    from chronicle_vm.core.types import INT, STR
    from chronicle_vm.runtime import instantiate, load_module

    for info in pkgutil.walk_packages(chronicle_vm.__path__, "chronicle_vm."):
        importlib.import_module(info.name)

    # main(n) = n + len(kv.get("k")), built from the model, encoded, decoded, verified, negotiated, run.
    code = (
        Instruction(0x02, 1, 0),  # loadk r1, "k"
        Instruction(0x24, 0, 1, 2),  # capcall kv.get(r1) -> r2
        Instruction(0x32, 3, 2),  # len r3, r2
        Instruction(0x10, 0, 0, 3),  # add r0, r0, r3
        Instruction(0x25, 0),  # ret r0
    )
    main_fn = Function("main", True, 1, INT, (INT, STR, STR, INT), code)
    module = Module(
        constants=("k",),
        capabilities=(Capability("kv.get", (STR,), STR),),
        functions=(main_fn,),
        source_map=SourceMap(files=(), functions=((),)),
    )
    host = Host()

    @host.capability("kv.get")
    def kv_get(key: str) -> str:
        return "value"

    policy = Policy.from_toml('version = 1\n[capabilities."kv.get"]\nallow = true\n')
    instance = instantiate(load_module(module.to_bytes()), host=host, policy=policy)
    result = instance.call("main", 10)
    if result.value != 15:
        print(f"vm-alone: expected 15, got {result.value!r}")
        return 1

    leaked = sorted(name for name in sys.modules if name.split(".")[0] in FORBIDDEN)
    if leaked:
        print(f"vm-alone: chronicle_vm imported {leaked}")
        return 1
    for name in FORBIDDEN:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        print(f"vm-alone: {name} is installed in this environment; the check needs chronicle-vm alone")
        return 1
    print(f"vm-alone: ok ({len(list(pkgutil.walk_packages(chronicle_vm.__path__)))} modules, result {result.value})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
