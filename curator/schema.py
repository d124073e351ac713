"""The document schema every pipeline batch carries, its validation, and stable ids."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.compute as pc

SCHEMA_VERSION = 1

DOCUMENT_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("text", pa.string(), nullable=False),
        pa.field("meta", pa.string()),  # a JSON object with every input field that is not mapped
        pa.field("url", pa.string()),
        pa.field("created", pa.timestamp("us", tz="UTC")),
    ],
    metadata={"curator.table": "document", "curator.schema_version": str(SCHEMA_VERSION)},
)

# Provenance carried beside the document columns while a batch flows through the steps. It goes to the
# stats table (stats/docs.parquet), never to output/.
PROVENANCE_SCHEMA = pa.schema(
    [
        pa.field("file", pa.string(), nullable=False),  # input file relative to its input root
        pa.field("row", pa.int64(), nullable=False),  # 0-based record index in that file (line for JSONL)
        pa.field("n_bytes", pa.int64(), nullable=False),  # UTF-8 bytes of the text as read
    ]
)

FLOW_SCHEMA = pa.schema(list(DOCUMENT_SCHEMA) + list(PROVENANCE_SCHEMA))


def stable_id_prefix(source: str, file_key: str) -> str:
    """16 hex digits naming (source, file); with the row number it forms a stable document id."""
    return hashlib.blake2b(f"{source}\x00{file_key}".encode(), digest_size=8).hexdigest()


def stable_ids(sources: pa.Array, file_key: str, rows: pa.Array) -> pa.Array:
    """Ids `<prefix(source, file)>:<row>` for rows that have none; the same on every re-run."""
    encoded = pc.dictionary_encode(sources)
    prefixes = pa.array([stable_id_prefix(s, file_key) for s in encoded.dictionary.to_pylist()], pa.string())
    per_row = pc.take(prefixes, encoded.indices)
    return pc.binary_join_element_wise(per_row, pc.cast(rows, pa.string()), ":")


def validate_documents(batch: pa.RecordBatch | pa.Table) -> None:
    """Raise ValueError naming the column when `batch` does not carry the document schema."""
    for field in DOCUMENT_SCHEMA:
        if field.name not in batch.schema.names:
            raise ValueError(f"missing document column '{field.name}'")
        actual = batch.schema.field(field.name).type
        if actual != field.type:
            raise ValueError(f"document column '{field.name}' has type {actual}, expected {field.type}")
        if not field.nullable and batch.column(field.name).null_count:
            raise ValueError(f"document column '{field.name}' has {batch.column(field.name).null_count} nulls")
