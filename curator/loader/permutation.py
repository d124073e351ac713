"""Keyed permutations of [0, n) in O(1) memory: a 6-round Feistel network with cycle walking (numpy).

`permute(index, n, key)` is a bijection of [0, n) for every key, computed per element, so a domain's
sample order for an epoch costs no memory at any corpus size and any element is found without the others.
Plain numpy on uint64 arrays (no JIT), so the first batch of a fresh process costs no compilation.
"""

from __future__ import annotations

import numpy as np

ROUNDS = 6
_ROUND_KEYS = [np.uint64((r + 1) * 0x9E3779B97F4A7C15 % 2**64) for r in range(ROUNDS)]


def fmix64_np(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer on a uint64 array (wrapping arithmetic), the same as the compiled one."""
    h = np.array(h, dtype=np.uint64, copy=True)
    with np.errstate(over="ignore"):
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
    return h


def _feistel(x: np.ndarray, half: int, mask: np.uint64, keys: np.ndarray) -> np.ndarray:
    half_bits = np.uint64(half)
    left, right = x >> half_bits, x & mask
    with np.errstate(over="ignore"):
        for rk in _ROUND_KEYS:
            f = fmix64_np(right ^ (keys + rk)) & mask
            left, right = right, left ^ f
    return (left << half_bits) | right


def permute(index: np.ndarray, n: int, keys: np.ndarray | int) -> np.ndarray:
    """The image of each `index` (in [0, n)) under the permutation keyed by `keys` (one per index, or one)."""
    if n < 1:
        raise ValueError(f"cannot permute an empty range (n = {n})")
    x = np.asarray(index, dtype=np.uint64).copy()
    if len(x) and int(x.max()) >= n:
        raise ValueError(f"index {int(x.max())} outside [0, {n})")
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), x.shape).copy()
    bits = 2
    while (1 << bits) < n:
        bits += 2
    half = bits // 2
    mask = np.uint64((1 << half) - 1)
    todo = np.arange(len(x))
    while len(todo):  # cycle walking: the domain is < 4x n, so a few rounds at most on average
        x[todo] = _feistel(x[todo], half, mask, keys[todo])
        todo = todo[x[todo] >= np.uint64(n)]
    return x.astype(np.int64)


def permutation_key(seed: int, domain: int, epoch: np.ndarray | int) -> np.ndarray:
    """The key of (seed, domain, epoch): every epoch of every domain gets its own order."""
    base = np.uint64((seed * 0x100000001B3 + domain * 0xC2B2AE3D27D4EB4F + 1) % 2**64)
    epochs = np.asarray(epoch, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return (epochs * np.uint64(0xD6E8FEB86659FD93)) ^ base
