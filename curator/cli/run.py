"""`curator run` and what the run, dedup and dsir commands print: step notes, the summary, the step reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from curator.cli.common import QUIET_HELP, fail
from curator.errors import CuratorError

if TYPE_CHECKING:
    from curator.pipeline.config import PipelineConfig
    from curator.pipeline.executor import RunSummary


def run(
    pipeline: Path = typer.Argument(..., help="pipeline YAML, e.g. pipelines/quickstart.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder (created, or resumed if it holds this run)"),
    set_: list[str] = typer.Option([], "--set", help="override a config key: --set executor.workers=2"),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="processes (default: one per 8 MB of input, at most one per core)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and print the plan; write nothing"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="start again: remove what an earlier run wrote into this run folder (only that)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    executor: str | None = typer.Option(
        None, "--executor", "-e", help="where tasks run: local (this machine's processes) or ray; default: the YAML's"
    ),
    address: str | None = typer.Option(
        None, "--address", help="ray: the cluster to join (auto, ray://HOST:10001); unset: a private local one"
    ),
) -> None:
    """Run a pipeline into a run folder: output/, stats/, rejects/, completions/, logs/."""
    from curator.pipeline.config import load_pipeline
    from curator.pipeline.plan import plan_tasks

    if executor is not None:
        set_ = [*set_, f"executor.kind={executor}"]
    if address is not None:
        set_ = [*set_, f"executor.address={address}"]
    try:
        config = load_pipeline(pipeline, set_)
        if dry_run:
            for step in config.build_steps():
                step.preflight()
            shards = plan_tasks(config)
            typer.echo(f"pipeline {config.name}: valid")
            typer.echo(f"{len(shards)} task(s), {sum(s.size_bytes for s in shards) / 1e6:,.1f} MB of input files")
            for i, s in enumerate(shards[:20]):
                typer.echo(f"  task {i:5d}  {s.describe()}  source={s.force_source or s.default_source}")
            if len(shards) > 20:
                typer.echo(f"  ... {len(shards) - 20} more")
            typer.echo("steps: " + " -> ".join(["read"] + [next(iter(e)) for e in config.steps] + ["write"]))
            typer.echo(f"executor: {executor_plan(config, workers)}")
            print_step_notes(config)
            return
        run_and_report(config, out, workers, overwrite, quiet)
    except CuratorError as exc:
        fail(exc)


def executor_plan(config: PipelineConfig, workers: int | None) -> str:
    """Where the run would execute, in words (without starting anything)."""
    e = config.executor
    count = workers or e.workers
    if e.kind == "local":
        many = "workers: auto (one per 8 MB of input, at most one per core)" if count == "auto" else f"{count} workers"
        return f"local, {many}"
    from curator.pipeline.streamed import is_per_batch

    where = f"the Ray cluster at {e.address}" if e.address else "a private local Ray cluster"
    many = "workers: auto (one per CPU the cluster offers)" if count == "auto" else f"{count} workers"
    text = f"ray, mode {e.mode}, on {where}, {many}"
    if e.mode == "data":
        streamed = [s.name for s in config.build_steps() if is_per_batch(s)]
        text += "; Ray Data stages: " + (", ".join(streamed) if streamed else "none (every pass runs as tasks)")
    return text


def run_and_report(config: PipelineConfig, out: Path, workers: int | None, overwrite: bool, quiet: bool) -> None:
    """Print what the steps want seen first (S-curves), run, then print the summary."""
    from curator.pipeline.executor import run_pipeline

    if not quiet:
        print_step_notes(config)
    summary = run_pipeline(config, out, workers=workers, overwrite=overwrite, quiet=quiet)
    if summary.tasks_run == 0:
        typer.echo(f"{out}: all {summary.tasks:,} tasks were already done; nothing was run again", err=True)
    if quiet:
        typer.echo(_counts_line(summary))
    else:
        _print_summary(summary, config)
    if summary.duplicate_ids:
        typer.echo(
            f"warning: {summary.duplicate_ids:,} id(s) are shared by more than one kept document (e.g. "
            f"{', '.join(repr(i) for i in summary.duplicate_id_examples)}), so dup_of, drop_listed and "
            "contamination lists cannot tell them apart; add the `unique_ids` step first to keep one document "
            "per id (or map another field with id_field)",
            err=True,
        )


def _counts_line(summary: RunSummary) -> str:
    """The one line --quiet keeps: documents read, kept, dropped, rejected (and where the rejects are)."""
    from curator.pipeline.run_folder import RunFolder

    line = (
        f"{summary.records:,} documents: {summary.kept:,} kept, {summary.dropped:,} dropped, "
        f"{summary.rejected_docs:,} rejected"
    )
    return line + (f" (see {RunFolder(summary.run_dir).rejects_table})" if summary.rejected_docs else "")


def print_step_notes(config: PipelineConfig) -> None:
    """Each step's note (describe(): an S-curve, the DSIR target...) before the run."""
    for step in config.build_steps():
        note = step.describe()
        if note:
            typer.echo(f"{step.name}: {note}")


def _print_summary(summary: RunSummary, config: PipelineConfig) -> None:
    """The step table, the document accounting, each step's report and where the output is."""
    from curator.pipeline.run_folder import RunFolder
    from curator.pipeline.stats import step_totals

    run = RunFolder(summary.run_dir)
    typer.echo(f"\n{'step':<18}{'rows in':>12}{'rows out':>12}{'dropped':>10}{'MB in':>10}{'seconds':>10}")
    for t in step_totals(run.steps_table):
        typer.echo(
            f"{t['step']:<18}{t['rows_in']:>12,}{t['rows_out']:>12,}{t['dropped']:>10,}"
            f"{t['mb_in']:>10.1f}{t['seconds']:>10.2f}"
        )
    typer.echo(
        f"\n{summary.records:,} documents: {summary.kept:,} kept, {summary.dropped:,} dropped, "
        f"{summary.rejected_docs:,} rejected -> accounted for"
    )
    for reason, n in summary.dropped_by_reason.items():
        typer.echo(f"  dropped {reason}: {n:,}")
    for reason, n in summary.rejects_by_reason.items():
        typer.echo(f"  rejected {reason}: {n:,} (see {run.rejects_table})")
    print_step_reports(config, run.root)
    typer.echo(f"output: {summary.output_rows:,} rows in {summary.output_files} file(s) under {run.output}")
    typer.echo(f"stats:  {run.docs_table}, {run.steps_table}")


def print_step_reports(config: PipelineConfig, run_dir: Path) -> None:
    """Each step's own summary of what it did (summary_lines: dedup clusters, DSIR fit...)."""
    for position, step in enumerate(config.build_steps()):
        for line in step.summary_lines(run_dir, position):
            typer.echo(line)
