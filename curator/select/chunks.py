"""Document log weights per DSIR weighting mode: data-selection's sum, length-normalised, or over word chunks.

Xie et al. (2023) select among fixed-size pieces (the Pile cut into 128-word chunks), not whole documents: a
document's summed log ratio grows with its length, so long documents get the extreme weights. The engine
keeps documents as its unit (one stats row per document, each kept or dropped), so the paper's unit enters
through the weight instead:

- `sum`: sum over the document's grams of log(p_target/p_raw) (data-selection 1.0.3, bit-compatible).
- `length_normalized`: the mean gram log ratio times G_W, the grams of one `chunk_words`-token chunk, i.e. the
  weight of a chunk-sized piece with the document's average gram (a geometric mean over the document).
- `chunk`: the document's tokens are cut into chunks of `chunk_words` tokens (the last may be shorter); a
  chunk's grams are the n-grams lying wholly inside it, as if each chunk were its own text. Each chunk's log
  weight is its mean gram log ratio times G_W (a short tail is put on the scale of a full chunk, neither
  favoured nor ignored), and the document's weight is the mean of its chunks' importance weights,
  log mean_c exp(log w_c): if chunks were sampled in proportion to w, a document's expected share of the
  selection per chunk it holds.

A document without grams weighs 0 in every mode. Tokens are DSIR's (WordPunct runs), so `chunk_words` counts
words and punctuation runs. Memory: O(grams of the chunk of the stream being weighed), 8 B per gram.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numba import njit

from curator.select.features import per_document_sums

WeightMode = Literal["sum", "length_normalized", "chunk"]


def full_chunk_grams(chunk_words: int, ngrams: int) -> int:
    """G_W: the 1..n-grams of a text of exactly `chunk_words` tokens."""
    return sum(max(0, chunk_words - g + 1) for g in range(1, ngrams + 1))


@njit(cache=True, inline="always")
def _grams_of(tokens, ngrams):
    total = 0
    for g in range(1, ngrams + 1):
        total += max(0, tokens - g + 1)
    return total


@njit(cache=True)
def _gram_chunks(offsets, ngrams, chunk_words):
    """Per gram of the stream, its chunk's number (-1 when it crosses a chunk boundary) and the first chunk of
    each document. Stream order per document: its unigrams, then bigrams, ..., each by end token."""
    n_docs = len(offsets) - 1
    first_chunk = np.zeros(n_docs + 1, np.int64)
    out = np.empty(offsets[-1] - offsets[0], np.int64)
    chunk = 0
    for d in range(n_docs):
        grams = offsets[d + 1] - offsets[d]
        tokens = (grams + ngrams * (ngrams - 1) // 2) // ngrams  # exact once tokens >= ngrams - 1
        while tokens > 0 and _grams_of(tokens, ngrams) > grams:
            tokens -= 1
        first_chunk[d] = chunk
        p = offsets[d] - offsets[0]
        for g in range(1, ngrams + 1):
            for t in range(g - 1, tokens):
                c = t // chunk_words
                out[p] = chunk + c if (t - g + 1) // chunk_words == c else -1
                p += 1
        chunk += (tokens + chunk_words - 1) // chunk_words
    first_chunk[n_docs] = chunk
    return out, first_chunk


def chunk_stream(
    buckets: np.ndarray, offsets: np.ndarray, ngrams: int, chunk_words: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(buckets, offsets, first chunk per document + 1) of the stream cut into `chunk_words`-token chunks."""
    chunk_of, first = _gram_chunks(np.asarray(offsets, np.int64), ngrams, chunk_words)
    inside = chunk_of >= 0
    order = np.argsort(chunk_of[inside], kind="stable")
    counts = np.bincount(chunk_of[inside], minlength=int(first[-1]))
    chunk_offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return np.asarray(buckets)[inside][order], chunk_offsets, first


def document_log_weights(
    ratio: np.ndarray, buckets: np.ndarray, offsets: np.ndarray, ngrams: int, mode: WeightMode, chunk_words: int
) -> np.ndarray:
    """Each document's log weight (float64) under `mode` from the per-bucket log ratio."""
    values = ratio[buckets]
    if mode == "sum":
        return per_document_sums(values, offsets)
    scale = full_chunk_grams(chunk_words, ngrams)
    if mode == "length_normalized":
        grams = np.diff(offsets)
        return per_document_sums(values, offsets) / np.maximum(grams, 1) * scale
    if mode != "chunk":
        raise ValueError(f"unknown weight mode {mode!r}")
    c_buckets, c_offsets, first = chunk_stream(buckets, offsets, ngrams, chunk_words)
    c_grams = np.diff(c_offsets)
    c_log_w = per_document_sums(ratio[c_buckets], c_offsets) / np.maximum(c_grams, 1) * scale
    n_chunks = np.diff(first)
    out = np.zeros(len(n_chunks), np.float64)
    has = n_chunks > 0
    if has.any():
        starts = first[:-1][has]
        top = np.maximum.reduceat(c_log_w, starts)
        shifted = np.exp(c_log_w - np.repeat(top, n_chunks[has]))
        out[has] = top + np.log(np.add.reduceat(shifted, starts) / n_chunks[has])
    return out
