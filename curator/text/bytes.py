"""Zero-copy numpy views of Arrow string arrays, and per-document reductions over their bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


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


def byte_lengths(arr: pa.Array) -> np.ndarray:
    """UTF-8 byte length of each string (from the offsets: no pass over the bytes)."""
    return np.diff(string_bytes(arr)[1])


def total_bytes(arr: pa.Array) -> int:
    """UTF-8 bytes of all strings together, in O(1)."""
    offsets = string_bytes(arr)[1]
    return int(offsets[-1]) if len(offsets) else 0


def count_per_row(mask: np.ndarray, offsets: np.ndarray, positions: bool = False) -> np.ndarray:
    """For each row, how many bytes of `mask` are true in that row (searches, not a full-size reduction).

    With `positions=True`, `mask` is already the sorted array of true byte positions.
    """
    positions = mask if positions else np.flatnonzero(mask)
    return np.searchsorted(positions, offsets[1:]) - np.searchsorted(positions, offsets[:-1])


def word_counts(arr: pa.Array) -> np.ndarray:
    """Words per row: maximal runs of bytes above 0x20 (so ASCII whitespace and control bytes separate
    words, as str.split() does for whitespace), vectorised over the whole batch."""
    buf, offsets = string_bytes(arr)
    if len(buf) == 0:
        return np.zeros(len(offsets) - 1, dtype=np.int64)
    space = buf <= 32
    starts = ~space
    starts[1:] &= space[:-1]  # a word starts at a non-space byte after a space byte...
    row_starts = offsets[:-1][offsets[:-1] < len(buf)]
    starts[row_starts] = ~space[row_starts]  # ...or at the first byte of a row
    return count_per_row(starts, offsets)


def replace_rows(arr: pa.Array, replacements: list[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """`arr` with rows replaced: each (rows, values) pair puts values[k] at rows[k]. Non-null strings.

    Builds the new buffer with one copy: untouched runs of rows are copied as blocks, so the Python loop
    runs once per replaced row, never per byte.
    """
    buf, off = string_bytes(arr)
    n = len(off) - 1
    parts = [(rows, *string_bytes(values)) for rows, values in replacements if len(rows)]
    if not parts:
        return arr
    all_rows = np.concatenate([p[0] for p in parts])
    which = np.concatenate([np.full(len(p[0]), g) for g, p in enumerate(parts)])
    within = np.concatenate([np.arange(len(p[0])) for p in parts])
    order = np.argsort(all_rows, kind="stable")
    lengths = np.diff(off)
    for rows, _, voff in parts:
        lengths[rows] = np.diff(voff)
    out_off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=out_off[1:])
    if out_off[-1] >= 2**31:
        raise ValueError("replacement makes the batch exceed 2 GiB of text; use smaller batches")
    out = np.empty(int(out_off[-1]), dtype=np.uint8)
    prev = 0
    for k in order:
        r, g, j = int(all_rows[k]), int(which[k]), int(within[k])
        if r > prev:
            out[out_off[prev] : out_off[r]] = buf[off[prev] : off[r]]
        _, vbuf, voff = parts[g]
        out[out_off[r] : out_off[r + 1]] = vbuf[voff[j] : voff[j + 1]]
        prev = r + 1
    if prev < n:
        out[out_off[prev] :] = buf[off[prev] :]
    return pa.StringArray.from_buffers(n, pa.py_buffer(out_off.astype(np.int32)), pa.py_buffer(out))
