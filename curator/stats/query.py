"""Run a SQL query over the views: print it as a table, or write CSV / JSON / Parquet."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from curator.errors import ConfigError
from curator.stats.views import duckdb_message

FORMATS = ("table", "csv", "json", "parquet")
STREAMABLE = ("csv", "json")


def run_query(
    con,
    query: str,
    views: list[str],
    fmt: str = "table",
    output: Path | None = None,
    max_rows: int = 50,
    stream: BinaryIO | None = None,
) -> str | None:
    """The printed table (fmt=table, up to max_rows rows) or the written file's path; csv/json without `output`
    go to the binary `stream` (then None is returned). User errors -> ConfigError."""
    import duckdb

    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}")
    if fmt != "table" and output is None and (fmt not in STREAMABLE or stream is None):
        raise ConfigError(f"--format {fmt} needs --output FILE (only csv and json can be written to stdout)")
    try:
        if fmt != "table" and output is None:
            _copy_to_stream(con, query, fmt, stream)
            return None
        if fmt == "table":
            rel = con.sql(query)
            if rel is None:
                return "ok"
            names = rel.columns
            rows = rel.limit(max_rows + 1).fetchall()
            return format_table(names, rows[:max_rows], more=len(rows) > max_rows)
        _copy(con, query, fmt, output)
        return str(output)
    except duckdb.Error as exc:
        known = ", ".join(views) if views else "none (no run folder given: name files, FROM 'path/*.parquet')"
        raise ConfigError(f"query failed: {duckdb_message(exc)}\n  views: {known}") from None


def _copy(con, query: str, fmt: str, output: Path) -> None:
    """DuckDB's COPY of the query's result to `output` in `fmt`."""
    options = {"csv": "FORMAT CSV, HEADER", "json": "FORMAT JSON", "parquet": "FORMAT PARQUET"}[fmt]
    target = str(output).replace("'", "''")
    con.execute(f"COPY ({query.strip().rstrip(';')}) TO '{target}' ({options})")


def _copy_to_stream(con, query: str, fmt: str, stream: BinaryIO) -> None:
    """The same bytes as `_copy` to a file, streamed to `stream` (DuckDB writes a temporary file first)."""
    with tempfile.TemporaryDirectory(prefix="curator-sql-") as tmp:
        path = Path(tmp) / f"result.{fmt}"
        _copy(con, query, fmt, path)
        with open(path, "rb") as fh:
            shutil.copyfileobj(fh, stream)
        stream.flush()


def _cell(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e6 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    s = str(v).replace("\n", " ")
    return s if len(s) <= 60 else s[:57] + "..."


def format_table(names: list[str], rows: list[tuple], more: bool = False) -> str:
    """Aligned plain-text table; numbers right-aligned."""
    cells = [[_cell(v) for v in row] for row in rows]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) for i in range(len(names))]
    widths = [max([len(n)] + [len(c[i]) for c in cells]) for i, n in enumerate(names)]

    def line(values):
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True))

    out = [line(names), line(["-" * w for w in widths])] + [line(c) for c in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{', more not shown' if more else ''})")
    return "\n".join(x.rstrip() for x in out)
