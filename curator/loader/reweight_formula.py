"""Loss-based sample weights (Sow et al. 2025), one formula for numpy (offline steps) and torch (training).

For per-sample losses l_1..l_N (N = every sample of the global batch):
  h_i = (2 l_i - (l_max + l_min)) / max(l_max - l_min, 1e-6) * delta     in [-delta, delta]
  f_i = linupper: min(h_i + delta, delta) | quadratic: 1 - h_i^2 / delta^2 | extremes: |h_i| | uniform: 0
  w_i = exp((f_i - max f) / r) / sum_k exp((f_k - max f) / r)             (on the simplex; max w / min w <= e^(delta/r))
Non-finite losses get weight 0 (and do not set l_min/l_max); when the finite losses are all equal (spread
below `tolerance`) or none is finite, the weights are uniform over the finite ones (over all if none is). No
branch depends on the values, so in torch nothing syncs with the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np

STRATEGIES = ("uniform", "linupper", "quadratic", "extremes")


def check_strategy(strategy: str, temperature: float) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown reweighting strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if not temperature > 0:
        raise ValueError(f"temperature r must be > 0, got {temperature}")


def _ops(x: Any):
    """numpy or torch functions for the array type of `x`."""
    if isinstance(x, np.ndarray):
        return np, np.where, np.minimum, np.exp, np.isfinite
    import torch

    return torch, torch.where, torch.minimum, torch.exp, torch.isfinite


def formula_scores(losses, lo, hi, strategy: str = "linupper", delta: float = 1.0, tolerance: float = 1e-6):
    """f_i of each loss given the group's l_min `lo` and l_max `hi` (numpy or torch; steps 2-3 above).

    Offline steps call it per chunk with a group's streamed min/max, so a group need not fit in memory."""
    xp, _, minimum, _, _ = _ops(losses)
    h = delta * (2 * losses - (hi + lo)) / xp.clip(hi - lo, tolerance, None)
    h = xp.clip(h, -delta, delta)
    if strategy == "linupper":
        return minimum(h + delta, xp.ones_like(losses) * delta)
    if strategy == "quadratic":
        return 1 - h * h / (delta * delta)
    if strategy == "extremes":
        return abs(h)
    return xp.zeros_like(losses)


def sample_weights(
    losses, strategy: str = "linupper", temperature: float = 1.0, delta: float = 1.0, tolerance: float = 1e-6
):
    """Weights (summing to 1) of the samples whose losses are `losses` (a 1-D numpy array or torch tensor)."""
    check_strategy(strategy, temperature)
    xp, where, _, exp, isfinite = _ops(losses)
    if losses.ndim != 1 or losses.shape[0] == 0:
        raise ValueError(f"losses must be a non-empty 1-D array of per-sample losses, got shape {tuple(losses.shape)}")
    finite = isfinite(losses)
    zero, one = xp.zeros_like(losses), xp.ones_like(losses)
    big = float(np.finfo(np.float32).max)  # fits float32 and float64 alike
    safe = where(finite, losses, zero)
    lo = where(finite, safe, one * big).min()
    hi = where(finite, safe, -one * big).max()
    spread = hi - lo
    f = formula_scores(safe, lo, hi, strategy, delta, tolerance)
    f = where(finite, f, -one * big)
    z = where(finite, exp((f - f.max()) / temperature), zero)
    any_finite = finite.any()
    flat = where(any_finite, where(finite, one, zero), one)  # uniform over the finite losses, or over all
    z = where((spread < tolerance) | ~any_finite, flat, z)
    return z / z.sum()
