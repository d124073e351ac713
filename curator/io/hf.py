"""Read Hugging Face `datasets` (a Dataset, an IterableDataset, or a load_from_disk folder) as documents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from curator.errors import ConfigError
from curator.io.documents import SchemaMismatch, arrow_to_documents, row_range
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import ReadLimits, Shard


def is_hf_folder(path: Path) -> bool:
    """True for a folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""
    return path.is_dir() and any((path / n).exists() for n in ("state.json", "dataset_dict.json"))


def load_hf(path: str, split: str | None) -> Any:
    """Load a save_to_disk folder; a DatasetDict needs a split (the only one, or 'train', is the default)."""
    import datasets

    ds = datasets.load_from_disk(path)
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            split = "train" if "train" in ds else (next(iter(ds)) if len(ds) == 1 else None)
        if split not in ds:
            raise ConfigError(f"{path}: choose a split with split: one of {sorted(ds)}")
        ds = ds[split]
    return ds


def hf_num_rows(path: str, split: str | None) -> int:
    return len(load_hf(path, split))


def iter_hf_batches(dataset: Any, start: int, stop: int | None, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Arrow batches of rows [start, stop) of a Dataset, or of all rows of an IterableDataset."""
    import datasets

    if isinstance(dataset, datasets.Dataset):
        stop = len(dataset) if stop is None else stop
        table = dataset.with_format("arrow")
        for lo in range(start, stop, batch_rows):
            sub = table[lo : min(lo + batch_rows, stop)]
            yield from sub.combine_chunks().to_batches() or [pa.RecordBatch.from_pylist([], schema=sub.schema)]
    else:  # IterableDataset: dict-of-lists batches, in its own deterministic order
        for chunk in dataset.iter(batch_size=batch_rows):
            yield pa.RecordBatch.from_pydict(chunk)


class HFReader:
    """Yields FLOW_SCHEMA batches from a Hugging Face dataset slice. Memory: one batch of `batch_rows` rows."""

    def __init__(self, shard: Shard, limits: ReadLimits, rejects: RejectSink, dataset: Any = None):
        self.shard = shard
        self.limits = limits
        self.rejects = rejects
        self.dataset = dataset
        self.records = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            ds = self.dataset if self.dataset is not None else load_hf(self.shard.path, self.shard.split)
        except (OSError, ValueError, FileNotFoundError) as exc:
            self.rejects.add(Reject.for_file(self.shard, "unreadable_file", f"cannot load dataset: {exc}", None))
            return
        row = self.shard.row_start
        for batch in iter_hf_batches(ds, self.shard.row_start, self.shard.row_stop, self.limits.batch_rows):
            try:
                docs = arrow_to_documents(batch, row_range(row, batch.num_rows), self.shard, self.limits, self.rejects)
            except SchemaMismatch as exc:
                n = (self.shard.row_stop - row) if self.shard.row_stop is not None else None
                detail = f"{exc}; map the fields with text_field/id_field/..."
                self.rejects.add(Reject.for_file(self.shard, "schema_mismatch", detail, n, row=row))
                if n is not None:  # rows known to exist: they count as read, and as rejected
                    self.records = self.shard.row_stop - self.shard.row_start
                return
            row += batch.num_rows
            self.records = row - self.shard.row_start
            if docs is not None:
                yield docs
        if self.records == 0 and self.rejects.count == 0:
            self.rejects.add(Reject.for_file(self.shard, "empty_file", "dataset has no rows", 0))
