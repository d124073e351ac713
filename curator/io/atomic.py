"""A Parquet file written under a temporary name and renamed into place only when complete."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"


def tmp_path_for(path: Path) -> Path:
    return path.with_name(TMP_PREFIX + path.name)


class AtomicParquetWriter:
    """Writes batches to `.tmp-<name>` and renames to `<name>` on close; a crash never leaves `<name>` half-done.

    Memory: one row group (the batch passed to `write`) at a time.
    """

    def __init__(self, path: Path, schema: pa.Schema, compression: str = "zstd", compression_level: int | None = 3):
        self.path = Path(path)
        self.schema = schema
        self._tmp = tmp_path_for(self.path)
        self._compression = compression
        self._level = compression_level
        self._file = None
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._writer = pq.ParquetWriter(
            self._file, self.schema, compression=self._compression, compression_level=self._level
        )

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        if self._writer is None:
            self._open()
        if batch.schema != self.schema:
            batch = batch.select(self.schema.names).cast(self.schema)
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        self._writer.write_table(table)  # one row group per call (write_batch would buffer it)
        self.rows += batch.num_rows

    def tell(self) -> int:
        """Bytes written to disk so far (row groups already flushed)."""
        return self._file.tell() if self._file is not None else 0

    def close(self) -> Path:
        if self._writer is None:
            self._open()  # an empty table is still a table: readers and SQL views rely on it
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self._tmp, self.path)
        self._writer = None
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._file.close()
                self._writer = None
        self._tmp.unlink(missing_ok=True)
