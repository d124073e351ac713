"""`curator mix cmr`: the critical mixture ratio at a token budget, with interval and extrapolation flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curator.errors import ConfigError
from curator.mix.cmr import CMRFit, bootstrap_cmr, check_eps, cmr_curve, cmr_law_value


def critical_ratio(
    source: str | Path,
    domain: str | None = None,
    general: str | None = None,
    eps: float = 0.05,
    tokens: float | None = None,
    *,
    domain_loss: str | None = None,
    base_loss: dict[str, float] | None = None,
    tied: bool = True,
    n_boot: int = 100,
    seed: int = 0,
) -> dict:
    """CMR from a runs table (fitted here) or a `--law cmr` FIT.json, at `tokens` (default: the last fitted)."""
    check_eps(eps)
    source = Path(source)
    if source.suffix.lower() == ".json":
        from curator.mix.fit_file import read_fit

        fit = CMRFit.from_json(read_fit(source, ("cmr",))["fit"])
        notes: list[str] = []
    else:
        from curator.mix.cmr import cmr_data, fit_cmr_law
        from curator.mix.runs_table import read_runs

        if not domain or not general:
            raise ConfigError("give --domain D (the CPT domain, w:D) and --general G (the general eval, loss:G)")
        data = cmr_data(read_runs(source), domain, general, domain_loss, base_loss)
        notes = data.notes
        fit = fit_cmr_law(data, tied)
    data = fit.data
    lo_tok = min(float(t.min()) for t in data.tokens)
    at = data.token_scale if tokens is None else float(tokens)
    if not np.isfinite(at) or at <= 0:
        raise ConfigError(f"--tokens {tokens}: give a positive token count")
    value, clamp = fit.cmr_at(at, eps)
    boot = bootstrap_cmr(fit, at, eps, n_boot, seed)
    curve = cmr_curve(fit, eps)
    ratios = data.ratios[data.ratios < 1]
    return {
        "domain": data.domain,
        "general": data.general,
        "eps": eps,
        "tokens": at,
        "cmr": value,
        "ci90": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))] if len(boot) else None,
        "clamped": clamp,
        "extrapolated": bool(at > data.token_scale * (1 + 1e-9) or at < lo_tok * (1 - 1e-9)),
        "extrapolated_ratio": bool(not clamp and (value > ratios.max() or value < ratios.min())),
        "fitted_tokens": [lo_tok, data.token_scale],
        "cmr_law": curve["law"],
        "cmr_law_value": cmr_law_value(curve["law"], at, data.token_scale),
        "base_general_loss": data.base_gen,
        "notes": notes,
    }
