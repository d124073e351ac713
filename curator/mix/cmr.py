"""The CMR law (Gu et al. 2024): token laws of the loss increments per domain ratio, the ratio law, CMR(T).

Continual pre-training (CPT) from a base model at several domain ratios R = w:<domain>. Per ratio, with T the
tokens since the start of CPT (scaled by the largest fitted tokens) and increments over the base model's losses:
  domain   dL_dom(T) = a1 T^s1 + b1
  general  dL_gen(T) = a2 T^s2 + a3 T^s3 + b2        (rises, then falls)
with the exponents tied across ratios. At fixed T the general increment across ratios follows a ratio law
dL_gen(R) = a R^s + b (fitted over the ratios below 1), and the CMR at T is the largest R with dL_gen <= eps:
R* = ((eps - b) / a)^(1/s), clamped to [0, 1]. CMR(T) = a4 T^s4 + b3 is fitted over the token range.

Over 300 lines on purpose: the three laws, their held-out errors and the bootstrap share the fitted tied
exponents; the generic fitting machinery is in fitting.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from curator.errors import ConfigError
from curator.mix.fitting import TiedFit, fit_power_1d, fit_tied, grid_search, r_squared
from curator.mix.runs_table import RunsTable

DOM_TERMS = ("pow",)
GEN_TERMS = ("pow", "pow")
MIN_CHECKPOINTS = 4  # per run, tokens > 0: the general law has 3 coefficients per ratio plus tied exponents
LAW_VERSION = 1


@dataclass
class CMRData:
    """Loss increments per domain ratio (groups), the base losses and the token scale."""

    domain: str
    general: str
    domain_eval: str
    ratios: np.ndarray  # (G,)
    tokens: list[np.ndarray]  # raw tokens per group, all > 0
    dl_dom: list[np.ndarray]
    dl_gen: list[np.ndarray]
    base_dom: float
    base_gen: float
    token_scale: float
    runs: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def scaled(self, g: int) -> np.ndarray:
        """Scaled tokens of group g."""
        return self.tokens[g] / self.token_scale

    def subset(self, keep: list[np.ndarray]) -> CMRData:
        """The same data with only the points keep[g] (boolean masks) of each group; groups left empty drop."""
        groups = [g for g in range(len(self.ratios)) if keep[g].any()]
        return CMRData(
            self.domain,
            self.general,
            self.domain_eval,
            self.ratios[groups],
            [self.tokens[g][keep[g]] for g in groups],
            [self.dl_dom[g][keep[g]] for g in groups],
            [self.dl_gen[g][keep[g]] for g in groups],
            self.base_dom,
            self.base_gen,
            self.token_scale,
            [self.runs[g] for g in groups],
            [],
        )

    def to_json(self) -> dict:
        """JSON-ready points and settings (kept in FIT.json so reports need no runs table)."""
        return {
            "domain": self.domain,
            "general": self.general,
            "domain_eval": self.domain_eval,
            "ratios": self.ratios.tolist(),
            "tokens": [t.tolist() for t in self.tokens],
            "dl_dom": [v.tolist() for v in self.dl_dom],
            "dl_gen": [v.tolist() for v in self.dl_gen],
            "base_dom": self.base_dom,
            "base_gen": self.base_gen,
            "token_scale": self.token_scale,
            "runs": self.runs,
        }

    @classmethod
    def from_json(cls, d: dict) -> CMRData:
        """The inverse of to_json."""
        arr = [np.asarray(v, float) for v in d["tokens"]]
        return cls(
            d["domain"],
            d["general"],
            d["domain_eval"],
            np.asarray(d["ratios"], float),
            arr,
            [np.asarray(v, float) for v in d["dl_dom"]],
            [np.asarray(v, float) for v in d["dl_gen"]],
            d["base_dom"],
            d["base_gen"],
            d["token_scale"],
            d["runs"],
        )


def _strip(name: str, prefix: str) -> str:
    return name.removeprefix(prefix)


def cmr_data(
    table: RunsTable,
    domain: str,
    general: str,
    domain_loss: str | None = None,
    base_loss: dict[str, float] | None = None,
) -> CMRData:
    """Group a CPT runs table by the ratio w:<domain>; increments over the base rows (tokens 0) or `base_loss`."""
    d = table.domain_index(domain)
    gen_i = table.eval_index(general)
    dom_i = table.eval_index(domain_loss or _strip(domain, "w:"))
    notes = list(table.notes)
    base = table.tokens == 0
    base_loss = {_strip(k, "loss:"): v for k, v in (base_loss or {}).items()}
    bases = []
    for i in (dom_i, gen_i):
        name = table.evals[i]
        if name in base_loss:
            bases.append(float(base_loss[name]))
            if base.any():
                notes.append(f"loss:{name}: the base loss {base_loss[name]} given overrides the table's tokens=0 rows")
        elif base.any():
            vals = table.losses[base, i]
            bases.append(float(vals.mean()))
            if vals.max() - vals.min() > 0.02:
                notes.append(
                    f"loss:{name}: the tokens=0 rows differ by {vals.max() - vals.min():.3f}; their mean is used"
                )
        else:
            raise ConfigError(
                f"{table.origin}: no base-model loss for loss:{name}: add rows at tokens=0 (the model before continual "
                f"pre-training) or pass --base-loss 'loss:{name}=VALUE'"
            )
    ratio = np.round(table.weights[:, d], 6)
    cpt = ~base
    if not cpt.any():
        raise ConfigError(f"{table.origin}: only tokens=0 rows; the CMR law needs checkpoints during CPT")
    run_names = [r for r in table.run_names() if (table.run[cpt] == r).any()]
    counts = {r: int(((table.run == r) & cpt).sum()) for r in run_names}
    short = [r for r in run_names if counts[r] < MIN_CHECKPOINTS]
    if short:
        raise ConfigError(
            f"{table.origin}: run '{short[0]}' has {counts[short[0]]} checkpoint(s) after tokens 0; the CMR law needs "
            f">= {MIN_CHECKPOINTS} per run ({len(short)} run(s) short: {', '.join(short[:5])})"
        )
    grid = np.unique(table.tokens[cpt])
    for r in run_names:
        own = table.tokens[(table.run == r) & cpt]
        inside = grid[(grid >= own.min()) & (grid <= own.max())]
        gap = np.setdiff1d(inside, own)
        if len(gap):
            notes.append(f"run '{r}' lacks {len(gap)} checkpoint(s) other runs have (e.g. tokens={gap[0]:,.0f})")
    levels = np.unique(ratio[cpt])
    if len(levels) < 2:
        raise ConfigError(
            f"{table.origin}: every run has w:{table.domains[d]} = {levels[0]:g}: a single ratio; the CMR law needs "
            "runs at >= 3 ratios below 1"
        )
    if (levels < 1).sum() < 3:
        raise ConfigError(
            f"{table.origin}: ratios {', '.join(f'{v:g}' for v in levels)} of w:{table.domains[d]}: the ratio law "
            "needs >= 3 ratios below 1"
        )
    toks, dd, dg, runs = [], [], [], []
    for level in levels:
        rows = cpt & (ratio == level)
        order = np.argsort(table.tokens[rows], kind="stable")
        toks.append(table.tokens[rows][order])
        dd.append(table.losses[rows, dom_i][order] - bases[0])
        dg.append(table.losses[rows, gen_i][order] - bases[1])
        runs.append(list(dict.fromkeys(table.run[rows].tolist())))
    return CMRData(
        table.domains[d],
        table.evals[gen_i],
        table.evals[dom_i],
        levels,
        toks,
        dd,
        dg,
        bases[0],
        bases[1],
        float(table.tokens[cpt].max()),
        runs,
        notes,
    )


@dataclass
class CMRFit:
    """Token laws of both increments (tied exponents unless untied) over a CMRData."""

    data: CMRData
    dom: list[TiedFit]  # one fit for all groups (tied), or one per group
    gen: list[TiedFit]
    tied: bool = True

    def _eval(self, fits: list[TiedFit], t: np.ndarray, g: int) -> np.ndarray:
        return fits[0].predict(t, g) if self.tied else fits[g].predict(t, 0)

    def dom_at(self, tokens: np.ndarray | float, g: int) -> np.ndarray:
        """Fitted domain increment of group g at raw tokens."""
        return self._eval(self.dom, np.asarray(tokens, float) / self.data.token_scale, g)

    def gen_at(self, tokens: np.ndarray | float, g: int) -> np.ndarray:
        """Fitted general increment of group g at raw tokens."""
        return self._eval(self.gen, np.asarray(tokens, float) / self.data.token_scale, g)

    def ratio_law(self, tokens: float, which: str = "gen") -> tuple[float, float, float]:
        """(a, s, b) of dL(R) = a R^s + b at `tokens` over the fitted ratios (general: those below 1)."""
        groups = [g for g, r in enumerate(self.data.ratios) if which == "dom" or r < 1]
        at = self.gen_at if which == "gen" else self.dom_at
        vals = np.array([float(at(tokens, g)) for g in groups])
        return fit_power_1d(self.data.ratios[groups], vals)

    def cmr_at(self, tokens: float, eps: float) -> tuple[float, str]:
        """(CMR, clamp note) at raw `tokens` from the ratio law; the note is '' unless clamped to 0 or 1."""
        a, s, b = self.ratio_law(tokens)
        if a <= 0:
            return 1.0, "the general loss does not rise with the ratio: clamped to 1"
        if b > eps:
            return 0.0, f"the general loss rises more than eps={eps:g} even at ratio 0: clamped to 0"
        r = ((eps - b) / a) ** (1.0 / s)
        if r > 1:
            return 1.0, f"the ratio law allows R={r:.3f} > 1: clamped to 1"
        return float(r), ""

    def quality(self) -> dict:
        """In-sample R^2 and RMSE (nats) of both token laws."""
        out = {}
        for name, at, ys in (("domain", self.dom_at, self.data.dl_dom), ("general", self.gen_at, self.data.dl_gen)):
            y = np.concatenate(ys)
            p = np.concatenate([at(self.data.tokens[g], g) for g in range(len(ys))])
            out[name] = {"r2": r_squared(y, p), "rmse": float(np.sqrt(np.mean((y - p) ** 2)))}
        return out

    def forms(self) -> dict:
        """The fitted forms, exponents and notes (a log law used...)."""
        return {
            name: [{"terms": list(f.terms), "exponents": f.exponents.tolist(), "note": f.message} for f in fits]
            for name, fits in (("domain", self.dom), ("general", self.gen))
        }

    def to_json(self) -> dict:
        """JSON-ready fit (see from_json)."""
        return {
            "tied": self.tied,
            "data": self.data.to_json(),
            "dom": [f.to_json() for f in self.dom],
            "gen": [f.to_json() for f in self.gen],
        }

    @classmethod
    def from_json(cls, d: dict) -> CMRFit:
        """The inverse of to_json."""
        return cls(
            CMRData.from_json(d["data"]),
            [TiedFit.from_json(f) for f in d["dom"]],
            [TiedFit.from_json(f) for f in d["gen"]],
            d["tied"],
        )


def fit_cmr_law(data: CMRData, tied: bool = True) -> CMRFit:
    """Fit both token laws (variable projection + Huber polish, log fallback)."""
    groups = range(len(data.ratios))
    t = [data.scaled(g) for g in groups]
    if tied:
        dom = [fit_tied(t, data.dl_dom, DOM_TERMS, f"domain law (loss:{data.domain_eval})")]
        gen = [fit_tied(t, data.dl_gen, GEN_TERMS, f"general law (loss:{data.general})")]
    else:
        dom = [fit_tied([t[g]], [data.dl_dom[g]], DOM_TERMS, f"domain law at ratio {data.ratios[g]:g}") for g in groups]
        gen = [
            fit_tied([t[g]], [data.dl_gen[g]], GEN_TERMS, f"general law at ratio {data.ratios[g]:g}") for g in groups
        ]
    return CMRFit(data, dom, gen, tied)


def truncated_heldout(fit: CMRFit, frac: float, eps: float) -> dict:
    """Refit on checkpoints at tokens <= frac x the largest; errors on the later points and the CMR shift."""
    data = fit.data
    cut = frac * data.token_scale
    keep = [t <= cut * (1 + 1e-9) for t in data.tokens]
    if min(int(k.sum()) for k in keep) < MIN_CHECKPOINTS or all(k.all() for k in keep):
        return {"frac": frac, "skipped": f"fewer than {MIN_CHECKPOINTS} checkpoints per ratio below {frac:.0%}"}
    part = fit_cmr_law(data.subset(keep), fit.tied)
    err_d, err_g, rel = [], [], []
    for g in range(len(data.ratios)):
        later = ~keep[g]
        if not later.any():
            continue
        ed = part.dom_at(data.tokens[g][later], g) - data.dl_dom[g][later]
        eg = part.gen_at(data.tokens[g][later], g) - data.dl_gen[g][later]
        err_d.append(ed)
        err_g.append(eg)
        rel.append(np.abs(eg) / (data.base_gen + data.dl_gen[g][later]))
    ed, eg = np.abs(np.concatenate(err_d)), np.abs(np.concatenate(err_g))
    full_cmr, _ = fit.cmr_at(data.token_scale, eps)
    cut_cmr, _ = part.cmr_at(data.token_scale, eps)
    return {
        "frac": frac,
        "domain_mae": float(ed.mean()),
        "general_mae": float(eg.mean()),
        "general_max": float(eg.max()),
        "general_rel_pct": float(100 * np.concatenate(rel).mean()),
        "cmr_full": full_cmr,
        "cmr_from_cut": cut_cmr,
        "part": part,
    }


def leave_one_ratio_out(fit: CMRFit) -> dict:
    """Refit without each interior ratio, predict its increments through the ratio law; errors in nats and %."""
    data = fit.data
    interior = [g for g, r in enumerate(data.ratios) if r < 1 and 0 < g < int((data.ratios < 1).sum()) - 1]
    if not interior or int((data.ratios < 1).sum()) < 4:
        return {"skipped": "needs >= 4 ratios below 1 (3 left to fit after one is held out)"}
    err_d, err_g, rel = [], [], []
    for g in interior:
        keep = [np.full(len(t), h != g) for h, t in enumerate(data.tokens)]
        part = fit_cmr_law(data.subset(keep), fit.tied)
        r = data.ratios[g]
        for j, tok in enumerate(data.tokens[g]):
            a, s, b = part.ratio_law(tok, "gen")
            eg = a * r**s + b - data.dl_gen[g][j]
            a, s, b = part.ratio_law(tok, "dom")
            ed = a * r**s + b - data.dl_dom[g][j]
            err_g.append(abs(eg))
            err_d.append(abs(ed))
            rel.append(abs(eg) / (data.base_gen + data.dl_gen[g][j]))
    return {
        "held_out": [float(data.ratios[g]) for g in interior],
        "domain_mae": float(np.mean(err_d)),
        "general_mae": float(np.mean(err_g)),
        "general_rel_pct": float(100 * np.mean(rel)),
    }


def bootstrap_cmr(fit: CMRFit, tokens: float, eps: float, n_boot: int = 100, seed: int = 0) -> np.ndarray:
    """CMR at `tokens` over residual-bootstrap refits of the general law (grid + exact solve, no polish: fast)."""
    if n_boot <= 0:
        return np.empty(0)
    data = fit.data
    rng = np.random.default_rng(seed)
    groups = range(len(data.ratios))
    t = [data.scaled(g) for g in groups]
    pred = [fit.gen_at(data.tokens[g], g) for g in groups]
    resid = np.concatenate([data.dl_gen[g] - pred[g] for g in groups])
    resid = resid - resid.mean()
    out = []
    for _ in range(n_boot):
        y = [pred[g] + rng.choice(resid, len(pred[g])) for g in groups]
        if fit.tied:
            gen = [TiedFit(fit.gen[0].terms, *grid_search(t, y, fit.gen[0].terms), n=0)]
        else:
            gen = [
                TiedFit(f.terms, *grid_search([t[g]], [y[g]], f.terms), n=0)
                for g, f in zip(groups, fit.gen, strict=True)
            ]
        out.append(CMRFit(data, fit.dom, gen, fit.tied).cmr_at(tokens, eps)[0])
    return np.asarray(out)


def cmr_curve(fit: CMRFit, eps: float, points: int = 20) -> dict:
    """CMR at tokens across the fitted range and the law CMR(T) = a4 T^s4 + b3 over the unclamped points."""
    lo = min(float(t.min()) for t in fit.data.tokens)
    tokens = np.geomspace(lo, fit.data.token_scale, points)
    values = np.array([fit.cmr_at(t, eps)[0] for t in tokens])
    inside = (values > 0) & (values < 1)
    law = None
    if inside.sum() >= 4:
        a, s, b = fit_power_1d(tokens[inside] / fit.data.token_scale, values[inside], bounds=(-2.0, 2.0), points=401)
        law = {"a4": a, "s4": s, "b3": b}
    return {"tokens": tokens.tolist(), "cmr": values.tolist(), "law": law}


def cmr_law_value(law: dict | None, tokens: float, scale: float) -> float | None:
    """CMR(T) from the fitted CMR law (None without one), not clamped."""
    if not law:
        return None
    return float(law["a4"] * (tokens / scale) ** law["s4"] + law["b3"])


def check_eps(eps: float) -> None:
    """eps must be a positive number of nats."""
    if not np.isfinite(eps) or eps <= 0:
        raise ConfigError(f"--eps {eps}: give a positive tolerance in nats (0.05 is the CMR paper's)")
