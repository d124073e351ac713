"""Per-batch reuse of text-kernel results: steps that run the same kernel over the same text share one pass.

A result is cached under (kernel name, parameters) for one text column, identified by the Arrow memory it
views: its buffers' addresses and sizes, offset and length. The cache holds a reference to that column,
so its buffers cannot be freed and their addresses reused while the entry lives. A step that changes the
text (normalize_text...) makes a new buffer, so it misses and the kernel runs on the new text. When a filter
drops rows (`StepContext.apply_drops`), `follow_filter` keeps the results of the surviving rows for the
filtered column, so the next rule in the pipeline still finds them.

Memory: one entry per thread: a reference to one batch's text column (so at most one batch of text beyond
the batches in flight, until the next batch replaces it or `clear()` drops it at the end of a task) and its
kernel results (17 + 6 int64 per document for the two quality kernels). Results are never kept as batch
columns, so nothing of the cache can reach the output or the stats tables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import numpy as np
import pyarrow as pa

_local = threading.local()


def text_identity(texts: pa.Array | pa.ChunkedArray) -> tuple:
    """What makes two arrays the very same text: type, length, offset and (address, size) of each buffer."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return tuple(
        (str(c.type), len(c), c.offset, tuple((b.address, b.size) if b is not None else None for b in c.buffers()))
        for c in chunks
    )


class _Entry:
    def __init__(self, texts: pa.Array | pa.ChunkedArray):
        self.texts = texts  # keeps the buffers alive: no other array can get their addresses meanwhile
        self.identity = text_identity(texts)
        self.results: dict[Hashable, np.ndarray] = {}


def _entry_for(texts: pa.Array | pa.ChunkedArray) -> _Entry:
    entry = getattr(_local, "entry", None)
    if entry is None or entry.identity != text_identity(texts):
        entry = _local.entry = _Entry(texts)
    return entry


def cached(key: Hashable, texts: pa.Array | pa.ChunkedArray, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """`compute()` (a per-row array of `texts`' results), or the result already computed under `key` for this
    very text. Results are read-only: callers share them."""
    entry = _entry_for(texts)
    result = entry.results.get(key)
    if result is None:
        result = compute()
        result.flags.writeable = False
        entry.results[key] = result
    return result


def follow_filter(before: pa.Array | pa.ChunkedArray, after: pa.Array | pa.ChunkedArray, dropped: pa.Array) -> None:
    """`after` is `before` without the rows where the boolean `dropped` is true: move the cached results to
    it, row-filtered (nothing to do when `before` has none)."""
    entry = getattr(_local, "entry", None)
    if entry is None or not entry.results or entry.identity != text_identity(before):
        return
    keep = ~np.asarray(dropped.to_numpy(zero_copy_only=False), dtype=bool)
    moved = _Entry(after)
    for key, result in entry.results.items():
        if len(result) != len(keep):  # not a row filter of this text after all: forget rather than guess
            _local.entry = None
            return
        kept = result[keep]
        kept.flags.writeable = False
        moved.results[key] = kept
    _local.entry = moved


def clear() -> None:
    """Forget the cached text and results (at the end of a task)."""
    _local.entry = None
