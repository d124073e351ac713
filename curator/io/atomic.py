"""Files written under a temporary name and renamed into place only when complete: one place for the rule.

`atomic_file(path)` yields an open binary file; on success it is flushed, fsynced and renamed over `path`,
on an exception the temporary file is removed. `write_text_atomic` / `write_table_atomic` and the streaming
`AtomicParquetWriter` build on it. Readers never see a half-written file; a crash leaves the old one whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TMP_PREFIX = ".tmp-"


def tmp_path_for(path: Path) -> Path:
    return path.with_name(TMP_PREFIX + path.name)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator:
    """An open binary file under `.tmp-<name>` that becomes `path` (fsync + rename) when the block ends
    without an exception; the parent folder is created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_for(path)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """`text` (UTF-8) as the whole content of `path`, atomically."""
    with atomic_file(path) as fh:
        fh.write(text.encode())
    return Path(path)


def write_table_atomic(path: str | os.PathLike, table: pa.Table, compression: str = "zstd") -> Path:
    """An Arrow table as Parquet, or CSV when `path` ends in .csv, atomically."""
    with atomic_file(path) as fh:
        if str(path).lower().endswith(".csv"):
            import pyarrow.csv as pcsv

            pcsv.write_csv(table, fh)
        else:
            pq.write_table(table, fh, compression=compression)
    return Path(path)


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
