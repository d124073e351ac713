"""Check a run folder's tables against the declared schemas (schemas/*.schema.json come from the same code).

Reads only Parquet footers: O(files) memory and time, never the data.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curator.buckets.shards import PIECES_SCHEMA
from curator.dedup.clusters import CLUSTERS_SCHEMA
from curator.io.rejects import REJECTS_SCHEMA
from curator.pipeline.config import parse_pipeline
from curator.pipeline.run_folder import require_run_folder
from curator.pipeline.stats import STEPS_SCHEMA, docs_schema
from curator.schema import DOCUMENT_SCHEMA
from curator.stats.contamination import CONTAMINATION_SCHEMA
from curator.stats.mixture_log import MIXTURE_LOG_SCHEMA
from curator.stats.views import TABLES


def expected_schemas(run_dir: Path) -> dict[str, pa.Schema]:
    """The schema each view's files must have, for the pipeline recorded in the run's config.yaml."""
    config = require_run_folder(run_dir) / "config.yaml"
    pipeline = parse_pipeline(yaml.safe_load(config.read_text()), origin=str(config))
    return {
        "docs": docs_schema(pipeline.build_steps()),
        "steps": STEPS_SCHEMA,
        "rejects": REJECTS_SCHEMA,
        "text": DOCUMENT_SCHEMA,
        "clusters": CLUSTERS_SCHEMA,
        "buckets": PIECES_SCHEMA,
        "mixture_log": MIXTURE_LOG_SCHEMA,
        "contamination": CONTAMINATION_SCHEMA,
    }


def _differences(path: Path, actual: pa.Schema, expected: pa.Schema) -> list[str]:
    out = []
    if actual.names != expected.names:
        out.append(f"{path}: columns {actual.names} != declared {expected.names}")
    for field in expected:
        if field.name in actual.names and actual.field(field.name).type != field.type:
            out.append(f"{path}: '{field.name}' is {actual.field(field.name).type}, declared {field.type}")
    meta = actual.metadata or {}
    want = (expected.metadata or {}).get(b"curator.schema_version")
    if want is not None and meta.get(b"curator.schema_version") != want:
        got = meta.get(b"curator.schema_version", b"none").decode()
        out.append(f"{path}: schema version {got}, declared {want.decode()}")
    return out


def check_run(run_dir: str | Path) -> tuple[list[str], list[str]]:
    """(tables checked, problems): every Parquet table of the run against its declared schema."""
    root = Path(run_dir)
    expected = expected_schemas(root)
    checked, problems = [], []
    for view, spec in TABLES.items():
        files = sorted(root.glob(spec.final)) or (sorted(root.glob(spec.partial)) if spec.partial else [])
        if not files:
            continue
        checked.append(f"{view} ({len(files)} file{'s' if len(files) > 1 else ''})")
        for path in files:
            problems += _differences(path, pq.read_schema(path), expected[view])
    return checked, problems
