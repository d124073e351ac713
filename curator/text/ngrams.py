"""Hashed n-gram buckets as DSIR defines them, bit-compatible with `data-selection` 1.0.3, compiled.

Per document: `text.lower()` -> tokens `re.findall(r"\\w+|[^\\w\\s]+")` (stdlib `re` semantics: maximal runs
of word characters, or of characters that are neither word nor space) -> the tokens and every run of 2..n
consecutive tokens joined by one space -> `int(sha256(utf8(gram)).hexdigest(), 16) % num_buckets`.

The kernel walks the UTF-8 bytes once per document with per-code-point tables taken from Python's own `re`
and `str.lower` (curator.text.unicode), so no Python object is made per token. A gram's bucket is cached in
a fixed-size open-addressing table keyed by a 128-bit hash of its bytes, so SHA-256 runs once per distinct
gram (until the table is 70 % full; then it is computed each time). Results never depend on the cache.
Memory: the cache (16 B per slot, `cache_slots`) plus about 3x the batch's text bytes of scratch.
"""

from __future__ import annotations

import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numba import njit

from curator.text.bytes import string_bytes
from curator.text.hashing import FNV_OFFSET, FNV_PRIME, SECOND_SEED, fmix64, utf8_decode
from curator.text.sha256 import INITIAL_STATE, ROUND_CONSTANTS, sha256_mod
from curator.text.unicode import unicode_tables

