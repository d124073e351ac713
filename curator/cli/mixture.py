"""`curator mixture build | show`: a mixture's token store per domain and its epochs at a token budget."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import CuratorError

mixture_app = typer.Typer(no_args_is_help=True, help="Mixtures: build a token store per domain, show the epochs.")


@mixture_app.command("build")
def mixture_build(
    mixture: Path = typer.Argument(..., help="mixture YAML, e.g. pipelines/mixture.yaml"),
    out: Path | None = typer.Option(None, "--out", "-o", help="token store folder (default: the mixture's `store:`)"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="processes per domain run"),
    overwrite: bool = typer.Option(False, "--overwrite", help="rebuild every domain from scratch"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars: one line per domain"),
) -> None:
    """Build (or resume) the token store of a mixture: one curator run per domain under STORE/domains/."""
    from curator.loader.build import build_store
    from curator.loader.mixture import load_mixture

    try:
        config = load_mixture(mixture)
        meta = build_store(config, out, workers=workers, overwrite=overwrite, quiet=quiet)
    except CuratorError as exc:
        fail(exc)
    for name, info in meta["domains"].items():
        held = info.get("heldout") or {}
        extra = f"; {held['docs']:,} held out ({held['tokens']:,} tokens)" if held else ""
        typer.echo(f"{name}: {info['docs']:,} docs, {info['tokens']:,} tokens, {len(info['shards'])} shard(s){extra}")
    typer.echo(f"store: {out or config.store} ({meta['dtype']}, tokenizer {meta['tokenizer']['path']})")


@mixture_app.command("show")
def mixture_show(
    mixture: Path = typer.Argument(..., help="mixture YAML whose store was built"),
    out: Path | None = typer.Option(None, "--out", "-o", help="token store folder (default: the mixture's `store:`)"),
    tokens: int | None = typer.Option(None, "--tokens", "-t", help="token budget (default: the store's tokens)"),
) -> None:
    """Per domain: docs, tokens, natural weight (token share), chosen weight, epochs at a token budget."""
    from curator.loader.epochs import epochs_table
    from curator.loader.mixture import load_mixture
    from curator.loader.store import TokenStore

    try:
        config = load_mixture(mixture)
        budget, rows = epochs_table(config, TokenStore(out or config.store), tokens)
    except CuratorError as exc:
        fail(exc)
    typer.echo(
        f"{'domain':<16} {'docs':>10} {'tokens':>14} {'natural':>8} {'weight':>7} {'epochs':>8} {'held-out docs':>14}"
    )
    for r in rows:
        flag = f"  over max_epochs {r.max_epochs:g}" if r.over else ""
        typer.echo(
            f"{r.name:<16} {r.docs:>10,} {r.tokens:>14,} {r.natural:>8.3f} {r.weight:>7.3f} {r.epochs:>8.2f} "
            f"{r.heldout_docs:>14,}{flag}"
        )
    typer.echo(
        f"at a budget of {budget:,} tokens (epochs = budget x weight / tokens); held-out documents are for "
        "validation only (not in docs / tokens)"
    )
    built = TokenStore(out or config.store).meta.get("holdout")
    if built is not None and abs(float(built) - config.holdout) > 1e-12:
        typer.echo(
            f"warning: the store was built with holdout {built:g}, the mixture says {config.holdout:g}; rebuild it "
            "(curator mixture build --overwrite) for the mixture's split",
            err=True,
        )
