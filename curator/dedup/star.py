"""Star clustering of verified near-duplicate pairs: every dropped document is similar to its own representative.

Connected components (union-find) chain documents through shared boilerplate: A~B and B~C put A and C in one
cluster even when J(A, C) is near 0, and C is dropped as a duplicate of A. Star clustering keeps the promise
"a document is dropped only if its estimated Jaccard with the kept document it is attributed to is >= the
threshold":

1. **greedy pass** (compiled): documents are visited best-first (the representative rule: highest priority,
   then input order). An unassigned document becomes a representative and claims its unassigned neighbours
   over verified edges. So the representative of a cluster is its best document, as with union-find, and
   each member has a verified edge to it.
2. **second-hop rounds**: the LSH candidate pairs are star edges per band bucket (bucket hub -> the others),
   so two documents of one bucket may be linked only through the hub. When a representative X has an
   earlier neighbour assigned to representative R, the pair (X, R) is checked from the signatures; if it
   passes it becomes an edge and the greedy pass is redone. Rounds repeat until no new pair passes (at most
   `max_rounds`); edges only grow, so this ends, and each round is one vectorised Jaccard batch.

Deterministic: visiting order is a total order and edge order does not matter. Memory: ~80 B per edge at
the peak of building the CSR adjacency (edge arrays, both directions, the sort order), 24 B per node (labels,
ranks, visiting order), and the second-hop pairs of one round (at most one per edge direction); signatures
are read by the caller's `jaccard` in chunks.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit


def csr(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected adjacency of nodes 0..n-1 as (indptr, neighbours); each edge appears in both directions."""
    src = np.concatenate([a, b]).astype(np.int64, copy=False)
    dst = np.concatenate([b, a]).astype(np.int64, copy=False)
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order]


@njit(cache=True)
def _greedy(indptr, neighbours, visit):
    """label[u] = the representative claiming u (itself for a representative), visiting nodes in `visit` order."""
    n = len(visit)
    label = np.full(n, -1, np.int64)
    for k in range(n):
        u = visit[k]
        if label[u] >= 0:
            continue
        label[u] = u
        for e in range(indptr[u], indptr[u + 1]):
            v = neighbours[e]
            if label[v] < 0:
                label[v] = u
    return label


@njit(cache=True)
def _second_hop(indptr, neighbours, label, rank):
    """(representative x, representative r) for each x whose earlier-ranked neighbour belongs to r != x."""
    count = 0
    for x in range(len(label)):
        if label[x] == x:
            for e in range(indptr[x], indptr[x + 1]):
                v = neighbours[e]
                if rank[v] < rank[x] and label[v] != x:
                    count += 1
    xs = np.empty(count, np.int64)
    rs = np.empty(count, np.int64)
    k = 0
    for x in range(len(label)):
        if label[x] == x:
            for e in range(indptr[x], indptr[x + 1]):
                v = neighbours[e]
                if rank[v] < rank[x] and label[v] != x:
                    xs[k] = x
                    rs[k] = label[v]
                    k += 1
    return xs, rs


def _unique_pairs(x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((r, x))
    x, r = x[order], r[order]
    fresh = np.ones(len(x), dtype=bool)
    fresh[1:] = (x[1:] != x[:-1]) | (r[1:] != r[:-1])
    return x[fresh], r[fresh]


def star_clusters(
    a: np.ndarray,
    b: np.ndarray,
    rank: np.ndarray,
    jaccard: Callable[[np.ndarray, np.ndarray], np.ndarray],
    threshold: float,
    max_rounds: int = 8,
) -> tuple[np.ndarray, dict]:
    """Representative node of each node 0..n-1 (n = len(rank)) over verified edges (a[i], b[i]).

    `rank[u]` is u's place in the representative rule (0 = best; a permutation). `jaccard(x, r)` gives the
    estimated Jaccard of node pairs (used for second-hop pairs only). Returns (labels, facts).
    """
    rank = np.ascontiguousarray(rank, np.int64)
    n = len(rank)
    visit = np.empty(n, np.int64)
    visit[rank] = np.arange(n)
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    checked_x = np.empty(0, np.int64)
    checked_r = np.empty(0, np.int64)
    added = rounds = 0
    while True:
        indptr, neighbours = csr(a, b, n)
        label = _greedy(indptr, neighbours, visit)
        if rounds >= max_rounds:
            break
        x, r = _unique_pairs(*_second_hop(indptr, neighbours, label, rank))
        if len(checked_x):  # pairs already checked in an earlier round are not checked again
            seen = np.isin(x * n + r, checked_x * n + checked_r)
            x, r = x[~seen], r[~seen]
        if len(x) == 0:
            break
        rounds += 1
        checked_x, checked_r = np.concatenate([checked_x, x]), np.concatenate([checked_r, r])
        ok = jaccard(x, r) >= threshold
        if not ok.any():
            break
        a, b = np.concatenate([a, x[ok]]), np.concatenate([b, r[ok]])
        added += int(ok.sum())
    return label, {"second_hop_rounds": rounds, "second_hop_pairs": int(len(checked_x)), "second_hop_edges": added}
