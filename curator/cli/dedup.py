"""`curator dedup`: exact then MinHash near-duplicate dedup of some files, without a pipeline YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import QUIET_HELP, fail
from curator.cli.run import run_and_report
from curator.errors import ConfigError, CuratorError


def dedup(
    inputs: list[Path] = typer.Argument(
        ..., help="JSONL/Parquet files or folders, or Hugging Face save_to_disk folders"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: output/ holds the deduplicated documents"),
    exact: bool = typer.Option(True, "--exact/--no-exact", help="exact dedup on normalised text first"),
    near: bool = typer.Option(True, "--near/--no-near", help="MinHash LSH near-duplicate dedup"),
    num_perm: int = typer.Option(128, "--num-perm", min=1),
    bands: int = typer.Option(42, "--bands", "-b", min=1),
    rows: int = typer.Option(3, "--rows", "-r", min=1),
    ngram: int = typer.Option(5, "--ngram", min=1, help="words per shingle"),
    threshold: float = typer.Option(0.35, "--threshold", min=0.0, max=1.0, help="verified estimated Jaccard"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="check each candidate pair's estimated Jaccard"),
    clustering: str = typer.Option(
        "star", "--clustering", help="star: drop only documents similar to their kept one | transitive: components"
    ),
    keep: str = typer.Option("first", "--keep", help="representative: first | longest | score"),
    score_column: str | None = typer.Option(None, "--score-column", help="with --keep score"),
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Deduplicate documents on their own: exact then MinHash near-duplicates, into a run folder."""
    from curator.pipeline.config import parse_pipeline

    rule = {"keep": keep, **({"score_column": score_column} if score_column else {})}
    steps = []
    if exact:
        steps.append({"exact_dedup": dict(rule)})
    if near:
        params = dict(num_perm=num_perm, bands=bands, rows=rows, ngram=ngram, threshold=threshold, verify=verify)
        params["clustering"] = clustering
        steps.append({"minhash_dedup": {**params, **rule}})
    if not steps:
        fail(ConfigError("nothing to do: both --no-exact and --no-near were given"))
    data = {
        "name": "dedup",
        "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
        "steps": steps,
    }
    try:
        run_and_report(parse_pipeline(data, "curator dedup"), out, workers, overwrite, quiet)
    except CuratorError as exc:
        fail(exc)
