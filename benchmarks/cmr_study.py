"""Mixing laws on real proxy runs of the sample corpus: a CMR study and a data-mixing-law (DML) study.

CMR (continual pre-training): a base GPT (the recipe's 623k-parameter model) is trained on the general domain
(prose + docs, pipelines/cmr.yaml) alone, then continued at six code ratios with a constant learning rate,
evaluated on held-out documents at 15 checkpoints each (`curator mix proxy --cpt`). Reported: the domain
and general token laws' R^2, and the CMR at the full budget predicted by a fit on the runs cut at half the
budget against the CMR *measured* at the full budget (where the measured general-loss increase, interpolated
linearly between ratios, crosses eps = 0.05 nats).

DML (four domains of pipelines/mixture.yaml): proxies at >= 12 mixtures drawn by `curator mix design` around the
natural mixture (token shares), the exp-linear law fitted per eval domain; k-fold Spearman of held-out
predictions; the optimised mixture (KL 0.05 to the natural one) and the natural mixture are then trained at
the same steps with two seeds, and their mean held-out loss compared. Everything is reported as measured.

    python benchmarks/cmr_study.py [--out data/bench/cmr_study] [--quick]

Needs `make demo` (runs/quickstart and runs/tokenizer.json); builds the two stores when missing. The base
model trains 2,000 steps (about 2.6 passes over the general domain) so that it is near its plateau: continued
training on code can then raise its general loss. About 30 minutes on 2 cores (--quick: a few minutes, for a
smoke test; its numbers mean little).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import yaml

from curator.loader.build import build_store
from curator.loader.mixture import load_mixture
from curator.loader.store import TokenStore
from curator.mix import design_mixtures, fit_runs, optimize_fit
from curator.mix.proxy import ContinualPretraining, natural_weights, ratio_design, read_design, run_proxies

EPS = 0.05
RATIOS = [0.1, 0.25, 0.4, 0.55, 0.7, 0.85]


def ensure_store(mixture: str) -> None:
    config = load_mixture(mixture)
    try:
        TokenStore(config.store)
    except Exception:  # noqa: BLE001 - not built yet (or stale): build it
        build_store(config, quiet=True)


def measured_cmr(table_path: Path, general: str, domain: str) -> tuple[float | None, dict[float, float]]:
    """The largest ratio whose measured general-loss increase at the last checkpoint stays <= EPS
    (interpolated linearly between neighbouring ratios); None when no tested ratio brackets the crossing."""
    t = pq.read_table(table_path).to_pylist()
    base = next(r[f"loss:{general}"] for r in t if r["tokens"] == 0)
    last = max(r["tokens"] for r in t)
    rise = {r[f"w:{domain}"]: r[f"loss:{general}"] - base for r in t if r["tokens"] == last}
    ratios = sorted(rise)
    if rise[ratios[0]] > EPS:
        return None, rise
    for lo, hi in zip(ratios, ratios[1:], strict=False):
        if rise[hi] > EPS >= rise[lo]:
            return lo + (EPS - rise[lo]) * (hi - lo) / (rise[hi] - rise[lo]), rise
    return None, rise  # the rise stays below EPS at every tested ratio: the CMR is above them, not measured


def cmr_study(out: Path, train_cfg: dict, base_steps: int, steps: int, evals: int) -> dict:
    mixture = "pipelines/cmr.yaml"
    ensure_store(mixture)
    names = load_mixture(mixture).names
    t0 = time.perf_counter()
    summary = run_proxies(
        mixture,
        ratio_design("code", "general", RATIOS, names),
        out / "proxies",
        train_cfg,
        steps=steps,
        evals=evals,
        cpt=ContinualPretraining("general", base_steps),
        on_run=lambda name, trained: print(f"  cmr proxy {name}: {'trained' if trained else 'done already'}"),
    )
    train_s = time.perf_counter() - t0
    table = pq.read_table(summary.runs_table)
    full = fit_runs(summary.runs_table, "cmr", domain="code", general="general", eps=EPS)
    last = float(max(table.column("tokens").to_pylist()))
    half = table.filter(np_mask(table, last / 2))
    half_path = out / "runs-half.parquet"
    pq.write_table(half, half_path)
    from curator.mix import critical_ratio

    t1 = time.perf_counter()
    predicted = critical_ratio(half_path, "code", "general", EPS, tokens=last)
    fit_s = time.perf_counter() - t1
    measured, rise = measured_cmr(summary.runs_table, "general", "code")
    return {
        "proxies": len(summary.trained) + len(summary.skipped),
        "train_seconds": train_s,
        "quality": full["quality"],
        "heldout": full["heldout"],
        "cmr_full_fit": full["cmr"],
        "cmr_predicted_from_half": {k: predicted[k] for k in ("cmr", "ci90", "clamped", "extrapolated", "notes")},
        "cmr_measured": measured,
        "measured_general_rise_at_end": rise,
        "half_fit_seconds": fit_s,
        "tokens_full": last,
    }


def np_mask(table, limit: float):
    import pyarrow.compute as pc

    return pc.less_equal(table.column("tokens"), limit)


def dml_study(out: Path, train_cfg: dict, steps: int, n_mixtures: int, seeds: list[int]) -> dict:
    mixture = "pipelines/mixture.yaml"
    ensure_store(mixture)
    config = load_mixture(mixture)
    names = config.names
    natural = natural_weights(config)
    design_path = out / "design.csv"
    design_mixtures(names, [natural[n] for n in names], n=n_mixtures, seed=0, out=design_path)
    t0 = time.perf_counter()
    summary = run_proxies(
        mixture,
        read_design(design_path, names),
        out / "proxies",
        train_cfg,
        steps=steps,
        evals=2,
        on_run=lambda name, trained: print(f"  dml proxy {name}: {'trained' if trained else 'done already'}"),
    )
    train_s = time.perf_counter() - t0
    targets = [f"loss:{n}" for n in names]
    fit = fit_runs(summary.runs_table, "dml", targets, out / "fit.json")
    optimum = optimize_fit(out / "fit.json", out / "optimized.yaml", prior="natural", base=mixture, kl=0.05)
    opt_weights = dict(zip(optimum.domains, map(float, optimum.weights), strict=True))
    compare = {}
    for label, weights in (("natural", natural), ("optimized", opt_weights)):
        runs = run_proxies(mixture, [weights], out / f"check-{label}", train_cfg, steps=steps, evals=1, seeds=seeds)
        rows = pq.read_table(runs.runs_table).to_pylist()
        compare[label] = [statistics.fmean(r[f"loss:{n}"] for n in names) for r in rows]
    return {
        "proxies": len(summary.trained) + len(summary.skipped),
        "train_seconds": train_s,
        "spearman": {t: fit["heldout"][t[5:]]["spearman"] for t in targets},
        "r2": {t: fit["quality"][t[5:]]["r2"] for t in targets},
        "natural": natural,
        "optimized": opt_weights,
        "predicted": {"natural": optimum.pred_prior, "optimized": optimum.pred_opt},
        "optimum_notes": optimum.notes,
        "mean_heldout_loss": compare,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("data/bench/cmr_study"))
    ap.add_argument("--quick", action="store_true", help="tiny budgets: a smoke test of the whole study")
    ap.add_argument("--train", type=Path, default=Path("pipelines/train.yaml"))
    args = ap.parse_args()
    cfg = yaml.safe_load(args.train.read_text())
    cfg.update(warmup_steps=20, loader={"num_workers": 0, "backend": "thread"}, threads=2)
    if args.quick:
        cfg.update(model={"d_model": 32, "n_layers": 1, "n_heads": 2}, warmup_steps=2, eval_samples=8)
        base_steps, steps, evals, n_mix, dml_steps = 30, 30, 10, 8, 20
    else:
        base_steps, steps, evals, n_mix, dml_steps = 2000, 300, 15, 14, 200
        cfg["eval_samples"] = 64
    started = time.perf_counter()
    print("CMR study (code into general, continual pre-training)")
    cmr = cmr_study(args.out / "cmr", cfg, base_steps, steps, evals)
    print("DML study (four domains)")
    dml = dml_study(args.out / "dml", cfg, dml_steps, n_mix, seeds=[0, 1])
    results = {"cmr": cmr, "dml": dml, "seconds": time.perf_counter() - started}
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))
    q = cmr["quality"]
    print(f"\nCMR: {cmr['proxies']} proxy runs ({cmr['train_seconds']:.0f} s of training)")
    print(f"  fit quality: {json.dumps(q, default=float)}")
    pred, meas = cmr["cmr_predicted_from_half"], cmr["cmr_measured"]
    full = cmr["cmr_full_fit"]
    shown = f"{meas:.3f}" if meas is not None else "not bracketed by the tested ratios"
    diff = f"{abs(pred['cmr'] - meas):.3f}" if meas is not None else "n/a"
    print(f"  CMR at {cmr['tokens_full']:,.0f} tokens: fit on all tokens {full['value']:.3f} (ci90 {full['ci90']}); "
          f"predicted from half the budget {pred['cmr']:.3f} (ci90 {pred['ci90']}); measured {shown}; "
          f"|predicted - measured| {diff} (target <= 0.05)")  # fmt: skip
    print(f"  measured general-loss rise at the end per ratio: {json.dumps(cmr['measured_general_rise_at_end'])}")
    print(f"\nDML: {dml['proxies']} proxy mixtures ({dml['train_seconds']:.0f} s of training)")
    print(f"  k-fold Spearman per eval domain: {json.dumps(dml['spearman'], default=float)}")
    print(f"  in-sample R^2: {json.dumps(dml['r2'], default=float)}")
    for label, losses in dml["mean_heldout_loss"].items():
        sd = statistics.stdev(losses) if len(losses) > 1 else 0.0
        print(f"  {label:<10} mean held-out loss {statistics.fmean(losses):.4f} ± {sd:.4f} (seeds {losses})")
    print(f"  natural {json.dumps(dml['natural'], default=float)}\n  optimized {json.dumps(dml['optimized'])}")
    print(f"\ntotal {results['seconds'] / 60:.1f} min")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
