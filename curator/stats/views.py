"""DuckDB views over one or many run folders (docs, steps, rejects, text, clusters, ...; a `run` column apart).

Views only: nothing is copied, DuckDB reads the Parquet files lazily and prunes columns, so a query over
`docs` never touches the document text (that lives in `text`, a separate set of files). Memory: DuckDB's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from curator.errors import ConfigError, RunError
from curator.pipeline.run_folder import require_run_folder


@dataclass(frozen=True)
class TableSpec:
    """Where a view's Parquet files live in a run folder, and the columns it derives from their paths."""

    final: str  # glob under the run folder once the run finished
    partial: str | None = None  # glob of the per-task parts of an interrupted run
    derived: str = ""  # extra SELECT expressions over DuckDB's `filename` column
    folder_column: str = "run"  # the column naming the folder a row comes from


TABLES: dict[str, TableSpec] = {
    "docs": TableSpec("stats/docs.parquet", "stats/parts/docs-*.parquet"),
    "steps": TableSpec("stats/steps.parquet", "stats/parts/steps-*.parquet"),
    "rejects": TableSpec("rejects/rejects.parquet", "stats/parts/rejects-*.parquet"),
    "text": TableSpec("output/*.parquet"),
    "clusters": TableSpec(
        "state/*/clusters/task-*.parquet",
        derived="regexp_extract(filename, '/state/[0-9]+-([^/]+)/clusters/', 1) AS step, "
        "CAST(regexp_extract(filename, 'task-([0-9]+)[.]parquet$', 1) AS INTEGER) AS task",
    ),
    "buckets": TableSpec("buckets/task-*/pieces.parquet"),
    "mixture_log": TableSpec("stats/mixture_log/part-*.parquet"),
    "train_log": TableSpec("stats/train_log/part-*.parquet"),
    "contamination": TableSpec(
        "contamination/*.parquet", derived="regexp_extract(filename, '([^/]+)[.]parquet$', 1) AS benchmark"
    ),
    # a `curator mix proxy` folder's runs table (one row per run and checkpoint; it has its own `run` column)
    "runs": TableSpec("runs.parquet", folder_column="folder"),
}

