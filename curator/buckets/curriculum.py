"""Which bucket each optimisation step draws from: curricula over Dataset Decomposition buckets.

natural      every batch of every bucket in one seeded shuffle (odds = remaining batches per bucket)
uniform      rounds: each round takes one batch from every bucket that still has one, in seeded order
grow_p2      OLMo-core's Grow-P2 over `num_cycles` cycles: short buckets early in each cycle, long ones late
grow_linear  the same with linear odds
shrink_p2    Grow-P2 reversed (long first)
For grow/shrink, n buckets (j = 0 is the shortest) and sub-cycle c in 0..n-1 give the exponent
e = (n - j) + c if that is <= n, else (n - j) - ((n - j + c) mod n); odds are 2^(e-1) (P2) or e (linear).
Each bucket's batches are spread over the num_cycles * n sub-cycles in proportion to its odds, and the
batches within a sub-cycle are shuffled. Memory: one int per batch.
"""

from __future__ import annotations

import numpy as np

CURRICULA = ("natural", "uniform", "grow_p2", "grow_linear", "shrink_p2")


def growth_exponents(n: int) -> np.ndarray:
    """e[j, c] for n buckets (j = 0 shortest) and sub-cycles c = 0..n-1."""
    e = np.empty((n, n), np.int64)
    for j in range(n):
        for c in range(n):
            v = (n - j) + c
            e[j, c] = v if v <= n else (n - j) - ((n - j + c) % n)
    return e


def curriculum_odds(curriculum: str, n: int) -> np.ndarray:
    """Odds [bucket j, sub-cycle c] of the grow/shrink curricula."""
    e = growth_exponents(n)
    if curriculum == "grow_p2":
        return 2.0 ** (e - 1)
    if curriculum == "grow_linear":
        return e.astype(np.float64)
    if curriculum == "shrink_p2":
        return (2.0 ** (e - 1))[::-1]
    raise ValueError(f"no odds for curriculum {curriculum!r}")


def _spread(total: int, weights: np.ndarray) -> np.ndarray:
    """Split `total` into len(weights) integers in proportion to weights (floor of the cumulative share)."""
    cum = np.floor(total * np.cumsum(weights) / weights.sum() + 1e-9).astype(np.int64)
    cum[-1] = total
    return np.diff(np.concatenate([[0], cum]))


def bucket_order(batches: np.ndarray, curriculum: str, rng: np.random.Generator, num_cycles: int = 8) -> np.ndarray:
    """The position (into `batches`, buckets sorted short to long) of the bucket of every step of one epoch."""
    if curriculum not in CURRICULA:
        raise ValueError(f"curriculum must be one of {CURRICULA}, got {curriculum!r}")
    batches = np.asarray(batches, np.int64)
    n = len(batches)
    if curriculum == "natural":
        return rng.permutation(np.repeat(np.arange(n), batches))
    if curriculum == "uniform":
        which = np.repeat(np.arange(n), batches)
        rounds = np.concatenate([np.arange(b) for b in batches]) if n else np.empty(0, np.int64)
        return which[np.lexsort((rng.random(len(which)), rounds))]
    odds = curriculum_odds(curriculum, n)
    slot_weights = np.tile(odds, (1, num_cycles))  # [bucket, cycle * n + c]
    per_slot = np.stack([_spread(int(batches[j]), slot_weights[j]) for j in range(n)])  # [bucket, slot]
    order = []
    for slot in range(per_slot.shape[1]):
        order.append(rng.permutation(np.repeat(np.arange(n), per_slot[:, slot])))
    return np.concatenate(order) if order else np.empty(0, np.int64)
