"""DuckDB views over one or many run folders: docs, steps, rejects, text, buckets (a `run` column apart).

Views only: nothing is copied, DuckDB reads the Parquet files lazily and prunes columns, so a query over
`docs` never touches the document text (that lives in `text`, a separate set of files). Memory: DuckDB's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curator.errors import ConfigError, RunError

# view -> (glob under the run folder for a finished run, glob for an interrupted one or None)
TABLES: dict[str, tuple[str, str | None]] = {
    "docs": ("stats/docs.parquet", "stats/parts/docs-*.parquet"),
    "steps": ("stats/steps.parquet", "stats/parts/steps-*.parquet"),
    "rejects": ("rejects/rejects.parquet", "stats/parts/rejects-*.parquet"),
    "text": ("output/*.parquet", None),
    "buckets": ("buckets/task-*/pieces.parquet", None),
}


@dataclass
class RunTables:
    """The Parquet files behind each view for one run folder, and what a user should be told about it."""

    name: str
    root: Path
    files: dict[str, list[Path]]
    notes: list[str]


def find_tables(root: Path, name: str) -> RunTables:
    """Files per view of one run; an interrupted run falls back to its per-task parts, with a note."""
    root = Path(root)
    if not (root / "config.yaml").exists():
        raise RunError(f"'{root}' is not a run folder (no config.yaml); give the folder passed to `curator run --out`")
    files, notes = {}, []
    for view, (final, partial) in TABLES.items():
        found = sorted(root.glob(final))
        if not found and partial:
            found = sorted(root.glob(partial))
            if found:
                notes.append(f"{name}: '{view}' is read from {len(found)} task part(s): the run did not finish")
        if found:
            files[view] = found
    if not files:
        raise RunError(f"'{root}' holds no stats tables yet (no task has finished)")
    return RunTables(name, root, files, notes)


def schema_version(path: Path) -> str:
    meta = pq.read_schema(path).metadata or {}
    return meta.get(b"curator.schema_version", b"?").decode()


def run_names(roots: list[Path]) -> list[str]:
    """The folder names, or the paths when two folders share a name."""
    names = [Path(r).name for r in roots]
    return names if len(set(names)) == len(names) else [str(r) for r in roots]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def view_sql(view: str, runs: list[RunTables]) -> str | None:
    """CREATE VIEW over every run that has the table, with a `run` column; None when none has it."""
    parts = []
    for r in runs:
        if view in r.files:
            paths = "[" + ", ".join(_quote(str(p.resolve())) for p in r.files[view]) + "]"
            parts.append(f"SELECT {_quote(r.name)} AS run, * FROM read_parquet({paths}, union_by_name = true)")
    if not parts:
        return None
    return f"CREATE OR REPLACE VIEW {view} AS " + " UNION ALL BY NAME ".join(parts)


def check_versions(runs: list[RunTables]) -> None:
    """Runs whose tables were written with different schema versions cannot share a view."""
    for view in TABLES:
        versions = {r.name: schema_version(r.files[view][0]) for r in runs if view in r.files}
        if len(set(versions.values())) > 1:
            listed = ", ".join(f"{k} (v{v})" for k, v in versions.items())
            raise ConfigError(f"'{view}' has different schema versions across runs: {listed}; query them separately")


def connect(run_dirs: list[str | Path], db: str | Path | None = None):
    """A DuckDB connection (in memory, or the catalog file `db`) with the views; returns (con, notes, views)."""
    import duckdb

    if not run_dirs:
        raise ConfigError("give at least one run folder")
    roots = [Path(r) for r in run_dirs]
    runs = [find_tables(root, name) for root, name in zip(roots, run_names(roots), strict=True)]
    check_versions(runs)
    con = duckdb.connect(str(db) if db else ":memory:")
    views = []
    for view in TABLES:
        sql = view_sql(view, runs)
        if sql:
            con.execute(sql)
            views.append(view)
    return con, [n for r in runs for n in r.notes], views
