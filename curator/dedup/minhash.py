"""MinHash signatures of word n-gram shingles, compiled and batched, compatible with datasketch's `affine32`.

Scheme (versioned in `MinHashScheme.describe()`; on-disk signatures of another scheme are refused):
  words    = runs of Python-`\\w` code points after per-code-point lowercasing (`curator.text.unicode`)
  word     -> 64-bit: FNV-1a over its code points, then fmix64
  shingle  = n consecutive words -> 64-bit: s = (s ^ w) * MIX_PRIME over the n words, then fmix64;
             a document with 1..n-1 words is one shingle of all its words; one with no word has no
             shingle and is never a near-duplicate candidate (exact dedup still sees it)
  slot k   = min over shingles of (a_k * fmix32(low 32 bits of the shingle) + b_k) mod 2^32, a_k odd:
             datasketch 2.x `MinHash(num_perm, seed, hashfunc=identity)` fed the same 32-bit shingle values
             yields the same hash values, so signatures load into `MinHashLSH` (see `to_datasketch`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from numba import njit

from curator.text.bytes import string_bytes
from curator.text.hashing import MIX_PRIME, fmix64_array
from curator.text.unicode import unicode_tables
from curator.text.wordgrams import doc_grams

EMPTY_SLOT = np.uint32(0xFFFFFFFF)
SCHEME_VERSION = 1


@njit(cache=True, inline="always")
def _fmix32(h):
    h ^= h >> np.uint32(16)
    h = np.uint32(np.uint64(h) * np.uint64(0x85EBCA6B) & np.uint64(0xFFFFFFFF))
    h ^= h >> np.uint32(13)
    h = np.uint32(np.uint64(h) * np.uint64(0xC2B2AE35) & np.uint64(0xFFFFFFFF))
    h ^= h >> np.uint32(16)
    return h


@njit(cache=True, inline="always")
def _update(sig, shingle, a, b):
    v = np.uint64(_fmix32(np.uint32(shingle & np.uint64(0xFFFFFFFF))))
    for k in range(sig.shape[0]):
        x = np.uint32((a[k] * v + b[k]) & np.uint64(0xFFFFFFFF))
        if x < sig[k]:
            sig[k] = x


@njit(cache=True)
def _doc_shingles(data, start, end, is_word, lower, n, ring, out):
    """Write the 32-bit shingle values of data[start:end] to `out` (in order); return (shingles, words)."""
    produced, count = doc_grams(data, start, end, is_word, lower, n, ring, out, True)
    for j in range(produced):
        out[j] &= np.uint64(0xFFFFFFFF)
    return produced, count


@njit(cache=True)
def _signatures(data, offsets, is_word, lower, n, a, b, sig, n_words):
    ring = np.empty(n, np.uint64)
    longest = 1
    for d in range(len(offsets) - 1):
        longest = max(longest, offsets[d + 1] - offsets[d])
    shingles = np.empty(longest, np.uint64)  # a document has at most one shingle per byte
    for d in range(len(offsets) - 1):
        k, count = _doc_shingles(data, offsets[d], offsets[d + 1], is_word, lower, n, ring, shingles)
        for j in range(k):
            _update(sig[d], shingles[j], a, b)
        n_words[d] = count


def datasketch_permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) exactly as datasketch 2.x draws them for the `affine32` scheme (a odd, both uint32)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def s_curve(similarity: float | np.ndarray, bands: int, rows: int):
    """P(two documents of Jaccard s share at least one band) = 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - np.asarray(similarity, dtype=float) ** rows) ** bands


def s_curve_table(bands: int, rows: int, points=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)) -> str:
    """The S-curve of a band setting as a two-line table, with its 50% point (1/b)^(1/r)."""
    probs = s_curve(np.array(points), bands, rows)
    head = "  Jaccard     " + " ".join(f"{p:>5.2f}" for p in points)
    line = "  P(candidate)" + " ".join(f"{p:>5.2f}" for p in probs)
    return (
        f"LSH {bands} bands x {rows} rows: P(candidate | J=s) = 1-(1-s^{rows})^{bands}, "
        f"50% at J~{(1 / bands) ** (1 / rows):.2f}\n{head}\n{line}"
    )


