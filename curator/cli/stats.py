"""`curator sql`, `stats` and `contamination`: query and report on finished run folders."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import CuratorError


def _is_folder(arg: str) -> bool:
    """True for an existing folder; False for anything else, a long SQL query included (no OSError)."""
    try:
        return Path(arg).is_dir()
    except (OSError, ValueError):
        return False


def sql(
    args: list[str] = typer.Argument(
        ...,
        help="RUN_DIR... then QUERY (views: docs, steps, rejects, text, clusters, dsir_weights, buckets, "
        "contamination, mixture_log, train_log, runs of a `curator mix proxy` folder; those a folder has); "
        "a QUERY alone runs on DuckDB over the files it names",
    ),
    db: Path | None = typer.Option(None, "--db", help="keep the views in this DuckDB catalog file for other clients"),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file for csv/json/parquet (csv/json: stdout)"),
    max_rows: int = typer.Option(50, "--max-rows", min=1, help="rows printed by --format table"),
) -> None:
    """Query one or many run folders with DuckDB SQL; each view has a `run` column naming its run folder.

    curator sql runs/quickstart "SELECT source, kept, count(*) FROM docs GROUP BY ALL ORDER BY ALL"
    """
    from curator.stats.query import run_query
    from curator.stats.views import connect

    query = None if _is_folder(args[-1]) else args[-1]
    run_dirs = args if query is None else args[:-1]
    try:
        con, notes, views = connect(run_dirs, db)
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        if query is None:
            typer.echo(f"views: {', '.join(views)}" + (f" (catalog {db})" if db else ""))
            return
        sys.stdout.flush()  # csv/json without --output are written to the byte stream under it
        result = run_query(con, query, views, fmt, output, max_rows, stream=sys.stdout.buffer)
        if result is not None:
            typer.echo(result)
    except CuratorError as exc:
        fail(exc)


def stats(
    run_dir: Path = typer.Argument(..., help="a run folder (the --out of `curator run`)"),
    out: Path | None = typer.Option(None, "--out", help="folder for stats.md/.json/.png (default RUN_DIR/reports)"),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="also draw reports/stats.png"),
) -> None:
    """The corpus report: per-source flow through the steps, drop funnel, lengths, duplicates, languages, scores."""
    from curator.stats.render import markdown, write_report
    from curator.stats.report import corpus_report

    try:
        report = corpus_report(run_dir)
    except CuratorError as exc:
        fail(exc)
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(markdown(report))
    paths = write_report(report, out or run_dir / "reports", with_plot=plot)
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))


def contamination(
    run_dir: Path = typer.Argument(..., help="a finished run folder; its output/ documents are checked"),
    benchmark: Path = typer.Option(..., "--benchmark", "-b", help="benchmark items: JSONL / Parquet / HF folder"),
    ngram: int = typer.Option(13, "--ngram", "-n", help="words per n-gram"),
    min_matches: int = typer.Option(1, "--min-matches", help="n-grams in common that make a document contaminated"),
    text_field: str = typer.Option("text", "--text-field", help="benchmark field holding the item text"),
    id_field: str = typer.Option("id", "--id-field", help="benchmark field holding the item id"),
    mark: bool = typer.Option(False, "--mark", help="also write contamination/ids/<benchmark>.parquet for drop_listed"),
) -> None:
    """Word n-gram overlap of a run's documents with a benchmark, per source; --mark lists them for removal."""
    from curator.stats.contamination import load_benchmark, markdown, scan_run

    try:
        bench = load_benchmark(benchmark, ngram, text_field, id_field)
        report = scan_run(run_dir, bench, min_matches, mark)
    except CuratorError as exc:
        fail(exc)
    typer.echo(markdown(report))
    (run_dir / "contamination" / f"{bench.name}.json").write_text(json.dumps(report, indent=1))
