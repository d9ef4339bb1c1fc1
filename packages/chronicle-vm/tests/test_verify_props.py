"""Properties: a mutated valid module is accepted or refused with a declared VerifyError, and nothing else.

Accepted modules go through `check_accepted`, the hook the interpreter's
tests extend (via `ACCEPTED_RUNNERS`) to also run them.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.verify_builders import check_accepted, every_opcode_module, fn, ins, module
from chronicle_vm.core.isa import OPCODES
from chronicle_vm.core.model import Capability, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT, STR, BaseType, ValueType, array_type
from chronicle_vm.errors import VerifyError, declared_codes
from chronicle_vm.verifier.rules import _Verifier, _verify, verify

ODD_VALUES: list[Any] = [
    None,
    "x",
    "",
    1.5,
    True,
    False,
    (),
    b"\x00",
    2**31,
    2**32 - 1,
    2**32,
    2**63,
    -(2**63),
    -(2**63) - 1,
    10**5000,
    -(10**5000),
]
VALUES = st.one_of(
    st.integers(-3, 12),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(ODD_VALUES),
)
TYPES = st.one_of(
    st.builds(array_type, st.sampled_from(list(BaseType)), st.integers(-2, 11)),
    st.builds(ValueType, st.sampled_from([0, 1, 4, "int", None, 2.0]), st.integers(0, 2)),
    st.builds(ValueType, st.sampled_from(list(BaseType)), st.sampled_from([None, 1.0, True, 2**64, "1"])),
    st.sampled_from([None, "int", 1, INT, STR, BOOL]),
)
OPS = st.one_of(st.sampled_from(sorted(OPCODES)), VALUES)
TEXTS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["main", "add2", "noop", "log.info", "clock.now", "a.b", "\ud800", "x" * 200, "a." + "b" * 127]),
)


def small_module() -> Module:
    """A second seed: recursion, arrays and capabilities in a few instructions."""
    fact = fn(
        "fact",
        (
            ins("loadk", 1, 0),  # 0  r1 = 1
            ins("le", 2, 0, 1),  # 1
            ins("jmpifnot", 2, 4),  # 2
            ins("ret", 1),  # 3
            ins("sub", 3, 0, 1),  # 4
            ins("call", 0, 3, 3),  # 5
            ins("mul", 3, 3, 0),  # 6
            ins("ret", 3),  # 7
        ),
        registers=(INT, INT, BOOL, INT),
        params=1,
        result=INT,
        exported=True,
    )
    words = fn(
        "words",
        (ins("split", 1, 0, 2), ins("loadk", 2, 1), ins("join", 0, 1, 2), ins("capcall", 0, 0, 0), ins("ret", 0)),
        registers=(STR, array_type(BaseType.STR, 1), STR),
        params=1,
        result=STR,
        exported=True,
    )
    return module(
        fact,
        words,
        constants=(1, " "),
        capabilities=(Capability("log.info", (STR,), None),),
        files=("fact.chr",),
        source=(tuple(SourcePos(0, i + 1, 3) for i in range(8)), ()),
    )


SEEDS = (every_opcode_module(), small_module())


def _set(items: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    return (*items[:index], value, *items[index + 1 :])


def _mutate(data: st.DataObject, mod: Module) -> Module:
    """One mutation of one field, anywhere in the module."""
    kind = data.draw(
        st.sampled_from(
            [
                "operand",
                "operand",
                "operand",
                "register",
                "registers-length",
                "result",
                "param_count",
                "name",
                "exported",
                "constant",
                "constants-length",
                "capability",
                "position",
                "file",
                "instructions",
                "random-code",
                "version",
            ]
        ),
        label="kind",
    )
    functions = mod.functions
    fi = data.draw(st.integers(0, len(functions) - 1), label="function")
    f = functions[fi]

    # A first mutation may have emptied what a second one would pick from: change the version instead.
    if (
        (kind in ("operand", "instructions") and not f.code)
        or (kind == "constant" and not mod.constants)
        or (kind == "capability" and not mod.capabilities)
    ):
        kind = "version"
    if kind in ("operand", "register", "registers-length", "result", "param_count", "name", "exported"):
        return _mutate_fields(data, mod, fi, kind)
    if kind in ("instructions", "random-code"):
        return _mutate_code(data, mod, fi, kind)
    if kind == "capability":
        return _mutate_capability(data, mod)
    if kind == "position":
        return _mutate_position(data, mod, fi)
    if kind == "constant":
        ci = data.draw(st.integers(0, len(mod.constants) - 1), label="constant")
        value = data.draw(st.one_of(VALUES, TEXTS), label="value")
        return dataclasses.replace(mod, constants=_set(mod.constants, ci, value))
    if kind == "constants-length":
        cut = data.draw(st.integers(0, len(mod.constants)), label="length")
        return dataclasses.replace(mod, constants=mod.constants[:cut])
    if kind == "file":
        files = mod.source_map.files
        value = data.draw(st.one_of(VALUES, TEXTS), label="file")
        new_files = _set(files, data.draw(st.integers(0, len(files) - 1)), value) if files else (value,)
        return dataclasses.replace(mod, source_map=SourceMap(new_files, mod.source_map.functions))
    return dataclasses.replace(mod, version=data.draw(VALUES, label="version"))


def _mutate_fields(data: st.DataObject, mod: Module, fi: int, kind: str) -> Module:
    """One mutation of a function's own fields: an operand, its registers, result, parameters, name or export."""
    functions = mod.functions
    f = functions[fi]

    def with_function(**changes: Any) -> Module:
        return dataclasses.replace(mod, functions=_set(functions, fi, dataclasses.replace(f, **changes)))

    if kind == "operand":
        ii = data.draw(st.integers(0, len(f.code) - 1), label="instruction")
        field = data.draw(st.integers(0, 3), label="field")
        value = data.draw(OPS if field == 0 else VALUES, label="value")
        return with_function(code=_set(f.code, ii, Instruction(*_set(tuple(f.code[ii]), field, value))))
    if kind == "register":
        if not f.registers:
            return with_function(registers=(data.draw(TYPES),))
        ri = data.draw(st.integers(0, len(f.registers) - 1), label="register")
        return with_function(registers=_set(f.registers, ri, data.draw(TYPES, label="type")))
    if kind == "registers-length":
        cut = data.draw(st.integers(0, len(f.registers) + 2), label="length")
        return with_function(registers=(*f.registers, INT, STR)[:cut])
    if kind == "result":
        return with_function(result=data.draw(TYPES, label="result"))
    if kind == "param_count":
        return with_function(param_count=data.draw(VALUES, label="param_count"))
    if kind == "name":
        return with_function(name=data.draw(st.one_of(TEXTS, VALUES), label="name"))
    return with_function(exported=data.draw(VALUES, label="exported"))


