"""`curator mix fit | predict | cmr | optimize`: fit a mixing law to proxy runs and use it (registered by mix.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import ConfigError, CuratorError


def _warn(notes: list[str]) -> None:
    for note in notes:
        typer.echo(f"warning: {note}", err=True)


def _pairs(items: list[str], option: str) -> dict[str, float] | None:
    """NAME=NUMBER options as a dict (None when none given)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"{option} {item!r}: write NAME=NUMBER") from None
        if not sep or not name.strip():
            raise ConfigError(f"{option} {item!r}: write NAME=NUMBER")
    return out or None


def fit_cmd(
    runs: Path = typer.Argument(..., help="runs table, CSV or Parquet (schemas/runs_table.schema.json)"),
    law: str = typer.Option("dml", "--law", help="dml | cmr | linear | lightgbm"),
    target: list[str] = typer.Option([], "--target", "-t", help="loss:EVAL or loss:EVAL=WEIGHT (default: all)"),
    out: Path = typer.Option(..., "--out", "-o", help="FIT.json to write"),
    tokens: float | None = typer.Option(
        None, "--tokens", help="mixture laws: the checkpoint (default: each run's last)"
    ),
    folds: int = typer.Option(5, "--folds", help="k of the k-fold held-out check (mixture laws)"),
    domain: str | None = typer.Option(None, "--domain", help="cmr: the CPT domain (ratio w:D, domain loss loss:D)"),
    general: str | None = typer.Option(None, "--general", help="cmr: the general eval (loss:G)"),
    domain_loss: str | None = typer.Option(None, "--domain-loss", help="cmr: domain eval if not loss:D"),
    base_loss: list[str] = typer.Option([], "--base-loss", help="cmr: loss:EVAL=VALUE before CPT (else tokens=0 rows)"),
    eps: float = typer.Option(0.05, "--eps", help="cmr: allowed rise of the general loss, nats"),
    untie: bool = typer.Option(False, "--untie", help="cmr: exponents per ratio (extrapolates badly)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Fit a mixing law to proxy runs; prints fit quality and held-out errors; writes FIT.json."""
    from curator.mix.fit import fit_runs

    try:
        fit = fit_runs(
            runs,
            law,
            target,
            out,
            tokens=tokens,
            folds=folds,
            seed=seed,
            domain=domain,
            general=general,
            domain_loss=domain_loss,
            base_loss=_pairs(base_loss, "--base-loss"),
            eps=eps,
            tied=not untie,
        )
    except CuratorError as exc:
        fail(exc)
    _warn(fit["notes"])
    if law == "cmr":
        _print_cmr_fit(fit)
    else:
        typer.echo(
            f"{law} law, {len(fit['runs'])} runs x {len(fit['domains'])} domains at tokens ~{fit['tokens']:,.0f}"
        )
        typer.echo(
            f"{'target':<20} {'weight':>6} {'R^2':>7} {'RMSE':>7} {'k-fold Spearman (90% CI)':>26} {'k-fold MAE':>10}"
        )
        for name, weight in fit["targets"].items():
            q, h = fit["quality"][name], fit["heldout"][name]
            ci = f"{h['spearman']:.3f} ({h['spearman_ci90'][0]:.3f}-{h['spearman_ci90'][1]:.3f})"
            typer.echo(
                f"{'loss:' + name:<20} {weight:>6.3g} {q['r2']:>7.4f} {q['rmse']:>7.4f} {ci:>26} {h['mae']:>10.4f}"
            )
    typer.echo(f"written: {out}")


def predict_cmd(
    fit: Path = typer.Argument(..., help="FIT.json of a dml | linear | lightgbm fit"),
    mixtures: Path = typer.Argument(..., help="CSV/Parquet with one w:<domain> column per fitted domain"),
    out: Path | None = typer.Option(None, "--out", "-o", help="PRED.csv (or .parquet); default: print"),
) -> None:
    """Predicted losses for mixtures: pred:<eval> per target, pred:target (weighted sum), extrapolated."""
    from curator.mix.predict import predict_mixtures

    try:
        table = predict_mixtures(fit, mixtures, out)
    except CuratorError as exc:
        fail(exc)
    notes = (table.schema.metadata or {}).get(b"notes", b"").decode()
    _warn([n for n in notes.split("\n") if n])
    cols = [c for c in table.column_names if c.startswith(("run", "pred:", "extrapolated"))]
    typer.echo(
        table.select(cols).to_pandas().to_string(index=False, float_format=lambda v: f"{v:.4f}")
        if len(table) <= 50 or out is None
        else f"{len(table)} rows"
    )
    if out is not None:
        typer.echo(f"written: {out}")


def cmr_cmd(
    source: Path = typer.Argument(..., help="runs table of CPT runs, or a FIT.json of --law cmr"),
    domain: str | None = typer.Option(None, "--domain", help="the CPT domain: ratio w:D, domain loss loss:D"),
    general: str | None = typer.Option(None, "--general", help="the general eval, loss:G"),
    eps: float = typer.Option(0.05, "--eps", help="allowed rise of the general loss over the base model, nats"),
    tokens: float | None = typer.Option(None, "--tokens", help="CPT token budget (default: the last fitted)"),
    domain_loss: str | None = typer.Option(None, "--domain-loss", help="domain eval if not loss:D"),
    base_loss: list[str] = typer.Option([], "--base-loss", help="loss:EVAL=VALUE before CPT (else tokens=0 rows)"),
    untie: bool = typer.Option(False, "--untie", help="exponents per ratio (extrapolates badly)"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """The critical mixture ratio: the largest domain share whose general loss stays within eps of the base."""
    from curator.mix.critical import critical_ratio

    try:
        res = critical_ratio(
            source,
            domain,
            general,
            eps,
            tokens,
            domain_loss=domain_loss,
            base_loss=_pairs(base_loss, "--base-loss"),
            tied=not untie,
            seed=seed,
        )
    except CuratorError as exc:
        fail(exc)
    _warn(res["notes"])
    ci = f" (90% bootstrap {res['ci90'][0]:.3f}-{res['ci90'][1]:.3f})" if res["ci90"] else ""
    typer.echo(
        f"CMR of {res['domain']} (general loss:{res['general']}, base {res['base_general_loss']:.4f}, eps "
        f"{eps:g} nats) at {res['tokens']:,.0f} tokens: {res['cmr']:.3f}{ci}"
    )
    lo, hi = res["fitted_tokens"]
    if res["extrapolated"]:
        typer.echo(f"extrapolated: {res['tokens']:,.0f} tokens is outside the fitted {lo:,.0f}-{hi:,.0f}")
    if res["extrapolated_ratio"]:
        typer.echo("extrapolated: the CMR lies outside the ratios that were run")
    if res["clamped"]:
        typer.echo(f"note: {res['clamped']}")
    if res["cmr_law_value"] is not None:
        law = res["cmr_law"]
        typer.echo(
            f"CMR law a4 T^s4 + b3 (T = tokens/{hi:,.0f}): a4 {law['a4']:.4g}, s4 {law['s4']:.4g}, b3 "
            f"{law['b3']:.4g}; gives {res['cmr_law_value']:.3f} here (not clamped)"
        )


def optimize_cmd(
    fit: Path = typer.Argument(..., help="FIT.json of a dml | linear | lightgbm fit"),
    out: Path = typer.Option(..., "--out", "-o", help="mixture.yaml to write"),
    prior: str = typer.Option("natural", "--prior", help="natural | uniform | a mixture.yaml"),
    base: Path | None = typer.Option(None, "--base", help="mixture.yaml to take sources/store/settings from"),
    max_epochs: float | None = typer.Option(None, "--max-epochs", help="cap: at most this many passes per domain"),
    tokens: float | None = typer.Option(None, "--tokens", help="training budget (tokens) for the caps"),
    domain_tokens: list[str] = typer.Option([], "--domain-tokens", help="NAME=N tokens available (else --base store)"),
    kl: float = typer.Option(0.05, "--kl", help="KL(mixture || prior) penalty; 0 lets the law go to a vertex"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Minimise the predicted target loss over mixtures; prints it next to the prior; writes a mixture.yaml."""
    from curator.mix.optimize import optimize_fit

    try:
        opt = optimize_fit(
            fit,
            out,
            prior=prior,
            base=base,
            max_epochs=max_epochs,
            tokens=tokens,
            domain_tokens=_pairs(domain_tokens, "--domain-tokens"),
            kl=kl,
            seed=seed,
        )
    except CuratorError as exc:
        fail(exc)
    _warn(opt.notes[1:])
    typer.echo(opt.notes[0])
    typer.echo(f"{'domain':<16} {'prior':>8} {'optimized':>10} {'cap':>6}")
    for j, d in enumerate(opt.domains):
        typer.echo(f"{d:<16} {opt.prior[j]:>8.4f} {opt.weights[j]:>10.4f} {opt.caps[j]:>6.3f}")
    typer.echo(f"{'predicted loss':<16} {'prior':>8} {'optimized':>10}")
    for name in opt.pred_prior:
        typer.echo(f"{name:<16} {opt.pred_prior[name]:>8.4f} {opt.pred_opt[name]:>10.4f}")
    typer.echo(f"{opt.method}; KL to the prior {opt.kl:.4f}; written: {out}")


def _print_cmr_fit(fit: dict) -> None:
    q, h, c = fit["quality"], fit["heldout"], fit["cmr"]
    for name in ("domain", "general"):
        form = fit["forms"][name][0]
        s = ", ".join(f"{v:.3f}" for v in form["exponents"])
        exponents = f" (s = {s})" if s else ""
        typer.echo(
            f"{name:<8} token law {'+'.join(form['terms'])}{exponents}: R^2 {q[name]['r2']:.4f}, "
            f"RMSE {q[name]['rmse']:.4f} nats" + (f"  [{form['note']}]" if "log law" in form["note"] else "")
        )
    tr = h["truncated"]
    if "skipped" in tr:
        typer.echo(f"held out, truncated tokens: skipped ({tr['skipped']})")
    else:
        typer.echo(
            f"held out, fit on tokens <= {tr['frac']:.0%}: MAE domain {tr['domain_mae']:.4f}, general "
            f"{tr['general_mae']:.4f} nats ({tr['general_rel_pct']:.2f}% of the loss), worst {tr['general_max']:.4f}; "
            f"CMR {tr['cmr_from_cut']:.3f} from the cut vs {tr['cmr_full']:.3f} from all"
        )
    lo = h["leave_one_ratio_out"]
    if "skipped" in lo:
        typer.echo(f"held out, leave-one-ratio-out: skipped ({lo['skipped']})")
    else:
        typer.echo(
            f"held out, leave-one-ratio-out ({', '.join(f'{r:g}' for r in lo['held_out'])}): MAE domain "
            f"{lo['domain_mae']:.4f}, general {lo['general_mae']:.4f} nats ({lo['general_rel_pct']:.2f}%)"
        )
    ci = f" (90% bootstrap {c['ci90'][0]:.3f}-{c['ci90'][1]:.3f})" if c["ci90"] else ""
    typer.echo(f"CMR at {c['tokens']:,.0f} tokens, eps {fit['eps']:g}: {c['value']:.3f}{ci}")
    if c["clamped"]:
        typer.echo(f"note: {c['clamped']}")
