"""Bucket shards: raw little-endian token files, one per (task, bucket), read by index through memmaps.

Layout under RUN/buckets/:
  task-TTTTT/D{ii}.u16|u32   sequences of exactly 2**ii tokens, back to back (row j = tokens [j*L, (j+1)*L))
  task-TTTTT/pieces.parquet  one row per sequence: bucket, seq (row in D{ii}), source, id, offset in the document
A task writes into .tmp-task-TTTTT/ and renames the folder when its last batch is done, so a reader never
sees half a task; only tasks with a completion marker are read.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.errors import RunError
from curator.io.atomic import TMP_PREFIX
from curator.pipeline.run_folder import RunFolder

BUCKETS_DIR = "buckets"  # the run folder's side output of dataset_decomposition


def bucket_dir(run_dir: str | Path, task: int) -> Path:
    """Dataset Decomposition shards of `task` in a run folder."""
    return Path(run_dir) / BUCKETS_DIR / f"task-{task:05d}"


PIECES_SCHEMA = pa.schema(
    [
        pa.field("bucket", pa.int8(), nullable=False),  # the sequence holds 2**bucket tokens
        pa.field("seq", pa.int64(), nullable=False),  # row in this task's D{bucket} file
        pa.field("source", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),  # first token of the piece in its document
    ],
    metadata={"curator.table": "buckets", "curator.schema_version": "1"},
)
_SUFFIX = {np.dtype(np.uint16): "u16", np.dtype(np.uint32): "u32"}
_FILE = re.compile(r"D(\d\d)\.(u16|u32)$")


def bucket_file(folder: Path, bucket: int, dtype: np.dtype) -> Path:
    return folder / f"D{bucket:02d}.{_SUFFIX[np.dtype(dtype)]}"


class BucketShardWriter:
    """Appends sequences of one task to per-bucket files in a temporary folder; `close` publishes the folder.

    Memory: one open file handle per bucket and the pieces rows of one batch.
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.tmp = self.folder.with_name(TMP_PREFIX + self.folder.name)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self._files: dict[int, object] = {}
        self.rows: dict[int, int] = {}
        self._pieces = pq.ParquetWriter(self.tmp / "pieces.parquet", PIECES_SCHEMA, compression="zstd")

    def write(self, bucket: int, sequences: np.ndarray, source: pa.Array, ids: pa.Array, offsets: np.ndarray) -> None:
        """Append `sequences` (n x 2**bucket tokens) and their provenance rows."""
        n = len(sequences)
        if n == 0:
            return
        if bucket not in self._files:
            path = bucket_file(self.tmp, bucket, sequences.dtype)
            self._files[bucket] = open(path, "wb")  # noqa: SIM115 (held across batches, closed in close/abort)
            self.rows[bucket] = 0
        little = np.ascontiguousarray(sequences).astype(sequences.dtype.newbyteorder("<"), copy=False)
        self._files[bucket].write(little.data)
        first = self.rows[bucket]
        self.rows[bucket] += n
        self._pieces.write_batch(
            pa.RecordBatch.from_arrays(
                [
                    pa.array(np.full(n, bucket, np.int8)),
                    pa.array(np.arange(first, first + n, dtype=np.int64)),
                    source,
                    ids,
                    pa.array(offsets, pa.int64()),
                ],
                schema=PIECES_SCHEMA,
            )
        )

    def close(self) -> Path:
        """Flush and fsync every file, then rename the folder to its final name."""
        for fh in self._files.values():
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
        self._pieces.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        os.replace(self.tmp, self.folder)
        return self.folder

    def abort(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._pieces.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@dataclass
class _Part:
    task: int
    rows: int
    data: np.ndarray  # memmap, rows x 2**bucket


class BucketStore:
    """Read a run's bucket shards by (bucket, index) without decoding anything: numpy memmaps over raw tokens.

    Indices run over the completed tasks in task order, so they are the same whatever the worker count.
    Memory: the page cache; a batch read copies only the rows asked for.
    """

    def __init__(self, run_dir: str | Path):
        self.root = Path(run_dir)
        run = RunFolder(self.root)
        if not (self.root / BUCKETS_DIR).is_dir():
            raise RunError(f"{self.root} has no buckets/ folder: run a pipeline with a `dataset_decomposition` step")
        self._run = run
        self._parts: dict[int, list[_Part]] = {}
        self.dtype: np.dtype | None = None
        for task_dir in sorted((self.root / BUCKETS_DIR).glob("task-*")):
            task = int(task_dir.name.split("-")[1])
            if not run.is_done(task):
                continue  # an interrupted task: not part of the run until it is redone
            for f in sorted(task_dir.iterdir()):
                m = _FILE.match(f.name)
                if not m:
                    continue
                bucket, dtype = int(m.group(1)), np.dtype(np.uint16 if m.group(2) == "u16" else np.uint32)
                if self.dtype is not None and dtype != self.dtype:
                    raise RunError(f"{f}: token width {dtype} differs from other shards ({self.dtype})")
                self.dtype = dtype
                length = 1 << bucket
                size = f.stat().st_size
                if size % (length * dtype.itemsize):
                    raise RunError(f"{f}: {size} bytes is not a whole number of {length}-token sequences")
                rows = size // (length * dtype.itemsize)
                data = np.memmap(f, dtype=dtype.newbyteorder("<"), mode="r", shape=(rows, length))
                self._parts.setdefault(bucket, []).append(_Part(task, rows, data))
        self._starts = {b: np.cumsum([0] + [p.rows for p in parts]) for b, parts in self._parts.items()}

    @property
    def buckets(self) -> list[int]:
        return sorted(self._parts)

    def counts(self) -> dict[int, int]:
        """Sequences per bucket."""
        return {b: int(self._starts[b][-1]) for b in self.buckets}

    def tokens(self) -> int:
        return sum(n << b for b, n in self.counts().items())

    def sequence(self, bucket: int, index: int) -> np.ndarray:
        return self.batch(bucket, np.array([index]))[0]

    def batch(self, bucket: int, indices: np.ndarray) -> np.ndarray:
        """Rows `indices` of bucket `bucket` as one (n, 2**bucket) array, in the order asked."""
        if bucket not in self._parts:
            raise KeyError(f"bucket {bucket} is empty; buckets with data: {self.buckets}")
        indices = np.asarray(indices, dtype=np.int64)
        starts = self._starts[bucket]
        if len(indices) and (indices.min() < 0 or indices.max() >= starts[-1]):
            raise IndexError(
                f"bucket {bucket} holds {starts[-1]} sequences; asked for {indices.min()}..{indices.max()}"
            )
        out = np.empty((len(indices), 1 << bucket), dtype=self.dtype)
        part_of = np.searchsorted(starts, indices, side="right") - 1
        for p in np.unique(part_of):
            sel = np.nonzero(part_of == p)[0]
            out[sel] = self._parts[bucket][p].data[indices[sel] - starts[p]]
        return out

    def pieces(self) -> pa.Table:
        """Provenance of every sequence (bucket, seq over the run, source, id, offset), in store order."""
        tables = []
        for task in sorted({part.task for parts in self._parts.values() for part in parts}):
            t = pq.read_table(bucket_dir(self.root, task) / "pieces.parquet")  # each task's file read once
            first = np.zeros(32, np.int64)  # per bucket: the run-wide index of this task's first sequence
            for b, parts in self._parts.items():
                for part, start in zip(parts, self._starts[b][:-1], strict=True):
                    if part.task == task:
                        first[b] = start
            seq = t["seq"].to_numpy() + first[t["bucket"].to_numpy().astype(np.int64)]
            tables.append(t.set_column(1, "seq", pa.array(seq, pa.int64())))
        if not tables:
            return PIECES_SCHEMA.empty_table()
        return pa.concat_tables(tables).sort_by([("bucket", "ascending"), ("seq", "ascending")])
