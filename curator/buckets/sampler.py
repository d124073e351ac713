"""A batch sampler over Dataset Decomposition buckets: fixed tokens per step, one bucket per step, resumable.

Step s of epoch e draws one global batch of b_i = batch_size * 2^(max_bucket - i) sequences of 2^i tokens
from a single bucket i, so every step holds batch_size * 2^max_bucket tokens. The bucket order (a curriculum)
and each bucket's sequence permutation depend on (seed, epoch) only, so every rank computes the same order
and takes its own slice of the global batch; a resume needs (epoch, step) alone. Partial batches are left out
(the `leftover` counts say how many sequences). Memory: one int per sequence and per step of the epoch.

Checkpointing through a DataLoader: its workers prefetch, so the sampler's own position runs ahead of what the
training loop has consumed (by up to num_workers * prefetch_factor batches). Each yielded key list is a
`StepKeys` carrying its (epoch, step); `BucketDataset` puts them in the batch, and `ResumableLoader` (or
`sampler.state_dict(consumed=(batch["epoch"], batch["step"]))`) gives the state right after the last batch
the loop took.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from curator.buckets.curriculum import CURRICULA, bucket_order

KEY_SHIFT = 40  # a sequence key is bucket << 40 | index


def sequence_key(bucket: int, index: np.ndarray) -> np.ndarray:
    return (np.int64(bucket) << KEY_SHIFT) | np.asarray(index, np.int64)


def split_key(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.asarray(keys, np.int64)
    return keys >> KEY_SHIFT, keys & ((1 << KEY_SHIFT) - 1)


class StepKeys(list):
    """One step's sequence keys (a plain list to the DataLoader) tagged with the step's (epoch, step).

    The tags survive the pickling to a DataLoader worker, where `BucketDataset.__getitems__` copies them
    into the batch.
    """

    def __init__(self, keys: Iterable[int], epoch: int, step: int):
        super().__init__(keys)
        self.epoch, self.step = epoch, step


class BucketBatchSampler:
    """Yields, per optimisation step, this rank's sequence keys (bucket << 40 | index) from one bucket.

    Use as `DataLoader(BucketDataset(run), batch_sampler=sampler, collate_fn=BucketDataset.collate)`.
    """

    def __init__(
        self,
        counts: dict[int, int],
        batch_size: int,
        max_bucket: int | None = None,
        curriculum: str = "natural",
        num_cycles: int = 8,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        balanced: bool = False,
        longest_first: bool = False,
    ):
        if curriculum not in CURRICULA:
            raise ValueError(f"curriculum must be one of {', '.join(CURRICULA)}; got {curriculum!r}")
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need batch_size >= 1 and 0 <= rank < world_size; got {batch_size}, {rank}/{world_size}")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} does not split over {world_size} ranks")
        self.buckets = sorted(b for b, n in counts.items() if n > 0)
        if not self.buckets:
            raise ValueError("no sequences in any bucket")
        self.max_bucket = max(self.buckets) if max_bucket is None else max_bucket
        if max(self.buckets) > self.max_bucket:
            raise ValueError(f"bucket {max(self.buckets)} is longer than max_bucket {self.max_bucket}")
        self.counts = {b: int(counts[b]) for b in self.buckets}
        self.batch_size, self.curriculum, self.num_cycles = batch_size, curriculum, num_cycles
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.balanced, self.longest_first = balanced, longest_first
        self.per_step = {b: batch_size << (self.max_bucket - b) for b in self.buckets}
        batches = np.array([self.counts[b] // self.per_step[b] for b in self.buckets], np.int64)
        if balanced:
            batches[:] = batches.min()
        self.batches = dict(zip(self.buckets, batches.tolist(), strict=True))
        self.leftover = {b: self.counts[b] - self.batches[b] * self.per_step[b] for b in self.buckets}
        if batches.sum() == 0:
            raise ValueError(f"no bucket holds a whole batch: counts {self.counts}, batch sizes {self.per_step}")
        self.epoch, self.step = 0, 0
        self._cached_epoch: int | None = None

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size << self.max_bucket

    def __len__(self) -> int:
        """Steps per epoch."""
        return sum(self.batches.values())

    def _plan(self, epoch: int) -> None:
        if self._cached_epoch == epoch:
            return
        rng = np.random.default_rng([self.seed, epoch])
        order = bucket_order(np.array([self.batches[b] for b in self.buckets]), self.curriculum, rng, self.num_cycles)
        if self.longest_first and len(order):
            first = int(np.argmax(order == len(self.buckets) - 1)) if (order == len(self.buckets) - 1).any() else 0
            order = np.concatenate([order[first : first + 1], order[:first], order[first + 1 :]])
        occurrence = np.empty(len(order), np.int64)
        for pos in range(len(self.buckets)):
            where = np.nonzero(order == pos)[0]
            occurrence[where] = np.arange(len(where))
        self._order, self._occurrence = order, occurrence
        self._perms = {
            b: np.random.default_rng([self.seed, epoch, b]).permutation(self.counts[b]) for b in self.buckets
        }
        self._cached_epoch = epoch

    def global_batch(self, epoch: int, step: int) -> tuple[int, np.ndarray]:
        """(bucket, sequence indices of the whole global batch) of `step` in `epoch`."""
        self._plan(epoch)
        bucket = self.buckets[int(self._order[step])]
        size = self.per_step[bucket]
        j = int(self._occurrence[step])
        return bucket, self._perms[bucket][j * size : (j + 1) * size]

    def __iter__(self):
        """This rank's keys for every remaining step of the current epoch; then the epoch advances."""
        while self.step < len(self):
            bucket, indices = self.global_batch(self.epoch, self.step)
            share = len(indices) // self.world_size
            mine = indices[self.rank * share : (self.rank + 1) * share]
            step = self.step
            self.step += 1
            yield StepKeys(sequence_key(bucket, mine).tolist(), self.epoch, step)
        self.epoch, self.step = self.epoch + 1, 0

    def position_after(self, epoch: int, step: int) -> tuple[int, int]:
        """The (epoch, step) that follows step `step` of `epoch`: the next step, or step 0 of the next epoch."""
        if not 0 <= step < len(self):
            raise ValueError(f"step {step} is outside this sampler's epoch of {len(self)} steps")
        return (epoch + 1, 0) if step + 1 == len(self) else (epoch, step + 1)

    def state_dict(self, consumed: tuple[int, int] | None = None) -> dict:
        """The state to resume from. Without `consumed`: the sampler's own position, i.e. after the last batch
        it produced, which is ahead of the training loop when a DataLoader prefetches. With
        `consumed=(batch["epoch"], batch["step"])` of the last batch the loop took: the position right after it.
        """
        epoch, step = (self.epoch, self.step) if consumed is None else self.position_after(*consumed)
        return {
            "epoch": epoch,
            "step": step,
            "seed": self.seed,
            "curriculum": self.curriculum,
            "batch_size": self.batch_size,
            "counts": dict(self.counts),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume at (epoch, step); refuses a state taken with other data, seed, batch size or curriculum."""
        for key in ("seed", "curriculum", "batch_size"):
            if state[key] != getattr(self, key):
                raise ValueError(f"state_dict {key}={state[key]!r} differs from this sampler's {getattr(self, key)!r}")
        if {int(k): v for k, v in state["counts"].items()} != self.counts:
            raise ValueError("state_dict was taken over different bucket counts (another run or changed data)")
        self.epoch, self.step = int(state["epoch"]), int(state["step"])


class ResumableLoader:
    """Iterates a DataLoader over a BucketBatchSampler and remembers the last batch handed out, so
    `state_dict()` is the sampler state after exactly the batches the training loop consumed, however many the
    loader's workers prefetched.

    Each `iter()` starts the sampler at the position after the last consumed batch (a loop that breaks off and
    iterates again drops the prefetched batches and repeats none). Batches need "epoch" and "step" entries, as
    `BucketDataset` gives them.
    """

    def __init__(self, loader: Iterable[dict], sampler: BucketBatchSampler):
        self.loader, self.sampler = loader, sampler
        self._next: tuple[int, int] | None = None  # position after the last consumed batch; None: none yet

    def __iter__(self) -> Iterator[dict]:
        if self._next is not None:
            self.sampler.epoch, self.sampler.step = self._next
        self._next = (self.sampler.epoch, self.sampler.step)
        for batch in self.loader:
            self._next = self.sampler.position_after(int(batch["epoch"]), int(batch["step"]))
            yield batch

    def state_dict(self) -> dict:
        state = self.sampler.state_dict()
        if self._next is not None:
            state["epoch"], state["step"] = self._next
        return state

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state)
        self._next = (self.sampler.epoch, self.sampler.step)
