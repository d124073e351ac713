"""The linear mixing baseline: L(r) = sum_j b_j r_j (an intercept is redundant since the weights sum to 1)."""

from __future__ import annotations

import numpy as np

RIDGE = 1e-8


def fit(w: np.ndarray, y: np.ndarray, seed: int = 0, what: str = "linear") -> dict:
    """Least squares with a tiny ridge (collinear designs stay solvable)."""
    k = w.shape[1]
    b = np.linalg.solve(w.T @ w + RIDGE * np.eye(k), w.T @ y)
    return {"b": b.tolist()}


def predict(params: dict, w: np.ndarray) -> np.ndarray:
    """Predicted loss for mixtures w (n, k)."""
    return np.asarray(w, float) @ np.asarray(params["b"], float)
