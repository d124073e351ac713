"""What one task reads: an input file (or a slice of a Hugging Face dataset) with its field mapping."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldMap:
    """Which input fields hold the document columns; everything else goes to `meta` as JSON."""

    text: str = "text"
    id: str = "id"
    source: str = "source"
    url: str = "url"
    created: str = "created"

    def mapped(self) -> set[str]:
        return {self.text, self.id, self.source, self.url, self.created}


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what a reader holds: rows and bytes per batch, bytes per document."""

    batch_rows: int = 8192
    batch_bytes: int = 16 << 20
    max_doc_bytes: int = 10 << 20


@dataclass(frozen=True)
class Shard:
    """The input of one task."""

    format: str  # jsonl | parquet | hf
    path: str  # absolute path of the file (or of a load_from_disk folder)
    file_key: str  # path relative to the input root: part of stable ids and of every reject
    default_source: str  # used when neither a constant source nor a source field gives one
    force_source: str | None = None  # a constant source that overrides any per-row field
    fields: FieldMap = field(default_factory=FieldMap)
    split: str | None = None  # Hugging Face DatasetDict split
    row_start: int = 0  # row range [row_start, row_stop) of a Hugging Face dataset or a Parquet file's row groups;
    # for a JSONL byte range, the 0-based line number (= row) of its first line
    row_stop: int | None = None  # None: to the end
    size_bytes: int = 0
    byte_start: int = 0  # JSONL byte range [byte_start, byte_stop): whole lines of an uncompressed file
    byte_stop: int | None = None  # None: to the end

    @property
    def is_byte_range(self) -> bool:
        """True when this task reads only part of a JSONL file."""
        return self.byte_start > 0 or self.byte_stop is not None

    def describe(self) -> str:
        if self.is_byte_range:
            rng = f"[bytes {self.byte_start}:{'' if self.byte_stop is None else self.byte_stop}]"
        else:
            rng = f"[{self.row_start}:{self.row_stop}]" if self.row_stop is not None else ""
        return f"{self.format}:{self.file_key}{rng}"
