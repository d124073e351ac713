"""Keyed permutations of [0, n) in O(1) memory: keyed bijections of [0, 2^bits) with cycle walking (numpy).

`permute(index, n, key)` is a bijection of [0, n) for every (n, key), computed per element, so a domain's
sample order for an epoch costs no memory at any corpus size and any element is found without the others.
Each of 4 rounds applies bijections of [0, 2^bits), 2^bits the smallest power of two >= n: add a keyed
constant, multiply by a keyed odd constant (both mod 2^bits), xor-shift right; values >= n walk again (on
average < 2 steps, as 2^bits < 2n). `n` and `key` may differ per element, so one call serves a batch of
several domains. Plain numpy on uint64 arrays (no JIT): the first batch of a fresh process compiles nothing.
Not a cryptographic shuffle; enough to decorrelate a domain's sample order from its storage order.
"""

from __future__ import annotations

import numpy as np

ROUNDS = 4
_M1, _M2, _S33 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53), np.uint64(33)
_SALTS = [np.uint64(0x9E3779B97F4A7C15 * (2 * k + 1) % 2**64) for k in range(2 * ROUNDS)]  # odd: per round add, mul


def fmix64_np(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer on a uint64 array, the same as the compiled one (array arithmetic wraps)."""
    h = np.array(h, dtype=np.uint64)  # a copy
    h ^= h >> _S33
    h *= _M1
    h ^= h >> _S33
    h *= _M2
    h ^= h >> _S33
    return h


def _rounds(x, mask, shift, adds, muls):
    for add, mul in zip(adds, muls, strict=True):
        x = ((x + add) * mul) & mask
        x ^= x >> shift
    return x


def permute(index: np.ndarray, n: np.ndarray | int, keys: np.ndarray | int) -> np.ndarray:
    """The image of each `index` (in [0, n)) under the permutation of [0, n) keyed by `keys`."""
    x = np.array(index, dtype=np.uint64)
    n = np.broadcast_to(np.asarray(n, dtype=np.int64), x.shape)
    if x.size and int(n.min()) < 1:
        raise ValueError(f"cannot permute an empty range (n = {int(n.min())})")
    if x.size and bool(np.any(x >= n.astype(np.uint64))):
        raise ValueError("an index lies outside [0, n)")
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), x.shape)
    bits = np.frexp(np.maximum(n - 1, 1).astype(np.float64))[1].astype(np.uint64)  # bit length of n - 1
    mask = (np.uint64(1) << bits) - np.uint64(1)
    shift = np.maximum(bits >> np.uint64(1), np.uint64(1))
    mixed = fmix64_np(keys)  # one hash per element; the rounds' constants are cheap odd multiples of it
    adds = [mixed * _SALTS[2 * r] for r in range(ROUNDS)]
    muls = [(mixed ^ (mixed >> np.uint64(7 * r + 5))) * _SALTS[2 * r + 1] | np.uint64(1) for r in range(ROUNDS)]
    limit = n.astype(np.uint64)
    x = _rounds(x, mask, shift, adds, muls)
    todo = np.flatnonzero(x >= limit)
    while len(todo):  # cycle walking
        x[todo] = _rounds(x[todo], mask[todo], shift[todo], [a[todo] for a in adds], [m[todo] for m in muls])
        todo = todo[x[todo] >= limit[todo]]
    return x.astype(np.int64)


def permutation_key(seed: int, domain: np.ndarray | int, epoch: np.ndarray | int) -> np.ndarray:
    """The key of (seed, domain, epoch): every epoch of every domain gets its own order."""
    base = np.uint64((seed * 0x100000001B3 + 1) % 2**64)
    domains = np.asarray(domain, dtype=np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    epochs = np.asarray(epoch, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93)
    return fmix64_np(np.atleast_1d(epochs ^ (domains + base)))
