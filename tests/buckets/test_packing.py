"""Packing baselines: best-fit decreasing against a slow reference, concat-and-chunk accounting by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.buckets.packing import (
    best_fit_decreasing,
    bfd_packing,
    compare_methods,
    concat_chunk,
    decomposition,
    split_long,
)


def reference_bfd(sizes, capacity):
    """Best-fit decreasing by linear scan (lowest bin index among equally good ones)."""
    remaining = []
    for s in sorted(sizes, reverse=True):
        fits = [i for i, r in enumerate(remaining) if r >= s]
        if fits:
            best = min(fits, key=lambda i: (remaining[i], i))
            remaining[best] -= s
        else:
            remaining.append(capacity - s)
    return len(remaining), sorted(remaining)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 64), min_size=0, max_size=120), st.integers(64, 100))
def test_bfd_matches_the_reference_and_never_overfills(sizes, capacity):
    bins, n_bins = best_fit_decreasing(np.array(sizes, dtype=np.int64), capacity)
    ref_bins, ref_remaining = reference_bfd(sizes, capacity)
    assert n_bins == ref_bins
    loads = np.bincount(bins, weights=sizes, minlength=n_bins) if sizes else np.zeros(0)
    assert np.all(loads <= capacity)
    assert sorted((capacity - loads).astype(int).tolist()) == ref_remaining


def test_bfd_rejects_items_over_capacity():
    with pytest.raises(ValueError, match="1..8"):
        best_fit_decreasing(np.array([9]), 8)


def test_split_long_keeps_every_token():
    sizes, doc = split_long(np.array([5, 20, 8]), 8)
    assert sizes.tolist() == [5, 8, 8, 4, 8] and doc.tolist() == [0, 1, 1, 1, 2]


def test_concat_chunk_by_hand():
    # docs of 3, 6, 4 tokens, C = 4: stream AAAB|BBBB|BCCC|C -> 3 chunks, 1 token dropped
    s = concat_chunk(np.array([3, 6, 4]), 4)
    assert (s.tokens, s.kept_tokens, s.sequences) == (13, 12, 3)
    # chunk 1: B attends to AAA (1 token); chunk 2: none; chunk 3: CCC attend to B (3 tokens)
    assert s.cross_doc_tokens == 4
    assert s.attention_cost == 3 * 16
    assert s.fragmented_docs == 2  # B spans chunks 0..2, C spans chunks 2..3 (its last token is dropped)
    m = concat_chunk(np.array([3, 6, 4]), 4, doc_mask=True)
    # segments: AAA, B | BBBB | B, CCC -> 3, 1, 4, 1, 3
    assert m.attention_cost == 9 + 1 + 16 + 1 + 9 and m.cross_doc_tokens == 0


def test_bfd_and_dd_accounting():
    lengths = np.array([300, 1000, 5000, 100])
    b = bfd_packing(lengths, 2048)
    assert b.kept_tokens == b.tokens == 6400 and (b.kept_tokens + b.pad_tokens) % 2048 == 0
    assert b.attention_cost == 300**2 + 1000**2 + 2048**2 * 2 + 904**2 + 100**2
    d = decomposition(lengths, 2048, min_bucket=8)
    # 300 -> 256 (+44 dropped); 1000 -> 512+256 (+232); 5000 -> 2048*2+512+256 (+136); 100 -> all dropped
    assert d.kept_tokens == 256 + 768 + 4864 and d.sequences == 1 + 2 + 4 and d.fragmented_docs == 2
    rows = compare_methods(lengths, 2048, 8)
    assert [r["method"] for r in rows] == ["concat_chunk", "concat_chunk_docmask", "best_fit_decreasing", "dd_256-2048"]
    assert rows[0]["relative_cost"] == pytest.approx(1.0)
    assert all(r["relative_cost"] < 1.0 for r in rows[1:])
