"""Mixing-law fits, timed and checked against a naive fit on the same synthetic data, in the same run.

RegMix's public runs are not available offline (nothing is downloaded at run time), so both studies are
synthetic, from known laws (curator.mix.synthetic), with noise sigma = 0.002 nats:
- CMR: 6 ratios x 15 checkpoints of continual pre-training. curator: tied exponents, variable projection +
  Huber polish. Naive: scipy curve_fit of the untied 5-parameter general law per ratio from one start. Both then
  take the same ratio law to the CMR. Reported: fit time, |CMR - truth|, and the error on the later half of
  the checkpoints when fitted on the first half (extrapolation in tokens).
- DML: 512 runs x 17 domains (Dirichlet mixtures), one target. curator: variable projection from 12 starts +
  Huber polish. Naive: curve_fit of all 19 parameters from one start (t = 0). Reported: fit time and 5-fold
  held-out Spearman / MAE.
Medians over --repeats seeds.

    nice python benchmarks/mix_fit.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pyarrow as pa
from scipy.optimize import curve_fit

from curator.mix import dml
from curator.mix.cmr import CMRFit, cmr_data, fit_cmr_law, truncated_heldout
from curator.mix.fitting import TiedFit
from curator.mix.heldout import kfold_predictions, spearman
from curator.mix.runs_table import parse_runs
from curator.mix.synthetic import CMRTruth, random_dml_truth, synthetic_cmr_rows, synthetic_dml_rows

EPS = 0.05


def naive_gen(t, a2, s2, a3, s3, b2):
    return a2 * t**s2 + a3 * t**s3 + b2


def naive_cmr_fit(data) -> CMRFit:
    """Untied 5-parameter general law per ratio by curve_fit from one start (domain law: the tied one)."""
    gens = []
    for g in range(len(data.ratios)):
        try:
            p, _ = curve_fit(naive_gen, data.scaled(g), data.dl_gen[g], p0=[0.1, 0.5, -0.1, 1.0, 0.0], maxfev=20000)
        except RuntimeError:
            p = np.array([0.0, 0.5, 0.0, 1.0, float(np.mean(data.dl_gen[g]))])
        gens.append(TiedFit(("pow", "pow"), p[[1, 3]], p[[0, 2, 4]][None, :], 0.0, 0))
    return CMRFit(data, fit_cmr_law(data).dom, gens, tied=False)


def later_half_error(fit_fn, data) -> float:
    keep = [t <= 0.5 * data.token_scale * (1 + 1e-9) for t in data.tokens]
    part = fit_fn(data.subset(keep))
    err = [np.abs(part.gen_at(data.tokens[g][~keep[g]], g) - data.dl_gen[g][~keep[g]]) for g in range(len(keep))]
    return float(np.concatenate(err).mean())


def cmr_study(seed: int) -> dict:
    truth = CMRTruth()
    data = cmr_data(parse_runs(pa.Table.from_pylist(synthetic_cmr_rows(truth, seed=seed))), "code", "general")
    true = truth.cmr(1.0, EPS)
    out = {}
    for name, fn in (("curator", fit_cmr_law), ("naive", naive_cmr_fit)):
        t0 = time.perf_counter()
        fit = fn(data)
        value = fit.cmr_at(data.token_scale, EPS)[0]
        out[name] = {"seconds": time.perf_counter() - t0, "cmr_err": abs(value - true),
                     "later_mae": later_half_error(fn, data)}  # fmt: skip
    t0 = time.perf_counter()
    from curator.mix.fit import fit_cmr

    fit_cmr(parse_runs(pa.Table.from_pylist(synthetic_cmr_rows(truth, seed=seed))), "code", "general")
    out["curator"]["full_seconds"] = time.perf_counter() - t0
    truncated_heldout(fit_cmr_law(data), 0.5, EPS)
    return out


def naive_dml_fit(w, y, seed=0, what=""):
    k = w.shape[1]

    def f(x, c, kk, *t):
        with np.errstate(over="ignore"):
            return c + kk * np.exp(x @ np.asarray(t))

    try:
        p, _ = curve_fit(f, w, y, p0=[float(y.min()), 0.1] + [0.0] * k, maxfev=20000)
    except RuntimeError:
        p = np.array([float(y.mean()), 0.0] + [0.0] * k)
    return {"c": p[0], "k": p[1], "t": list(p[2:])}


def dml_study(seed: int, runs: int = 512, domains: int = 17) -> dict:
    truth = random_dml_truth(domains, 1, seed)
    table = parse_runs(pa.Table.from_pylist(synthetic_dml_rows(truth, runs, seed=seed)))
    w, y = table.weights, table.loss("e0")
    out = {}
    for name, fit in (("curator", dml.fit), ("naive", naive_dml_fit)):
        t0 = time.perf_counter()
        fit(w, y, seed)
        seconds = time.perf_counter() - t0
        oof = kfold_predictions(w, y, fit, dml.predict, 5, seed)
        out[name] = {"seconds": seconds, "spearman": spearman(oof, y), "mae": float(np.mean(np.abs(oof - y)))}
    return out


def median(results: list[dict], who: str, key: str) -> float:
    return statistics.median(r[who][key] for r in results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    seeds = range(args.repeats)
    cmr = [cmr_study(s) for s in seeds]
    print(f"CMR study, 6 ratios x 15 checkpoints, sigma 0.002, medians over {args.repeats} seeds (synthetic)")
    print(f"{'fit':<40} {'seconds':>8} {'|CMR - truth|':>14} {'later-half MAE (nats)':>22}")
    for who, label in (("curator", "curator (tied, VarPro + Huber)"), ("naive", "naive (untied curve_fit, 1 start)")):
        print(f"{label:<40} {median(cmr, who, 'seconds'):>8.3f} {median(cmr, who, 'cmr_err'):>14.4f} "
              f"{median(cmr, who, 'later_mae'):>22.4g}")  # fmt: skip
    print(f"{'curator fit + held-out + 100 bootstrap':<40} {median(cmr, 'curator', 'full_seconds'):>8.3f}")
    print(f"mean |CMR - truth| over seeds (curator): {np.mean([r['curator']['cmr_err'] for r in cmr]):.4f}")
    dm = [dml_study(s) for s in seeds]
    print(f"\nDML, 512 runs x 17 domains, one target, medians over {args.repeats} seeds (synthetic)")
    print(f"{'fit':<40} {'seconds':>8} {'5-fold Spearman':>16} {'5-fold MAE':>11}")
    for who, label in (("curator", "curator (VarPro 12 starts + Huber)"), ("naive", "naive (curve_fit, 1 start)")):
        print(f"{label:<40} {median(dm, who, 'seconds'):>8.3f} {median(dm, who, 'spearman'):>16.4f} "
              f"{median(dm, who, 'mae'):>11.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
