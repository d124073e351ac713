"""Synthetic runs tables from known laws (tests, benchmarks, the README example): the truth comes with them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CMRTruth:
    """A CMR-style truth: dL_gen(R, T) = R^p (a2 T^s2 + a3 T^s3) + b0, dL_dom(R, T) = -R^q (a1 T^s1 + b1)."""

    p: float = 1.2
    a2: float = 0.25
    s2: float = 0.3
    a3: float = -0.12
    s3: float = 1.2
    b0: float = 0.005
    q: float = 0.5
    a1: float = 0.8
    s1: float = 0.35
    b1: float = 0.1
    base_gen: float = 3.0
    base_dom: float = 2.6

    def gen(self, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        """True general-loss increment at ratio r and scaled tokens t."""
        return r**self.p * (self.a2 * t**self.s2 + self.a3 * t**self.s3) + self.b0

    def dom(self, r: np.ndarray, t: np.ndarray) -> np.ndarray:
        """True domain-loss increment."""
        return -(r**self.q) * (self.a1 * t**self.s1 + self.b1)

    def cmr(self, t: float, eps: float) -> float:
        """True CMR at scaled tokens t: the largest R in [0, 1] with gen(R, t) <= eps."""
        amp = self.a2 * t**self.s2 + self.a3 * t**self.s3
        if amp <= 0:
            return 1.0
        return float(np.clip(((eps - self.b0) / amp) ** (1 / self.p), 0.0, 1.0))


def synthetic_cmr_rows(
    truth: CMRTruth | None = None,
    ratios: tuple[float, ...] = (0.0, 0.1, 0.25, 0.4, 0.6, 0.8),
    checkpoints: int = 15,
    max_tokens: float = 3e8,
    sigma: float = 0.002,
    seed: int = 0,
    domain: str = "code",
    general: str = "general",
) -> list[dict]:
    """Runs-table rows of a CPT study: a tokens=0 base row per run, then evenly spaced checkpoints, noisy losses."""
    truth = truth or CMRTruth()
    rng = np.random.default_rng(seed)
    rows = []
    base_gen = truth.base_gen + rng.normal(0, sigma)
    base_dom = truth.base_dom + rng.normal(0, sigma)
    for r in ratios:
        name = f"cpt-r{r:.3f}"
        w = {f"w:{domain}": r, f"w:{general}": 1 - r}
        rows.append({"run": name, "tokens": 0.0, **w, f"loss:{domain}": base_dom, f"loss:{general}": base_gen})
        t = np.arange(1, checkpoints + 1) / checkpoints
        gen = truth.base_gen + truth.gen(np.float64(r), t) + rng.normal(0, sigma, checkpoints)
        dom = truth.base_dom + truth.dom(np.float64(r), t) + rng.normal(0, sigma, checkpoints)
        for i in range(checkpoints):
            rows.append(
                {
                    "run": name,
                    "tokens": float(t[i] * max_tokens),
                    **w,
                    f"loss:{domain}": dom[i],
                    f"loss:{general}": gen[i],
                }
            )
    return rows


@dataclass
class DMLTruth:
    """L_i(r) = c_i + k_i exp(t_i . r) per eval i."""

    c: np.ndarray  # (m,)
    k: np.ndarray  # (m,)
    t: np.ndarray  # (m, k_domains)

    def loss(self, w: np.ndarray) -> np.ndarray:
        """True losses (n, m) of mixtures w (n, k)."""
        return self.c + self.k * np.exp(w @ self.t.T)


def random_dml_truth(domains: int, evals: int, seed: int = 0) -> DMLTruth:
    """A plausible DML: each eval improves most with its own domain's share (evals <= domains)."""
    rng = np.random.default_rng(seed)
    t = -rng.uniform(0.0, 0.8, (evals, domains))
    t[np.arange(evals), np.arange(evals)] = -rng.uniform(1.5, 3.0, evals)
    return DMLTruth(rng.uniform(1.8, 2.6, evals), rng.uniform(0.6, 1.2, evals), t)


def dirichlet_mixtures(prior: np.ndarray, n: int, rng: np.random.Generator, strength=(0.1, 5.0)) -> np.ndarray:
    """RegMix-style mixtures: Dirichlet(prior^0.5 x strength), strength log-uniform in `strength` per sample."""
    conc = np.sqrt(np.asarray(prior, float))
    s = np.exp(rng.uniform(np.log(strength[0]), np.log(strength[1]), n))
    alpha = np.maximum(conc[None, :] * s[:, None] * len(prior) / conc.sum(), 1e-3)
    w = rng.gamma(alpha)
    w = np.where(w.sum(axis=1, keepdims=True) > 0, w, 1.0)
    return w / w.sum(axis=1, keepdims=True)


def synthetic_dml_rows(
    truth: DMLTruth, runs: int, sigma: float = 0.002, seed: int = 0, tokens: float = 1e9, decimals: int | None = None
) -> list[dict]:
    """One final checkpoint per run at Dirichlet mixtures around uniform; `decimals` rounds the weights."""
    rng = np.random.default_rng(seed)
    k = truth.t.shape[1]
    w = dirichlet_mixtures(np.full(k, 1 / k), runs, rng)
    loss = truth.loss(w) + rng.normal(0, sigma, (runs, len(truth.c)))
    if decimals is not None:
        w = np.round(w, decimals)
    return [
        {"run": f"mix-{i:04d}", "tokens": tokens}
        | {f"w:d{j}": float(w[i, j]) for j in range(k)}
        | {f"loss:e{j}": float(loss[i, j]) for j in range(loss.shape[1])}
        for i in range(runs)
    ]
