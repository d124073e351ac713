"""`curator mix fit` as a function: fit a law to a runs table, measure held-out errors, write FIT.json."""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import numpy as np

from curator.errors import ConfigError
from curator.mix.fit_file import LAW_VERSIONS, write_fit
from curator.mix.fitting import r_squared
from curator.mix.heldout import kfold_predictions, spearman, spearman_interval
from curator.mix.runs_table import RunsTable, read_runs

LAW_MODULES = {"dml": "curator.mix.dml", "linear": "curator.mix.linear", "lightgbm": "curator.mix.regmix"}


def law_module(law: str):
    """The module (fit, predict) of a mixture law."""
    if law not in LAW_MODULES:
        raise ConfigError(f"--law {law!r}: choose one of cmr, {', '.join(LAW_MODULES)}")
    return importlib.import_module(LAW_MODULES[law])


def parse_targets(targets: list[str] | None, table: RunsTable) -> dict[str, float]:
    """{eval: weight} from 'loss:EVAL' or 'loss:EVAL=WEIGHT' (default: every loss column, equal weights)."""
    if not targets:
        return {e: 1.0 / len(table.evals) for e in table.evals}
    out = {}
    for spec in targets:
        name, _, weight = spec.partition("=")
        name = table.evals[table.eval_index(name.strip())]
        try:
            out[name] = float(weight) if weight else None
        except ValueError:
            raise ConfigError(f"--target {spec!r}: the weight after '=' must be a number") from None
    given = [v for v in out.values() if v is not None]
    if given and len(given) != len(out):
        raise ConfigError("--target: give a weight (loss:EVAL=W) to every target or to none")
    if not given:
        return {k: 1.0 / len(out) for k in out}
    if any(v < 0 for v in given) or sum(given) <= 0:
        raise ConfigError("--target weights must be >= 0 with a positive sum")
    return {k: v / sum(given) for k, v in out.items()}


def _as_table(runs: str | Path | RunsTable) -> RunsTable:
    return runs if isinstance(runs, RunsTable) else read_runs(runs)


def fit_mixture_law(
    table: RunsTable, law: str, targets: dict[str, float], tokens: float | None = None, folds: int = 5, seed: int = 0
) -> dict:
    """Fit `law` per target at one checkpoint per run; in-sample quality and k-fold held-out errors."""
    mod = law_module(law)
    rows = table.at_checkpoint(tokens)
    w = table.weights[rows]
    k = w.shape[1]
    distinct = len(np.unique(np.round(w, 6), axis=0))
    need = {"dml": k + 2, "linear": k + 1, "lightgbm": 8}[law]
    if distinct < 2:
        raise ConfigError(
            f"{table.origin}: every run has the same mixture (a single ratio); a mixing law needs "
            f"runs at >= {need} different mixtures"
        )
    if distinct < need:
        raise ConfigError(
            f"{table.origin}: {distinct} different mixtures; the {law} law over {k} domains needs >= {need}"
        )
    notes = list(table.notes)
    const = [d for j, d in enumerate(table.domains) if np.ptp(w[:, j]) < 1e-9]
    if const:
        notes.append(f"w:{', w:'.join(const)} never vary across runs: the law cannot learn their effect")
    params, quality, heldout = {}, {}, {}
    for name in targets:
        y = table.loss(name)[rows]
        t0 = time.perf_counter()
        params[name] = mod.fit(w, y, seed, f"{law} law for loss:{name}")
        if isinstance(params[name], dict) and params[name].get("note"):
            notes.append(f"loss:{name}: {params[name]['note']}")
        seconds = time.perf_counter() - t0
        pred = mod.predict(params[name], w)
        quality[name] = {"r2": r_squared(y, pred), "rmse": float(np.sqrt(np.mean((y - pred) ** 2))), "seconds": seconds}
        oof = kfold_predictions(
            w, y, lambda a, b, s, n=name: mod.fit(a, b, s, f"{law} law for loss:{n}"), mod.predict, folds, seed
        )
        lo, hi = spearman_interval(oof, y, seed=seed)
        heldout[name] = {
            "folds": min(folds, len(y)),
            "spearman": spearman(oof, y),
            "spearman_ci90": [lo, hi],
            "mae": float(np.mean(np.abs(oof - y))),
            "oof": oof.tolist(),
            "actual": y.tolist(),
        }
    return {
        "law": law,
        "law_version": LAW_VERSIONS[law],
        "source": table.origin,
        "tokens": float(np.median(table.tokens[rows])),
        "domains": table.domains,
        "targets": targets,
        "runs": [table.run[i] for i in rows],
        "weights": w.tolist(),
        "design_mean": w.mean(axis=0).tolist(),
        "weight_min": w.min(axis=0).tolist(),
        "weight_max": w.max(axis=0).tolist(),
        "params": params,
        "quality": quality,
        "heldout": heldout,
        "notes": notes,
    }


