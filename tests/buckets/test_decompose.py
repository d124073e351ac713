"""Dataset Decomposition pieces: exact reassembly, power-of-two sizes, the long-document rules."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.buckets.decompose import decompose

lengths_st = st.lists(st.integers(0, 70_000), min_size=1, max_size=40)


def _check(lengths, pieces, min_b, max_b):
    for d, length in enumerate(lengths):
        mine = np.nonzero(pieces.doc == d)[0]
        sizes = 1 << pieces.bucket[mine].astype(np.int64)
        # contiguous from token 0: the pieces reassemble the document's first kept_tokens tokens exactly
        assert list(pieces.offset[mine]) == list(np.concatenate([[0], np.cumsum(sizes)[:-1]]) if len(mine) else [])
        assert sizes.sum() == pieces.kept_tokens[d] <= length
        assert np.all((pieces.bucket[mine] >= min_b) & (pieces.bucket[mine] <= max_b))
        assert length - pieces.kept_tokens[d] < (1 << min_b)  # only a tail shorter than the min bucket is lost
        assert pieces.n_pieces[d] == len(mine)
        assert pieces.bucket_mask[d] == np.bitwise_or.reduce(1 << pieces.bucket[mine].astype(np.int64), initial=0)


@settings(max_examples=200, deadline=None)
@given(lengths_st, st.integers(0, 6), st.integers(6, 14))
def test_olmo_pieces_reassemble_the_document(lengths, min_b, max_b):
    lengths = np.array(lengths)
    pieces = decompose(lengths, min_b, max_b, "olmo")
    _check(lengths, pieces, min_b, max_b)
    for d, length in enumerate(lengths):
        mine = pieces.bucket[pieces.doc == d]
        assert list(mine) == sorted(mine, reverse=True)  # largest first
        full, rest = divmod(int(length), 1 << max_b)
        assert np.count_nonzero(mine == max_b) == full + (rest >> max_b & 1)
        if length < (1 << (max_b + 1)):  # the plain binary decomposition: one piece per set bit >= min
            assert sorted(mine) == [i for i in range(min_b, max_b + 1) if (int(length) >> i) & 1]


@settings(max_examples=100, deadline=None)
@given(lengths_st, st.integers(0, 6), st.integers(6, 12), st.integers(0, 2**63))
def test_random_rule_pieces_reassemble_and_are_seeded(lengths, min_b, max_b, seed):
    lengths = np.array(lengths)
    seeds = (np.arange(len(lengths), dtype=np.uint64) * np.uint64(7919)) ^ np.uint64(seed)
    a = decompose(lengths, min_b, max_b, "random", seeds)
    _check(lengths, a, min_b, max_b)
    b = decompose(lengths, min_b, max_b, "random", seeds)
    assert np.array_equal(a.bucket, b.bucket) and np.array_equal(a.doc, b.doc)


def test_random_rule_spreads_long_documents_with_equal_expected_tokens_per_bucket():
    lengths = np.full(1000, 1 << 20)  # long enough that the final binary split (< 2^14 tokens) hardly counts
    pieces = decompose(lengths, 8, 13, "random", np.arange(1000, dtype=np.uint64))
    # random pieces: P(k) ~ 2^(13-k), so every bucket 8..13 receives about the same number of tokens
    tokens = np.array([np.sum(pieces.bucket == k) << k for k in range(8, 14)], dtype=float)
    assert tokens.min() / tokens.max() > 0.9


def test_known_example_from_the_paper():
    # 1,000 + EOS -> 1001 = 512 + 256 + 128 + 64 + 32 + 8 + 1; buckets 8.. keep 512 + 256
    p = decompose(np.array([1001]), 8, 13)
    assert list(p.bucket) == [9, 8] and list(p.offset) == [0, 512] and p.kept_tokens[0] == 768


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_bucket <= max_bucket"):
        decompose(np.array([10]), 9, 8)
    with pytest.raises(ValueError, match="long_docs"):
        decompose(np.array([10]), 1, 8, "halves")
