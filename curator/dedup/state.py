"""On-disk state shared by the dedup steps: per-task document index, global numbering, atomic numpy files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.io.atomic import TMP_PREFIX, AtomicParquetWriter, atomic_file
from curator.io.parquet import read_parquet_file

# One row per indexed document, in stream order (row i = ordinal i of the task).
DOC_INDEX_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("priority", pa.float64(), nullable=False),  # higher wins the representative rule
        pa.field("weight", pa.int64(), nullable=False),  # input documents this one stands for
    ]
)


def task_file(state: Path, kind: str, task: int, suffix: str) -> Path:
    return state / kind / f"task-{task:05d}{suffix}"


def tmp_of(path: Path) -> Path:
    return path.with_name(TMP_PREFIX + path.name)


def save_npy(path: Path, array: np.ndarray) -> None:
    """np.save under a temporary name, then rename: a crash never leaves a half-written state file."""
    with atomic_file(path) as fh:
        np.save(fh, array)


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    """np.savez, atomically like `save_npy`."""
    with atomic_file(path) as fh:
        np.savez(fh, **arrays)


def write_json(path: Path, data: dict) -> None:
    from curator.pipeline.run_folder import write_atomic

    write_atomic(path, json.dumps(data, indent=1, sort_keys=True))


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


class DocIndexWriter:
    """Streams (id, priority, weight) of one task's indexed documents to `docs/task-N.parquet`."""

    def __init__(self, state: Path, task: int):
        self.path = task_file(state, "docs", task, ".parquet")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = AtomicParquetWriter(self.path, DOC_INDEX_SCHEMA)
        self.rows = 0

    def write(self, ids: pa.Array, priority: np.ndarray, weight: np.ndarray) -> None:
        self._writer.write(
            pa.RecordBatch.from_arrays(
                [ids.cast(pa.string()), pa.array(priority, pa.float64()), pa.array(weight, pa.int64())],
                schema=DOC_INDEX_SCHEMA,
            )
        )
        self.rows += len(ids)

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


def first_of_runs(start: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For sorted data cut into runs (`start[i]` marks a run's first row), each row's run-first value."""
    return values[np.maximum.accumulate(np.where(start, np.arange(len(values)), 0))]


class Numbering:
    """Global document numbers: g = offset[task] + ordinal, i.e. pipeline input order, whatever the workers."""

    def __init__(self, counts: list[int]):
        self.counts = np.asarray(counts, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self.total = int(self.offsets[-1])

    def task_of(self, g: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.offsets, g, side="right") - 1

    def by_task(self, g_sorted: np.ndarray):
        """(task, slice of g_sorted) for each task that has numbers in the sorted array."""
        bounds = np.searchsorted(g_sorted, self.offsets)
        for t in range(len(self.counts)):
            if bounds[t + 1] > bounds[t]:
                yield t, slice(int(bounds[t]), int(bounds[t + 1]))


def gather_doc_index(state: Path, numbering: Numbering, g_sorted: np.ndarray) -> pa.Table:
    """Document-index rows (id, priority, weight) of sorted global numbers; each task file is read once.
    Memory: one task's index plus the rows asked for."""
    parts = [
        read_parquet_file(task_file(state, "docs", t, ".parquet")).take(pa.array(g_sorted[sl] - numbering.offsets[t]))
        for t, sl in numbering.by_task(g_sorted)
    ]
    return pa.concat_tables(parts).combine_chunks() if parts else DOC_INDEX_SCHEMA.empty_table()
