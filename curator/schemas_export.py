"""Export the Arrow schemas of the document and stats tables to JSON (the checked-in files in schemas/)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from curator.buckets.shards import PIECES_SCHEMA
from curator.dedup.clusters import CLUSTERS_SCHEMA
from curator.io.rejects import REJECTS_SCHEMA
from curator.mix.runs_table import runs_table_schema
from curator.pipeline.stats import DOCS_BASE_FIELDS, STEPS_SCHEMA
from curator.pipeline.step import BUILTIN_STEP_MODULES, registered_steps
from curator.schema import DOCUMENT_SCHEMA, PROVENANCE_SCHEMA
from curator.select.dsir import DsirSelect
from curator.stats.contamination import CONTAMINATION_SCHEMA
from curator.stats.mixture_log import MIXTURE_LOG_SCHEMA
from curator.train.train_log import TRAIN_LOG_SCHEMA

STATS_VERSION = 1  # of the per-step stats columns (step_columns, dsir_weights)


def schema_to_json(name: str, schema: pa.Schema, description: str) -> dict:
    meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
    return {
        "table": name,
        "version": int(meta.get("curator.schema_version", 1)),
        "description": description,
        "fields": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
    }


def fields_json(columns: dict[str, pa.DataType]) -> list[dict]:
    return [{"name": name, "type": str(dtype), "nullable": True} for name, dtype in columns.items()]


def step_columns_json() -> dict:
    """Every registered step's stats columns (they follow the base columns of stats/docs.parquet)."""
    return {
        "table": "step_columns",
        "version": STATS_VERSION,
        "description": "Columns each step adds to stats/docs.parquet, in pipeline order after the base columns "
        "(a column two steps declare appears once). Null for documents the step never saw.",
        "steps": {
            name: fields_json(cls.stats_columns)
            for name, cls in sorted(registered_steps().items())
            if cls.__module__ in BUILTIN_STEP_MODULES  # not steps a user (or a test) registered
        },
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
        "clusters": schema_to_json(
            "clusters",
            CLUSTERS_SCHEMA,
            "state/NN-<dedup step>/clusters/task-*.parquet: one row per document that has at least one duplicate "
            "(ordinal = position in its task's stream at that step); the `clusters` view adds run, step and task.",
        ),
        "dsir_weights": {
            "table": "dsir_weights",
            "version": STATS_VERSION,
            "description": "Columns dsir_fit / dsir_select write to stats/docs.parquet (the `dsir_weights` view: "
            "run, source, id, kept, drop_reason and these, for documents that have a weight).",
            "fields": fields_json(DsirSelect.stats_columns),
        },
        "mixture_log": schema_to_json(
            "mixture_log",
            MIXTURE_LOG_SCHEMA,
            "stats/mixture_log/part-*.parquet: domain weights per training step, one row per (step, domain), "
            "written by curator.stats.mixture_log.MixtureLogWriter.",
        ),
        "train_log": schema_to_json(
            "train_log",
            TRAIN_LOG_SCHEMA,
            "stats/train_log/part-*.parquet: train and eval losses per optimizer step of `curator train`, one row "
            "per (step, split, domain), domain null for all domains; written by curator.train.train_log.",
        ),
        "contamination": schema_to_json(
            "contamination",
            CONTAMINATION_SCHEMA,
            "contamination/<benchmark>.parquet: output documents with at least one benchmark n-gram "
            "(curator contamination); the `contamination` view adds run and benchmark.",
        ),
        "step_columns": step_columns_json(),
        "runs_table": runs_table_schema(),
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
