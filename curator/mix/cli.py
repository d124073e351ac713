"""`curator mix ...`: thin wrappers over curator.mix (each command is also a Python function)."""

from __future__ import annotations

from pathlib import Path

import typer

mix_app = typer.Typer(no_args_is_help=True, help="Mixing laws: fit proxy runs, predict, CMR, optimise a mixture.")


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
    evals: int = typer.Option(10, "--evals", min=1, help="evaluations (runs-table rows) per proxy"),
    seeds: list[int] = typer.Option([0], "--seed", help="model seeds (repeat for several)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="one line per proxy, no progress bars"),
) -> None:
    """Train tiny LMs at a set of mixtures and write their per-domain held-out losses as a runs table."""
    from curator.cli import _fail
    from curator.errors import ConfigError, CuratorError
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
        _fail(exc)
    typer.echo(
        f"{summary.runs_table}: {summary.rows} rows ({len(summary.trained)} proxies trained now, "
        f"{len(summary.skipped)} finished already)"
    )
