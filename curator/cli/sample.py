"""`curator sample`: build the sample corpus from text on this machine."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import CuratorError


def sample(
    out: Path = typer.Option(..., "--out", "-o", help="folder for part-NNNN.jsonl.zst and MANIFEST.json"),
    max_docs: int = typer.Option(50_000, "--max-docs", min=1),
    max_mb: float = typer.Option(16.0, "--max-mb", min=0.01, help="megabytes of text"),
    seed: int = typer.Option(0, "--seed"),
    shard_docs: int = typer.Option(500, "--shard-docs", min=1, help="documents per shard file"),
    force: bool = typer.Option(False, "--force", help="rebuild even if the same corpus is there"),
) -> None:
    """Build the sample corpus (prose, code, man pages, package docs) from text on this machine."""
    from curator.sample import build_sample

    try:
        manifest = build_sample(out, max_docs=max_docs, max_mb=max_mb, seed=seed, shard_docs=shard_docs, force=force)
    except CuratorError as exc:
        fail(exc)
    typer.echo(
        f"{manifest['docs']:,} documents, {manifest['bytes'] / 1e6:.1f} MB in {len(manifest['files'])} "
        f"shard(s) under {out}"
    )
    for name, s in sorted(manifest["sources"].items()):
        typer.echo(f"  {name:<6} {s['docs']:>7,} docs {s['bytes'] / 1e6:>8.1f} MB")
