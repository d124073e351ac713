"""Sharded Parquet output: deterministic names, temp-then-rename, rotation by size."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.io.atomic import AtomicParquetWriter


class ShardedParquetWriter:
    """Writes `<dir>/<prefix>-0000.parquet`, `-0001`, ... rotating once a shard reaches `max_shard_bytes`.

    Each shard appears under its final name only when complete. Memory: one batch at a time.
    Names depend only on the prefix and the data, so the same input gives the same files.
    """

    def __init__(
        self,
        directory: Path,
        prefix: str,
        schema: pa.Schema,
        max_shard_bytes: int = 256 << 20,
        compression: str = "zstd",
        compression_level: int | None = 3,
    ):
        self.directory = Path(directory)
        self.prefix = prefix
        self.schema = schema
        self.max_shard_bytes = max_shard_bytes
        self._compression = compression
        self._level = compression_level if compression not in ("none", "snappy") else None
        self._current: AtomicParquetWriter | None = None
        self.paths: list[Path] = []
        self.rows = 0

    def _next(self) -> AtomicParquetWriter:
        path = self.directory / f"{self.prefix}-{len(self.paths):04d}.parquet"
        self.paths.append(path)
        return AtomicParquetWriter(path, self.schema, self._compression, self._level)

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        if self._current is None:
            self._current = self._next()
        self._current.write(batch)
        self.rows += batch.num_rows
        if self._current.tell() >= self.max_shard_bytes:
            self._current.close()
            self._current = None

    def close(self) -> list[Path]:
        """Finish the open shard; a task that kept nothing writes no shard at all."""
        if self._current is not None:
            self._current.close()
            self._current = None
        return self.paths

    def abort(self) -> None:
        if self._current is not None:
            self._current.abort()
            self._current = None
