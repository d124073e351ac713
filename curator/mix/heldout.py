"""Held-out errors for mixture laws: k-fold out-of-fold predictions, Spearman with a bootstrap interval."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata


def kfold_predictions(
    w: np.ndarray, y: np.ndarray, fit: Callable, predict: Callable, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Out-of-fold predictions: each run predicted by the law fitted on the other folds (leave-one-out if few runs)."""
    n = len(y)
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    pred = np.empty(n)
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        pred[test] = predict(fit(w[train], y[train], seed), w[test])
    return pred


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def spearman_interval(a: np.ndarray, b: np.ndarray, n_boot: int = 500, seed: int = 0, level: float = 0.9):
    """Percentile bootstrap interval of the Spearman correlation over resampled (a, b) pairs."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), (n_boot, len(a)))
    ra = np.apply_along_axis(rankdata, 1, a[idx])
    rb = np.apply_along_axis(rankdata, 1, b[idx])
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    den = np.sqrt((ra**2).sum(axis=1) * (rb**2).sum(axis=1))
    rho = np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1), np.nan)
    q = (1 - level) / 2
    return float(np.nanquantile(rho, q)), float(np.nanquantile(rho, 1 - q))
