"""Rows that could not be read or validated: where they were, why, and a snippet of what they held."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curator.io.atomic import AtomicParquetWriter

REJECTS_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("file", pa.string(), nullable=False),  # input file relative to its input root
        pa.field("line", pa.int64()),  # 1-based line number (JSONL); null for columnar inputs
        pa.field("row", pa.int64()),  # 0-based record index; for JSONL the line index, so ids stay stable
        pa.field("id", pa.string()),  # the id the document would have had, when it can be known
        pa.field("reason", pa.string(), nullable=False),  # short code, e.g. malformed_json
        pa.field("detail", pa.string(), nullable=False),  # human-readable explanation
        pa.field("raw", pa.string()),  # the first bytes of the offending record, invalid UTF-8 replaced
        pa.field("n_docs", pa.int64()),  # documents this reject stands for (0: none; null: unknown)
    ],
    metadata={"curator.table": "rejects", "curator.schema_version": "1"},
)

RAW_SNIPPET_BYTES = 512


@dataclass
class Reject:
    """One rejected record, or one whole unreadable file (then row is None and n_docs may be >1)."""

    file: str
    reason: str
    detail: str
    line: int | None = None
    row: int | None = None
    source: str | None = None
    id: str | None = None
    raw: bytes | str | None = None
    n_docs: int | None = 1

    @classmethod
    def for_file(cls, shard, reason: str, detail: str, n_docs: int | None, **where) -> Reject:
        """A reject for a whole file (or its unreadable rest); `where` may give line, row and raw."""
        return cls(file=shard.file_key, reason=reason, detail=detail, n_docs=n_docs, source=shard.force_source, **where)

    def as_row(self) -> dict:
        raw = self.raw
        if isinstance(raw, bytes):
            raw = raw[:RAW_SNIPPET_BYTES].decode("utf-8", errors="replace")
        elif isinstance(raw, str):
            raw = raw[:RAW_SNIPPET_BYTES]
        return {
            "source": self.source,
            "file": self.file,
            "line": self.line,
            "row": self.row,
            "id": self.id,
            "reason": self.reason,
            "detail": self.detail,
            "raw": raw,
            "n_docs": self.n_docs,
        }

    def location(self) -> str:
        where = f"line {self.line}" if self.line is not None else (f"row {self.row}" if self.row is not None else "")
        return f"{self.file}{': ' + where if where else ''}"


class RejectSink:
    """Collects rejects and writes them to a Parquet file in bounded chunks (at most `flush_rows` in RAM)."""

    def __init__(self, path: Path, flush_rows: int = 10_000, on_reject=None):
        self._writer = AtomicParquetWriter(path, REJECTS_SCHEMA)
        self._pending: list[dict] = []
        self._flush_rows = flush_rows
        self._on_reject = on_reject
        self.count = 0
        self.docs_lost = 0  # documents these rejects stand for (unknown counts as 0)
        self.by_reason: dict[str, int] = {}

    def add(self, reject: Reject) -> None:
        self._pending.append(reject.as_row())
        self.count += 1
        self.docs_lost += reject.n_docs or 0
        self.by_reason[reject.reason] = self.by_reason.get(reject.reason, 0) + 1
        if self._on_reject is not None:
            self._on_reject(reject)
        if len(self._pending) >= self._flush_rows:
            self.flush()

    def copy_from(self, part: Path) -> None:
        """Append the rejects an earlier pass of this task wrote to `part` (counted as if added here)."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self.flush()
        table = pq.read_table(part).cast(REJECTS_SCHEMA)
        for batch in table.to_batches():
            self._writer.write(batch)
        self.count += table.num_rows
        self.docs_lost += int(pc.sum(pc.fill_null(table.column("n_docs"), 0)).as_py() or 0)
        for item in pc.value_counts(table.column("reason")).to_pylist():
            self.by_reason[item["values"]] = self.by_reason.get(item["values"], 0) + item["counts"]

    def flush(self) -> None:
        if self._pending:
            self._writer.write(pa.RecordBatch.from_pylist(self._pending, schema=REJECTS_SCHEMA))
            self._pending = []

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()
