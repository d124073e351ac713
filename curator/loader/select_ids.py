"""A run-source domain's documents: the kept ids a SQL predicate selects, per run and per output file (task)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa

from curator.errors import ConfigError
from curator.io.atomic import write_table_atomic
from curator.io.sources import Shard
from curator.stats.views import _quote, connect, duckdb_message, run_names

IDS_SCHEMA = pa.schema([pa.field("task", pa.int32(), nullable=False), pa.field("id", pa.string(), nullable=False)])


def select_ids(domain: str, roots: list[Path], where: str, shards: list[Shard]) -> tuple[pa.Table, int]:
    """(task, id) of every kept document of `roots` matching `where`, and how many kept documents matched.

    The predicate runs over the runs' `docs` view (with its `run` column); ids are then matched in each run's
    own output files, so two runs that share an id never lend each other documents. `shards` are the domain
    pipeline's tasks (one per output file, runs in order); rows are sorted by (task, id). Memory: DuckDB's
    (out of core) plus the selected (task, id) rows.
    """
    import duckdb

    try:
        con, _notes, views = connect(roots)
    except ConfigError as exc:
        raise ConfigError(f"domain '{domain}': {exc}") from None
    task_of = {os.path.abspath(s.path): i for i, s in enumerate(shards)}
    try:
        if "docs" not in views:
            raise ConfigError(f"domain '{domain}': the runs {', '.join(map(str, roots))} have no docs table")
        try:
            con.execute(f"CREATE TEMP TABLE selected AS SELECT run, id FROM docs WHERE kept AND ({where})")
        except duckdb.Error as exc:
            raise ConfigError(
                f"domain '{domain}': the SQL predicate `{where}` failed over the docs view: {duckdb_message(exc)}"
            ) from None
        ((matched,),) = con.execute("SELECT count(*) FROM selected").fetchall()
        parts = []
        for name, root in zip(run_names(roots), roots, strict=True):
            files = sorted(p for p in task_of if Path(p).parent == (root / "output").resolve())
            if not files:
                continue
            listed = "[" + ", ".join(_quote(f) for f in files) + "]"
            rows = con.sql(
                f"SELECT filename, id FROM read_parquet({listed}, filename = true) "
                "WHERE id IN (SELECT id FROM selected WHERE run = $run)",
                params={"run": name},
            ).to_arrow_table()
            tasks = [task_of[os.path.abspath(f)] for f in rows.column("filename").to_pylist()]
            parts.append(pa.table({"task": pa.array(tasks, pa.int32()), "id": rows.column("id")}, schema=IDS_SCHEMA))
    finally:
        con.close()
    table = pa.concat_tables(parts) if parts else IDS_SCHEMA.empty_table()
    return table.sort_by([("task", "ascending"), ("id", "ascending")]), int(matched)


def count_selected(domain: str, roots: list[Path], where: str) -> int:
    """How many kept documents `where` selects; a bad predicate or a selection of 0 is a ConfigError."""
    import duckdb

    try:
        con, _notes, views = connect(roots)
    except ConfigError as exc:
        raise ConfigError(f"domain '{domain}': {exc}") from None
    try:
        if "docs" not in views:
            raise ConfigError(f"domain '{domain}': the runs {', '.join(map(str, roots))} have no docs table")
        try:
            ((matched,),) = con.execute(f"SELECT count(*) FROM docs WHERE kept AND ({where})").fetchall()
        except duckdb.Error as exc:
            raise ConfigError(
                f"domain '{domain}': the SQL predicate `{where}` failed over the docs view: {duckdb_message(exc)}"
            ) from None
    finally:
        con.close()
    if matched == 0:
        raise ConfigError(
            f"domain '{domain}': `{where}` matched 0 kept documents of {', '.join(map(str, roots))}; "
            'check the predicate with `curator sql RUN "SELECT ... FROM docs WHERE kept AND (...)"`'
        )
    return int(matched)


def write_ids(table: pa.Table, path: Path) -> None:
    """Publish the id list atomically."""
    write_table_atomic(path, table)


def ids_digest(table: pa.Table) -> str:
    """SHA-256 of an id list's content (not of its Parquet bytes, which depend on the writer's version)."""
    digest = hashlib.sha256(table.column("task").to_numpy().tobytes())
    for chunk in table.column("id").chunks:
        if not len(chunk):
            continue
        digest.update("\n".join(chunk.to_pylist()).encode())
        digest.update(b"\n")
    return digest.hexdigest()
