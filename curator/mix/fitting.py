"""Variable projection for sums of power (or log) terms in T with exponents tied across groups, then a Huber polish.

Law per group g: y = sum_k a_gk f_k(T) + b_g, with f_k(T) = T^s_k ("pow") or ln T ("log"). The exponents s are
shared by all groups (tied) and bounded; for fixed s the a, b are an exact linear least-squares solve, so a grid
over s plus that solve finds the global optimum of the grid, and `scipy.optimize.least_squares` (trf, Huber)
polishes all parameters from there. An exponent that ends on its lower bound means the power law is degenerating
to a log law: the form with a log term is fitted too and kept when it is as good (`fit_tied`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from curator.errors import RunError

S_BOUNDS = (0.05, 2.0)  # exponents of the token laws (T scaled to (0, 1] by the largest fitted tokens)
GRID = {1: 41, 2: 25}  # grid points per exponent for one / two power terms


@dataclass
class TiedFit:
    """A fitted tied-exponent law: terms ('pow'/'log'), exponents of the pow terms, per-group coefficients."""

    terms: tuple[str, ...]
    exponents: np.ndarray  # (number of pow terms,)
    coefs: np.ndarray  # (groups, len(terms) + 1): term coefficients, then the intercept
    rss: float
    n: int
    converged: bool = True
    message: str = ""

    def predict(self, t: np.ndarray, group: int | np.ndarray) -> np.ndarray:
        """Values at scaled tokens `t` (> 0) for group index/indices `group` (broadcast with t)."""
        t = np.asarray(t, float)
        basis = design(t, self.terms, self.exponents)
        return np.einsum("...k,...k->...", basis, self.coefs[np.asarray(group)])

    def to_json(self) -> dict:
        """A JSON-ready dict (see from_json)."""
        return {
            "terms": list(self.terms),
            "exponents": self.exponents.tolist(),
            "coefs": self.coefs.tolist(),
            "rss": self.rss,
            "n": self.n,
        }

    @classmethod
    def from_json(cls, d: dict) -> TiedFit:
        """The inverse of to_json."""
        return cls(
            tuple(d["terms"]), np.asarray(d["exponents"], float), np.asarray(d["coefs"], float), d["rss"], d["n"]
        )


def design(t: np.ndarray, terms: tuple[str, ...], exponents: np.ndarray) -> np.ndarray:
    """Columns f_k(t) for each term, then a column of ones; shape t.shape + (len(terms) + 1,)."""
    cols, e = [], iter(np.asarray(exponents, float))
    for term in terms:
        cols.append(np.log(t) if term == "log" else t ** next(e))
    cols.append(np.ones_like(t))
    return np.stack(cols, axis=-1)


def _padded(t_groups: list[np.ndarray], y_groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = max(len(t) for t in t_groups)
    t = np.ones((len(t_groups), n))
    y = np.zeros_like(t)
    mask = np.zeros_like(t)
    for g, (tg, yg) in enumerate(zip(t_groups, y_groups, strict=True)):
        t[g, : len(tg)], y[g, : len(tg)], mask[g, : len(tg)] = tg, yg, 1.0
    return t, y, mask


def grid_search(
    t_groups: list[np.ndarray], y_groups: list[np.ndarray], terms: tuple[str, ...], bounds=S_BOUNDS
) -> tuple[np.ndarray, np.ndarray, float]:
    """(exponents, coefs, rss) of the best grid point; the coefficients are exact least squares (vectorised)."""
    n_pow = terms.count("pow")
    t, y, mask = _padded(t_groups, y_groups)
    if n_pow:
        axis = np.linspace(*bounds, GRID.get(n_pow, 15))
        grid = np.array([p for p in itertools.product(axis, repeat=n_pow) if all(np.diff(p) > 0)]).reshape(-1, n_pow)
    else:
        grid = np.zeros((1, 0))
    # X: (P, G, n, m) with masked rows zeroed; coefs = pinv(X) @ y
    x = np.stack([design(t, terms, s) for s in grid]) * mask[None, :, :, None]
    ym = (y * mask)[None, :, :, None]
    coefs = (np.linalg.pinv(x, rcond=1e-10) @ ym)[..., 0]  # (P, G, m)
    resid = (x @ coefs[..., None])[..., 0] - ym[..., 0]
    rss = np.nansum(resid**2, axis=(1, 2))
    rss[~np.isfinite(rss)] = np.inf
    best = int(np.argmin(rss))
    if not np.isfinite(rss[best]):
        raise RunError("the law's grid search found no finite fit (check the losses for outliers)")
    return grid[best], coefs[best], float(rss[best])


def polish(
    t_groups: list[np.ndarray],
    y_groups: list[np.ndarray],
    terms: tuple[str, ...],
    exponents: np.ndarray,
    coefs: np.ndarray,
    bounds=S_BOUNDS,
    f_scale: float | None = None,
) -> TiedFit:
    """Huber `least_squares(method='trf')` over all parameters from a start (grid or previous fit)."""
    group = np.concatenate([np.full(len(t), g) for g, t in enumerate(t_groups)])
    t = np.concatenate(t_groups)
    y = np.concatenate(y_groups)
    n_pow, m, n_groups = len(exponents), len(terms) + 1, len(t_groups)
    pow_idx = [k for k, term in enumerate(terms) if term == "pow"]
    logt = np.log(t)

    def unpack(theta):
        return theta[:n_pow], theta[n_pow:].reshape(n_groups, m)

    def fun(theta):
        s, c = unpack(theta)
        return np.einsum("nk,nk->n", design(t, terms, s), c[group]) - y

    def jac(theta):
        s, c = unpack(theta)
        basis = design(t, terms, s)
        j = np.zeros((len(t), len(theta)))
        for i, k in enumerate(pow_idx):
            j[:, i] = c[group, k] * basis[:, k] * logt
        cols = n_pow + group * m
        for k in range(m):
            j[np.arange(len(t)), cols + k] = basis[:, k]
        return j

    if f_scale is None:
        r0 = fun(np.concatenate([exponents, coefs.ravel()]))
        f_scale = max(1.345 * 1.4826 * float(np.median(np.abs(r0 - np.median(r0)))), 1e-5)
    lo = np.concatenate([np.full(n_pow, bounds[0]), np.full(coefs.size, -np.inf)])
    hi = np.concatenate([np.full(n_pow, bounds[1]), np.full(coefs.size, np.inf)])
    theta0 = np.concatenate([np.clip(exponents, bounds[0], bounds[1]), coefs.ravel()])
    res = least_squares(fun, theta0, jac=jac, bounds=(lo, hi), method="trf", loss="huber", f_scale=f_scale)
    s, c = unpack(res.x)
    ok = res.status > 0 and np.isfinite(res.x).all()
    rss = float(np.sum(res.fun**2))
    return TiedFit(terms, s, c, rss, len(t), ok, res.message)


def fit_tied(
    t_groups: list[np.ndarray],
    y_groups: list[np.ndarray],
    terms: tuple[str, ...],
    what: str,
    bounds=S_BOUNDS,
    fallback: bool = True,
) -> TiedFit:
    """Grid + exact solve + Huber polish; a pow term stuck on its lower bound falls back to a log term if as good."""
    for tg in t_groups:
        if len(tg) < len(terms) + 1 + terms.count("pow"):
            need = len(terms) + 1 + terms.count("pow")
            raise RunError(
                f"{what}: a run (one ratio) has {len(tg)} checkpoints, too few for this {need}-parameter token law; "
                f"evaluate more often (curator mix proxy --evals {need + 2} or more)"
            )
    s, c, _ = grid_search(t_groups, y_groups, terms, bounds)
    fit = polish(t_groups, y_groups, terms, s, c, bounds)
    if not fit.converged and fallback and len(terms) > 1:  # e.g. a flat series cannot pin two exponents
        try:
            fewer = fit_tied(t_groups, y_groups, terms[1:], what, bounds, fallback=False)
        except RunError:
            fewer = None
        if fewer is not None:
            fewer.message = f"the {len(terms)}-term law did not converge ({fit.message}): fitted with {len(terms) - 1}"
            return fewer
    if not fit.converged:
        raise RunError(f"{what}: the fit did not converge ({fit.message}); check the losses or use fewer terms")
    at_lo = [
        k
        for k, v in zip([k for k, term in enumerate(terms) if term == "pow"], fit.exponents, strict=True)
        if v <= bounds[0] + 1e-6
    ]
    if fallback and at_lo:
        log_terms = tuple("log" if k == at_lo[0] else term for k, term in enumerate(terms))
        try:
            alt = fit_tied(t_groups, y_groups, log_terms, what, bounds, fallback=False)
        except RunError:
            return fit
        if alt.rss <= fit.rss * 1.05:
            alt.message = f"a power exponent hit its lower bound {bounds[0]}: log law used"
            return alt
    return fit


def fit_power_1d(x: np.ndarray, y: np.ndarray, bounds=(0.05, 4.0), points: int = 200) -> tuple[float, float, float]:
    """(alpha, s, beta) of y = alpha * x^s + beta by a fine grid over s with the exact linear solve (x >= 0)."""
    s = np.linspace(*bounds, points)
    xs = x[None, :] ** s[:, None]  # (S, n)
    xm, ym = xs.mean(axis=1), y.mean()
    var = ((xs - xm[:, None]) ** 2).sum(axis=1)
    alpha = ((xs - xm[:, None]) * (y - ym)).sum(axis=1) / np.where(var > 0, var, np.inf)
    beta = ym - alpha * xm
    rss = ((alpha[:, None] * xs + beta[:, None] - y) ** 2).sum(axis=1)
    i = int(np.argmin(rss))
    return float(alpha[i]), float(s[i]), float(beta[i])


def r_squared(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of `pred` for `y`."""
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - pred) ** 2)) / ss if ss > 0 else float("nan")
