"""The host registry: takes Python functions with typed signatures, gives the `HostCapability` table a host offers.

An embedding application creates one `Host`, declares the `[host]` settings
it accepts, and registers each capability function either with the
`@host.capability("kv.get")` decorator (the signature is read from the
annotations) or explicitly with `host.register(...)`.  Mistakes in
registration are the host author's, found at registration time: they raise
`UsageError` with a stable code, never later while a plugin runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from chronicle_vm.core.codecache import dataclass
from chronicle_vm.core.structured import shape_difference, type_text
from chronicle_vm.core.type_registry import annotation_type, well_formed
from chronicle_vm.core.types import StructDef, StructField, TypeKind, ValueType, struct_type
from chronicle_vm.errors import UsageError, declare_codes

from .policy import CAPABILITY_NAME, CAPABILITY_NAME_MAX_LEN, HostSettingValue

__all__ = ["SETTING_TYPES", "CallContext", "Host", "HostCapability", "HostFunction"]

declare_codes(
    "usage",
    {
        "capability-name": "a host registered a capability under a name that is not dotted lowercase identifiers",
        "capability-duplicate": "a host registered the same capability name twice",
        "capability-signature": "a host capability's signature cannot be expressed in VM types",
        "host-setting": "a host declared a setting with an unsupported type",
        "capability-async": "a coroutine function was registered without async_=True (or the reverse)",
        "host-struct": "a host dataclass cannot be a VM struct (a field's annotation is not a VM type)",
    },
)

#: A host capability function: VM-typed positional arguments in, a VM value (or None) out.
HostFunction = Callable[..., Any]

#: Most fields a host dataclass may have as a VM struct (the module format's bound).
MAX_HOST_STRUCT_FIELDS = 256

#: The Python types a `[host]` setting may be declared with.
SETTING_TYPES: tuple[type, ...] = (str, int, bool)

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HostCapability:
    """One capability a host offers: its name, signature and the function that serves it.

    `deterministic` marks functions whose result depends only on their
    arguments (it is information for the host's tooling; replay never calls
    live functions either way).
    """

    name: str
    params: tuple[ValueType, ...]
    result: ValueType | None
    func: HostFunction
    deterministic: bool = False
    #: The function takes the call's `CallContext` as its keyword-only parameter `context`.
    context: bool = False
    #: The function is a coroutine function, awaited on the caller's event loop (`Instance.call_async` only).
    async_: bool = False
    #: The struct table the signature's struct types index (the host's structs when they were registered).
    structs: tuple[StructDef, ...] = ()
    #: The dataclass of each struct of `structs` (None: declared without one; such structs reach it as dicts).
    classes: tuple[type | None, ...] = ()

    def signature(self) -> str:
        """The signature as `model.Capability.signature()` writes it: `(str, int) -> [str]`, structs by name."""
        params = ", ".join(type_text(p, self.structs) for p in self.params)
        result = "" if self.result is None else f" -> {type_text(self.result, self.structs)}"
        return f"({params}){result}"


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a capability that asks for it (a keyword-only `context` parameter) learns about the call it serves.

    `value` is the object the host passed as `Instance.call(..., context=...)` (None when it passed
    none); `settings` are the policy's `[host]` settings, checked against the host's declarations;
    `entry` is the plugin function the host called.  The context never reaches the plugin and never
    enters a trace.
    """

    value: Any
    settings: Mapping[str, HostSettingValue]
    entry: str


