"""Programs for trace and replay tests: takes nothing (or a list of steps), gives modules, hosts and policies.

`plugin_module()` has one exported function per way a run can end
(returned, trap, instruction limit, host failure, quota), all calling
capabilities; `steps_module(steps)` builds a random straight-line program
for property tests.  Modules come from the model dataclasses, so these
tests depend on nothing but chronicle_vm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from chronicle_vm.capabilities.host import Host
from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.core.isa import Op
from chronicle_vm.core.model import Capability, Function, Instruction, Module, SourceMap, SourcePos
from chronicle_vm.core.types import BOOL, INT, STR, ValueType, array_type

__all__ = ["CAPABILITIES", "POLICY", "STEP_KINDS", "cycle", "make_host", "plugin_module", "policy", "steps_module"]

INTS = array_type(INT.base, 1)
STRS = array_type(STR.base, 1)

#: Capabilities of every module here, by index.
CAPABILITIES = (
    Capability("num.next", (INT,), INT),
    Capability("log.info", (STR,), None),
    Capability("grid.rows", (INTS,), STRS),
)

POLICY = """version = 1
[capabilities."num.next"]
allow = true
[capabilities."log.info"]
allow = true
[capabilities."grid.rows"]
allow = true
"""


def _i(op: Op, a: int = 0, b: int = 0, c: int = 0) -> Instruction:
    return Instruction(int(op), a, b, c)


def _function(
    name: str, params: int, result: ValueType | None, registers: Sequence[ValueType], code: list[Instruction]
) -> Function:
    return Function(name, True, params, result, tuple(registers), tuple(code))


def plugin_module() -> Module:
    """Exported functions (constants: 0, 1, "x", "hi", "boom"):

    - `main(n) -> int`: sum of num.next(i) for i in 0..n, then log.info(str(sum)).
    - `boom(n) -> int`: num.next(n) / 0, a division-by-zero trap after one call.
    - `spin(n) -> int`: calls num.next forever, until a limit (instructions or quota).
    - `rows(n) -> [str]`: grid.rows([n]), then pushes "x" onto the result it got.
    - `quiet()`: log.info("hi"), no result.
    - `halt(n) -> int`: num.next(n), then a trap instruction with message "boom".
    """
    main = _function(
        "main",
        1,
        INT,
        (INT, INT, INT, INT, BOOL, STR, INT, STR),
        [
            _i(Op.LOADK, 1, 0),  # i = 0
            _i(Op.LOADK, 2, 0),  # total = 0
            _i(Op.LOADK, 3, 1),  # one = 1
            _i(Op.LT, 4, 1, 0),  # loop: i < n
            _i(Op.JMPIFNOT, 4, 9),
            _i(Op.CAPCALL, 0, 1, 6),  # got = num.next(i)
            _i(Op.ADD, 2, 2, 6),
            _i(Op.ADD, 1, 1, 3),
            _i(Op.JMP, 3),
            _i(Op.TOSTR, 7, 2),
            _i(Op.CAPCALL, 1, 7, 0),  # log.info(str(total))
            _i(Op.RET, 2),
        ],
    )
    boom = _function(
        "boom",
        1,
        INT,
        (INT, INT, INT, INT),
        [
            _i(Op.CAPCALL, 0, 0, 1),
            _i(Op.LOADK, 2, 0),
            _i(Op.DIV, 3, 1, 2),
            _i(Op.RET, 3),
        ],
    )
    spin = _function("spin", 1, INT, (INT, INT), [_i(Op.CAPCALL, 0, 0, 1), _i(Op.JMP, 0)])
    rows = _function(
        "rows",
        1,
        STRS,
        (INT, INTS, STRS, STR),
        [
            _i(Op.NEWARR, 1),
            _i(Op.PUSH, 1, 0),
            _i(Op.CAPCALL, 2, 1, 2),
            _i(Op.LOADK, 3, 2),
            _i(Op.PUSH, 2, 3),  # the plugin mutates the array it received: the trace keeps what the host gave
            _i(Op.RET, 2),
        ],
    )
    quiet = _function("quiet", 0, None, (STR,), [_i(Op.LOADK, 0, 3), _i(Op.CAPCALL, 1, 0, 0), _i(Op.RETV)])
    halt = _function("halt", 1, INT, (INT, INT), [_i(Op.CAPCALL, 0, 0, 1), _i(Op.TRAP, 4)])
    functions = (main, boom, spin, rows, quiet, halt)
    return Module(
        constants=(0, 1, "x", "hi", "boom"),
        capabilities=CAPABILITIES,
        functions=functions,
        source_map=SourceMap(
            files=("plugin.chr",),
            functions=tuple(
                tuple(SourcePos(0, 10 * number + index + 1, 5) for index in range(len(function.code)))
                for number, function in enumerate(functions)
            ),
        ),
    )


def _tens(i: int) -> int:
    return i * 10


def _texts(xs: list[int]) -> list[str]:
    return [str(x) for x in xs]


def make_host(
    next_value: Callable[[int], int] = _tens,
    rows: Callable[[list[int]], list[str]] = _texts,
    log: list[str] | None = None,
) -> Host:
    """A host offering the three capabilities; log.info appends to `log` when given."""
    host = Host()
    lines = log if log is not None else []

    @host.capability("num.next")
    def num_next(i: int) -> int:
        return next_value(i)

    @host.capability("log.info")
    def log_info(msg: str) -> None:
        lines.append(msg)

    @host.capability("grid.rows")
    def grid_rows(xs: list[int]) -> list[str]:
        return rows(xs)

    return host


def policy(quota: int | None = None) -> Policy:
    """All three capabilities allowed; `quota` limits num.next."""
    if quota is None:
        return Policy.from_toml(POLICY)
    return Policy.from_toml(POLICY.replace("allow = true", f"allow = true\nmax_calls = {quota}", 1))


#: Step kinds of `steps_module`.
STEP_KINDS = ("call", "add", "mul", "div", "log", "skip-if-less", "rows")


def steps_module(steps: Sequence[tuple[str, int]]) -> Module:
    """`main(n) -> int` running `steps` on an accumulator (r1 = n at the start); returns it.

    Registers: r0 n, r1 acc, r2 got, r3 constant, r4 flag, r5 text, r6 [int], r7 [str].  Each
    step is (kind, k): `call` sets got = num.next(acc) and acc += got; `add`
    and `mul` combine acc with constant k; `div` divides acc by got (a trap
    when got is 0); `log` logs str(acc); `skip-if-less` skips the next step
    when acc < got; `rows` sets got = len(grid.rows([acc])) and acc += got.
    """
    constants: list[int | str] = []

    def const(value: int) -> int:
        if value not in constants:
            constants.append(value)
        return constants.index(value)

    blocks: list[list[Instruction]] = []
    for kind, k in steps:
        if kind == "call":
            blocks.append([_i(Op.CAPCALL, 0, 1, 2), _i(Op.ADD, 1, 1, 2)])
        elif kind == "add":
            blocks.append([_i(Op.LOADK, 3, const(k)), _i(Op.ADD, 1, 1, 3)])
        elif kind == "mul":
            blocks.append([_i(Op.LOADK, 3, const(k)), _i(Op.MUL, 1, 1, 3)])
        elif kind == "div":
            blocks.append([_i(Op.DIV, 1, 1, 2)])
        elif kind == "log":
            blocks.append([_i(Op.TOSTR, 5, 1), _i(Op.CAPCALL, 1, 5, 0)])
        elif kind == "rows":
            blocks.append(
                [_i(Op.NEWARR, 6), _i(Op.PUSH, 6, 1), _i(Op.CAPCALL, 2, 6, 7), _i(Op.LEN, 2, 7), _i(Op.ADD, 1, 1, 2)]
            )
        else:
            blocks.append([_i(Op.LT, 4, 1, 2), _i(Op.JMPIF, 4, -1)])  # target patched below
    code: list[Instruction] = [_i(Op.MOV, 1, 0)]
    starts = []
    for block in blocks:
        starts.append(len(code))
        code.extend(block)
    end = len(code)
    patched: list[Instruction] = []
    for index, ins in enumerate(code):
        if ins.op == Op.JMPIF and ins.b == -1:
            number = starts.index(index - 1)
            after_next = starts[number + 2] if number + 2 < len(starts) else end
            patched.append(_i(Op.JMPIF, 4, after_next))
        else:
            patched.append(ins)
    patched.append(_i(Op.RET, 1))
    main = _function("main", 1, INT, (INT, INT, INT, INT, BOOL, STR, INTS, STRS), patched)
    return Module(
        constants=tuple(constants),
        capabilities=CAPABILITIES,
        functions=(main,),
        source_map=SourceMap(
            files=("steps.chr",), functions=(tuple(SourcePos(0, i + 1, 1) for i in range(len(patched))),)
        ),
    )


def cycle(values: Sequence[int]) -> Callable[[int], int]:
    """A num.next that answers `values` in turn (0 forever when empty)."""
    state = {"i": 0}

    def answer(_: int) -> int:
        if not values:
            return 0
        value = values[state["i"] % len(values)]
        state["i"] += 1
        return value

    return answer
