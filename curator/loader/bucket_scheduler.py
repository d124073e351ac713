"""Buckets packing: every step draws one length 2^i, then global_batch x seq_len / 2^i sequences of it.

For Dataset Decomposition stores (`from: {buckets: RUN}`: every document is one 2^i-token sequence), so each
step holds the same number of tokens and no sequence is padded or cut. Step s's bucket is drawn from
hash(seed, s) with odds = the active mixture's expected token share of that bucket (sum over domains of
weight x the domain's token share in the bucket), among buckets some domain can still give; the step's
samples then take their domain by the weights among domains that have the bucket, and their sequence from a
keyed permutation of that (domain, bucket)'s sequences for the current epoch. Everything else (weight log,
horizon, caps as passes over each (domain, bucket), state) works as in `MixtureScheduler`.
Memory: the sequence numbers of each (domain, bucket), 8 B per sequence.
"""

from __future__ import annotations

import math

import numpy as np

from curator.errors import ConfigError
from curator.loader.permutation import permutation_key, permute
from curator.loader.scheduler import (
    DOMAIN_SHIFT,
    GlobalBatch,
    MixtureScheduler,
    assign_domains,
    rank_within,
    uniform_draws,
)

BUCKET_SALT = 0x5BD1E995  # the bucket draws use their own counter stream


class BucketMixtureScheduler(MixtureScheduler):
    """`MixtureScheduler` for buckets packing; `sequences[d][i]` are domain d's document numbers of 2^i tokens."""

    def __init__(
        self,
        sequences: list[dict[int, np.ndarray]],
        weights: list[float],
        global_batch: int,
        seq_len: int,
        seed: int = 0,
        horizon: int = 3,
        max_epochs: list[float | None] | None = None,
        names: list[str] | None = None,
    ):
        self.buckets = sorted({i for per in sequences for i in per})
        if not self.buckets:
            raise ConfigError("no sequences in any domain")
        self.max_bucket = int(math.log2(seq_len))
        if 1 << self.max_bucket != seq_len or self.buckets[-1] > self.max_bucket:
            raise ConfigError(
                f"buckets packing needs seq_len = the longest sequence, a power of two; got seq_len {seq_len} "
                f"and sequences of up to {1 << self.buckets[-1]} tokens"
            )
        self.sequences = sequences
        counts = np.array([[len(per.get(i, ())) for i in self.buckets] for per in sequences], np.int64)
        super().__init__(
            np.maximum(counts.sum(axis=1), 1).tolist(), weights, global_batch, seed, horizon, max_epochs, names
        )
        self.counts = counts  # [domain, bucket]
        epochs = max_epochs or [None] * len(sequences)
        self.bucket_caps = np.array(
            [[-1 if e is None else math.floor(e * n) for n in row] for e, row in zip(epochs, counts, strict=True)],
            np.int64,
        )
        self.bucket_cursors = np.zeros_like(counts)
        tokens = counts * (1 << np.array(self.buckets, np.int64))
        self.token_share = tokens / np.maximum(tokens.sum(axis=1, keepdims=True), 1)

    def _remaining(self) -> np.ndarray:
        """Sequences each (domain, bucket) can still give: 0 when it has none or its cap is reached, -1 = any."""
        rem = np.where(self.bucket_caps < 0, -1, self.bucket_caps - self.bucket_cursors)
        return np.where(self.counts == 0, 0, rem)

    def next_batch(self) -> GlobalBatch | None:
        if self.finished:
            return None
        weights = np.asarray(self.weights_at(self.step))
        remaining = self._remaining()
        live = (remaining != 0) & (weights[:, None] > 0)
        odds = np.where(live, weights[:, None] * self.token_share, 0.0).sum(axis=0)
        if odds.sum() <= 0:
            self.finished = True
            return None
        u = uniform_draws(self.seed ^ BUCKET_SALT, self.step, 1)[0]
        j = min(int(np.searchsorted(np.cumsum(odds), u * odds.sum(), side="right")), len(odds) - 1)
        while odds[j] == 0:
            j -= 1
        bucket = self.buckets[j]
        n = self.global_batch << (self.max_bucket - bucket)
        rem = remaining[:, j].copy()
        domains = assign_domains(uniform_draws(self.seed, self.step * (self.global_batch << self.max_bucket), n),
                                 weights, rem)  # fmt: skip
        if len(domains) < n:
            self.finished = True
            return None
        counts = np.bincount(domains, minlength=len(self.windows))
        drawn = self.bucket_cursors[domains, j] + rank_within(domains, counts)
        size = self.counts[domains, j]
        order = permute(drawn % size, size, permutation_key(self.seed, domains * 64 + bucket, drawn // size))
        docs = np.empty(n, np.int64)
        for d in np.flatnonzero(counts):
            at = domains == d
            docs[at] = self.sequences[d][bucket][order[at]]
        self.bucket_cursors[:, j] += counts
        self.cursors += counts
        batch = GlobalBatch(self.step, domains.astype(np.int32), docs, (domains << DOMAIN_SHIFT) | docs, bucket)
        self.step += 1
        return batch

    def state_dict(self) -> dict:
        return {**super().state_dict(), "bucket_cursors": self.bucket_cursors.tolist()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        cursors = np.asarray(state["bucket_cursors"], np.int64)
        if cursors.shape != self.bucket_cursors.shape:
            raise ConfigError(
                f"the state has {cursors.shape} (domain, bucket) cursors, this mixture {self.counts.shape}"
            )
        self.bucket_cursors = cursors
