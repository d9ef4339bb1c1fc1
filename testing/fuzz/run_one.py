"""Run one fuzz target under atheris: `python testing/fuzz/run_one.py TARGET [libFuzzer flags...] [CORPUS_DIR...]`."""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Every module a target reaches must be first imported here: atheris instruments only modules
# imported inside this block, and the targets import most of them lazily.
with atheris.instrument_imports(include=["chronicle_vm", "chronicle_asm", "chronicle_lang", "chronicle_cli"]):
    import targets

    import chronicle_asm  # noqa: F401
    import chronicle_cli.report
    import chronicle_cli.suggest
    import chronicle_cli.trace_view  # noqa: F401
    import chronicle_lang  # noqa: F401
    import chronicle_vm.binary.decode
    import chronicle_vm.binary.encode
    import chronicle_vm.capabilities.host
    import chronicle_vm.capabilities.negotiation
    import chronicle_vm.capabilities.policy
    import chronicle_vm.engines.compiled
    import chronicle_vm.engines.reference
    import chronicle_vm.runtime
    import chronicle_vm.trace.document
    import chronicle_vm.trace.replay
    import chronicle_vm.verifier.rules  # noqa: F401


def main() -> None:
    name = sys.argv[1]
    target = targets.TARGETS[name]
    if name in {"policy", "trace"}:
        targets.sample_module_bytes()  # compile the fixed sample once, outside the measured inputs
    if name == "trace-v2":
        targets.sample_v2_module_bytes()
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
