"""Connected components of an edge list: compiled union-find (union by size, path halving)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _find(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]  # path halving
        x = parent[x]
    return x


@njit(cache=True)
def _components(a, b, n):
    parent = np.arange(n)
    size = np.ones(n, np.int64)
    for k in range(len(a)):
        ra = _find(parent, a[k])
        rb = _find(parent, b[k])
        if ra == rb:
            continue
        if size[ra] < size[rb]:
            ra, rb = rb, ra
        parent[rb] = ra
        size[ra] += size[rb]
    label = np.empty(n, np.int64)
    smallest = np.full(n, n, np.int64)
    for i in range(n):
        r = _find(parent, i)
        label[i] = r
        if i < smallest[r]:
            smallest[r] = i
    for i in range(n):
        label[i] = smallest[label[i]]
    return label


def connected_components(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Label of each node 0..n-1 = the smallest node of its component (deterministic whatever the edge order).

    O(E α(n)) time; memory: three int64 arrays of n.
    """
    a = np.ascontiguousarray(a, dtype=np.int64)
    b = np.ascontiguousarray(b, dtype=np.int64)
    if len(a) != len(b):
        raise ValueError("edge arrays differ in length")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise ValueError(f"edge endpoints must lie in [0, {n})")
    return _components(a, b, n)
