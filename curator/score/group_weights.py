"""The normalisation groups of the loss steps and `loss_reweight`'s per-group weights, computed in streaming
passes over the task files (GroupWeights: counts, min/max, then a running log-sum-exp per group)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.loader.reweight_formula import formula_scores

Group = Literal["all", "source", "length"]


def group_keys(batch: pa.RecordBatch, group: Group) -> pa.Array:
    """The group label of each document: 'all', its source, or 'len2^i' with i = floor(log2(loss_tokens))."""
    if group == "all":
        return pa.repeat(pa.scalar("all", pa.string()), batch.num_rows)
    if group == "source":
        return pc.fill_null(batch.column("source").cast(pa.string()), "")
    tokens = np.maximum(batch.column("loss_tokens").to_numpy(zero_copy_only=False), 1)
    exponents, rows = np.unique(np.floor(np.log2(tokens)).astype(np.int64), return_inverse=True)
    return pa.array([f"len2^{e}" for e in exponents], pa.string()).take(pa.array(rows.reshape(-1)))


def encode_groups(groups: pa.Array) -> tuple[list, np.ndarray]:
    """(the distinct group labels, each row's index into them): per-group work then costs one lookup per
    label, not one per document."""
    encoded = pc.dictionary_encode(groups, null_encoding="encode")
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy(zero_copy_only=False)


class GroupWeights:
    """Per-group streaming statistics for `sample_weights` over groups too large to hold: min/max of the finite
    losses, then the log-sum-exp of f / r. log_weights() then equals log(sample_weights(group losses))."""

    def __init__(self, strategy: str, temperature: float, tolerance: float = 1e-6):
        self.strategy, self.r, self.tol = strategy, temperature, tolerance
        self.names: dict[str, int] = {}
        self.n, self.finite = np.zeros(0, np.int64), np.zeros(0, np.int64)
        self.lo, self.hi = np.zeros(0), np.zeros(0)
        self.fmax, self.sum = np.zeros(0), np.zeros(0)

    def _ids(self, groups: pa.Array) -> np.ndarray:
        labels, rows = encode_groups(groups)
        for name in labels:
            if name not in self.names:
                self.names[name] = len(self.names)
                grow = lambda a, v: np.append(a, v)  # noqa: E731
                self.n, self.finite = grow(self.n, 0), grow(self.finite, 0)
                self.lo, self.hi = grow(self.lo, np.inf), grow(self.hi, -np.inf)
                self.fmax, self.sum = grow(self.fmax, -np.inf), grow(self.sum, 0.0)
        return np.array([self.names[name] for name in labels], np.int64)[rows]

    @staticmethod
    def _losses(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        loss = table.column("loss").to_numpy().astype(np.float64)  # nulls -> NaN
        return loss, np.isfinite(loss)

    def add_range(self, table: pa.Table) -> None:
        """Pass 1: counts and min/max of each group's finite losses."""
        g = self._ids(table.column("group").combine_chunks())
        loss, ok = self._losses(table)
        np.add.at(self.n, g, 1)
        np.add.at(self.finite, g[ok], 1)
        np.minimum.at(self.lo, g[ok], loss[ok])
        np.maximum.at(self.hi, g[ok], loss[ok])

    def scores(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(group index, f, finite) of each row, f from the shared formula with its group's min/max."""
        g = self._ids(table.column("group").combine_chunks())
        loss, ok = self._losses(table)
        with np.errstate(invalid="ignore"):  # a group without a finite loss has lo = inf, hi = -inf: f unused
            f = formula_scores(np.where(ok, loss, 0.0), self.lo[g], self.hi[g], self.strategy)
        return g, f, ok

    def add_scores(self, table: pa.Table) -> None:
        """Pass 2: a running log-sum-exp of f / r per group (rescaled when a group's max f grows)."""
        g, f, ok = self.scores(table)
        g, f = g[ok], f[ok]
        new_max = self.fmax.copy()
        np.maximum.at(new_max, g, f)
        with np.errstate(invalid="ignore"):
            self.sum = np.where(np.isfinite(self.fmax), self.sum * np.exp((self.fmax - new_max) / self.r), 0.0)
        self.fmax = new_max
        np.add.at(self.sum, g, np.exp((f - new_max[g]) / self.r))

    def log_weights(self, table: pa.Table) -> np.ndarray:
        """log w of each row (sums to 1 over its group's finite losses); -inf for a null or non-finite loss.
        A group whose finite losses are all equal (spread < tolerance) is uniform, as in `sample_weights`."""
        g, f, ok = self.scores(table)
        flat = (self.hi - self.lo)[g] < self.tol
        with np.errstate(divide="ignore", invalid="ignore"):
            log_w = np.where(
                flat, -np.log(np.maximum(self.finite[g], 1)), (f - self.fmax[g]) / self.r - np.log(self.sum[g])
            )
        return np.where(ok, log_w, -np.inf)

    def facts(self) -> dict:
        return {
            name: {"docs": int(self.n[i]), "with_loss": int(self.finite[i]),
                   "min_loss": float(self.lo[i]) if self.finite[i] else None,
                   "max_loss": float(self.hi[i]) if self.finite[i] else None}
            for name, i in sorted(self.names.items())
        }  # fmt: skip
