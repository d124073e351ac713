"""`curator sql`: views over one or many run folders, catalog file, output formats, and user errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline


@pytest.fixture(scope="module")
def runs(sample_corpus, tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("sqlruns")
    out = []
    for name, min_words in (("short", 5), ("long", 200)):
        cfg = parse_pipeline(
            {
                "name": name,
                "inputs": [{"path": str(sample_corpus / "*.jsonl.zst")}],
                "steps": [{"length_filter": {"min_words": min_words}}],
            }  # fmt: skip
        )
        run_pipeline(cfg, root / name, workers=1, quiet=True)
        out.append(root / name)
    return out


def records(run: Path) -> int:
    return json.loads((run / "stats" / "summary.json").read_text())["records"]


def cli(*args):
    return CliRunner().invoke(app, ["sql", *map(str, args)])


def test_views_over_two_runs_with_a_run_column(runs):
    result = cli(*runs, "SELECT run, count(*) AS n, sum(kept::int) AS kept FROM docs GROUP BY run ORDER BY run")
    assert result.exit_code == 0, result.output
    for run in runs:
        summary = json.loads((run / "stats" / "summary.json").read_text())
        assert f"{run.name}" in result.output and f"{summary['kept']:,}" in result.output
    text_rows = cli(runs[0], "SELECT count(*) FROM text")
    assert f"{json.loads((runs[0] / 'stats' / 'summary.json').read_text())['kept']:,}" in text_rows.output


def test_catalog_file_opens_in_another_client(runs, tmp_path):
    db = tmp_path / "catalog.duckdb"
    result = cli(*runs, "--db", db)
    assert result.exit_code == 0 and "views: docs, steps, rejects, text" in result.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(DISTINCT run) FROM docs").fetchall() == [(2,)]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_output_formats(runs, tmp_path, fmt):
    out = tmp_path / f"x.{fmt}"
    result = cli(
        runs[0], "SELECT source, count(*) AS n FROM docs GROUP BY ALL ORDER BY ALL", "--format", fmt, "-o", out
    )
    assert result.exit_code == 0, result.output
    rows = duckdb.sql(f"SELECT * FROM '{out}'").fetchall()
    assert len(rows) == 4 and sum(r[1] for r in rows) == records(runs[0])


def test_interrupted_run_reads_task_parts_with_a_note(runs, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(runs[0], partial)
    (partial / "stats" / "docs.parquet").unlink()
    result = cli(partial, "SELECT count(*) FROM docs")
    assert result.exit_code == 0 and "task part(s): the run did not finish" in result.output
    assert f"{records(runs[0]):,}" in result.output


# -- user errors -------------------------------------------------------------------------------------------


def test_query_errors_name_the_problem_and_the_views(runs):
    result = cli(runs[0], "SELEC 1")
    assert result.exit_code == 2 and "query failed: Parser Error" in result.output and "views: docs" in result.output
    assert "Traceback" not in result.output
    result = cli(runs[0], "SELECT * FROM clusterz")
    assert result.exit_code == 2 and "clusterz does not exist" in result.output


def test_not_a_run_folder_and_empty_run(runs, tmp_path):
    result = cli(tmp_path / "nothing", "SELECT 1")
    assert result.exit_code == 2 and "'nothing' does not exist" in result.output.replace(str(tmp_path) + "/", "")
    result = cli(tmp_path, "SELECT 1")
    assert result.exit_code == 2 and "is not a run folder (no config.yaml)" in result.output
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.yaml").write_text("name: x\n")
    result = cli(tmp_path / "empty", "SELECT 1")
    assert result.exit_code == 1 and "holds no stats tables yet" in result.output


def test_runs_with_different_schema_versions(runs, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(runs[1], other)
    table = pq.read_table(other / "stats" / "docs.parquet")
    meta = {**(table.schema.metadata or {}), b"curator.schema_version": b"2"}
    pq.write_table(table.replace_schema_metadata(meta), other / "stats" / "docs.parquet")
    result = cli(runs[0], other, "SELECT 1")
    assert result.exit_code == 2 and "'docs' has different schema versions across runs" in result.output


def test_parquet_needs_output(runs):
    result = cli(runs[0], "SELECT 1", "--format", "parquet")
    assert result.exit_code == 2 and "--format parquet needs --output FILE" in result.output
    assert "only csv and json can be written to stdout" in result.output


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_csv_and_json_without_output_go_to_stdout(runs, tmp_path, fmt):
    query = "SELECT source, count(*) AS n FROM docs GROUP BY ALL ORDER BY ALL"
    result = cli(runs[0], query, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert cli(runs[0], query, "--format", fmt, "-o", tmp_path / f"x.{fmt}").exit_code == 0
    assert result.stdout_bytes == (tmp_path / f"x.{fmt}").read_bytes()
    lines = result.stdout.splitlines()
    if fmt == "csv":
        assert lines[0] == "source,n" and len(lines) == 5
    else:
        assert sum(json.loads(line)["n"] for line in lines) == records(runs[0])


def test_sql_errors_keep_duckdbs_hints(runs):
    result = cli(runs[0], "SELECT sourc, count(*) FROM docs GROUP BY ALL")
    assert result.exit_code == 2 and 'Referenced column "sourc" not found' in result.output
    assert "Candidate bindings:" in result.output and '"source"' in result.output
    assert "views: docs" in result.output
    result = cli(runs[0], "SELECT count(*) FROM dosc")
    assert result.exit_code == 2 and 'Did you mean "docs"' in result.output
    result = cli(runs[0], "SELECT lenght(source) FROM docs", "--format", "json")  # the COPY path keeps them too
    assert result.exit_code == 2 and 'Did you mean "length"' in result.output and result.stdout == ""


def test_a_damaged_table_is_a_run_problem(runs, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(runs[0], damaged)
    (damaged / "stats" / "steps.parquet").write_bytes(b"not parquet")
    result = cli(damaged, "SELECT 1")
    assert result.exit_code == 1 and "steps.parquet: not a readable Parquet file" in result.output
    assert "Traceback" not in result.output
    (damaged / "stats" / "steps.parquet").unlink()  # read from the task parts: a later part is damaged
    parts = sorted((damaged / "stats" / "parts").glob("steps-*.parquet"))
    assert len(parts) > 1
    parts[-1].write_bytes(b"not parquet either")
    result = cli(damaged, "SELECT 1")
    assert result.exit_code == 1 and "cannot read the 'steps' tables of" in result.output
    assert "Traceback" not in result.output


def test_table_printing_caps_rows(runs):
    result = cli(runs[0], "SELECT id FROM docs", "--max-rows", "3")
    assert "(3 rows, more not shown)" in result.output


def test_a_long_query_is_a_query_not_a_path(runs):
    """A query over 255 bytes used to be tested as a folder name and crash with 'File name too long'."""
    query = (
        "SELECT d.source, count(*) AS n, avg(d.n_bytes) AS mean_bytes, min(d.row) AS first_row "
        "FROM docs d JOIN docs e ON d.id = e.id AND d.file = e.file AND d.row = e.row "
        "WHERE d.kept OR NOT d.kept GROUP BY ALL HAVING count(*) > 0 ORDER BY d.source, n DESC, mean_bytes, first_row"
    )
    assert len(query.encode()) > 255
    result = cli(runs[0], query, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "source,n,mean_bytes,first_row"


def test_a_proxy_runs_folder_gives_the_runs_view_and_a_bare_query_reads_files(tmp_path):
    import pyarrow as pa

    proxies = tmp_path / "proxies"
    proxies.mkdir()
    table = pa.table({"run": ["a", "a", "b"], "tokens": [10, 20, 20], "loss:e0": [3.0, 2.5, 2.4]})
    pq.write_table(table, proxies / "runs.parquet")
    runner = CliRunner()
    result = runner.invoke(
        app, ["sql", str(proxies), 'SELECT run, min("loss:e0") AS best FROM runs GROUP BY run ORDER BY run']
    )
    assert result.exit_code == 0, result.output
    assert "2.5" in result.output and "2.4" in result.output
    path = proxies / "runs.parquet"
    result = runner.invoke(app, ["sql", f"SELECT count(*) AS n FROM '{path}'", "--format", "csv"])
    assert result.exit_code == 0 and result.output.splitlines()[-1] == "3", result.output
    result = runner.invoke(app, ["sql", "SELECT * FROM 'nowhere.parquet'"])
    assert result.exit_code == 2 and "views: none (no run folder given" in result.output
    result = runner.invoke(app, ["sql", str(tmp_path), "SELECT 1"])  # neither a run nor a proxies folder
    assert result.exit_code == 2 and "is not a run folder" in result.output
