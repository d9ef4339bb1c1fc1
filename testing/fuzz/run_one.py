"""Run one fuzz target under atheris: `python testing/fuzz/run_one.py TARGET [libFuzzer flags...] [CORPUS_DIR...]`."""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent))

with atheris.instrument_imports(include=["chronicle_vm", "chronicle_asm", "chronicle_lang"]):
    import targets


def main() -> None:
    name = sys.argv[1]
    target = targets.TARGETS[name]
    if name in {"policy", "trace"}:
        targets.sample_module_bytes()  # compile the fixed sample once, outside the measured inputs
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
