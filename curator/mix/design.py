"""`curator mix design`: the next proxy mixtures, Dirichlet around a prior (RegMix) or a two-domain ratio grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.errors import ConfigError
from curator.mix.synthetic import dirichlet_mixtures

MAX_OVER_PRIOR = 15.0  # RegMix keeps a domain at <= 15x its natural share


def design_mixtures(
    domains: list[str],
    prior: list[float] | None = None,
    n: int = 16,
    seed: int = 0,
    grid: list[float] | None = None,
    out: str | Path | None = None,
) -> pa.Table:
    """A table of run names and w:<domain> columns; `grid` (two domains) gives the first domain's ratios."""
    if len(domains) < 2 or len(set(domains)) != len(domains):
        raise ConfigError("--domains: give at least two distinct domain names")
    if grid is not None:
        if len(domains) != 2:
            raise ConfigError("--grid is for two domains (the CPT domain first); use the Dirichlet design for more")
        r = np.asarray(grid, float)
        if ((r < 0) | (r > 1)).any() or len(np.unique(r)) < 3:
            raise ConfigError("--grid: give >= 3 distinct ratios in [0, 1]")
        w = np.column_stack([r, 1 - r])
        names = [f"ratio-{x:.3f}" for x in r]
    else:
        p = np.full(len(domains), 1 / len(domains)) if prior is None else np.asarray(prior, float)
        if len(p) != len(domains) or (p < 0).any() or p.sum() <= 0:
            raise ConfigError("--prior: one non-negative weight per domain")
        p = p / p.sum()
        if n < len(domains) + 2:
            raise ConfigError(f"--n {n}: the data mixing law over {len(domains)} domains needs >= {len(domains) + 2}")
        rng = np.random.default_rng(seed)
        rows = []
        while len(rows) < n:
            cand = dirichlet_mixtures(p, 4 * n, rng)
            rows.extend(cand[(cand <= MAX_OVER_PRIOR * p + 1e-12).all(axis=1)])
        w = np.round(np.asarray(rows[:n]), 6)
        w[:, -1] = 1 - w[:, :-1].sum(axis=1)
        names = [f"mix-{i:03d}" for i in range(n)]
    table = pa.table({"run": names} | {f"w:{d}": w[:, j] for j, d in enumerate(domains)})
    if out is not None:
        import pyarrow.csv as pcsv

        Path(out).parent.mkdir(parents=True, exist_ok=True)
        pcsv.write_csv(table, out)
    return table
