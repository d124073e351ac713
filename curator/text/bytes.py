"""Zero-copy numpy views of Arrow string arrays, and per-document reductions over their bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

ASCII_SPACE = np.zeros(256, dtype=bool)
ASCII_SPACE[[9, 10, 11, 12, 13, 32]] = True


def string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(utf8 bytes, offsets) of a non-null string array; offsets[i]:offsets[i+1] is row i, offsets[0] == 0."""
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    buf = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    buf = buf[offsets[0] : offsets[-1]]
    return buf, (offsets - offsets[0]).astype(np.int64)


def any_per_row(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each row, whether `mask` (one bool per byte) is true anywhere in that row's bytes."""
    n = len(offsets) - 1
    if n == 0:
        return np.zeros(0, dtype=bool)
    padded = np.concatenate([mask, [False]])
    hits = np.logical_or.reduceat(padded, offsets[:-1])
    return hits & (offsets[1:] > offsets[:-1])


def count_per_row(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For each row, how many bytes of `mask` are true in that row."""
    n = len(offsets) - 1
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    padded = np.concatenate([mask.astype(np.int64, copy=False), [0]])
    counts = np.add.reduceat(padded, offsets[:-1])
    return np.where(offsets[1:] > offsets[:-1], counts, 0)


def word_counts(arr: pa.Array) -> np.ndarray:
    """Whitespace-separated words per row (ASCII whitespace), vectorised over the whole batch."""
    buf, offsets = string_bytes(arr)
    space = ASCII_SPACE[buf]
    prev_space = np.empty_like(space)
    if len(space):
        prev_space[0] = True
        prev_space[1:] = space[:-1]
        starts = offsets[:-1][offsets[:-1] < len(buf)]
        prev_space[starts] = True
    return count_per_row(~space & prev_space, offsets)
