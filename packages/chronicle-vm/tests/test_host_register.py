"""Host registration: signatures from annotations or explicit types, and structured registration errors."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from chronicle_vm.capabilities.host import Host, HostCapability
from chronicle_vm.core.model import Capability
from chronicle_vm.core.types import BOOL, INT, STR, BaseType, ValueType, array_type
from chronicle_vm.errors import UsageError

REPO = Path(__file__).resolve().parents[3]


def test_decorator_reads_annotations() -> None:
    host = Host()

    @host.capability("kv.get")
    def get(key: str) -> str:
        return key

    @host.capability("log.info")
    def info(msg: str) -> None:
        return None

    @host.capability("math.stats", deterministic=True)
    def stats(xs: list[int], flags: list[list[bool]], scale: int) -> list[list[str]]:
        return []

    @host.capability("clock.now")
    def now() -> int:
        return 0

    assert get("x") == "x"  # the decorator returns the function unchanged
    assert host.get("kv.get") == HostCapability("kv.get", (STR,), STR, get)
    assert host.get("log.info") == HostCapability("log.info", (STR,), None, info)
    stats_cap = host.get("math.stats")
    assert stats_cap is not None
    assert stats_cap.params == (array_type(BaseType.INT, 1), array_type(BaseType.BOOL, 2), INT)
    assert stats_cap.result == array_type(BaseType.STR, 2)
    assert stats_cap.deterministic is True
    assert stats_cap.signature() == "([int], [[bool]], int) -> [[str]]"
    assert host.get("clock.now") == HostCapability("clock.now", (), INT, now)
    assert [c.name for c in host] == ["kv.get", "log.info", "math.stats", "clock.now"]
    assert len(host) == 4
    assert "kv.get" in host
    assert "kv.set" not in host
    assert host.get("kv.set") is None


def test_signature_text_matches_the_module_model() -> None:
    host = Host()
    cap = host.register(
        "a.b", lambda xs, flag: [xs], params=[array_type(BaseType.STR, 1), BOOL], result=array_type(BaseType.STR, 2)
    )
    assert cap.signature() == Capability("a.b", cap.params, cap.result).signature() == "([str], bool) -> [[str]]"
    void = host.register("a.c", lambda: None, params=[], result=None)
    assert void.signature() == Capability("a.c", (), None).signature() == "()"


def test_typing_list_and_bound_methods_work() -> None:
    host = Host()

    class Store:
        def get(self, key: str, default: typing.List[str]) -> bool:  # noqa: UP006 - the old spelling is accepted too
            return True

    store = Store()
    cap = host.capability("store.get")(store.get)
    assert cap == store.get
    registered = host.get("store.get")
    assert registered is not None
    assert registered.params == (STR, array_type(BaseType.STR, 1))
    assert registered.result == BOOL


def test_keyword_only_parameters_with_defaults_are_ignored() -> None:
    host = Host()

    @host.capability("a.b")
    def f(x: int, *, verbose: bool = False) -> int:
        return x

    cap = host.get("a.b")
    assert cap is not None
    assert cap.params == (INT,)


def usage_error(action: typing.Callable[[], object]) -> UsageError:
    with pytest.raises(UsageError) as caught:
        action()
    return caught.value


def test_unsupported_annotations() -> None:
    host = Host()

    def complexes(x: complex) -> int:
        return 0

    def optional(x: typing.Optional[int]) -> int:  # noqa: UP045 - the point is that Optional is refused
        return 0

    def float_keys(x: dict[list[int], int]) -> int:  # maps (#17) take int, str or bool keys only
        return 0

    def bare_list(x: list) -> int:  # type: ignore[type-arg]
        return 0

    def unannotated(x) -> int:  # type: ignore[no-untyped-def]
        return 0

    def no_return(x: int):  # type: ignore[no-untyped-def]
        return 0

    def bad_return(x: int) -> complex:
        return 0j

    def star_args(*xs: int) -> int:
        return 0

    def keyword_only(*, x: int) -> int:
        return 0

    def too_deep(x: list[list[list[list[list[list[list[list[list[int]]]]]]]]]) -> int:
        return 0

    def unresolvable(x: NoSuchType) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 0

    cases: list[typing.Callable[..., object]] = [
        complexes,
        optional,
        float_keys,
        bare_list,
        unannotated,
        no_return,
        bad_return,
        star_args,
        keyword_only,
        too_deep,
        unresolvable,
    ]
    for index, func in enumerate(cases):
        with pytest.raises(UsageError) as caught:
            host.capability(f"cap.c{index}")(func)
        error = caught.value
        assert error.code == "usage.capability-signature", func.__name__
        assert error.details["capability"] == f"cap.c{index}"
        assert error.message.startswith(f"capability cap.c{index}: ")
    assert len(host) == 0


def test_float_annotations_declare_floats() -> None:
    from chronicle_vm.core.types import FLOAT

    host = Host()

    def rate(source: str, amounts: list[float]) -> float:
        return 1.0

    host.capability("fx.rate")(rate)
    cap = host.get("fx.rate")
    assert cap is not None
    assert cap.params == (array_type(BaseType.STR, 0), FLOAT.array_of()) and cap.result == FLOAT


def test_eight_levels_of_arrays_are_the_deepest() -> None:
    host = Host()

    def deep(x: list[list[list[list[list[list[list[list[int]]]]]]]]) -> None:
        return None

    host.capability("a.deep")(deep)
    cap = host.get("a.deep")
    assert cap is not None
    assert cap.params == (array_type(BaseType.INT, 8),)


@pytest.mark.parametrize("name", ["kv", "KV.get", "kv..get", "kv.get.", "1kv.get", "kv.get-x", "", "a." + "b" * 127])
def test_bad_names(name: str) -> None:
    host = Host()
    error = usage_error(lambda: host.register(name, lambda: None, params=[], result=None))
    assert error.code == "usage.capability-name"
    error = usage_error(lambda: host.capability(name))
    assert error.code == "usage.capability-name"


def test_longest_name_is_accepted() -> None:
    host = Host()
    name = "a." + "b" * 126
    assert len(name) == 128
    host.register(name, lambda: None, params=[], result=None)
    assert name in host


def test_duplicates() -> None:
    host = Host()
    host.register("kv.get", lambda key: key, params=[STR], result=STR)
    error = usage_error(lambda: host.register("kv.get", lambda key: key, params=[STR], result=STR))
    assert error.code == "usage.capability-duplicate"
    assert error.details["capability"] == "kv.get"

    def get(key: str) -> str:
        return key

    assert usage_error(lambda: host.capability("kv.get")(get)).code == "usage.capability-duplicate"


def test_explicit_register_checks_types_and_callable() -> None:
    host = Host()
    bad_params: list[object] = [
        [int],
        ["str"],
        [array_type(BaseType.INT, 9)],
        [ValueType(BaseType.INT, -1)],
    ]
    for params in bad_params:
        with pytest.raises(UsageError) as caught:
            host.register("a.b", lambda x: 0, params=params, result=None)  # type: ignore[arg-type]
        assert caught.value.code == "usage.capability-signature"
    error = usage_error(lambda: host.register("a.b", lambda: 0, params=[], result="int"))  # type: ignore[arg-type]
    assert error.code == "usage.capability-signature"
    error = usage_error(lambda: host.register("a.b", 42, params=[], result=None))  # type: ignore[arg-type]
    assert error.code == "usage.capability-signature"
    assert len(host) == 0


def test_settings_declaration() -> None:
    host = Host(settings={"kv_path": str, "seed": int, "verbose": bool})
    assert dict(host.settings) == {"kv_path": str, "seed": int, "verbose": bool}
    assert host.check_setting("kv_path", "x.sqlite") is None
    assert host.check_setting("seed", 3) is None
    assert host.check_setting("seed", True) == "type"
    assert host.check_setting("verbose", 1) == "type"
    assert host.check_setting("kv_path", 1) == "type"
    assert host.check_setting("other", 1) == "unknown"
    for bad in ({"ratio": float}, {"paths": list}, {"": str}):
        with pytest.raises(UsageError) as caught:
            Host(settings=bad)
        assert caught.value.code == "usage.host-setting"


def test_capabilities_view_is_read_only() -> None:
    host = Host()
    host.register("a.b", lambda: None, params=[], result=None)
    view = host.capabilities
    with pytest.raises(TypeError):
        view["a.c"] = view["a.b"]  # type: ignore[index]
    assert list(view) == ["a.b"]


def test_docs_example_runs() -> None:
    doc = (REPO / "docs" / "policy.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.DOTALL)
    assert blocks
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "docs/policy.md", "exec"), namespace)
    host = namespace["host"]
    assert isinstance(host, Host)
    assert {cap.name: cap.signature() for cap in host} == {
        "clock.now": "() -> int",
        "text.words": "(str) -> [str]",
        "log.info": "(str)",
        "kv.get": "(str) -> str",
    }
