"""Ye et al.'s data mixing law per eval domain: L(r) = c + k exp(t . r), fitted by variable projection + Huber.

Since the weights sum to 1, t and t + a1 give the same law up to k (k e^a), so the last domain's t is fixed at 0.
For fixed t the law is linear in (c, k): an exact two-column least-squares solve. `least_squares` searches t from
several starts on that projected residual, then a Huber polish refines (c, k, t) together.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares

from curator.errors import RunError

T_BOUND = 30.0
STARTS = 12


def _project(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(c, k) of y ~ c + k z by exact least squares."""
    zm, ym = z.mean(), y.mean()
    var = float(((z - zm) ** 2).sum())
    k = float(((z - zm) * (y - ym)).sum() / var) if var > 0 else 0.0
    return ym - k * zm, k


def predict(params: dict, w: np.ndarray) -> np.ndarray:
    """Predicted loss for mixtures w (n, k)."""
    return params["c"] + params["k"] * np.exp(np.asarray(w, float) @ np.asarray(params["t"], float))


def fit(w: np.ndarray, y: np.ndarray, seed: int = 0, what: str = "dml") -> dict:
    """Fit c, k, t to losses y (n,) at mixtures w (n, k); a fit that does not converge is a RunError."""
    n, k = w.shape
    wr = w[:, :-1]

    def projected(u):
        z = np.exp(np.clip(wr @ u, -T_BOUND, T_BOUND))
        c, kk = _project(z, y)
        return c + kk * z - y

    rng = np.random.default_rng(seed)
    starts = np.vstack([np.zeros(k - 1), rng.normal(0, 2.0, (STARTS - 1, k - 1))])
    best = None
    for u0 in starts:
        res = least_squares(projected, u0, bounds=(-T_BOUND, T_BOUND), method="trf", max_nfev=200 * k)
        if np.isfinite(res.cost) and (best is None or res.cost < best.cost):
            best = res
    if best is None:
        raise RunError(f"{what}: the data mixing law did not converge from any of {STARTS} starts")
    u = best.x
    c, kk = _project(np.exp(wr @ u), y)
    r0 = best.fun
    delta = max(1.345 * 1.4826 * float(np.median(np.abs(r0 - np.median(r0)))), 1e-5)

    def fun(theta):
        return theta[0] + theta[1] * np.exp(wr @ theta[2:]) - y

    def jac(theta):
        z = np.exp(wr @ theta[2:])
        return np.column_stack([np.ones(n), z, theta[1] * z[:, None] * wr])

    lo = np.concatenate([[-np.inf, -np.inf], np.full(k - 1, -T_BOUND)])
    hi = -lo
    res = least_squares(
        fun, np.concatenate([[c, kk], u]), jac=jac, bounds=(lo, hi), method="trf", loss="huber", f_scale=delta,
        max_nfev=500 * (k + 1),
    )  # fmt: skip
    if res.status > 0 and np.isfinite(res.x).all():
        return {"c": float(res.x[0]), "k": float(res.x[1]), "t": [*map(float, res.x[2:]), 0.0], "huber_delta": delta}
    if best.status > 0 and np.isfinite(u).all():  # the projected least-squares fit converged: keep it, say so
        return {
            "c": float(c), "k": float(kk), "t": [*map(float, u), 0.0], "huber_delta": delta,
            "note": f"the Huber polish did not converge ({res.message}); the least-squares fit is used",
        }  # fmt: skip
    raise RunError(f"{what}: the data mixing law did not converge ({best.message}; Huber polish: {res.message})")
