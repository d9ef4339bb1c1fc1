"""Run every fuzz target for a fixed time each: `python testing/fuzz/run_all.py --seconds 600 [--only NAME]`.

Each target runs in its own process under atheris with a persistent corpus in
`testing/fuzz/corpus/<target>/` (seeded from examples/ and the golden files
on first use), a per-input timeout and an RSS cap.  A crash, timeout or
out-of-memory input is written to `testing/fuzz/findings/<target>/`; copy it to
`testing/fuzz/regressions/<target>/` once fixed, and the `tests` session
replays it for ever after.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
NAMES = ("module", "casm", "chr", "policy", "trace", "trace-v2")


def seed(name: str, corpus: Path) -> None:
    """Put realistic inputs into an empty corpus, so the fuzzer starts from valid files."""
    if any(corpus.iterdir()):
        return
    sys.path.insert(0, str(HERE))
    import targets

    files: list[bytes] = []
    if name == "chr":
        files = [p.read_bytes() for p in sorted(ROOT.glob("examples/*.chr"))] + [targets.SAMPLE_CHR.encode()]
    elif name == "casm":
        files = [p.read_bytes() for p in sorted(ROOT.glob("packages/chronicle-asm/tests/golden/*.casm"))]
    elif name == "policy":
        files = [p.read_bytes() for p in sorted(ROOT.glob("examples/*.toml"))] + [targets.SAMPLE_POLICY.encode()]
    elif name == "module":
        from chronicle_lang import compile_to_module

        for path in sorted(ROOT.glob("examples/*.chr")):
            try:
                files.append(compile_to_module(path.read_bytes(), path.name).to_bytes())
            except Exception:
                continue
    elif name == "trace":
        files = [targets.sample_trace_bytes()]
    elif name == "trace-v2":
        files = [
            targets.sample_v2_trace_bytes(),
            *(p.read_bytes() for p in sorted(HERE.glob("regressions/trace-v2/*"))),
        ]
    for index, data in enumerate(files):
        (corpus / f"seed-{index}").write_bytes(data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="time per target")
    parser.add_argument("--only", choices=NAMES, action="append", help="run only these targets")
    options = parser.parse_args()
    failed = []
    for name in options.only or NAMES:
        corpus = HERE / "corpus" / name
        findings = HERE / "findings" / name
        corpus.mkdir(parents=True, exist_ok=True)
        findings.mkdir(parents=True, exist_ok=True)
        seed(name, corpus)
        command = [
            sys.executable,
            str(HERE / "run_one.py"),
            name,
            f"-max_total_time={options.seconds}",
            "-timeout=20",
            "-rss_limit_mb=3072",
            "-max_len=65536",
            f"-artifact_prefix={findings}/",
            str(corpus),
        ]
        print(f"fuzz {name}: {options.seconds} s", flush=True)
        done = subprocess.run(command, check=False)
        if done.returncode != 0:
            failed.append(name)
    if failed:
        print(f"fuzz: findings in {', '.join(failed)} (see testing/fuzz/findings/)")
        return 1
    print("fuzz: no findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
