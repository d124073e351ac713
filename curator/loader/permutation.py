"""Keyed permutations of [0, n) in O(1) memory: a 6-round Feistel network with cycle walking (compiled).

`permute(index, n, key)` is a bijection of [0, n) for every key, computed per element, so a domain's
sample order for an epoch costs no memory at any corpus size and any element is found without the others.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from curator.text.hashing import fmix64

ROUNDS = 6


@njit(cache=True, inline="always")
def _feistel(x, half_bits, mask, key):
    left = x >> np.uint64(half_bits)
    right = x & mask
    for r in range(ROUNDS):
        f = fmix64(right ^ (key + np.uint64(r) * np.uint64(0x9E3779B97F4A7C15))) & mask
        left, right = right, left ^ f
    return (left << np.uint64(half_bits)) | right


@njit(cache=True)
def _permute(index, n, keys, out):
    bits = 2
    while (np.uint64(1) << np.uint64(bits)) < n:
        bits += 2
    half = bits // 2
    mask = (np.uint64(1) << np.uint64(half)) - np.uint64(1)
    for i in range(len(index)):
        x = np.uint64(index[i])
        x = _feistel(x, half, mask, keys[i])
        while x >= n:  # cycle walking: the domain is < 4x n, so a few steps at most on average
            x = _feistel(x, half, mask, keys[i])
        out[i] = np.int64(x)


def permute(index: np.ndarray, n: int, keys: np.ndarray | int) -> np.ndarray:
    """The image of each `index` (in [0, n)) under the permutation keyed by `keys` (one per index, or one)."""
    index = np.ascontiguousarray(index, dtype=np.uint64)
    if n < 1:
        raise ValueError(f"cannot permute an empty range (n = {n})")
    if len(index) and int(index.max()) >= n:
        raise ValueError(f"index {int(index.max())} outside [0, {n})")
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), index.shape)
    out = np.empty(len(index), np.int64)
    _permute(index, np.uint64(n), np.ascontiguousarray(keys), out)
    return out


def permutation_key(seed: int, domain: int, epoch: np.ndarray | int) -> np.ndarray:
    """The key of (seed, domain, epoch): every epoch of every domain gets its own order."""
    base = np.uint64((seed * 0x100000001B3 + domain * 0xC2B2AE3D27D4EB4F + 1) % 2**64)
    epochs = np.asarray(epoch, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (epochs * np.uint64(0xD6E8FEB86659FD93)) ^ base
