"""Packing baselines next to Dataset Decomposition, and the numbers that compare them at a context length C.

concat_chunk      join documents (EOS included) and cut every C tokens; the last partial chunk is dropped.
                  causal: a token attends to every earlier token of its chunk, other documents included;
                  doc_mask: attention stays inside each document segment (varlen / cu_seqlens kernels).
best_fit_decrease documents over C are split into C-token pieces and a remainder; pieces are packed best-fit
                  decreasing (Ding et al. 2024) into C-token sequences, with padding; varlen attention.
decomposition     Dataset Decomposition with buckets 2^min .. C (see curator.buckets.decompose).
All work on token lengths only, vectorised or compiled; memory O(documents).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from curator.buckets.decompose import decompose


@dataclass
class PackingStats:
    """Token accounting and attention cost of one method over a set of documents."""

    method: str
    context: int
    docs: int
    tokens: int  # tokens in (EOS included)
    kept_tokens: int  # tokens that reach a training sequence
    pad_tokens: int
    cross_doc_tokens: int  # kept tokens that attend to a token of another document
    attention_cost: float  # sum over attention spans of L^2
    fragmented_docs: int  # documents cut into more than one piece
    sequences: int

    @property
    def pad_pct(self) -> float:
        slots = self.kept_tokens + self.pad_tokens
        return 100.0 * self.pad_tokens / slots if slots else 0.0

    @property
    def dropped_pct(self) -> float:
        return 100.0 * (self.tokens - self.kept_tokens) / self.tokens if self.tokens else 0.0

    @property
    def cross_doc_pct(self) -> float:
        return 100.0 * self.cross_doc_tokens / self.kept_tokens if self.kept_tokens else 0.0

    @property
    def cost_per_token(self) -> float:
        return self.attention_cost / self.kept_tokens if self.kept_tokens else 0.0

    @property
    def fragmented_pct(self) -> float:
        return 100.0 * self.fragmented_docs / self.docs if self.docs else 0.0

    def as_row(self, reference_cost_per_token: float) -> dict:
        row = asdict(self)
        row.update(
            pad_pct=self.pad_pct,
            dropped_pct=self.dropped_pct,
            cross_doc_pct=self.cross_doc_pct,
            relative_cost=self.cost_per_token / reference_cost_per_token if reference_cost_per_token else 0.0,
            fragmented_pct=self.fragmented_pct,
        )
        return row


def concat_chunk(lengths: np.ndarray, context: int, doc_mask: bool = False) -> PackingStats:
    """Concatenate and cut every `context` tokens (causal attention, or masked per document)."""
    lengths = np.asarray(lengths, np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    chunks = total // context
    kept = chunks * context
    boundaries = np.arange(1, chunks + 1, dtype=np.int64) * context
    starts = ends - lengths
    # documents cut by a chunk boundary (the one straddling the end of the kept region included)
    inside = starts < kept
    fragmented = int(np.count_nonzero((starts[inside] // context) != ((ends[inside] - 1) // context)))
    if doc_mask:
        cuts = np.union1d(ends[ends < kept], boundaries)
        segments = np.diff(np.concatenate([[0], cuts])) if chunks else np.empty(0, np.int64)
        cost, cross = float(np.sum(segments.astype(np.float64) ** 2)), 0
    else:
        chunk_starts = boundaries - context
        next_end = ends[np.searchsorted(ends, chunk_starts, side="right")] if chunks else np.empty(0, np.int64)
        first_segment = np.minimum(next_end, boundaries) - chunk_starts
        cost, cross = float(chunks) * float(context) ** 2, int(np.sum(context - first_segment))
    name = "concat_chunk_docmask" if doc_mask else "concat_chunk"
    return PackingStats(name, context, len(lengths), total, kept, 0, cross, cost, fragmented, chunks)


@numba.njit(cache=True)
def _bfd(sizes, capacity):
    """Best-fit decreasing over `sizes` (already sorted, largest first): bin id per item. O(n log C)."""
    p = 1
    while p < capacity + 1:
        p *= 2
    tree = np.zeros(2 * p, np.int64)  # counts of open bins per remaining capacity, summed up the tree
    head = np.full(capacity + 1, -1, np.int64)  # a stack of bins per remaining capacity
    nxt = np.full(len(sizes), -1, np.int64)
    remaining = np.zeros(len(sizes), np.int64)
    out = np.empty(len(sizes), np.int64)
    n_bins = 0
    for k in range(len(sizes)):
        s = sizes[k]
        # smallest remaining capacity r >= s with an open bin
        r = -1
        node = s + p
        if tree[node] > 0:
            r = s
        else:
            while node > 1:
                if node % 2 == 0 and tree[node + 1] > 0:
                    node = node + 1
                    while node < p:
                        node = 2 * node if tree[2 * node] > 0 else 2 * node + 1
                    r = node - p
                    break
                node //= 2
        if r == -1:
            b = n_bins
            n_bins += 1
            remaining[b] = capacity
        else:
            b = head[r]
            head[r] = nxt[b]
            node = r + p
            while node >= 1:
                tree[node] -= 1
                node //= 2
        out[k] = b
        remaining[b] -= s
        r2 = remaining[b]
        nxt[b] = head[r2]
        head[r2] = b
        node = r2 + p
        while node >= 1:
            tree[node] += 1
            node //= 2
    return out, n_bins


def split_long(lengths: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """Pieces of at most `context` tokens per document (full pieces first): (piece sizes, document index)."""
    lengths = np.asarray(lengths, np.int64)
    full = lengths // context
    rest = lengths % context
    doc = np.concatenate([np.repeat(np.arange(len(lengths)), full), np.nonzero(rest)[0]])
    sizes = np.concatenate([np.full(int(full.sum()), context, np.int64), rest[rest > 0]])
    order = np.argsort(doc, kind="stable")
    return sizes[order], doc[order]


def best_fit_decreasing(sizes: np.ndarray, capacity: int) -> tuple[np.ndarray, int]:
    """Bin id of every item (each <= capacity) under best-fit decreasing, and the number of bins."""
    sizes = np.asarray(sizes, np.int64)
    if len(sizes) and (sizes.max() > capacity or sizes.min() < 1):
        raise ValueError(f"item sizes must be in 1..{capacity}")
    order = np.argsort(-sizes, kind="stable")
    bins_sorted, n_bins = _bfd(sizes[order], capacity)
    bins = np.empty(len(sizes), np.int64)
    bins[order] = bins_sorted
    return bins, int(n_bins)


def bfd_packing(lengths: np.ndarray, context: int) -> PackingStats:
    """Split documents over `context`, best-fit-decreasing pack the pieces, varlen attention per piece."""
    lengths = np.asarray(lengths, np.int64)
    sizes, _ = split_long(lengths, context)
    _, n_bins = best_fit_decreasing(sizes, context)
    total = int(lengths.sum())
    cost = float(np.sum(sizes.astype(np.float64) ** 2))
    fragmented = int(np.count_nonzero(lengths > context))
    return PackingStats("best_fit_decreasing", context, len(lengths), total, total, n_bins * context - total, 0,
                        cost, fragmented, n_bins)  # fmt: skip


def decomposition(
    lengths: np.ndarray, context: int, min_bucket: int = 8, long_docs: str = "olmo", seeds: np.ndarray | None = None
) -> PackingStats:
    """Dataset Decomposition with buckets 2^min_bucket .. context (a power of two)."""
    lengths = np.asarray(lengths, np.int64)
    max_bucket = int(context).bit_length() - 1
    if 1 << max_bucket != context:
        raise ValueError(f"Dataset Decomposition needs a power-of-two context, got {context}")
    pieces = decompose(lengths, min(min_bucket, max_bucket), max_bucket, long_docs, seeds)
    sizes = np.left_shift(1, pieces.bucket.astype(np.int64))
    cost = float(np.sum(sizes.astype(np.float64) ** 2))
    name = f"dd_{1 << min(min_bucket, max_bucket)}-{context}" + ("_random" if long_docs == "random" else "")
    return PackingStats(name, context, len(lengths), int(lengths.sum()), int(pieces.kept_tokens.sum()), 0, 0, cost,
                        int(np.count_nonzero(pieces.n_pieces > 1)), len(sizes))  # fmt: skip


def compare_methods(
    lengths: np.ndarray, context: int, min_bucket: int = 8, seeds: np.ndarray | None = None
) -> list[dict]:
    """Every method at `context`, as report rows; relative_cost: per kept token, vs causal concat-and-chunk."""
    stats = [
        concat_chunk(lengths, context),
        concat_chunk(lengths, context, doc_mask=True),
        bfd_packing(lengths, context),
    ]
    if context & (context - 1) == 0:
        stats.append(decomposition(lengths, context, min_bucket))
        if seeds is not None:
            stats.append(decomposition(lengths, context, min_bucket, "random", seeds))
    return [s.as_row(float(context)) for s in stats]  # causal concat-and-chunk costs C per token
