"""DSIR's importance estimator on hashed n-gram counts, and the KL report that says how well a selection did.

- Fit: p_raw and p_target are bucket-count MLEs (optional Laplace smoothing on the target only).
- Weight: log w(doc) = sum over the doc's grams of log(p_target + eps) - log(p_raw + eps), eps = 1e-8
  (data-selection 1.0.3: `np.dot(log_diff, counts)`), unnormalised; other modes in curator.select.chunks.
- KL report: for held-out target documents with gram distributions p_d, mean_d KL(p_d || q) with the same eps in
  both logs; the KL reduction of a selection S is mean KL(p_d || q_raw) - mean KL(p_d || q_S). The held-out
  units are documents, or fixed-size word chunks of them (then each chunk counts once, like the paper's unit).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def distribution(counts: np.ndarray, laplace: float = 0.0) -> np.ndarray:
    """Normalised counts (+ laplace per bucket); raises ValueError when there is nothing to normalise."""
    counts = np.asarray(counts, np.float64) + laplace
    total = counts.sum()
    if total <= 0:
        raise ValueError("no n-grams to fit a distribution on")
    return counts / total


def log_ratio(target: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """Per-bucket log importance: log(p_target + eps) - log(p_raw + eps)."""
    return np.log(target + EPS) - np.log(raw + EPS)


def logsumexp(x: np.ndarray) -> float:
    if len(x) == 0:
        return float("-inf")
    top = float(np.max(x))
    return top + float(np.log(np.sum(np.exp(x - top))))


def effective_sample_size(log_w: np.ndarray) -> float:
    """(sum w)^2 / sum w^2, from log weights without overflow; 1.0 means one document carries all weight."""
    if len(log_w) == 0:
        return 0.0
    return float(np.exp(2 * logsumexp(log_w) - logsumexp(2 * log_w)))


class HeldoutTarget:
    """Mean per-document gram distribution of held-out target documents, and the mean of sum p log(p + eps)."""

    def __init__(self, m: int):
        self.m = m
        self.docs = 0
        self._p_sum = np.zeros(m, np.float64)
        self._plogp_sum = 0.0

    def add(self, buckets: np.ndarray, offsets: np.ndarray) -> None:
        """Documents as a bucket stream; documents without grams are skipped (their distribution is undefined)."""
        lengths = np.diff(offsets)
        keep = lengths > 0
        if not keep.any():
            return
        doc = np.repeat(np.arange(len(lengths)), lengths)
        pairs, counts = np.unique(doc.astype(np.int64) * self.m + buckets.astype(np.int64), return_counts=True)
        pair_doc = pairs // self.m
        p = counts / lengths[pair_doc]
        np.add.at(self._p_sum, pairs % self.m, p)
        self._plogp_sum += float(np.sum(p * np.log(p + EPS)))
        self.docs += int(keep.sum())

    def mean_distribution(self) -> np.ndarray:
        return self._p_sum / max(self.docs, 1)

    def mean_kl(self, q: np.ndarray) -> float:
        """mean_d KL(p_d || q) over the held-out documents, eps in both logs."""
        if self.docs == 0:
            return float("nan")
        return self._plogp_sum / self.docs - float(np.dot(self.mean_distribution(), np.log(q + EPS)))

    def state(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Arrays to save (keys prefixed, so several held-out sets share one .npz)."""
        arrays = {"p_sum": self._p_sum, "plogp_sum": np.array(self._plogp_sum), "docs": np.array(self.docs)}
        return {prefix + k: v for k, v in arrays.items()}

    @classmethod
    def from_state(cls, state, prefix: str = "") -> HeldoutTarget:
        out = cls(len(state[prefix + "p_sum"]))
        out._p_sum = np.asarray(state[prefix + "p_sum"], np.float64)
        out._plogp_sum = float(state[prefix + "plogp_sum"])
        out.docs = int(state[prefix + "docs"])
        return out
