"""The per-document and per-step stats tables that every run writes (schemas and the per-task writer)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.io.atomic import AtomicParquetWriter
from curator.pipeline.step import Step

DOCS_BASE_FIELDS = [
    pa.field("source", pa.string(), nullable=False),
    pa.field("id", pa.string(), nullable=False),
    pa.field("kept", pa.bool_(), nullable=False),
    pa.field("drop_reason", pa.string()),  # null when kept
    pa.field("drop_step", pa.string()),  # the step that dropped the document (its name)
    pa.field("drop_step_index", pa.int32()),  # its 1-based position in the pipeline (steps.step_index)
    pa.field("file", pa.string(), nullable=False),  # input file relative to its input root
    pa.field("row", pa.int64(), nullable=False),  # record index in that file
    pa.field("n_bytes", pa.int64(), nullable=False),  # UTF-8 bytes of the text as read
]

STEPS_SCHEMA = pa.schema(
    [
        pa.field("task", pa.int32(), nullable=False),
        pa.field("step_index", pa.int32(), nullable=False),  # 0 = read
        pa.field("step", pa.string(), nullable=False),
        pa.field("rows_in", pa.int64(), nullable=False),
        pa.field("rows_out", pa.int64(), nullable=False),
        pa.field("rows_dropped", pa.int64(), nullable=False),
        pa.field("dropped_by_reason", pa.map_(pa.string(), pa.int64())),
        pa.field("bytes_in", pa.int64(), nullable=False),  # text bytes entering the step
        pa.field("bytes_out", pa.int64(), nullable=False),
        pa.field("seconds", pa.float64(), nullable=False),  # wall time spent inside the step
    ],
    metadata={"curator.table": "steps", "curator.schema_version": "1"},
)


def docs_schema(steps: list[Step]) -> pa.Schema:
    """Base columns plus every score column the steps declare, in step order."""
    fields = list(DOCS_BASE_FIELDS)
    seen = {f.name for f in fields}
    for step in steps:
        for name, dtype in step.stats_columns.items():
            if name in seen:
                continue
            fields.append(pa.field(name, dtype))
            seen.add(name)
    return pa.schema(fields, metadata={"curator.table": "docs", "curator.schema_version": "1"})


class DocStatsWriter:
    """Writes one stats row per document (kept or dropped) for one task. Memory: one batch."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.schema = schema
        self._writer = AtomicParquetWriter(path, schema)
        self.kept = 0
        self.dropped = 0

    def _row_batch(
        self, batch: pa.RecordBatch, kept: bool, reasons: pa.Array | None, step: str | None, index: int | None = None
    ):
        n = batch.num_rows
        arrays = []
        for field in self.schema:
            if field.name == "kept":
                arrays.append(pa.repeat(kept, n))
            elif field.name == "drop_reason":
                arrays.append(reasons if reasons is not None else pa.nulls(n, pa.string()))
            elif field.name == "drop_step":
                arrays.append(pa.repeat(pa.scalar(step, pa.string()), n) if step else pa.nulls(n, pa.string()))
            elif field.name == "drop_step_index":
                arrays.append(pa.repeat(pa.scalar(index, pa.int32()), n))
            elif field.name in batch.schema.names:
                col = batch.column(field.name)
                arrays.append(col if col.type == field.type else col.cast(field.type))
            else:
                arrays.append(pa.nulls(n, field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def write_kept(self, batch: pa.RecordBatch) -> None:
        self._writer.write(self._row_batch(batch, True, None, None))
        self.kept += batch.num_rows

    def write_dropped(self, step: str, batch: pa.RecordBatch, reasons: pa.Array, index: int | None = None) -> None:
        self._writer.write(self._row_batch(batch, False, reasons, step, index))
        self.dropped += batch.num_rows

    def copy_dropped(self, part: Path) -> None:
        """Append the dropped documents an earlier pass of this task recorded in `part` (same schema)."""
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(part)
        for g in range(pf.num_row_groups):
            table = pf.read_row_group(g)
            self._writer.write(table)
            self.dropped += table.num_rows

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


def step_totals(steps_table: Path) -> list[dict]:
    """Rows in/out/dropped, MB in and seconds per step, summed over tasks, in pipeline order (DuckDB)."""
    import duckdb

    query = """
        SELECT step, sum(rows_in) AS rows_in, sum(rows_out) AS rows_out, sum(rows_dropped) AS dropped,
               sum(bytes_in) / 1e6 AS mb_in, sum(seconds) AS seconds
        FROM read_parquet(?) GROUP BY step_index, step ORDER BY step_index"""
    rel = duckdb.execute(query, [str(steps_table)])
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]
