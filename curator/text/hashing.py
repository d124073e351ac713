"""Stable 64/128-bit hashing of text, compiled with numba: no per-document Python loop, same bits on every run.

The hashes are our own (FNV-1a over code points, then the MurmurHash3 finalizer), not Python's `hash` or
Polars' (neither is stable across versions), so on-disk dedup state stays valid between runs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from curator.text.bytes import string_bytes
from curator.text.unicode import unicode_tables

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
MIX_PRIME = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection mod 2^64
SECOND_SEED = np.uint64(0x243F6A8885A308D3)


@njit(cache=True, inline="always")
def fmix64(h):
    """MurmurHash3's 64-bit finalizer: a bijection that spreads every input bit over the output."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True)
def _fmix64_all(h, out):
    for i in range(len(h)):
        out[i] = fmix64(h[i])


def fmix64_array(h: np.ndarray) -> np.ndarray:
    """`fmix64` over a uint64 numpy array (compiled; the same function as inside the kernels)."""
    h = np.ascontiguousarray(h, dtype=np.uint64)
    out = np.empty_like(h)
    _fmix64_all(h, out)
    return out


@njit(cache=True, inline="always")
def utf8_decode(data, i):
    """(code point, byte length) of the UTF-8 sequence at data[i]; input is valid UTF-8 (Arrow checked it)."""
    b0 = np.uint32(data[i])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.uint32(data[i + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return ((b0 & 0x0F) << 12) | ((np.uint32(data[i + 1]) & 0x3F) << 6) | (np.uint32(data[i + 2]) & 0x3F), 3
    return (
        ((b0 & 0x07) << 18)
        | ((np.uint32(data[i + 1]) & 0x3F) << 12)
        | ((np.uint32(data[i + 2]) & 0x3F) << 6)
        | (np.uint32(data[i + 3]) & 0x3F)
    ), 4


@njit(cache=True)
def _normalized_hashes(data, offsets, lower, is_space, lowercase, collapse_space, out1, out2):
    for d in range(len(offsets) - 1):
        h1 = FNV_OFFSET
        h2 = SECOND_SEED
        n = np.uint64(0)
        pending_space = False
        i = offsets[d]
        end = offsets[d + 1]
        while i < end:
            cp, size = utf8_decode(data, i)
            i += size
            if collapse_space and is_space[cp]:
                pending_space = n > 0  # leading space is dropped, a run becomes one space
                continue
            if pending_space:
                h1 = (h1 ^ np.uint64(32)) * FNV_PRIME
                h2 = (h2 + np.uint64(32)) * MIX_PRIME
                n += np.uint64(1)
                pending_space = False
            c = np.uint64(lower[cp]) if lowercase else np.uint64(cp)
            h1 = (h1 ^ c) * FNV_PRIME
            h2 = (h2 + c) * MIX_PRIME
            h2 ^= h2 >> np.uint64(29)
            n += np.uint64(1)
        out1[d] = fmix64(h1 ^ n)
        out2[d] = fmix64(h2 + n * MIX_PRIME)


def normalized_text_hashes(
    texts: pa.Array, lowercase: bool = True, collapse_space: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Two independent 64-bit hashes (a 128-bit key) of each text after lowercasing (per code point) and
    collapsing Unicode whitespace runs to one space with the ends trimmed. Unicode normalisation (NFKC)
    is the caller's: do it before. Memory: two uint64 per row."""
    tables = unicode_tables()
    data, offsets = string_bytes(texts)
    n = len(offsets) - 1
    h1 = np.empty(n, np.uint64)
    h2 = np.empty(n, np.uint64)
    _normalized_hashes(data, offsets, tables.lower, tables.is_space, lowercase, collapse_space, h1, h2)
    return h1, h2


def reference_normalized_text(text: str, lowercase: bool = True, collapse_space: bool = True) -> str:
    """The text whose code points `normalized_text_hashes` hashes, in pure Python (for tests)."""
    if lowercase:
        text = "".join(c.lower()[0] if c != "\u0130" else "i" for c in text)
    if collapse_space:
        text = " ".join(text.split())
    return text


def seeded_hash(keys: pa.Array, seed: int) -> np.ndarray:
    """A 64-bit hash per string key, from (seed, key) alone: the same in any batch or worker."""
    h1, _ = normalized_text_hashes(keys, False, False)
    return fmix64_array(h1 ^ fmix64_array(np.array([seed % 2**64], np.uint64))[0])


def seeded_uniform(keys: pa.Array, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per string key, from (seed, key) alone: the same in any batch or worker."""
    return (seeded_hash(keys, seed) >> np.uint64(11)).astype(np.float64) * 2.0**-53
