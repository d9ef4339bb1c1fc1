"""core.digest: the SHA-256 a run uses (module and policy digests) is hashlib's, without loading OpenSSL."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from chronicle_vm.core import digest


@given(st.binary(max_size=300))
def test_the_digest_is_hashlibs(data: bytes) -> None:
    assert digest.sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_known_digests() -> None:
    assert digest.sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert digest.sha256_hex(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert digest.sha256_hex(b"x" * 100_000) == hashlib.sha256(b"x" * 100_000).hexdigest()