class Host:
    """The capabilities and settings an embedding application offers to plugins.

    >>> host = Host(settings={"kv_path": str})
    >>> @host.capability("clock.now")
    ... def now() -> int:
    ...     return 0
    """

    def __init__(self, settings: Mapping[str, type] | None = None) -> None:
        declared: dict[str, type] = {}
        for name, kind in (settings or {}).items():
            if not isinstance(name, str) or not name:
                raise UsageError("usage.host-setting", f"host setting names are non-empty strings, got {name!r}")
            if kind not in SETTING_TYPES:
                raise UsageError(
                    "usage.host-setting",
                    f"host setting {name!r} is declared as {kind!r}; a setting is str, int or bool",
                    setting=name,
                )
            declared[name] = kind
        self._settings = types.MappingProxyType(declared)
        self._capabilities: dict[str, HostCapability] = {}
        self._structs: list[StructDef] = []  # the host's struct table: one entry per registered dataclass
        self._classes: list[type | None] = []
        self._struct_index: dict[type, int] = {}

    @property
    def structs(self) -> tuple[StructDef, ...]:
        """The host's struct table: the dataclasses registered so far, as VM structs."""
        return tuple(self._structs)

    def struct(self, cls: type) -> ValueType:
        """Register dataclass `cls` as a VM struct (its fields by their annotations); gives its struct type.

        Capability annotations register their dataclasses by themselves; a host
        registers others so that an entry's struct results of that shape reach
        it as `cls` instead of a dict.
        """
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise UsageError("usage.host-struct", f"{cls!r} is not a dataclass")
        mark = len(self._structs)
        try:
            return self._struct_of(cls)
        except UsageError:
            self._rollback(mark)
            raise

    def _rollback(self, mark: int) -> None:
        """Forget the structs a failed registration added (from index `mark` on)."""
        del self._structs[mark:]
        del self._classes[mark:]
        self._struct_index = {cls: index for cls, index in self._struct_index.items() if index < mark}

    def _struct_of(self, cls: type) -> ValueType:
        known = self._struct_index.get(cls)
        if known is not None:
            return struct_type(known)
        index = len(self._structs)
        self._struct_index[cls] = index
        self._structs.append(StructDef(cls.__name__, ()))  # a placeholder: fields may refer back to it
        self._classes.append(cls)
        try:
            hints = typing.get_type_hints(cls)
        except Exception as exc:  # the host author's annotations
            raise UsageError("usage.host-struct", f"cannot read the annotations of {cls.__name__}: {exc}") from None
        fields: list[StructField] = []
        declared = dataclasses.fields(cls)
        if len(declared) > MAX_HOST_STRUCT_FIELDS:
            raise UsageError(
                "usage.host-struct", f"{cls.__name__} has {len(declared)} fields, at most {MAX_HOST_STRUCT_FIELDS}"
            )
        for item in declared:
            vtype = annotation_type(hints.get(item.name), struct_of=self._struct_of)
            if vtype is None:
                raise UsageError(
                    "usage.host-struct",
                    f"field {cls.__name__}.{item.name} is annotated {hints.get(item.name)!r}; use int, bool, str, "
                    "float, list[...], dict[K, V] (K: int, str or bool) or a dataclass",
                )
            fields.append(StructField(item.name, vtype))
        self._structs[index] = StructDef(cls.__name__, tuple(fields))
        return struct_type(index)

    def struct_class(self, vtype: ValueType, structs: Sequence[StructDef]) -> type | None:
        """The dataclass the host registered for struct type `vtype` of table `structs`, matched by shape."""
        for index, cls in enumerate(self._classes):
            if cls is not None and shape_difference(vtype, structs, struct_type(index), self._structs) is None:
                return cls
        return None

    @property
    def settings(self) -> Mapping[str, type]:
        """The `[host]` settings this host accepts, with their types."""
        return self._settings

    @property
    def capabilities(self) -> Mapping[str, HostCapability]:
        """Registered capabilities by name, in registration order (read-only view)."""
        return types.MappingProxyType(self._capabilities)

    def get(self, name: str) -> HostCapability | None:
        return self._capabilities.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._capabilities

    def __iter__(self) -> Iterator[HostCapability]:
        return iter(tuple(self._capabilities.values()))

    def __len__(self) -> int:
        return len(self._capabilities)

    def register(
        self,
        name: str,
        func: HostFunction,
        *,
        params: Sequence[ValueType],
        result: ValueType | None,
        deterministic: bool = False,
        context: bool = False,
        async_: bool = False,
        structs: Sequence[StructDef] | None = None,
    ) -> HostCapability:
        """Offer `func` as capability `name` with an explicit signature.

        Struct types in `params` and `result` index `structs` (default: the
        host's own table, which `struct(cls)` and the decorator fill).

        `context=True`: `func` is called with the call's `CallContext` as keyword argument `context`.
        `async_=True`: `func` is a coroutine function, awaited on the caller's loop; such a capability
        can only serve `Instance.call_async`.  A coroutine function without `async_=True` is refused here
        (it would fail at run time with a coroutine where a value belongs).
        """
        self._check_name(name)
        if not callable(func):
            raise UsageError(
                "usage.capability-signature", f"capability {name}: {func!r} is not callable", capability=name
            )
        if _is_coroutine_function(func) != bool(async_):
            wording = (
                "is a coroutine function: register it with async_=True and call the plugin with Instance.call_async"
                if not async_
                else "is registered with async_=True but is not a coroutine function (async def)"
            )
            raise UsageError("usage.capability-async", f"capability {name}: {func!r} {wording}", capability=name)
        checked: list[ValueType] = []
        for index, vtype in enumerate(params):
            checked.append(_checked_type(vtype, name, f"parameter {index}"))
        result_type = None if result is None else _checked_type(result, name, "result")
        if structs is None:
            table, classes = tuple(self._structs), tuple(self._classes)
        else:
            table, classes = tuple(structs), (None,) * len(structs)
        for vtype in (*checked, *(() if result_type is None else (result_type,))):
            if not _refs_in(vtype, table):
                raise UsageError(
                    "usage.capability-signature",
                    f"capability {name}: a struct type refers outside its struct table ({len(table)} structs)",
                    capability=name,
                )
        capability = HostCapability(
            name, tuple(checked), result_type, func, deterministic, bool(context), bool(async_), table, classes
        )
        self._capabilities[name] = capability
        return capability

    def capability(self, name: str, *, deterministic: bool = False, async_: bool = False) -> Callable[[_F], _F]:
        """Decorator: offer the function as capability `name`, its signature read from its annotations.

        Annotations may be `int`, `bool`, `str` and `list[T]` of those (nested);
        the return annotation `None` means the capability gives no result.
        A keyword-only parameter named `context` asks for the call's `CallContext`.
        An `async def` function needs `async_=True` (see `register`).
        The function is returned unchanged.
        """
        self._check_name(name)

        def decorate(func: _F) -> _F:
            mark = len(self._structs)
            try:
                params, result = _signature_of(func, name, self._struct_of)
            except UsageError:
                self._rollback(mark)
                raise
            self.register(
                name,
                func,
                params=params,
                result=result,
                deterministic=deterministic,
                context=_wants_context(func),
                async_=async_,
            )
            return func

        return decorate

    def _check_name(self, name: object) -> None:
        if not isinstance(name, str) or len(name) > CAPABILITY_NAME_MAX_LEN or not CAPABILITY_NAME.fullmatch(name):
            raise UsageError(
                "usage.capability-name",
                f"capability name {name!r} is not two or more dotted lowercase identifiers such as kv.get "
                f"(at most {CAPABILITY_NAME_MAX_LEN} characters)",
                capability=repr(name),
            )
        if name in self._capabilities:
            raise UsageError("usage.capability-duplicate", f"capability {name} is already registered", capability=name)

    def check_setting(self, name: str, value: HostSettingValue) -> str | None:
        """Why a `[host]` setting is refused (None when the host accepts it)."""
        kind = self._settings.get(name)
        if kind is None:
            return "unknown"
        # bool is a subclass of int in Python; a setting is exactly one of them.
        if type(value) is not kind:
            return "type"
        return None