def fit_cmr(
    table: RunsTable,
    domain: str,
    general: str,
    domain_loss: str | None = None,
    base_loss: dict[str, float] | None = None,
    eps: float = 0.05,
    tied: bool = True,
    trunc: float = 0.5,
    n_boot: int = 100,
    seed: int = 0,
) -> dict:
    """Fit the CMR token laws, held-out errors (truncated tokens, leave-one-ratio-out) and the CMR at the last T."""
    from curator.mix.cmr import (
        LAW_VERSION,
        bootstrap_cmr,
        check_eps,
        cmr_curve,
        cmr_data,
        fit_cmr_law,
        leave_one_ratio_out,
        truncated_heldout,
    )

    check_eps(eps)
    data = cmr_data(table, domain, general, domain_loss, base_loss)
    t0 = time.perf_counter()
    law = fit_cmr_law(data, tied)
    seconds = time.perf_counter() - t0
    value, clamp = law.cmr_at(data.token_scale, eps)
    boot = bootstrap_cmr(law, data.token_scale, eps, n_boot, seed)
    trunc_res = truncated_heldout(law, trunc, eps)
    trunc_res.pop("part", None)
    return {
        "law": "cmr",
        "law_version": LAW_VERSION,
        "source": table.origin,
        "eps": eps,
        "fit": law.to_json(),
        "forms": law.forms(),
        "quality": law.quality() | {"seconds": seconds},
        "heldout": {"truncated": trunc_res, "leave_one_ratio_out": leave_one_ratio_out(law)},
        "cmr": {
            "tokens": data.token_scale,
            "value": value,
            "clamped": clamp,
            "ci90": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))] if len(boot) else None,
            "n_boot": int(len(boot)),
        },
        "curve": cmr_curve(law, eps),
        "notes": data.notes,
    }


def fit_runs(
    runs: str | Path | RunsTable,
    law: str = "dml",
    targets: list[str] | None = None,
    out: str | Path | None = None,
    *,
    tokens: float | None = None,
    folds: int = 5,
    seed: int = 0,
    domain: str | None = None,
    general: str | None = None,
    domain_loss: str | None = None,
    base_loss: dict[str, float] | None = None,
    eps: float = 0.05,
    tied: bool = True,
    n_boot: int = 100,
) -> dict:
    """Fit `law` (dml | linear | lightgbm | cmr) to a runs table; write FIT.json to `out` when given; return it."""
    table = _as_table(runs)
    if law == "cmr":
        if not domain or not general:
            raise ConfigError("--law cmr needs --domain D (the CPT domain, w:D) and --general G (loss:G)")
        if targets:
            raise ConfigError("--law cmr takes --domain and --general instead of --target")
        result = fit_cmr(table, domain, general, domain_loss, base_loss, eps, tied, n_boot=n_boot, seed=seed)
    else:
        law_module(law)
        if folds < 2:
            raise ConfigError(f"--folds {folds}: give at least 2")
        result = fit_mixture_law(table, law, parse_targets(targets, table), tokens, folds, seed)
    if out is not None:
        write_fit(out, result)
    return result
