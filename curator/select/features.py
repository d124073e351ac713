"""On-disk hashed n-gram streams: each document's bucket ids, written once and read back in bounded chunks.

A stream is `<name>.grams` (the buckets of all documents, uint16 when num_buckets <= 65,536, else uint32)
plus `<name>.offsets.npy` (int64, documents + 1). Both are written under temporary names and renamed on
close, so a crash never leaves a stream that looks complete. About 2 bytes per gram: for English, roughly
0.8x the text's bytes with unigrams + bigrams.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from curator.dedup.state import save_npy, tmp_of


class GramStreamWriter:
    """Appends batches of (buckets, per-batch offsets) to a stream. Memory: the offsets (8 B per document)."""

    def __init__(self, path: Path, dtype: np.dtype):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.dtype = np.dtype(dtype)
        self._fh = open(tmp_of(self.grams_path), "wb")  # noqa: SIM115 - closed in close()/abort()
        self._offsets = [np.zeros(1, np.int64)]
        self.grams = 0

    @property
    def grams_path(self) -> Path:
        return self.path.with_name(self.path.name + ".grams")

    @property
    def offsets_path(self) -> Path:
        return self.path.with_name(self.path.name + ".offsets.npy")

    def write(self, buckets: np.ndarray, offsets: np.ndarray) -> None:
        self._fh.write(np.ascontiguousarray(buckets, self.dtype).tobytes())
        self._offsets.append(offsets[1:] + self.grams)
        self.grams += int(offsets[-1])

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(tmp_of(self.grams_path), self.grams_path)
        save_npy(self.offsets_path, np.concatenate(self._offsets))

    def abort(self) -> None:
        self._fh.close()
        tmp_of(self.grams_path).unlink(missing_ok=True)


class GramStream:
    """A finished stream, memory-mapped: documents' buckets by index, or in chunks of whole documents."""

    def __init__(self, path: Path, dtype: np.dtype):
        path = Path(path)
        self.offsets = np.load(path.with_name(path.name + ".offsets.npy"))
        grams = path.with_name(path.name + ".grams")
        n = int(self.offsets[-1])
        self.buckets = np.memmap(grams, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype)

    @property
    def docs(self) -> int:
        return len(self.offsets) - 1

    def chunks(self, max_grams: int = 1 << 22) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
        """(first doc, end doc, buckets, offsets from 0) over runs of whole documents of about `max_grams`."""
        d = 0
        while d < self.docs:
            limit = self.offsets[d] + max_grams
            e = max(d + 1, int(np.searchsorted(self.offsets, limit, side="right")) - 1)
            e = min(e, self.docs)
            lo, hi = int(self.offsets[d]), int(self.offsets[e])
            yield d, e, np.asarray(self.buckets[lo:hi]), self.offsets[d : e + 1] - lo
            d = e


def per_document_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Sum of `values` over each document's grams (0 for a document without grams)."""
    lengths = np.diff(offsets)
    out = np.zeros(len(lengths), np.float64)
    nonempty = lengths > 0
    if nonempty.any():
        out[nonempty] = np.add.reduceat(values, offsets[:-1][nonempty])
    return out


def bucket_counts(buckets: np.ndarray, offsets: np.ndarray, copies: np.ndarray, m: int) -> np.ndarray:
    """Bucket counts of the documents, each counted `copies[i]` times (0 leaves it out)."""
    per_gram = np.repeat(copies.astype(np.float64), np.diff(offsets))
    return np.bincount(buckets, weights=per_gram, minlength=m)
