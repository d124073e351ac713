"""The `curator` command line: thin wrappers that parse, call the library, and print."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from curator.errors import ConfigError, CuratorError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Data curation and mixing for language-model training data.",
)


def _fail(exc: CuratorError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2 if isinstance(exc, ConfigError) else 1)


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="pipeline YAML, e.g. pipelines/quickstart.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder (created, or resumed if it holds this run)"),
    set_: list[str] = typer.Option([], "--set", help="override a config key: --set executor.workers=2"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="processes (default: one per core)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and print the plan; write nothing"),
    overwrite: bool = typer.Option(False, "--overwrite", help="delete the run folder first"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress output"),
) -> None:
    """Run a pipeline into a run folder: output/, stats/, rejects/, completions/, logs/."""
    from curator.pipeline.config import load_pipeline
    from curator.pipeline.plan import plan_tasks

    try:
        config = load_pipeline(pipeline, set_)
        if dry_run:
            shards = plan_tasks(config)
            typer.echo(f"pipeline {config.name}: valid")
            typer.echo(f"{len(shards)} task(s), {sum(s.size_bytes for s in shards) / 1e6:,.1f} MB of input files")
            for i, s in enumerate(shards[:20]):
                typer.echo(f"  task {i:5d}  {s.describe()}  source={s.force_source or s.default_source}")
            if len(shards) > 20:
                typer.echo(f"  ... {len(shards) - 20} more")
            typer.echo("steps: " + " -> ".join(["read"] + [next(iter(e)) for e in config.steps] + ["write"]))
            _print_step_notes(config)
            return
        _run_and_report(config, out, workers, overwrite, quiet)
    except CuratorError as exc:
        _fail(exc)


def _run_and_report(config, out: Path, workers: int | None, overwrite: bool, quiet: bool) -> None:
    """Print what the steps want seen first (S-curves), run, then print the summary."""
    from curator.pipeline.executor import run_pipeline

    if not quiet:
        _print_step_notes(config)
    summary = run_pipeline(config, out, workers=workers, overwrite=overwrite, quiet=quiet)
    if not quiet:
        _print_summary(summary)


def _dedup_line(facts: dict) -> str:
    line = f"{facts['clusters']:,} duplicate clusters, {facts['duplicates']:,} duplicates"
    if "candidate_pairs" in facts:
        line += f" ({facts['candidate_pairs']:,} candidate pairs, {facts['verified_pairs']:,} verified)"
    return line


def _print_step_notes(config) -> None:
    for step in config.build_steps():
        note = step.describe()
        if note:
            typer.echo(f"{step.name}: {note}")


def _print_summary(summary) -> None:
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
    for facts_file in sorted(run.state.glob("*/clusters.json")):
        typer.echo(f"{facts_file.parent.name}: {_dedup_line(json.loads(facts_file.read_text()))}")
    typer.echo(f"output: {summary.output_rows:,} rows in {summary.output_files} file(s) under {run.output}")
    typer.echo(f"stats:  {run.docs_table}, {run.steps_table}")


@app.command()
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
    keep: str = typer.Option("first", "--keep", help="representative: first | longest | score"),
    score_column: str | None = typer.Option(None, "--score-column", help="with --keep score"),
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Deduplicate documents on their own: exact then MinHash near-duplicates, into a run folder."""
    from curator.pipeline.config import parse_pipeline

    rule = {"keep": keep, **({"score_column": score_column} if score_column else {})}
    steps = []
    if exact:
        steps.append({"exact_dedup": dict(rule)})
    if near:
        params = dict(num_perm=num_perm, bands=bands, rows=rows, ngram=ngram, threshold=threshold, verify=verify)
        steps.append({"minhash_dedup": {**params, **rule}})
    if not steps:
        _fail(ConfigError("nothing to do: both --no-exact and --no-near were given"))
    data = {
        "name": "dedup",
        "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
        "steps": steps,
    }
    try:
        _run_and_report(parse_pipeline(data, "curator dedup"), out, workers, overwrite, quiet)
    except CuratorError as exc:
        _fail(exc)


@app.command()
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

    manifest = build_sample(out, max_docs=max_docs, max_mb=max_mb, seed=seed, shard_docs=shard_docs, force=force)
    typer.echo(
        f"{manifest['docs']:,} documents, {manifest['bytes'] / 1e6:.1f} MB in {len(manifest['files'])} "
        f"shard(s) under {out}"
    )
    for name, s in sorted(manifest["sources"].items()):
        typer.echo(f"  {name:<6} {s['docs']:>7,} docs {s['bytes'] / 1e6:>8.1f} MB")


@app.command()
def steps() -> None:
    """List the pipeline steps with their parameters and defaults."""
    from curator.pipeline.step import registered_steps

    for name, cls in registered_steps().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0]
        typer.echo(f"{name}: {doc}")
        for fname, field in cls.model_fields.items():
            default = "required" if field.is_required() else repr(field.default)
            typer.echo(f"    {fname} = {default}")


@app.command()
def schemas(
    out: Path = typer.Option(Path("schemas"), "--out", help="folder to write the JSON schema files to"),
) -> None:
    """Write the Arrow schemas of documents and stats tables as JSON (the files under schemas/)."""
    from curator.schemas_export import export_schemas

    for path in export_schemas(out):
        typer.echo(str(path))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted; re-run the same command to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
