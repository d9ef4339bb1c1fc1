"""An instance's kept engines and recorders (runtime._Slot): a slot is idle again only once its run is finished.

A traced run's trace copies its recorder's calls; the recorder is restarted
by the next run on the same slot.  So the slot must not be idle before the
copy: another call (a thread, or here one made while the trace is built)
would take it and clear the calls of a trace still being made.
"""

from __future__ import annotations

from typing import Any

import pytest

from chronicle_vm import Host, Policy, instantiate
from chronicle_vm.trace import document

chronicle_lang = pytest.importorskip("chronicle_lang")

SOURCE = """
cap price.of(sku: str) -> int;
pub fn quote(sku: str) -> int {
    let total = 0;
    for i in 0..3 { total = total + price.of(sku); }
    return total;
}
"""


def make_instance(engine: str) -> Any:
    host = Host()

    @host.capability("price.of")
    def price(sku: str) -> int:
        return len(sku)

    module = chronicle_lang.compile_to_module(SOURCE, "slots.chr").to_bytes()
    policy = Policy.from_toml('version = 1\n[capabilities."price.of"]\nallow = true\n')
    return instantiate(module, host=host, policy=policy, engine=engine)  # type: ignore[arg-type]


@pytest.mark.parametrize("engine", ["reference", "compiled"])
def test_a_call_made_while_a_trace_is_built_does_not_touch_it(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    instance = make_instance(engine)
    expected = instance.call("quote", "abc", trace=True).trace.to_json()
    original = document.Recorder.returned
    nested: list[bytes] = []

    def returned(self: document.Recorder, *args: Any) -> document.Trace:
        if not nested:  # once: another traced call before this run's calls are copied
            nested.append(b"")
            nested[0] = instance.call("quote", "abcdef", trace=True).trace.to_json()
        return original(self, *args)

    monkeypatch.setattr(document.Recorder, "returned", returned)
    outer = instance.call("quote", "abc", trace=True)
    assert outer.value == 9
    assert outer.trace.to_json() == expected
    assert len(outer.trace.events) == 3
    assert b'"result":6' in nested[0]
