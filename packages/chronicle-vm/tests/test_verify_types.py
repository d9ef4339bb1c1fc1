"""The verifier with version-2 types: float, map and struct registers and signatures, the struct table."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chronicle_testing.strategies import v2_modules
from chronicle_testing.verify_builders import fn, ins, module
from chronicle_vm import Module
from chronicle_vm.core.model import Capability, SourceMap
from chronicle_vm.core.types import (
    BOOL,
    FLOAT,
    INT,
    STR,
    StructDef,
    StructField,
    TypeKind,
    ValueType,
    map_type,
    struct_type,
)
from chronicle_vm.errors import VerifyError
from chronicle_vm.verifier.rules import _verify, verify

ITEM = StructDef("Item", (StructField("sku", STR), StructField("qty", INT), StructField("unit", FLOAT)))
NODE = StructDef(
    "Node", (StructField("kids", struct_type(1).array_of()), StructField("by", map_type(STR, struct_type(1))))
)
ORDER = StructDef("Order", (StructField("items", struct_type(0).array_of()), StructField("first", struct_type(0))))
STRUCTS = (ITEM, NODE, ORDER)
LOOKUP = Capability("catalog.lookup", (STR,), struct_type(0))
RATE = Capability("fx.rate", (STR, STR), FLOAT)


def _v2(
    *functions: object, capabilities: tuple[Capability, ...] = (LOOKUP, RATE), constants: tuple[object, ...] = ()
) -> Module:
    base = module(*functions, constants=constants, capabilities=capabilities)  # type: ignore[arg-type]
    return Module(
        constants=base.constants,
        capabilities=base.capabilities,
        functions=base.functions,
        source_map=base.source_map,
        structs=STRUCTS,
    )


def _both(mod: Module) -> None:
    verify(mod)
    _verify(mod, 256, fast=False)


def test_registers_and_signatures_of_the_new_types_verify() -> None:
    main = fn(
        "main",
        (
            ins("loadk", 2, 0),
            ins("loadk", 3, 1),
            ins("loadk", 4, 1),
            ins("capcall", 0, 3, 5),
            ins("mov", 6, 5),
            ins("capcall", 1, 3, 1),
            ins("call", 1, 5, 7),
            ins("mov", 8, 7),
            ins("ret", 1),
        ),
        registers=(
            struct_type(2),
            FLOAT,
            FLOAT,
            STR,
            STR,
            struct_type(0),
            struct_type(0),
            map_type(STR, FLOAT),
            map_type(STR, FLOAT),
        ),
        params=1,
        result=FLOAT,
        exported=True,
    )
    helper = fn(
        "helper",
        (ins("ret", 1),),
        registers=(struct_type(0), map_type(STR, FLOAT)),
        params=1,
        result=map_type(STR, FLOAT),
    )
    mod = _v2(main, helper, constants=(1.5, "EUR"))
    assert mod.version == 2
    _both(mod)
    _both(Module.from_bytes(mod.to_bytes()))


@pytest.mark.parametrize(
    ("code", "registers", "result", "where"),
    [
        ((ins("loadk", 0, 0), ins("ret", 0)), (INT,), INT, "loadk"),  # a float constant into an int register
        ((ins("mov", 0, 1), ins("ret", 0)), (struct_type(0), struct_type(1)), struct_type(0), "mov"),
        ((ins("mov", 0, 1), ins("ret", 0)), (map_type(STR, INT), map_type(STR, BOOL)), map_type(STR, INT), "mov"),
        ((ins("ret", 0),), (FLOAT,), INT, "returns"),
        ((ins("capcall", 0, 0, 1), ins("ret", 1)), (STR, struct_type(1)), struct_type(1), "catalog.lookup"),
    ],
)
def test_type_mismatches_name_the_struct_types(
    code: tuple[object, ...], registers: tuple[ValueType, ...], result: ValueType, where: str
) -> None:
    mod = _v2(fn("main", code, registers=registers, result=result, exported=True), constants=(2.5,))  # type: ignore[arg-type]
    for fast in (True, False):
        with pytest.raises(VerifyError) as caught:
            _verify(mod, 256, fast=fast)
        assert where in caught.value.message
        assert "struct#" not in caught.value.message


def test_struct_names_appear_in_messages() -> None:
    mod = _v2(fn("main", (ins("ret", 0),), registers=(struct_type(1),), result=struct_type(0), exported=True))
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert "Node" in caught.value.message and "Item" in caught.value.message


def test_scalar_rule_does_not_admit_new_kinds() -> None:
    # tostr takes a scalar (int, bool or str): a struct, map or float register is not one of them (yet)
    for vtype in (struct_type(0), map_type(STR, INT)):
        mod = _v2(fn("main", (ins("tostr", 1, 0), ins("ret", 1)), registers=(vtype, STR), result=STR, exported=True))
        for fast in (True, False):
            with pytest.raises(VerifyError):
                _verify(mod, 256, fast=fast)


def test_recursive_structs_through_arrays_and_maps_verify() -> None:
    _both(_v2(fn("main", (ins("ret", 0),), registers=(struct_type(1),), result=struct_type(1), exported=True)))


def test_a_long_by_value_chain_without_a_cycle_verifies_and_with_one_is_refused() -> None:
    chain = tuple(StructDef(f"S{i}", (StructField("next", struct_type(i + 1)),)) for i in range(1023))
    chain += (StructDef("S1023", ()),)
    mod = Module(structs=chain)
    verify(mod)
    looped = (*chain[:-1], StructDef("S1023", (StructField("back", struct_type(0)),)))
    with pytest.raises(VerifyError) as caught:
        verify(Module(structs=looped))
    assert caught.value.code == "verify.struct-cycle"
    assert "S0.next" in caught.value.message


@given(st.lists(st.lists(st.integers(0, 5), max_size=3), min_size=1, max_size=6))
def test_by_value_cycles_match_a_plain_python_search(graph: list[list[int]]) -> None:
    n = len(graph)
    structs = tuple(
        StructDef(f"S{i}", tuple(StructField(f"f{k}", struct_type(t % n)) for k, t in enumerate(edges)))
        for i, edges in enumerate(graph)
    )

    def reaches(start: int, goal: int) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            for t in graph[node]:
                if t % n == goal:
                    return True
                if t % n not in seen:
                    seen.add(t % n)
                    todo.append(t % n)
        return False

    cyclic = any(reaches(i, i) for i in range(n))
    mod = Module(structs=structs)
    if cyclic:
        with pytest.raises(VerifyError) as caught:
            verify(mod)
        assert caught.value.code == "verify.struct-cycle"
    else:
        verify(mod)


def test_the_source_map_still_has_one_entry_per_function() -> None:
    mod = Module(functions=(fn("main", (ins("ret", 0),), registers=(FLOAT,), result=FLOAT),), source_map=SourceMap())
    with pytest.raises(VerifyError):
        verify(mod)


def test_loading_a_module_of_a_kind_without_a_registry_row_is_a_verify_error() -> None:
    from chronicle_vm.core.type_registry import ROWS
    from chronicle_vm.runtime import load_module

    for vtype in (FLOAT, map_type(STR, INT), struct_type(0)):
        mod = _v2(fn("main", (ins("ret", 0),), registers=(vtype,), result=vtype, exported=True))
        if vtype.kind in ROWS:  # the kind's row has landed: a module of it alone (a struct with its table) loads
            alone = module(fn("main", (ins("ret", 0),), registers=(vtype,), result=vtype, exported=True))
            table = (StructDef("S", ()),) if vtype.kind is TypeKind.STRUCT else ()
            load_module(dataclasses.replace(alone, version=2, structs=table).to_bytes())
            continue
        with pytest.raises(VerifyError) as caught:
            load_module(mod.to_bytes())
        assert caught.value.code == "verify.type-invalid"


def _outcome(mod: object, fast: bool) -> tuple[str, object, object]:
    try:
        _verify(mod, 256, fast=fast)  # type: ignore[arg-type]
    except VerifyError as error:
        return error.code, error.details.get("function"), error.details.get("index")
    return "ok", None, None


_GARBAGE = st.sampled_from([None, 0, "x", (), [], ValueType(TypeKind.MAP, (INT,)), object()])


@given(v2_modules(), st.data())
def test_random_v2_modules_and_their_mutations_verify_or_fail_cleanly(module: Module, data: st.DataObject) -> None:
    assert _outcome(module, True) == _outcome(module, False)
    structs = list(module.structs)
    if structs and data.draw(st.booleans()):
        at = data.draw(st.integers(0, len(structs) - 1))
        choice = data.draw(st.integers(0, 2))
        if choice == 0:
            structs[at] = data.draw(_GARBAGE)  # type: ignore[call-overload]
        elif choice == 1:
            structs[at] = StructDef(data.draw(_GARBAGE), structs[at].fields)  # type: ignore[arg-type]
        else:
            structs[at] = StructDef(structs[at].name, (StructField("f", data.draw(_GARBAGE)),))  # type: ignore[arg-type]
    mutated = Module(
        constants=module.constants,
        capabilities=module.capabilities,
        functions=module.functions,
        source_map=module.source_map,
        version=2,
        structs=tuple(structs) if data.draw(st.booleans()) else structs,  # type: ignore[arg-type]
    )
    assert _outcome(mutated, True) == _outcome(mutated, False)


@pytest.mark.parametrize(
    "mod",
    [
        Module(constants=(1.5,), version=1),
        Module(functions=(fn("main", (ins("ret", 0),), registers=(FLOAT,), result=FLOAT),), version=1),
        Module(capabilities=(Capability("a.b", (map_type(STR, INT),), None),), version=1),
    ],
)
def test_a_version_one_module_holding_version_two_things_is_refused(mod: Module) -> None:
    mod = Module(
        constants=mod.constants,
        capabilities=mod.capabilities,
        functions=mod.functions,
        source_map=SourceMap((), tuple(() for _ in mod.functions)),
        version=1,
    )
    with pytest.raises(VerifyError) as caught:
        verify(mod)
    assert caught.value.code == "verify.version"


def test_many_distinct_types_have_ids_past_a_byte_and_calls_still_check() -> None:
    structs = tuple(StructDef(f"S{i}", (StructField("x", INT),)) for i in range(60))
    kinds = tuple(struct_type(i) for i in range(60)) + tuple(map_type(STR, struct_type(i)) for i in range(60))
    callee = fn("callee", (ins("retv"),), registers=kinds, params=len(kinds))
    caller = fn("main", (ins("call", 1, 0, 0), ins("retv")), registers=kinds, exported=True)
    mod = Module(functions=(caller, callee), source_map=SourceMap((), ((), ())), structs=structs)
    _both(mod)
    swapped = (*kinds[:-2], kinds[-1], kinds[-2])
    bad = fn("main", (ins("call", 1, 0, 0), ins("retv")), registers=swapped, exported=True)
    mod = Module(functions=(bad, callee), source_map=SourceMap((), ((), ())), structs=structs)
    for fast in (True, False):
        with pytest.raises(VerifyError) as caught:
            _verify(mod, 256, fast=fast)
        assert caught.value.code == "verify.call-type"
        assert "{str: S58}" in caught.value.message and "{str: S59}" in caught.value.message
