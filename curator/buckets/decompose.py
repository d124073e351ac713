"""Dataset Decomposition (Pouransari et al. 2024): a document of l tokens -> pieces of 2^i tokens, one per set bit.

A document (EOS included) of length l = sum of 2^i over the set bits of l is cut, largest piece first, into
pieces of exactly 2^i tokens; piece 2^i goes to bucket D_i. Pieces shorter than 2^min_bucket are dropped (and
counted). Documents longer than 2^max_bucket:
  olmo    floor(l / 2^max) pieces of 2^max, then the binary split of the rest (OLMo-core's rule; the default)
  random  while floor(log2(rest)) > max, a piece of 2^k with k drawn from [min, max] with P ~ 2^(max-k)
          (equal expected tokens per bucket; Apple's rule), then the binary split; seeded per document
Compiled (numba); two passes over the lengths (count, fill). Memory: 17 bytes per piece.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

LONG_DOC_RULES = ("olmo", "random")


@dataclass
class Pieces:
    """Every kept piece (document index, token offset in the document, bucket i) and per-document totals."""

    doc: np.ndarray  # int64, per piece
    offset: np.ndarray  # int64, per piece: first token of the piece in its document
    bucket: np.ndarray  # int8, per piece: the piece holds 2**bucket tokens
    kept_tokens: np.ndarray  # int64, per document
    n_pieces: np.ndarray  # int32, per document
    bucket_mask: np.ndarray  # int32, per document: bit i set when a piece went to D_i


@numba.njit(cache=True)
def _next_uniform(state):
    state = (state + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(0xFFFFFFFFFFFFFFFF)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return state, float(z >> np.uint64(11)) * 2.0**-53


@numba.njit(cache=True)
def _decompose(lengths, min_b, max_b, random_split, seeds, fill, doc, offset, bucket, kept, n_pieces, mask):
    total_w = 0.0  # random rule: P(k) ~ 2^(max - k) for k in [min, max]
    for k in range(min_b, max_b + 1):
        total_w += 2.0 ** (max_b - k)
    p = 0
    for d in range(len(lengths)):
        rest = lengths[d]
        pos = 0
        count = 0
        m = 0
        state = seeds[d] if random_split else np.uint64(0)
        while True:
            if random_split and rest >= (1 << (max_b + 1)):
                state, u = _next_uniform(state)
                u *= total_w
                k = min_b
                acc = 2.0 ** (max_b - min_b)
                while acc <= u and k < max_b:
                    k += 1
                    acc += 2.0 ** (max_b - k)
            elif rest >= (1 << max_b):
                k = max_b  # olmo: full pieces; either rule: the top bit of a rest below 2^(max+1)
            elif rest >= (1 << min_b):
                k = max_b - 1
                while not (rest >> k):
                    k -= 1  # the highest set bit: the binary split, largest piece first
            else:
                break  # a tail shorter than the min bucket is dropped
            if fill:
                doc[p] = d
                offset[p] = pos
                bucket[p] = k
            p += 1
            count += 1
            m |= 1 << k
            pos += 1 << k
            rest -= 1 << k
        if fill:
            kept[d] = pos
            n_pieces[d] = count
            mask[d] = m
    return p


def decompose(
    lengths: np.ndarray,
    min_bucket: int = 8,
    max_bucket: int = 13,
    long_docs: str = "olmo",
    seeds: np.ndarray | None = None,
) -> Pieces:
    """Pieces of every document of `lengths` tokens (EOS included), largest first within a document."""
    if not 0 <= min_bucket <= max_bucket <= 30:
        raise ValueError(f"need 0 <= min_bucket <= max_bucket <= 30, got {min_bucket}..{max_bucket}")
    if long_docs not in LONG_DOC_RULES:
        raise ValueError(f"long_docs must be one of {LONG_DOC_RULES}, got {long_docs!r}")
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    n = len(lengths)
    random_split = long_docs == "random"
    if seeds is None:
        seeds = np.arange(n, dtype=np.uint64)
    seeds = np.ascontiguousarray(seeds, dtype=np.uint64)
    if random_split and len(seeds) != n:
        raise ValueError("one seed per document is needed for long_docs='random'")
    empty64, empty8, empty32 = np.empty(0, np.int64), np.empty(0, np.int8), np.empty(0, np.int32)
    total = _decompose(
        lengths, min_bucket, max_bucket, random_split, seeds, False, empty64, empty64, empty8, empty64, empty32, empty32
    )
    pieces = Pieces(
        np.empty(total, np.int64),
        np.empty(total, np.int64),
        np.empty(total, np.int8),
        np.empty(n, np.int64),
        np.empty(n, np.int32),
        np.empty(n, np.int32),
    )
    _decompose(
        lengths,
        min_bucket,
        max_bucket,
        random_split,
        seeds,
        True,
        pieces.doc,
        pieces.offset,
        pieces.bucket,
        pieces.kept_tokens,
        pieces.n_pieces,
        pieces.bucket_mask,
    )
    return pieces


@numba.njit(cache=True)
def _gather(flat, starts, out):
    length = out.shape[1]
    for r in range(len(starts)):
        out[r, :] = flat[starts[r] : starts[r] + length]


def gather_sequences(flat: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Rows of `length` tokens of `flat` beginning at each of `starts`: an (n, length) array (a compiled copy)."""
    out = np.empty((len(starts), length), dtype=flat.dtype)
    _gather(flat, np.ascontiguousarray(starts, dtype=np.int64), out)
    return out