# views derived from `docs` when its files carry the columns (name -> columns; the key columns come first)
DOCS_SUBVIEWS: dict[str, tuple[str, ...]] = {
    "dsir_weights": ("dsir_log_weight", "dsir_length", "dsir_key", "dsir_copies", "dsir_fasttext_score"),
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
    trained = any((Path(root) / "stats" / log).is_dir() for log in ("mixture_log", "train_log"))
    if not trained and not (Path(root) / "runs.parquet").is_file():  # training runs and proxy-run folders
        root = require_run_folder(root)
    root = Path(root)
    files, notes = {}, []
    for view, spec in TABLES.items():
        found = sorted(root.glob(spec.final))
        if not found and spec.partial:
            found = sorted(root.glob(spec.partial))
            if found:
                notes.append(f"{name}: '{view}' is read from {len(found)} task part(s): the run did not finish")
        if found:
            files[view] = found
    if not files:
        raise RunError(f"'{root}' holds no stats tables yet (no task has finished)")
    return RunTables(name, root, files, notes)


def read_schema(path: Path):
    """A Parquet file's schema; a file that is not readable Parquet is a RunError naming it."""
    try:
        return pq.read_schema(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise RunError(f"{path}: not a readable Parquet file ({exc}); redo its run or task") from None


def schema_version(path: Path) -> str:
    meta = read_schema(path).metadata or {}
    return meta.get(b"curator.schema_version", b"?").decode()


def run_names(roots: list[Path]) -> list[str]:
    """The folder names, or the paths when two folders share a name."""
    names = [Path(r).name for r in roots]
    return names if len(set(names)) == len(names) else [str(r) for r in roots]


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def view_sql(view: str, runs: list[RunTables]) -> str | None:
    """CREATE VIEW over every run that has the table, with a `run` column (`folder` for the runs table, which
    has its own); None when none has it."""
    parts = []
    for r in runs:
        if view in r.files:
            paths = "[" + ", ".join(_quote(str(p.resolve())) for p in r.files[view]) + "]"
            derived, column = TABLES[view].derived, TABLES[view].folder_column
            if derived:
                source = f"read_parquet({paths}, union_by_name = true, filename = true)"
                parts.append(f"SELECT {_quote(r.name)} AS {column}, {derived}, * EXCLUDE (filename) FROM {source}")
            else:
                parts.append(f"SELECT {_quote(r.name)} AS {column}, * FROM read_parquet({paths}, union_by_name = true)")
    if not parts:
        return None
    return f"CREATE OR REPLACE VIEW {view} AS " + " UNION ALL BY NAME ".join(parts)


def subview_sql(view: str, runs: list[RunTables]) -> str | None:
    """A narrow view over `docs` (key columns + the family's columns) when some run's docs carry them."""
    present: list[str] = []
    for r in runs:
        if "docs" in r.files:
            names = read_schema(r.files["docs"][0]).names
            present += [c for c in DOCS_SUBVIEWS[view] if c in names and c not in present]
    if not present:
        return None
    columns = ", ".join(["run", "source", "id", "kept", "drop_reason", *present])
    return f"CREATE OR REPLACE VIEW {view} AS SELECT {columns} FROM docs WHERE {present[0]} IS NOT NULL"


def check_versions(runs: list[RunTables]) -> None:
    """Runs whose tables were written with different schema versions cannot share a view."""
    for view in TABLES:
        versions = {r.name: schema_version(r.files[view][0]) for r in runs if view in r.files}
        if len(set(versions.values())) > 1:
            listed = ", ".join(f"{k} (v{v})" for k, v in versions.items())
            raise ConfigError(f"'{view}' has different schema versions across runs: {listed}; query them separately")


def duckdb_message(exc: Exception) -> str:
    """DuckDB's whole message, hints included ("Candidate bindings", "Did you mean", LINE/caret), lines indented."""
    lines = [line.rstrip() for line in str(exc).strip().splitlines()]
    return "\n  ".join(line for line in lines if line)


def _create_view(con, sql: str, view: str, roots: list[Path]) -> None:
    """Run a CREATE VIEW; a file DuckDB cannot read (e.g. a damaged Parquet footer) is a RunError."""
    import duckdb

    try:
        con.execute(sql)
    except duckdb.Error as exc:
        where = ", ".join(map(str, roots))
        raise RunError(f"cannot read the '{view}' tables of {where}: {duckdb_message(exc)}") from None


def connect(run_dirs: list[str | Path], db: str | Path | None = None):
    """A DuckDB connection (in memory, or the catalog file `db`) with the views; returns (con, notes, views)."""
    import duckdb

    if not run_dirs:  # plain DuckDB over the files a query names: SELECT ... FROM 'path/*.parquet'
        try:
            return duckdb.connect(str(db) if db else ":memory:"), [], []
        except duckdb.Error as exc:
            raise ConfigError(f"--db {db}: cannot open the catalog: {duckdb_message(exc)}") from None
    roots = [Path(r) for r in run_dirs]
    runs = [find_tables(root, name) for root, name in zip(roots, run_names(roots), strict=True)]
    check_versions(runs)
    try:
        con = duckdb.connect(str(db) if db else ":memory:")
    except duckdb.Error as exc:
        raise ConfigError(f"--db {db}: cannot open the catalog: {duckdb_message(exc)}") from None
    views = []
    for view in TABLES:
        sql = view_sql(view, runs)
        if sql:
            _create_view(con, sql, view, roots)
            views.append(view)
    for view in DOCS_SUBVIEWS:
        sql = subview_sql(view, runs) if "docs" in views else None
        if sql:
            _create_view(con, sql, view, roots)
            views.append(view)
    return con, [n for r in runs for n in r.notes], views


def open_runs(*run_dirs: str | Path, db: str | Path | None = None):
    """A DuckDB connection with the views of these run folders (docs, steps, rejects, ...), for Python users:
    `curator.connect("runs/quickstart").sql("SELECT source, count(*) FROM docs GROUP BY ALL").df()`."""
    con, _notes, _views = connect(list(run_dirs), db)
    return con