def _mutate_code(data: st.DataObject, mod: Module, fi: int, kind: str) -> Module:
    """Instructions dropped, duplicated or swapped, or a fresh random body."""
    functions = mod.functions
    f = functions[fi]

    def with_function(**changes: Any) -> Module:
        return dataclasses.replace(mod, functions=_set(functions, fi, dataclasses.replace(f, **changes)))

    if kind == "instructions":
        ii = data.draw(st.integers(0, len(f.code) - 1), label="instruction")
        how = data.draw(st.sampled_from(["drop", "duplicate", "swap"]), label="how")
        if how == "drop":
            return with_function(code=f.code[:ii] + f.code[ii + 1 :])
        if how == "duplicate":
            return with_function(code=(*f.code[: ii + 1], f.code[ii], *f.code[ii + 1 :]))
        jj = data.draw(st.integers(0, len(f.code) - 1), label="other")
        code = list(f.code)
        code[ii], code[jj] = code[jj], code[ii]
        return with_function(code=tuple(code))
    # A fresh body of small operands over the same registers: often verifies, so the accept path gets exercised.
    body = data.draw(
        st.lists(
            st.builds(
                Instruction,
                st.sampled_from(sorted(OPCODES)),
                st.integers(0, 4),
                st.integers(0, 4),
                st.integers(0, 4),
            ),
            min_size=1,
            max_size=8,
        ),
        label="body",
    )
    lists = _set(mod.source_map.functions, fi, ())
    changed = with_function(code=tuple(body))
    return dataclasses.replace(changed, source_map=SourceMap(mod.source_map.files, lists))


def _mutate_capability(data: st.DataObject, mod: Module) -> Module:
    ki = data.draw(st.integers(0, len(mod.capabilities) - 1), label="capability")
    cap = mod.capabilities[ki]
    which = data.draw(st.sampled_from(["name", "params", "result", "drop"]), label="cap field")
    if which == "drop":
        return dataclasses.replace(mod, capabilities=mod.capabilities[:ki] + mod.capabilities[ki + 1 :])
    if which == "name":
        cap = dataclasses.replace(cap, name=data.draw(st.one_of(TEXTS, VALUES), label="cap name"))
    elif which == "params":
        params: tuple[Any, ...] = tuple(data.draw(st.lists(TYPES, max_size=3), label="params"))
        cap = dataclasses.replace(cap, params=params)
    else:
        result: Any = data.draw(TYPES, label="cap result")
        cap = dataclasses.replace(cap, result=result)
    return dataclasses.replace(mod, capabilities=_set(mod.capabilities, ki, cap))


