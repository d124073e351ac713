import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from curator.text.sha256 import sha256_mod_bytes


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=300), st.integers(min_value=1, max_value=2**32 - 1))
def test_sha256_mod_matches_hashlib(data, m):
    assert sha256_mod_bytes(data, m) == int(hashlib.sha256(data).hexdigest(), 16) % m


def test_block_boundaries():
    for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000):
        data = bytes(range(256)) * 4
        assert sha256_mod_bytes(data[:n], 10_000) == int(hashlib.sha256(data[:n]).hexdigest(), 16) % 10_000
