"""docs/module-format.md and the format module's docstring stay in step with the code; the schema derives its sizes."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import chronicle_vm.inputs  # noqa: F401  # declares decode.too-large (the file-size cap), which the doc lists
from chronicle_vm import FORMAT_VERSION, Module
from chronicle_vm.binary import decode as decode_module_file
from chronicle_vm.binary import schema as fmt
from chronicle_vm.core.types import MAX_ARRAY_DEPTH, BaseType
from chronicle_vm.errors import declared_codes

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "module-format.md").read_text(encoding="utf-8")


def test_doc_lists_every_decode_code_and_nothing_else() -> None:
    assert decode_module_file.__name__ == "chronicle_vm.binary.decode"
    declared = {code for code in declared_codes(owner="chronicle_vm") if code.startswith("decode.")}
    documented = set(re.findall(r"`(decode\.[a-z0-9-]+)`", DOC))
    assert documented == declared
    assert "`usage.unencodable-module`" in DOC


def test_doc_states_version_magic_and_section_tags() -> None:
    assert f"**Format version: {FORMAT_VERSION}**" in DOC
    assert fmt.MAGIC.decode() in DOC
    for tag, title in fmt.SECTIONS.items():
        assert f"| {tag} | {title} |" in DOC
    for base in BaseType:
        assert f"{int(base)} `{base.name.lower()}`" in DOC
    assert f"up to `MAX_ARRAY_DEPTH` ({MAX_ARRAY_DEPTH})" in DOC


def test_doc_minimum_sizes_match_the_schema() -> None:
    sizes = {
        "type": fmt.min_size(fmt.TYPE),
        "instruction": fmt.min_size(fmt.INSTRUCTION),
        "function": fmt.min_size(fmt.FUNCTION),
        "capability": fmt.min_size(fmt.CAPABILITY),
        "constant": fmt.min_size(fmt.CONSTANT),
        "position": fmt.min_size(fmt.POSITION),
    }
    assert sizes == {"type": 2, "instruction": 13, "function": 18, "capability": 9, "constant": 5, "position": 12}
    flat = " ".join(DOC.split())
    for what, size in sizes.items():
        assert f"{size} for a{'n' if what[0] in 'aeiou' else ''} {what}" in flat


def test_record_formats_are_derived_from_the_fields() -> None:
    assert fmt.INSTRUCTION.packer.format == ">BLLL"
    assert fmt.POSITION.packer.format == ">LLL"
    assert fmt.TYPE.packer.format == ">BB"


def test_module_docstring_documents_the_layout() -> None:
    doc = fmt.__doc__ or ""
    assert f"format version {FORMAT_VERSION}" in doc
    for word in ("magic", "section(1, constants)", "instruction = opcode u8", "position    = file u32"):
        assert word in doc


def test_decode_benchmark_runs_at_a_small_size() -> None:
    path = ROOT / "packages" / "chronicle-cli" / "benchmarks" / "bench_decode.py"
    spec = importlib.util.spec_from_file_location("bench_decode_under_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    try:
        spec.loader.exec_module(bench)
        module = bench.build_module(target_bytes=40_000)
    finally:
        del sys.modules[spec.name]
    data = module.to_bytes()
    assert len(data) >= 40_000
    assert Module.from_bytes(data) == module
    assert callable(bench.run)
