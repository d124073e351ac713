"""`curator mix ...`: thin wrappers over curator.mix (each command is also a Python function); the law commands
(fit, predict, cmr, optimize) are in mix_laws.py."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.cli.mix_laws import cmr_cmd, fit_cmd, optimize_cmd, predict_cmd
from curator.errors import ConfigError, CuratorError

mix_app = typer.Typer(no_args_is_help=True, help="Mixing laws: fit proxy runs, predict, CMR, optimise a mixture.")
# the order here is the order of `curator mix --help`
mix_app.command("fit")(fit_cmd)
mix_app.command("predict")(predict_cmd)
mix_app.command("cmr")(cmr_cmd)
mix_app.command("optimize")(optimize_cmd)


@mix_app.command("design")
def design_cmd(
    domains: str = typer.Option(
        ..., "--domains", help="comma-separated domain names (the CPT domain first for --grid)"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="MIXTURES.csv to write (run, w:<domain>...)"),
    n: int = typer.Option(16, "--n", help="Dirichlet design: number of mixtures"),
    prior: str | None = typer.Option(None, "--prior", help="comma-separated prior weights (default uniform)"),
    grid: str | None = typer.Option(
        None, "--grid", help="two domains: ratios of the first, e.g. 0,0.1,0.2,0.4,0.6,0.8"
    ),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Propose the next proxy mixtures: Dirichlet around the prior (RegMix) or a two-domain ratio grid."""
    from curator.mix.design import design_mixtures

    try:
        try:
            p = [float(x) for x in prior.split(",")] if prior else None
            g = [float(x) for x in grid.split(",")] if grid else None
        except ValueError:
            raise ConfigError("--prior / --grid: comma-separated numbers") from None
        table = design_mixtures([d.strip() for d in domains.split(",")], p, n, seed, g, out)
    except CuratorError as exc:
        fail(exc)
    typer.echo(table.to_pandas().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    typer.echo(f"written: {out}")


@mix_app.command("report")
def report_cmd(
    fit: Path = typer.Argument(..., help="FIT.json of any law"),
    out: Path = typer.Option(..., "--out", "-o", help="folder for report.md and report.png"),
) -> None:
    """Markdown + PNG: loss vs tokens with fits and held-out points, loss vs ratio with the eps band, CMR(T)."""
    from curator.mix.report import write_report

    try:
        paths = write_report(fit, out)
    except CuratorError as exc:
        fail(exc)
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))


# -- proxy runs ---------------------------------------------------------------------------------------------


@mix_app.command("proxy")
def proxy_cmd(
    mixture: Path = typer.Argument(..., help="mixture YAML whose store was built (its domains are the axes)"),
    out: Path = typer.Option(..., "--out", "-o", help="proxy folder: runs/, mixtures/, runs.parquet"),
    train_config: Path | None = typer.Option(None, "--train", help="training YAML for the proxies' model and lr"),
    design: Path | None = typer.Option(None, "--design", help="CSV/Parquet of w:<domain> rows (curator mix design)"),
    ratios: str | None = typer.Option(None, "--ratios", help="two-domain grid, e.g. 0,0.1,0.3,0.5 (with --domain)"),
    domain: str | None = typer.Option(None, "--domain", help="the domain the --ratios are for"),
    general: str | None = typer.Option(None, "--general", help="the domain taking 1 - ratio (and the CPT base)"),
    cpt: bool = typer.Option(False, "--cpt", help="continual pre-training: base run on --general, then continue"),
    base_steps: int = typer.Option(200, "--base-steps", min=1, help="steps of the CPT base run"),
    steps: int = typer.Option(200, "--steps", min=1, help="optimizer steps per proxy"),
    evals: int = typer.Option(
        10, "--evals", min=1, help="evaluations per proxy: every steps // evals steps, plus the last step"
    ),
    seeds: list[int] = typer.Option([0], "--seed", help="model seeds (repeat for several)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="one line per proxy, no progress bars"),
) -> None:
    """Train tiny LMs at a set of mixtures and write their per-domain held-out losses as a runs table."""
    from curator.loader.mixture import load_mixture
    from curator.mix.proxy import ContinualPretraining, ratio_design, read_design, run_proxies

    try:
        names = load_mixture(mixture).names
        if (design is None) == (ratios is None):
            raise ConfigError("give the mixtures as --design TABLE or as --ratios R,R,... --domain D --general G")
        if design is not None:
            points = read_design(design, names)
        else:
            if not domain or not general:
                raise ConfigError("--ratios needs --domain D (the ratio's domain) and --general G (the rest)")
            try:
                values = [float(r) for r in ratios.split(",") if r.strip()]
            except ValueError:
                raise ConfigError(f"--ratios: give numbers separated by commas, got {ratios!r}") from None
            points = ratio_design(domain, general, values, names)
        if cpt and not general:
            raise ConfigError("--cpt needs --general G: the domain the base model is trained on")
        spec = ContinualPretraining(general, base_steps) if cpt else None

        def said(name: str, trained: bool) -> None:
            typer.echo(f"{'trained' if trained else 'finished already'}: {name}")

        summary = run_proxies(mixture, points, out, train_config, steps, evals, seeds, spec, quiet, said)
    except CuratorError as exc:
        fail(exc)
    typer.echo(
        f"{summary.runs_table}: {summary.rows} rows ({len(summary.trained)} proxies trained now, "
        f"{len(summary.skipped)} finished already)"
    )


# ---- curator mix reference (issue 19, offline loss): library code in curator/mix/reference.py ----------------


@mix_app.command("reference")
def reference_cmd(
    store: str = typer.Argument(
        ..., help="a mixture's token store folder (curator mixture build), e.g. runs/mixture-store"
    ),
    checkpoint: str = typer.Option(..., "--checkpoint", help="a `curator train` run folder (newest checkpoint) or .pt"),
    out: str = typer.Option(
        ..., "--out", "-o", help="per-domain table (.parquet or .csv): domain, ref_loss, docs, tokens"
    ),
    max_docs: int | None = typer.Option(None, "--max-docs", help="score this many evenly spaced documents per domain"),
    domain: list[str] = typer.Option([], "--domain", help="only these domains (repeatable); default: all"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto"),
    batch_tokens: int = typer.Option(1024, "--batch-tokens", min=1, help="padded tokens per forward pass"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress"),
) -> None:
    """DoReMi reference losses: a checkpoint's mean token loss per domain of a token store (+ per document)."""
    from curator.mix.reference import docs_path, reference_losses

    try:
        if device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"--device {device!r}: use cpu, cuda or auto")
        results = reference_losses(
            store, checkpoint, out, max_docs, list(domain) or None, batch_tokens, device, quiet=quiet
        )
    except CuratorError as exc:
        fail(exc)
    for name, r in results.items():
        typer.echo(f"{name}: ref_loss {r['ref_loss']:.4f} over {r['docs']:,} documents ({r['tokens']:,} tokens)")
    typer.echo(f"wrote {out} and {docs_path(out)}")