@dataclass(frozen=True)
class MinHashScheme:
    """Everything that decides a signature's bits; two signatures are comparable only under equal schemes."""

    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    bands: int = 42
    rows: int = 3

    def __post_init__(self):
        if self.bands * self.rows > self.num_perm:
            raise ValueError(
                f"bands x rows = {self.bands} x {self.rows} = {self.bands * self.rows} exceeds num_perm "
                f"{self.num_perm}; lower bands or rows, or raise num_perm"
            )
        if min(self.num_perm, self.ngram, self.bands, self.rows) < 1:
            raise ValueError("num_perm, ngram, bands and rows must be >= 1")

    @property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        return datasketch_permutations(self.num_perm, self.seed)

    def describe(self) -> dict:
        return {
            "scheme_version": SCHEME_VERSION,
            "words": "python \\w runs after per-code-point lowercase",
            "unicode": unicode_tables().version,
            "word_hash": "fnv1a64(code points) + fmix64",
            "shingle": f"word {self.ngram}-grams, xor-multiply + fmix64; short docs: one shingle",
            "permutations": "datasketch affine32 (fmix32 premix, a*h+b mod 2^32, a odd)",
            "num_perm": self.num_perm,
            "seed": self.seed,
            "bands": self.bands,
            "rows": self.rows,
        }

    def signatures(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(signatures: n x num_perm uint32, words per document: int64). Memory: the output only."""
        tables = unicode_tables()
        data, offsets = string_bytes(texts)
        n = len(offsets) - 1
        sig = np.full((n, self.num_perm), EMPTY_SLOT, dtype=np.uint32)
        n_words = np.zeros(n, np.int64)
        a, b = self.permutations
        _signatures(
            data,
            offsets,
            tables.is_word,
            tables.lower,
            self.ngram,
            a.astype(np.uint64),
            b.astype(np.uint64),
            sig,
            n_words,
        )
        return sig, n_words

    def shingle_values(self, text: str) -> np.ndarray:
        """The 32-bit shingle values of one text, as datasketch's `update_batch` would be fed them."""
        tables = unicode_tables()
        data, offsets = string_bytes(pa.array([text]))
        out = np.empty(max(len(data), 1), np.uint64)
        ring = np.empty(self.ngram, np.uint64)
        k, _ = _doc_shingles(data, offsets[0], offsets[1], tables.is_word, tables.lower, self.ngram, ring, out)
        return out[:k].astype(np.uint32)

    def band_keys(self, sig: np.ndarray, n_words: np.ndarray | None = None) -> np.ndarray:
        """n x bands uint64: the r slots of each band hashed into one key. 0 marks "not a candidate"
        (documents without words); real keys are never 0."""
        keys = np.empty((sig.shape[0], self.bands), np.uint64)
        with np.errstate(over="ignore"):
            for j in range(self.bands):
                k = np.full(sig.shape[0], np.uint64(j + 1) * MIX_PRIME, np.uint64)
                for i in range(j * self.rows, (j + 1) * self.rows):
                    k = (k ^ sig[:, i].astype(np.uint64)) * MIX_PRIME
                keys[:, j] = fmix64_array(k)
        keys[keys == 0] = 1
        if n_words is not None:
            keys[n_words == 0] = 0
        return keys

    def to_json(self) -> str:
        return json.dumps(self.describe(), sort_keys=True)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Share of equal slots, row by row: the MinHash estimate of the Jaccard similarity."""
    return (sig_a == sig_b).mean(axis=-1)


def to_datasketch(signature: np.ndarray, scheme: MinHashScheme):
    """A datasketch `LeanMinHash` holding one curator signature (insert it into a `MinHashLSH`)."""
    from datasketch import LeanMinHash, MinHash

    values = np.asarray(signature, np.uint32)
    m = MinHash(num_perm=scheme.num_perm, seed=scheme.seed, hashvalues=values, scheme="affine32")
    return LeanMinHash(m)
