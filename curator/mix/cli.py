"""`curator mix ...`: thin wrappers over curator.mix (each command is also a Python function)."""

from __future__ import annotations

import typer

mix_app = typer.Typer(no_args_is_help=True, help="Mixing laws: fit proxy runs, predict, CMR, optimise a mixture.")


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
) -> None:
    """DoReMi reference losses: a checkpoint's mean token loss per domain of a token store (+ per document)."""
    from curator.cli import _fail
    from curator.errors import ConfigError, CuratorError
    from curator.mix.reference import docs_path, reference_losses

    try:
        if device not in ("cpu", "cuda", "auto"):
            raise ConfigError(f"--device {device!r}: use cpu, cuda or auto")
        results = reference_losses(store, checkpoint, out, max_docs, list(domain) or None, batch_tokens, device)
    except CuratorError as exc:
        _fail(exc)
    for name, r in results.items():
        typer.echo(f"{name}: ref_loss {r['ref_loss']:.4f} over {r['docs']:,} documents ({r['tokens']:,} tokens)")
    typer.echo(f"wrote {out} and {docs_path(out)}")