# Python's str.lower() differs from lowercasing each code point alone only for these two (final sigma is
# context-dependent; U+0130 lowers to two code points): documents holding them are lowered by Python itself.
CONTEXT_CASED = "[\u03a3\u0130]"
SECOND_PRIME = np.uint64(0x00000100000001B3 ^ 0x9E37)  # odd: a different multiplier for the second key half
CACHE_FILL = 0.7
HIGH32 = np.uint64(0xFFFFFFFF00000000)
LOW32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _utf8_encode(cp, out, j):
    if cp < 0x80:
        out[j] = cp
        return j + 1
    if cp < 0x800:
        out[j] = 0xC0 | (cp >> 6)
        out[j + 1] = 0x80 | (cp & 0x3F)
        return j + 2
    if cp < 0x10000:
        out[j] = 0xE0 | (cp >> 12)
        out[j + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[j + 2] = 0x80 | (cp & 0x3F)
        return j + 3
    out[j] = 0xF0 | (cp >> 18)
    out[j + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[j + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[j + 3] = 0x80 | (cp & 0x3F)
    return j + 4


@njit(cache=True)
def _bucket(buf, a, b, m, table, filled, scratch8, tail, w, k, init):
    """Bucket of the gram buf[a:b], through the cache. A slot is two uint64 words (one cache line holds
    four slots): the gram's 64-bit key, then 32 more key bits over (bucket + 1); 0 marks an empty slot."""
    h1 = FNV_OFFSET
    h2 = SECOND_SEED
    for i in range(a, b):
        x = np.uint64(buf[i])
        h1 = (h1 ^ x) * FNV_PRIME
        h2 = (h2 ^ x) * SECOND_PRIME
    n = np.uint64(b - a)
    k1 = fmix64(h1 ^ n)
    k2 = fmix64(h2 + n) << np.uint64(32)
    mask = np.uint64(len(table) // 2 - 1)
    slot = k1 & mask
    while True:
        second = table[2 * slot + 1]
        if second == 0:
            break
        if table[2 * slot] == k1 and (second & HIGH32) == k2:
            return np.int64(second & LOW32) - 1
        slot = (slot + np.uint64(1)) & mask
    v = np.int64(sha256_mod(buf, a, b, m, scratch8, tail, w, k, init))
    if filled[0] < CACHE_FILL * (len(table) // 2):
        table[2 * slot] = k1
        table[2 * slot + 1] = k2 | np.uint64(v + 1)
        filled[0] += 1
    return v


@njit(cache=True)
def _ngram_buckets(data, offsets, lowered, is_word, is_space, lower, n_max, m, table, filled, k, init):
    """Flat bucket stream of every document (its unigrams, then bigrams, ... n_max-grams) and per-document
    gram offsets. Tokens are rebuilt lowercased in `buf`, one space apart, so an i-gram is a contiguous slice."""
    n_docs = len(offsets) - 1
    gram_offsets = np.zeros(n_docs + 1, np.int64)
    out = np.empty(max(16, len(data) // 2), np.uint32)
    n_out = 0
    longest = 0
    for d in range(n_docs):
        longest = max(longest, offsets[d + 1] - offsets[d])
    buf = np.empty(3 * longest + 8, np.uint8)  # lowercasing can grow a code point from 2 to 3 bytes
    starts = np.empty(longest + 1, np.int64)
    ends = np.empty(longest + 1, np.int64)
    scratch8 = np.empty(8, np.uint64)
    tail = np.empty(128, np.uint8)
    w = np.empty(64, np.uint64)
    for d in range(n_docs):
        i = offsets[d]
        end = offsets[d + 1]
        j = 0
        n_tok = 0
        kind = 0  # class of the open token: 0 none, 1 word run, 2 punctuation run
        while i < end:
            cp, size = utf8_decode(data, i)
            i += size
            if not lowered[d]:
                cp = lower[cp]
            if is_word[cp]:
                c = 1
            elif is_space[cp]:
                c = 0
            else:
                c = 2
            if c != kind:
                if kind != 0:
                    ends[n_tok] = j
                    n_tok += 1
                if c != 0:
                    if n_tok > 0:
                        buf[j] = 32
                        j += 1
                    starts[n_tok] = j
                kind = c
            if c != 0:
                j = _utf8_encode(cp, buf, j)
        if kind != 0:
            ends[n_tok] = j
            n_tok += 1
        grams = 0
        for g in range(1, n_max + 1):
            grams += max(0, n_tok - g + 1)
        if n_out + grams > len(out):
            bigger = np.empty(max(2 * len(out), n_out + grams), np.uint32)
            bigger[:n_out] = out[:n_out]
            out = bigger
        for g in range(1, n_max + 1):
            for t in range(g - 1, n_tok):
                out[n_out] = _bucket(buf, starts[t - g + 1], ends[t], m, table, filled, scratch8, tail, w, k, init)
                n_out += 1
        gram_offsets[d + 1] = n_out
    return out[:n_out], gram_offsets


def bucket_dtype(num_buckets: int) -> np.dtype:
    """The smallest unsigned type that holds a bucket id."""
    return np.dtype(np.uint16) if num_buckets <= 1 << 16 else np.dtype(np.uint32)


def token_lengths(gram_offsets: np.ndarray, ngrams: int) -> np.ndarray:
    """DSIR's example length from each document's gram count: (grams + n(n-1)/2) // n, i.e. its tokens."""
    return (np.diff(gram_offsets) + ngrams * (ngrams - 1) // 2) // ngrams


class NgramHasher:
    """Hashed n-gram bucket streams for batches of text; one per (num_buckets, ngrams) in each process."""

    def __init__(self, num_buckets: int = 10_000, ngrams: int = 2, cache_slots: int = 1 << 21):
        if not 1 <= num_buckets < 2**32:
            raise ValueError(f"num_buckets must be in [1, 2^32), got {num_buckets}")
        if ngrams < 1:
            raise ValueError(f"ngrams must be >= 1, got {ngrams}")
        slots = 1 << max(4, int(cache_slots - 1).bit_length())  # a power of two
        self.num_buckets = num_buckets
        self.ngrams = ngrams
        self.dtype = bucket_dtype(num_buckets)
        self._table = np.zeros(2 * slots, np.uint64)
        self._filled = np.zeros(1, np.int64)

    def buckets(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(buckets, offsets): the grams of document i are buckets[offsets[i]:offsets[i+1]] (`self.dtype`)."""
        texts = texts.cast(pa.string()) if texts.type != pa.string() else texts
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        texts = pc.fill_null(texts, "")
        lowered = np.zeros(len(texts), np.bool_)
        special = pc.fill_null(pc.match_substring_regex(texts, CONTEXT_CASED), False)
        if pc.any(special).as_py():
            rows = np.flatnonzero(special.to_numpy(zero_copy_only=False))
            lowered[rows] = True
            fixed = pa.array([t.lower() for t in texts.take(pa.array(rows)).to_pylist()], pa.string())
            texts = pc.replace_with_mask(texts, pa.array(lowered), fixed)
        data, offsets = string_bytes(texts)
        t = unicode_tables()
        flat, gram_offsets = _ngram_buckets(
            data, offsets, lowered, t.is_word, t.is_space, t.lower, self.ngrams, self.num_buckets,
            self._table, self._filled, ROUND_CONSTANTS, INITIAL_STATE,
        )  # fmt: skip
        return flat.astype(self.dtype, copy=False), gram_offsets

    def counts(self, texts: pa.Array) -> np.ndarray:
        """Summed bucket counts of all the texts (int64, num_buckets)."""
        flat, _ = self.buckets(texts)
        return np.bincount(flat, minlength=self.num_buckets).astype(np.int64)

    def token_lengths(self, gram_offsets: np.ndarray) -> np.ndarray:
        return token_lengths(gram_offsets, self.ngrams)


@functools.lru_cache(maxsize=4)
def ngram_hasher(num_buckets: int = 10_000, ngrams: int = 2, cache_slots: int = 1 << 21) -> NgramHasher:
    """The process's hasher for these settings (its cache survives between batches)."""
    return NgramHasher(num_buckets, ngrams, cache_slots)


def reference_ngram_buckets(text: str, num_buckets: int = 10_000, ngrams: int = 2) -> list[int]:
    """data-selection's featurizer written out in pure Python (for tests): same grams, same order."""
    import hashlib
    import re

    words = re.findall(r"\w+|[^\w\s]+", text.lower())
    out = []
    for g in range(1, ngrams + 1):
        for t in range(g - 1, len(words)):
            gram = " ".join(words[t - g + 1 : t + 1])
            out.append(int(hashlib.sha256(gram.encode("utf-8")).hexdigest(), 16) % num_buckets)
    return out
