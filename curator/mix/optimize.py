"""`curator mix optimize`: min sum_i s_i L_i(r) + kappa KL(r || prior) on the simplex with repetition caps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from curator.errors import ConfigError, RunError
from curator.mix.fit_file import MIXTURE_LAWS, read_fit
from curator.mix.predict import predict_losses
from curator.mix.synthetic import dirichlet_mixtures

STARTS = 20
SAMPLES = 100_000  # lightgbm (piecewise constant): RegMix's search, mean of the best TOP samples
TOP = 128


@dataclass
class Optimum:
    """The optimised mixture next to the prior, with caps and predicted losses of both."""

    domains: list[str]
    prior: np.ndarray
    weights: np.ndarray
    caps: np.ndarray
    pred_prior: dict[str, float]
    pred_opt: dict[str, float]
    kl: float
    method: str
    notes: list[str] = field(default_factory=list)


def _kl(r: np.ndarray, prior: np.ndarray) -> float:
    r = np.clip(r, 1e-12, None)
    return float(np.sum(r * np.log(r / np.clip(prior, 1e-12, None))))


def caps_for(
    domains: list[str],
    domain_tokens: dict[str, float] | None,
    max_epochs: float | dict[str, float | None] | None,
    tokens: float | None,
) -> np.ndarray:
    """Upper bounds max_epochs_j x tokens_j / T per domain (1 where unknown or uncapped); `max_epochs` is one
    number for every domain or one per domain (a base mixture's). Infeasible caps are a ConfigError."""
    caps = np.ones(len(domains))
    per = max_epochs if isinstance(max_epochs, dict) else {d: max_epochs for d in domains}
    capped = [d for d in domains if per.get(d) is not None]
    if tokens is None and not capped:
        return caps
    if tokens is None or not capped or not domain_tokens:
        raise ConfigError(
            "caps need --tokens T (the training budget), --max-epochs (or a --base whose domains set max_epochs) "
            "and each domain's tokens (--base MIXTURE.yaml with a built store, or --domain-tokens NAME=N)"
        )
    if tokens <= 0 or any(per[d] <= 0 for d in capped):
        raise ConfigError("--tokens and --max-epochs must be positive")
    missing = [d for d in capped if d not in domain_tokens]
    if missing:
        raise ConfigError(f"no token count for domain(s) {', '.join(missing)}; give --domain-tokens NAME=N")
    caps = np.array([1.0 if per.get(d) is None else min(1.0, per[d] * domain_tokens[d] / tokens) for d in domains])
    if caps.sum() < 1 - 1e-9:
        epochs = f"{max_epochs:g} epochs" if not isinstance(max_epochs, dict) else "the domains' max_epochs"
        raise ConfigError(
            f"the caps (max_epochs x domain tokens / budget) add up to {caps.sum():.3f} < 1: the data cannot fill "
            f"{tokens:,.0f} tokens at {epochs}; lower --tokens or raise --max-epochs"
        )
    return caps


def base_epochs(base: str | Path) -> dict[str, float | None]:
    """Each domain's max_epochs in a base mixture file (None: uncapped)."""
    from curator.loader.mixture import load_mixture

    return {d.name: d.max_epochs for d in load_mixture(base).domains}


def optimize_mixture(fit: dict, prior: np.ndarray, caps: np.ndarray, kl: float = 0.05, seed: int = 0) -> Optimum:
    """SLSQP from the prior and ~20 Dirichlet starts (dml, linear), or RegMix's top-k search (lightgbm)."""
    domains = fit["domains"]
    prior = np.asarray(prior, float)
    if kl < 0:
        raise ConfigError(f"--kl {kl}: give a penalty >= 0")
    caps = np.where(prior > 0, caps, 0.0) if kl > 0 else caps

    def objective(r: np.ndarray) -> float:
        return float(predict_losses(fit, r[None, :])["pred:target"][0]) + kl * _kl(r, prior)

    rng = np.random.default_rng(seed)
    notes = []
    if fit["law"] == "lightgbm":
        samples = dirichlet_mixtures(prior, SAMPLES, rng)
        samples = samples[(samples <= caps + 1e-12).all(axis=1)]
        if len(samples) < TOP:
            raise RunError("fewer than 128 sampled mixtures satisfy the caps; loosen --max-epochs or --tokens")
        score = predict_losses(fit, samples)["pred:target"] + kl * np.sum(
            np.clip(samples, 1e-12, None) * np.log(np.clip(samples, 1e-12, None) / np.clip(prior, 1e-12, None)), 1
        )
        best = samples[np.argsort(score)[:TOP]].mean(axis=0)
        method = f"mean of the best {TOP} of {len(samples):,} Dirichlet samples (RegMix)"
    else:
        starts = [np.minimum(prior, caps)] + list(dirichlet_mixtures(prior, STARTS, rng))
        cons = [{"type": "eq", "fun": lambda r: r.sum() - 1, "jac": lambda r: np.ones_like(r)}]
        bounds = [(0.0, float(c)) for c in caps]
        best, best_val, fails = None, np.inf, 0
        for s in starts:
            s = np.minimum(s, caps)
            s = s / s.sum() if s.sum() > 0 else caps / caps.sum()
            res = minimize(objective, s, method="SLSQP", bounds=bounds, constraints=cons, options={"maxiter": 300})
            x = np.clip(res.x, 0, caps)
            if not res.success or abs(x.sum() - 1) > 1e-6:
                fails += 1
                continue
            val = objective(x / x.sum())
            if val < best_val:
                best, best_val = x / x.sum(), val
        if best is None:
            raise RunError(f"the optimiser did not converge from any of {len(starts)} starts; try a larger --kl")
        if fails:
            notes.append(f"{fails} of {len(starts)} SLSQP starts did not converge (the best of the others is used)")
        method = f"SLSQP from {len(starts)} starts"
    pred_prior = {k_: float(v[0]) for k_, v in predict_losses(fit, prior[None, :]).items()}
    pred_opt = {k_: float(v[0]) for k_, v in predict_losses(fit, best[None, :]).items()}
    lo, hi = np.asarray(fit["weight_min"]), np.asarray(fit["weight_max"])
    out = [d for j, d in enumerate(domains) if best[j] < lo[j] - 1e-6 or best[j] > hi[j] + 1e-6]
    if out:
        notes.append(f"the optimum lies outside the fitted weight range for {', '.join(out)}: an extrapolation")
    return Optimum(domains, prior, best, caps, pred_prior, pred_opt, _kl(best, prior), method, notes)


def round_weights(w: np.ndarray, decimals: int = 6) -> list[float]:
    """Weights rounded to `decimals` that still sum to 1 exactly enough for a mixture file (1e-6)."""
    r = np.round(np.asarray(w, float), decimals)
    r[int(np.argmax(r))] += round(1.0 - r.sum(), decimals)
    return [float(x) for x in np.round(r, decimals)]


def write_mixture(opt: Optimum, out: str | Path, base: str | Path | None = None, store: str | None = None) -> Path:
    """A mixture.yaml with the optimised weights: `base`'s sources, store and settings when given; validated."""
    import yaml

    from curator.loader.mixture import load_mixture
    from curator.pipeline.config import read_yaml_file

    weights = dict(zip(opt.domains, round_weights(opt.weights), strict=True))
    if base is not None:
        data = read_yaml_file(base, "mixture file")
        names = [d.get("name") for d in data.get("domains", [])] if isinstance(data, dict) else []
        if set(names) != set(opt.domains):
            raise ConfigError(
                f"--base {base}: its domains ({', '.join(map(str, names))}) are not the fit's "
                f"({', '.join(opt.domains)})"
            )
        for d in data["domains"]:
            d["weight"] = weights[d["name"]]
    else:
        data = {
            "name": "optimized",
            "store": store or "runs/mixture-store",
            "domains": [{"name": d, "weight": w} for d, w in weights.items()],
        }
    data.pop("normalize_weights", None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# written by `curator mix optimize` ({opt.method}); predicted target loss {opt.pred_opt['pred:target']:.4f}"
    )
    header += f" vs {opt.pred_prior['pred:target']:.4f} at the prior\n"
    out.write_text(header + yaml.safe_dump(data, sort_keys=False))
    load_mixture(out)
    return out


def resolve_prior(spec: str, fit: dict, domain_tokens: dict[str, float] | None) -> tuple[np.ndarray, str]:
    """The prior: natural (domain token shares, else the runs' mean mixture), uniform, or a mixture YAML's weights."""
    domains = fit["domains"]
    if spec == "uniform":
        return np.full(len(domains), 1 / len(domains)), "uniform"
    if spec == "natural":
        if domain_tokens and all(d in domain_tokens for d in domains):
            t = np.array([domain_tokens[d] for d in domains], float)
            return t / t.sum(), "natural (domain token shares)"
        return np.asarray(fit["design_mean"], float), "natural = the proxy runs' mean mixture (no token counts given)"
    from curator.loader.mixture import load_mixture

    mix = load_mixture(spec)
    if set(mix.names) != set(domains):
        raise ConfigError(
            f"--prior {spec}: its domains ({', '.join(mix.names)}) are not the fit's ({', '.join(domains)})"
        )
    w = dict(zip(mix.names, mix.weights, strict=True))
    return np.array([w[d] for d in domains]), f"prior from {spec}"


def optimize_fit(
    fit_path: str | Path,
    out: str | Path | None = None,
    *,
    prior: str = "natural",
    base: str | Path | None = None,
    max_epochs: float | None = None,
    tokens: float | None = None,
    domain_tokens: dict[str, float] | None = None,
    kl: float = 0.05,
    seed: int = 0,
) -> Optimum:
    """Read FIT.json, optimise the mixture, write it as a mixture.yaml to `out` when given."""
    fit = read_fit(fit_path, MIXTURE_LAWS)
    if domain_tokens is None and base is not None:
        domain_tokens = store_tokens(base)
    p, label = resolve_prior(prior, fit, domain_tokens)
    epochs: float | dict[str, float | None] | None = max_epochs
    note = None
    if max_epochs is None and base is not None:  # the base's per-domain caps bind the trainer: honour them
        per_domain = base_epochs(base)
        if any(v is not None for v in per_domain.values()):
            if tokens is not None:
                epochs = per_domain
                note = "caps: the base's per-domain max_epochs (--max-epochs overrides them)"
            else:
                note = "the base's per-domain max_epochs are not caps here: give --tokens T (the training budget)"
    caps = caps_for(fit["domains"], domain_tokens, epochs, tokens)
    opt = optimize_mixture(fit, p, caps, kl, seed)
    opt.notes.insert(0, f"prior: {label}")
    if note is not None:
        opt.notes.insert(1, note)
    if out is not None:
        write_mixture(opt, out, base)
        if base is None:
            opt.notes.append(
                "no --base: the mixture file has no `from:` sources or real store, so `curator mixture "
                "build` cannot build it; pass --base MIXTURE.yaml to copy them"
            )
    return opt


def store_tokens(base: str | Path) -> dict[str, float] | None:
    """Tokens per domain of the base mixture's store, or None when it is not built yet."""
    from curator.loader.mixture import load_mixture
    from curator.loader.store import TokenStore

    mix = load_mixture(base)
    try:
        meta = TokenStore(mix.store).meta["domains"]
    except Exception:  # noqa: BLE001 - a store not built yet: no token counts, said by the caller's prior note
        return None
    return {name: float(info["tokens"]) for name, info in meta.items()}
