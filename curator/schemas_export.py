"""Export the Arrow schemas of the document and stats tables to JSON (the checked-in files in schemas/)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from curator.buckets.shards import PIECES_SCHEMA
from curator.io.rejects import REJECTS_SCHEMA
from curator.pipeline.stats import DOCS_BASE_FIELDS, STEPS_SCHEMA
from curator.schema import DOCUMENT_SCHEMA, PROVENANCE_SCHEMA


def schema_to_json(name: str, schema: pa.Schema, description: str) -> dict:
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    return {
        "table": name,
        "version": int(meta.get("curator.schema_version", 1)),
        "description": description,
        "fields": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
    }


def all_schemas() -> dict[str, dict]:
    docs = pa.schema(DOCS_BASE_FIELDS, metadata={"curator.schema_version": "1"})
    return {
        "document": schema_to_json(
            "document", DOCUMENT_SCHEMA, "Rows of output/*.parquet. meta is a JSON object of the unmapped input fields."
        ),
        "provenance": schema_to_json(
            "provenance", PROVENANCE_SCHEMA, "Columns carried beside documents while they flow; they go to stats only."
        ),
        "docs": schema_to_json(
            "docs",
            docs,
            "stats/docs.parquet: one row per input document that was read; "
            "the score columns of the pipeline's steps follow these base columns.",
        ),
        "steps": schema_to_json("steps", STEPS_SCHEMA, "stats/steps.parquet: one row per (task, step)."),
        "rejects": schema_to_json(
            "rejects", REJECTS_SCHEMA, "rejects/rejects.parquet: records or files that could not be read."
        ),
        "buckets": schema_to_json(
            "buckets",
            PIECES_SCHEMA,
            "buckets/task-*/pieces.parquet: one row per Dataset Decomposition sequence (its document and offset); "
            "the tokens are in buckets/task-*/D{ii}.u16|u32.",
        ),
    }


def export_schemas(out: str | Path) -> list[Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in all_schemas().items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(data, indent=2) + "\n")
        paths.append(path)
    return paths
