"""Union-find: equal to a plain reference on random graphs, correct and fast on adversarial chains."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.dedup.unionfind import connected_components


def reference_labels(edges, n):
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(n)]
    smallest = {}
    for i, r in enumerate(roots):
        smallest.setdefault(r, i)
    return [smallest[r] for r in roots]


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 60).flatmap(
        lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=120))
    )
)
def test_matches_reference(case):
    n, edges = case
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    assert connected_components(a, b, n).tolist() == reference_labels(edges, n)


@pytest.mark.parametrize("order", ["forward", "backward", "interleaved", "reversed_pairs"])
def test_adversarial_chains_collapse_to_one_component(order):
    n = 200_000
    a = np.arange(n - 1)
    b = a + 1
    if order == "backward":
        a, b = a[::-1], b[::-1]
    elif order == "interleaved":
        idx = np.concatenate([np.arange(0, n - 1, 2), np.arange(1, n - 1, 2)])
        a, b = a[idx], b[idx]
    elif order == "reversed_pairs":
        a, b = b[::-1], a[::-1]
    labels = connected_components(a, b, n)
    assert (labels == 0).all()


def test_labels_do_not_depend_on_edge_order():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5000, 8000)
    b = rng.integers(0, 5000, 8000)
    perm = rng.permutation(len(a))
    assert np.array_equal(connected_components(a, b, 5000), connected_components(b[perm], a[perm], 5000))


def test_rejects_out_of_range_edges():
    with pytest.raises(ValueError, match="endpoints"):
        connected_components(np.array([0]), np.array([5]), 3)
