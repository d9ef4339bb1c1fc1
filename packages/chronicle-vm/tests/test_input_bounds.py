"""Input files are read under a size cap, never hang on devices or FIFOs; policy keys are bounded before tomllib."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from chronicle_vm.capabilities.policy import Policy
from chronicle_vm.capabilities.tomlscan import MAX_KEY_CHARS, MAX_KEY_PARTS, check_key_bounds
from chronicle_vm.errors import PolicyError, UsageError
from chronicle_vm.inputs import MAX_POLICY_FILE_BYTES, read_capped


def test_a_file_over_its_cap_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.toml"
    with open(big, "wb") as handle:  # sparse: the size is claimed, not written
        handle.truncate(5 * 1024**3)
    with pytest.raises(PolicyError) as caught:
        Policy.from_file(big)
    assert caught.value.code == "policy.too-large"
    assert caught.value.details["cap"] == MAX_POLICY_FILE_BYTES


def test_a_file_at_its_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "exact.bin"
    path.write_bytes(b"x" * 1000)
    assert read_capped(str(path), 1000, PolicyError, "policy.too-large", "a policy") == b"x" * 1000
    with pytest.raises(PolicyError):
        read_capped(str(path), 999, PolicyError, "policy.too-large", "a policy")


def test_devices_are_refused_without_reading() -> None:
    for device in ("/dev/zero", "/dev/null"):
        with pytest.raises(UsageError) as caught:
            read_capped(device, 100, PolicyError, "policy.too-large", "a policy")
        assert caught.value.code == "usage.not-a-file"


def test_a_fifo_without_a_writer_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(UsageError) as caught:
        Policy.from_file(fifo)
    assert caught.value.code == "usage.not-a-file"
    assert time.monotonic() - started < 5


def test_a_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        Policy.from_file(tmp_path / "absent.toml")
    assert caught.value.code == "usage.unreadable-file"


def test_the_100000_part_dotted_key_is_refused_at_once() -> None:
    text = "version = 1\n" + "a." * 100_000 + "b = 1\n"
    started = time.monotonic()
    with pytest.raises(PolicyError) as caught:
        Policy.from_toml(text)
    assert caught.value.code == "policy.key-too-deep"
    assert caught.value.details["line"] == 2
    assert time.monotonic() - started < 1  # tomllib alone: 35-45 s, then MemoryError


@pytest.mark.parametrize(
    "text",
    [
        "[" + ".".join(["t"] * (MAX_KEY_PARTS + 1)) + "]\n",
        "x = {" + ".".join(['"q"'] * (MAX_KEY_PARTS + 1)) + " = 1}\n",
        "[[" + ".".join(["t"] * (MAX_KEY_PARTS + 1)) + "]]\n",
    ],
)
def test_deep_keys_are_refused_wherever_they_are_written(text: str) -> None:
    with pytest.raises(PolicyError) as caught:
        check_key_bounds(text)
    assert caught.value.code == "policy.key-too-deep"


def test_long_keys_are_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        check_key_bounds('"' + "k" * (MAX_KEY_CHARS + 1) + '" = 1\n')
    assert caught.value.code == "policy.key-too-long"
    with pytest.raises(PolicyError) as caught:
        check_key_bounds("a." + "k" * MAX_KEY_CHARS + " = 1\n")
    assert caught.value.code == "policy.key-too-long"


@pytest.mark.parametrize(
    "text",
    [
        # keys at the bounds, and values that look like dotted runs but are not keys
        ".".join(["t"] * MAX_KEY_PARTS) + " = 1\n",
        '"' + "k" * (MAX_KEY_CHARS - 2) + '" = 1\n',
        'x = "' + "a." * 5000 + '"\n',
        "x = '" + "a." * 5000 + "'\n",
        'x = """\n' + "a." * 5000 + '\n"""\n',
        "x = 1.5\ny = 1979-05-27T07:32:00.999\n",
        "# " + "a." * 5000 + "\n",
        'x = ["' + "v" * 5000 + '", "w"]\n',
        'x = "a \\" ' + "b." * 100 + '"\n',
    ],
)
def test_ordinary_text_passes_the_scan(text: str) -> None:
    check_key_bounds(text)


def test_a_real_policy_still_loads() -> None:
    policy = Policy.from_toml(
        'version = 1\n[limits]\nmax_instructions = 1_000\n[capabilities."kv.get"]\nallow = true\nmax_calls = 3\n'
    )
    assert policy.capabilities["kv.get"].max_calls == 3


def test_the_trace_file_cap_is_what_load_trace_reads() -> None:
    from chronicle_vm.inputs import MAX_TRACE_FILE_BYTES
    from chronicle_vm.trace.document import MAX_TRACE_BYTES

    assert MAX_TRACE_FILE_BYTES == MAX_TRACE_BYTES
