"""`curator dedup`: exact then MinHash near-duplicate dedup of some files, without a pipeline YAML; the steps'
parameters are flags made from the step models (step_flags.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import QUIET_HELP, fail
from curator.cli.run import run_and_report
from curator.cli.step_flags import FlagSpec, StepFlags, with_step_flags
from curator.dedup.exact import ExactDedup
from curator.dedup.near import MinHashDedup
from curator.errors import ConfigError, CuratorError

DEDUP_FLAGS = FlagSpec(models=(MinHashDedup, ExactDedup), short={"bands": "-b", "rows": "-r"})


@with_step_flags(DEDUP_FLAGS, "curator dedup")
def dedup(
    inputs: list[Path] = typer.Argument(
        ..., help="JSONL/Parquet files or folders, or Hugging Face save_to_disk folders"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: output/ holds the deduplicated documents"),
    exact: bool = typer.Option(True, "--exact/--no-exact", help="exact dedup on normalised text first"),
    near: bool = typer.Option(True, "--near/--no-near", help="MinHash LSH near-duplicate dedup"),
    flags: StepFlags = None,  # one option per field of minhash_dedup and exact_dedup, made by with_step_flags
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Deduplicate documents on their own: exact then MinHash near-duplicates, into a run folder."""
    from curator.pipeline.config import parse_pipeline

    try:
        if not (exact or near):
            raise ConfigError("nothing to do: both --no-exact and --no-near were given")
        steps = flags.steps(*[(model, {}) for model, on in ((ExactDedup, exact), (MinHashDedup, near)) if on])
        data = {
            "name": "dedup",
            "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
            "steps": steps,
        }
        try:
            config = parse_pipeline(data, "curator dedup")
        except ConfigError as exc:
            raise flags.explain(exc) from None
        run_and_report(config, out, workers, overwrite, quiet)
    except CuratorError as exc:
        fail(exc)