def _mutate_position(data: st.DataObject, mod: Module, fi: int) -> Module:
    f = mod.functions[fi]
    lists = mod.source_map.functions
    positions: tuple[Any, ...] = lists[fi]
    if not positions:
        new: tuple[Any, ...] = data.draw(st.sampled_from([(SourcePos(0, 1, 1),), (None,) * len(f.code)]))
    elif not isinstance(positions[0], tuple):
        new = ()
    else:
        pi = data.draw(st.integers(0, len(positions) - 1), label="position")
        pf = data.draw(st.integers(0, 2), label="pos field")
        new = _set(positions, pi, SourcePos(*_set(tuple(positions[pi]), pf, data.draw(VALUES))))
    return dataclasses.replace(mod, source_map=SourceMap(mod.source_map.files, _set(lists, fi, new)))


def _outcome(mod: Module, *, fast: bool = True) -> tuple[str, str, object]:
    try:
        verified = _verify(mod, 65_535, fast=fast)
    except VerifyError as error:
        assert error.code in declared_codes(), error.code
        assert error.message
        json.dumps(error.to_dict())
        index = error.details.get("index")
        assert index is None or type(index) is int
        return error.code, error.message, None
    check_accepted(verified)
    return "ok", "", verified.block_leaders


@given(st.data())
def test_single_mutations_are_accepted_or_refused(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    mutated = _mutate(data, seed)
    first = _outcome(mutated)
    assert _outcome(mutated) == first  # the same module always gets the same verdict
    assert _outcome(mutated, fast=False) == first  # the fast path decides as the reference checks do


@given(st.data())
def test_double_mutations_are_accepted_or_refused(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS), label="seed")
    mutated = _mutate(data, _mutate(data, seed))
    assert _outcome(mutated) == _outcome(mutated, fast=False)


def test_seeds_verify() -> None:
    for seed in SEEDS:
        check_accepted(verify(seed))


def test_every_raised_code_is_declared() -> None:
    source = Path(inspect.getfile(verify)).read_text(encoding="utf-8")
    raised = set(re.findall(r"""(?:fail|bad)\(\s*"([a-z-]+)",""", source))
    raised |= set(re.findall(r"""type_code = [^\n]*"([a-z-]+)"$""", source, re.MULTILINE))
    declared = {code.split(".", 1)[1] for code in declared_codes() if code.startswith("verify.")}
    assert raised
    assert raised <= declared, raised - declared


VALID_TYPES = st.builds(array_type, st.sampled_from(list(BaseType)), st.integers(0, 3))
ADD2 = fn("add2", (ins("add", 2, 0, 1), ins("ret", 2)), registers=(INT, INT, INT), params=2, result=INT)
NOOP = fn("noop", (ins("retv"),))
PICK = fn("pick", (ins("ret", 1),), registers=(BOOL, STR, INT), params=3, result=STR)


@given(
    registers=st.lists(
        st.one_of(st.sampled_from([INT, BOOL, STR, array_type(BaseType.STR, 1)]), VALID_TYPES), max_size=6
    ),
    result=st.one_of(st.none(), st.sampled_from([INT, STR]), VALID_TYPES),
    op=st.sampled_from(sorted(OPCODES)),
    operands=st.tuples(st.integers(-1, 7), st.integers(-1, 7), st.integers(-1, 7)),
)
def test_fast_predicates_agree_with_the_reference(
    registers: list[ValueType], result: ValueType | None, op: int, operands: tuple[int, int, int]
) -> None:
    """Instruction by instruction: the generated predicate accepts exactly what `diagnose` accepts."""
    main = fn("main", (ins("nop"), ins("nop"), ins("retv")), registers=registers, result=result)
    mod = module(
        main,
        ADD2,
        NOOP,
        PICK,
        constants=(7, "s", -1),
        capabilities=(Capability("log.info", (STR,), None), Capability("clock.now", (), INT)),
    )
    verifier = _Verifier(mod, 65_535)
    verifier.check_constants()
    verifier.check_capabilities()
    verifier.check_function_headers()
    verifier.prepare_fast_path()
    verifier.enter_function(0, main)  # the map and struct rules read the function's registers
    verifier.enter(verifier.register_ids[0], verifier.register_sigs[0], len(main.code), verifier.func_results[0])
    fast = verifier.predicates[op](*operands)
    try:
        verifier.diagnose(0, 0, Instruction(op, *operands), set())
    except VerifyError:
        reference = False
    else:
        reference = True
    assert fast == reference
