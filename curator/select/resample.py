"""Resampling by weight: Gumbel top-k (sampling without replacement), plain top-k, and with replacement.

Keys and counts are computed task by task in input order, so the selection depends on the input, the seed
and the weights only, never on the worker count. Memory: O(k + one task's documents).
"""

from __future__ import annotations

import numpy as np


def gumbel_from_uniform(u: np.ndarray) -> np.ndarray:
    """Gumbel(0, 1) noise from uniforms in [0, 1) (nudged off 0 so the noise is finite)."""
    u = np.clip(u, 2.0**-60, 1.0 - 2.0**-53)
    return -np.log(-np.log(u))


class TopK:
    """The k best (key, global number) pairs seen so far: higher key first, ties to the lower number."""

    def __init__(self, k: int):
        self.k = k
        self.keys = np.zeros(0, np.float64)
        self.numbers = np.zeros(0, np.int64)

    def add(self, keys: np.ndarray, numbers: np.ndarray) -> None:
        keys = np.concatenate([self.keys, keys])
        numbers = np.concatenate([self.numbers, numbers])
        if len(keys) > self.k:
            if self.k == 0:
                keys, numbers = keys[:0], numbers[:0]
            else:
                kth = np.partition(-keys, self.k - 1)[self.k - 1]  # -(k-th largest key)
                cand = -keys <= kth
                keys, numbers = keys[cand], numbers[cand]
                order = np.lexsort((numbers, -keys))[: self.k]
                keys, numbers = keys[order], numbers[order]
        self.keys, self.numbers = keys, numbers

    def threshold(self) -> tuple[float, int]:
        """The k-th pair: a document is selected when (key, -number) >= this pair's."""
        if len(self.keys) < self.k or self.k == 0:
            return float("-inf"), np.iinfo(np.int64).max
        order = np.lexsort((self.numbers, -self.keys))
        last = order[-1]
        return float(self.keys[last]), int(self.numbers[last])


def selected_by_threshold(keys: np.ndarray, numbers: np.ndarray, eligible: np.ndarray, thr: tuple[float, int]):
    """Mask of the documents at or above the top-k threshold pair."""
    key, number = thr
    return eligible & ((keys > key) | ((keys == key) & (numbers <= number)))


def multinomial_by_task(task_log_w: list[np.ndarray], k: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Copies per document of k draws with replacement, P(doc) proportional to exp(log_w) (-inf = never).

    Drawn task by task (binomial share of the task, then a multinomial inside it) with one generator, so
    only one task's weights need be in memory at a time beyond the per-task totals."""
    tops = [float(np.max(w)) if len(w) and np.isfinite(w).any() else float("-inf") for w in task_log_w]
    top = max(tops) if tops else float("-inf")
    totals = np.array([float(np.sum(np.exp(w - top))) if len(w) else 0.0 for w in task_log_w])
    remaining_mass = float(totals.sum())
    last = int(np.flatnonzero(totals > 0)[-1]) if (totals > 0).any() else -1
    left = k
    out = []
    for t, (w, mass) in enumerate(zip(task_log_w, totals, strict=True)):
        if left == 0 or mass == 0:
            share = 0
        elif t == last:
            share = left
        else:
            share = int(rng.binomial(left, min(1.0, mass / remaining_mass)))
        copies = np.zeros(len(w), np.int32)
        if share:
            p = np.exp(w - top) / mass
            copies = rng.multinomial(share, p / p.sum()).astype(np.int32)
        out.append(copies)
        left -= share
        remaining_mass -= mass
    return out
