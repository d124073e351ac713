"""Hashed word n-grams (the MinHash shingles' words, all 64 bits) and their overlap with a reference set.

Words are runs of Python-`\\w` code points after per-code-point lowercasing (`curator.text.unicode`), so
punctuation and spacing never matter; an n-gram is n consecutive words, hashed with `window_hash`.
Compiled with numba; memory: one document's grams (<= bytes / 2) at a time plus the reference set.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from curator.text.bytes import string_bytes
from curator.text.hashing import FNV_OFFSET, FNV_PRIME, MIX_PRIME, fmix64, utf8_decode
from curator.text.unicode import unicode_tables


@njit(cache=True, inline="always")
def window_hash(ring, count, n, width):
    """Hash of the last `width` words (oldest first) held in the ring buffer of size n."""
    s = FNV_OFFSET
    for j in range(width):
        s = (s ^ ring[(count - width + j) % n]) * MIX_PRIME
    return fmix64(s)


@njit(cache=True)
def doc_grams(data, start, end, is_word, lower, n, ring, out, whole_if_short):
    """Write the n-gram hashes of data[start:end] to `out`; return (grams, words).

    A text with 1..n-1 words has no n-gram, or, with `whole_if_short`, one gram of all its words (MinHash)."""
    count = 0
    produced = 0
    h = FNV_OFFSET
    in_word = False
    i = start
    while i <= end:
        word_char = False
        if i < end:
            cp, size = utf8_decode(data, i)
            i += size
            word_char = is_word[cp] != 0
        else:
            i += 1
        if word_char:
            h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
            in_word = True
        elif in_word:
            ring[count % n] = fmix64(h)
            count += 1
            if count >= n:
                out[produced] = window_hash(ring, count, n, n)
                produced += 1
            h = FNV_OFFSET
            in_word = False
    if whole_if_short and 0 < count < n:
        out[produced] = window_hash(ring, count, n, count)
        produced += 1
    return produced, count


@njit(cache=True)
def _all_grams(data, offsets, is_word, lower, n, out, owner, words):
    ring = np.empty(n, np.uint64)
    k = 0
    for d in range(len(offsets) - 1):
        produced, count = doc_grams(data, offsets[d], offsets[d + 1], is_word, lower, n, ring, out[k:], False)
        owner[k : k + produced] = d
        words[d] = count
        k += produced
    return k


@njit(cache=True)
def _overlap(data, offsets, is_word, lower, n, reference, hit, grams, matched, first):
    ring = np.empty(n, np.uint64)
    longest = 1
    for d in range(len(offsets) - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    scratch = np.empty(longest // 2 + 1, np.uint64)  # a word needs a code point and a separator
    for d in range(len(offsets) - 1):
        produced, _ = doc_grams(data, offsets[d], offsets[d + 1], is_word, lower, n, ring, scratch, False)
        grams[d] = produced
        m = 0
        f = -1
        for j in range(produced):
            pos = np.searchsorted(reference, scratch[j])
            if pos < len(reference) and reference[pos] == scratch[j]:
                m += 1
                hit[pos] = True
                if f < 0:
                    f = pos
        matched[d] = m
        first[d] = f


def word_ngrams(texts: pa.Array, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gram hashes, the row each came from, words per row) of a string array. Memory: ~bytes/2 grams."""
    data, offsets = string_bytes(texts)
    tables = unicode_tables()
    out = np.empty(len(data) // 2 + len(offsets), np.uint64)  # a row has at most ceil(bytes / 2) words
    owner = np.empty(len(out), np.int64)
    words = np.zeros(len(offsets) - 1, np.int64)
    k = _all_grams(data, offsets, tables.is_word, tables.lower, n, out, owner, words)
    return out[:k], owner[:k], words


def ngram_overlap(texts: pa.Array, n: int, reference: np.ndarray, hit: np.ndarray):
    """Per row: (grams, grams found in the sorted `reference`, index of the first one found or -1).

    Marks every reference gram found in `hit` (a bool array as long as `reference`)."""
    data, offsets = string_bytes(texts)
    tables = unicode_tables()
    rows = len(offsets) - 1
    grams = np.zeros(rows, np.int64)
    matched = np.zeros(rows, np.int64)
    first = np.full(rows, -1, np.int64)
    _overlap(data, offsets, tables.is_word, tables.lower, n, reference, hit, grams, matched, first)
    return grams, matched, first