def _checked_type(vtype: object, name: str, what: str) -> ValueType:
    if not well_formed(vtype):
        raise UsageError(
            "usage.capability-signature",
            f"capability {name}: {what} type {vtype!r} is not a VM value type",
            capability=name,
        )
    return vtype


def _refs_in(vtype: ValueType, table: Sequence[StructDef], depth: int = 0) -> bool:
    """Whether every struct type in `vtype` indexes `table`."""
    if vtype.kind is TypeKind.STRUCT:
        return 0 <= vtype.ref < len(table)
    return depth < 32 and all(_refs_in(arg, table, depth + 1) for arg in vtype.args)


def _signature_of(
    func: Callable[..., Any], name: str, struct_of: Callable[[type], ValueType | None] | None = None
) -> tuple[list[ValueType], ValueType | None]:
    def fail(message: str) -> UsageError:
        return UsageError("usage.capability-signature", f"capability {name}: {message}", capability=name)

    try:
        hints = typing.get_type_hints(func)
        signature = inspect.signature(func)
    except Exception as exc:  # any failure to read annotations is the host author's mistake
        raise fail(f"cannot read the annotations of {func!r}: {exc}") from None
    params: list[ValueType] = []
    for parameter in signature.parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            if parameter.kind is parameter.KEYWORD_ONLY and parameter.name == "context":
                continue  # the call's CallContext, passed by the runtime (see _wants_context)
            if parameter.default is not parameter.empty:
                continue  # keyword-only with a default: never passed by the VM
            raise fail(f"parameter {parameter.name!r} must be positional (the VM passes arguments by position)")
        if parameter.name not in hints:
            raise fail(f"parameter {parameter.name!r} has no type annotation")
        vtype = annotation_type(hints[parameter.name], struct_of=struct_of)
        if vtype is None:
            raise fail(
                f"parameter {parameter.name!r} is annotated {hints[parameter.name]!r}; use int, bool, str, float, "
                "list[...], dict[K, V] or a dataclass"
            )
        params.append(vtype)
    if "return" not in hints:
        raise fail("the return type is not annotated (write -> None for a capability without result)")
    returned = hints["return"]
    if returned is None or returned is type(None):
        return params, None
    result = annotation_type(returned, struct_of=struct_of)
    if result is None:
        raise fail(
            f"the return type is annotated {returned!r}; use int, bool, str, float, list[...], dict[K, V], "
            "a dataclass, or None"
        )
    return params, result


def _wants_context(func: Callable[..., Any]) -> bool:
    """Whether `func` has a keyword-only parameter named `context` (it asks for the call's CallContext)."""
    try:
        parameter = inspect.signature(func).parameters.get("context")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind is parameter.KEYWORD_ONLY


def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    call = getattr(func, "__call__", None)  # noqa: B004 - an object whose __call__ is async counts too
    return inspect.iscoroutinefunction(func) or (call is not None and inspect.iscoroutinefunction(call))
