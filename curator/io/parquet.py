"""Stream Parquet files into document batches; a file whose columns cannot give documents is one reject."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator.io.documents import SchemaMismatch, arrow_to_documents, row_range
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import ReadLimits, Shard


class ParquetReader:
    """Yields FLOW_SCHEMA batches from one Parquet file, or from its row groups [row_start, row_stop) when the
    planner cut a large file into several tasks (row numbers stay file-relative, so ids and rejects too).

    Memory: one row group's pages plus one batch of at most `limits.batch_rows` rows.
    """

    def __init__(self, shard: Shard, limits: ReadLimits, rejects: RejectSink):
        self.shard = shard
        self.limits = limits
        self.rejects = rejects
        self.records = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            pf = pq.ParquetFile(self.shard.path)
        except (OSError, pa.ArrowException) as exc:
            self._file_reject("unreadable_file", f"not a readable Parquet file: {exc}", None)
            return
        total = pf.metadata.num_rows
        if total == 0:
            self._file_reject("empty_file", "Parquet file has no rows", 0)
            return
        row, end, groups = self._range(pf)
        try:
            for batch in pf.iter_batches(batch_size=self.limits.batch_rows, row_groups=groups):
                try:
                    docs = arrow_to_documents(
                        batch, row_range(row, batch.num_rows), self.shard, self.limits, self.rejects
                    )
                except SchemaMismatch as exc:
                    self._file_reject(
                        "schema_mismatch",
                        f"{exc}; the file's {end - row:,} rows from row {row} "
                        "cannot be read as documents (map the fields with text_field/id_field/...)",
                        end - row,
                        row=row,
                    )
                    self.records = end - self.shard.row_start
                    return
                row += batch.num_rows
                self.records = row - self.shard.row_start
                if docs is not None:
                    yield docs
        except (OSError, pa.ArrowException) as exc:
            self._file_reject("truncated_file", f"reading failed after row {row}: {exc}", None, row=row)

    def _range(self, pf: pq.ParquetFile) -> tuple[int, int, list[int] | None]:
        """(first row, end row, row groups to read or None for all) of this task."""
        if self.shard.row_stop is None:
            return 0, pf.metadata.num_rows, None
        groups, first = [], 0
        for g in range(pf.metadata.num_row_groups):
            n = pf.metadata.row_group(g).num_rows
            if self.shard.row_start <= first and first + n <= self.shard.row_stop:
                groups.append(g)
            first += n
        return self.shard.row_start, self.shard.row_stop, groups

    def _file_reject(self, reason: str, detail: str, n_docs: int | None, **where) -> None:
        self.rejects.add(Reject.for_file(self.shard, reason, detail, n_docs, **where))


def read_parquet_file(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """One Parquet file as a table, without `pq.read_table`'s dataset layer (which imports pandas: 0.2 s)."""
    with pq.ParquetFile(path) as pf:
        return pf.read(columns=columns)


def drop_rows_after(parts: list[Path], step: int, schema: pa.Schema) -> int:
    """Remove rows whose `step` is after `step` from Parquet part files (each rewritten atomically, or removed
    when nothing of it is left); returns how many rows went. For logs replayed from a checkpoint. Memory: one part."""
    import pyarrow.compute as pc

    from curator.io.atomic import AtomicParquetWriter

    dropped = 0
    for path in parts:
        table = read_parquet_file(path)
        keep = table.filter(pc.less_equal(table.column("step"), step))
        if keep.num_rows == table.num_rows:
            continue
        dropped += table.num_rows - keep.num_rows
        if keep.num_rows == 0:
            path.unlink()
            continue
        writer = AtomicParquetWriter(path, schema)
        writer.write(keep.cast(schema))
        writer.close()
    return dropped
