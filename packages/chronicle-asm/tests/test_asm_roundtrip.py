"""Round trips and robustness as hypothesis properties.

- Every module the format can hold survives `disassemble` -> `parse_casm` ->
  `assemble` byte for byte (the shared `modules()` strategy, and a harsher
  one here that adds what only unverifiable modules have).
- Any text given to the parser ends in an `IRModule` that assembles, or in
  a `SourceError`; never in another exception.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_asm import IRModule, assemble, assemble_text, disassemble, parse_casm
from chronicle_testing.strategies import modules, source_positions, u32s, v2_modules
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Function, Instruction, Module, SourceMap
from chronicle_vm.errors import SourceError


def _round_trip(module: Module) -> Module:
    return assemble(parse_casm(disassemble(module), "listing.casm"))


def _same(a: Module, b: Module) -> None:
    assert b == a
    # Module equality lets 1 == True and would not see a kind change: compare kinds too.
    assert [type(k) for k in b.constants] == [type(k) for k in a.constants]
    assert b.to_bytes() == a.to_bytes()


@given(modules())
def test_roundtrip_modules_strategy_is_byte_identical(module: Module) -> None:
    again = _round_trip(module)
    assert again.to_bytes() == module.to_bytes()
    _same(module, again)


@st.composite
def unusual_modules(draw: st.DrawFn) -> Module:
    """A `modules()` module bent into shapes the decoder accepts and the verifier refuses."""
    module = draw(modules(max_functions=4, max_code=10))
    functions = list(module.functions)
    entries = list(module.source_map.functions)
    files = len(module.source_map.files)
    for i, function in enumerate(functions):
        code = list(function.code)
        # Jumps to every kind of target: inside, at the end, far outside.
        for _ in range(draw(st.integers(0, 3))):
            target = draw(st.one_of(st.integers(0, len(code)), u32s()))
            code.insert(draw(st.integers(0, len(code))), Instruction(Op.JMP, target, 0, 0))
        param_count = function.param_count
        if draw(st.booleans()):
            param_count = draw(st.one_of(st.integers(0, len(function.registers) + 3), u32s()))
        name = function.name
        if i > 0 and draw(st.booleans()):
            name = functions[0].name  # a duplicate name
        functions[i] = Function(name, function.exported, param_count, function.result, function.registers, tuple(code))
        shape = draw(st.sampled_from(["none", "match", "other"]))
        if shape == "none":
            entries[i] = ()
        else:
            length = len(code) if shape == "match" else draw(st.integers(0, len(code) + 3))
            entries[i] = draw(source_positions(length, files))
    capabilities = list(module.capabilities)
    if len(capabilities) > 1 and draw(st.booleans()):
        capabilities[1] = type(capabilities[1])(capabilities[0].name, capabilities[1].params, capabilities[1].result)
    return Module(
        constants=module.constants,
        capabilities=tuple(capabilities),
        functions=tuple(functions),
        source_map=SourceMap(module.source_map.files, tuple(entries)),
    )


@given(unusual_modules())
def test_roundtrip_unusual_modules_is_byte_identical(module: Module) -> None:
    _same(module, _round_trip(module))


# Smaller modules where size adds nothing: generating modules is most of these tests' cost.
SMALL = {"max_constants": 3, "max_capabilities": 2, "max_functions": 2, "max_code": 8}


@given(modules(**SMALL))
def test_disassembly_is_stable(module: Module) -> None:
    listing = disassemble(module)
    assert disassemble(assemble_text(listing)) == listing


# -- any text -----------------------------------------------------------------

_FRAGMENTS = [
    ".func",
    ".end",
    ".const",
    ".cap",
    ".file",
    ".regs",
    ".reg",
    ".params",
    ".pos",
    ".allow",
    ".version",
    " ",
    " ",
    ",",
    ", ",
    "(",
    ")",
    "[",
    "]",
    "->",
    "@",
    ":",
    ";",
    '"',
    "\\",
    "\\u{",
    "}",
    "#",
    "-",
    "\n",
    "\n",
    "\n",
    "\x00",
    "\r",
    "\t",
    "\u2028",
    "é",
    "f",
    "g",
    "k0",
    "L1",
    "r0",
    "r1",
    "r4294967296",
    "0",
    "1",
    "42",
    "0x",
    "9" * 25,
    "int",
    "str",
    "bool",
    "export",
    "true",
    "duplicate-names",
    "loadk",
    "mov",
    "add",
    "jmp",
    "jmpif",
    "call",
    "capcall",
    "ret",
    "retv",
    "nop",
    "loadb",
    "slice",
]


def _outcome(text: str) -> None:
    try:
        ir = parse_casm(text, "fuzz.casm")
    except SourceError as err:
        diagnostics = err.details["diagnostics"]
        assert diagnostics
        assert all(d["code"].startswith("source.") for d in diagnostics)
        assert err.code == diagnostics[0]["code"]
        return
    assert isinstance(ir, IRModule)
    assemble(ir)  # a parsed module always assembles


@given(st.text())
def test_any_text_ends_in_ir_or_source_error(text: str) -> None:
    _outcome(text)


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=80).map("".join))
def test_casm_like_text_ends_in_ir_or_source_error(text: str) -> None:
    _outcome(text)


@given(modules(**SMALL), st.data())
def test_damaged_listings_end_in_ir_or_source_error(module: Module, data: st.DataObject) -> None:
    listing = disassemble(module)
    at = data.draw(st.integers(0, len(listing)))
    cut = data.draw(st.integers(0, 10))
    insert = data.draw(st.sampled_from(_FRAGMENTS))
    _outcome(listing[:at] + insert + listing[at + cut :])


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "int" + "]" * 10_000,
        ".func f (" + "[" * 10_000 + "int" + "]" * 10_000 + ")\n.end\n",
        ".regs " + ", ".join(["[int]"] * 10_000),
        ".func f ()\n.reg r" + "9" * 10_000 + " int\n.end\n",
        ".func f ()\n    mov r" + "9" * 10_000 + ", #" + "9" * 10_000 + "\n.end\n",
        ".func f ()\n    loadk r0, -0x" + "f" * 10_000 + "\n.end\n",
        ".func f ()\n    retv @" + "9" * 10_000 + ":1:1\n.end\n",
        ".func f ()\n" + "x:\n" * 10_000 + ".end\n",
        ".func f ()\n" + "    jmp x\n" * 10_000 + ".end\n",
        "\x00" * 100_000,
        '"' + "\\" * 100_001,
        ".const k " + "9" * 100_000,
        ".const k " + '"' + "\\u{" * 10_000 + '"',
        ";" * 1_000_000,
        "(" * 100_000,
        ".func f ()\n    loadk r0, " + '"' + "x" * 1_000_000 + '"\n.end\n',
    ],
    ids=lambda t: repr(t[:24]),
)
def test_extreme_inputs_end_in_ir_or_source_error(text: str) -> None:
    _outcome(text)


@given(v2_modules())
def test_roundtrip_v2_modules_is_byte_identical(module: Module) -> None:
    """Structs (any names, duplicates included), float/map/struct types and float constants survive."""
    again = _round_trip(module)
    assert again.version == module.version
    assert again.structs == module.structs
    assert [k.hex() if type(k) is float else k for k in again.constants] == [
        k.hex() if type(k) is float else k for k in module.constants
    ]
    _same(module, again)
