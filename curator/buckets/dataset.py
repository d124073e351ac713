"""A torch map-style dataset over bucket shards, fed by BucketBatchSampler's keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from curator.buckets.sampler import StepKeys, split_key
from curator.buckets.shards import BucketStore


class BucketDataset(torch.utils.data.Dataset):
    """`dataset[key]` -> one sequence; `__getitems__(keys)` -> {"input_ids": (n, 2^i) int64, "keys", "bucket"},
    plus "epoch" and "step" when the keys come from BucketBatchSampler (a `StepKeys`), for checkpointing.

    The memmaps open lazily in each process (a DataLoader worker re-opens them rather than receiving a
    pickled copy). Memory: the rows of one batch.
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self._store: BucketStore | None = None
        self._len = sum(self.store.counts().values())

    @property
    def store(self) -> BucketStore:
        if self._store is None:
            self._store = BucketStore(self.run_dir)
        return self._store

    def __getstate__(self):
        return {"run_dir": self.run_dir, "_store": None, "_len": self._len}

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, key: int) -> torch.Tensor:
        return self.__getitems__([key])["input_ids"][0]

    def __getitems__(self, keys: list[int]) -> dict:
        buckets, indices = split_key(np.asarray(keys, np.int64))
        if len(np.unique(buckets)) != 1:
            raise ValueError("a batch must come from one bucket (use BucketBatchSampler)")
        rows = self.store.batch(int(buckets[0]), indices)
        batch = {
            "input_ids": torch.from_numpy(rows.astype(np.int64)),
            "keys": torch.as_tensor(keys, dtype=torch.int64),
            "bucket": int(buckets[0]),
        }
        if isinstance(keys, StepKeys):
            batch["epoch"], batch["step"] = keys.epoch, keys.step
        return batch

    @staticmethod
    def collate(batch: dict) -> dict:
        """The batch is already assembled by __getitems__: pass it through."""
        return batch
