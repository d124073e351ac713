"""Turn a pipeline's inputs into an ordered list of tasks (one per file, or per slice of a dataset or of a large
Parquet file's row groups)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator.errors import ConfigError
from curator.io.hf import hf_num_rows, is_hf_folder
from curator.io.readers import find_files, format_of
from curator.io.sources import Shard
from curator.pipeline.config import InputConfig, PipelineConfig


def _default_source(cfg: InputConfig, root: Path) -> str:
    if cfg.name:
        return cfg.name
    name = root.resolve().name
    return name or "input"


def shards_for_input(cfg: InputConfig) -> list[Shard]:
    """The shards of one input, in a stable order."""
    fields = cfg.field_map()
    path = Path(cfg.path)
    if cfg.format == "hf" or (cfg.format == "auto" and is_hf_folder(path)):
        if not is_hf_folder(path):
            raise ConfigError(f"input '{cfg.path}' is not a folder written by save_to_disk")
        total = hf_num_rows(str(path), cfg.split)
        key = path.name + (f"/{cfg.split}" if cfg.split else "")
        source = _default_source(cfg, path)
        return [
            Shard(
                "hf",
                str(path.resolve()),
                key,
                source,
                cfg.source,
                fields,
                cfg.split,
                row_start=lo,
                row_stop=min(lo + cfg.rows_per_task, total),
            )
            for lo in range(0, max(total, 1), cfg.rows_per_task)
        ]
    root, files = find_files(cfg.path, cfg.format)
    if not files:
        raise ConfigError(f"input '{cfg.path}' matches no files")
    shards = []
    for f in files:
        fmt = cfg.format if cfg.format != "auto" else format_of(f)
        if fmt is None:
            raise ConfigError(f"cannot tell the format of '{f}'; set format: jsonl or format: parquet")
        key = os.path.relpath(f, root)
        size = f.stat().st_size
        ranges = parquet_row_ranges(f, cfg.rows_per_task) if fmt == "parquet" else [(0, None, 1.0)]
        for start, stop, share in ranges:
            shards.append(
                Shard(
                    fmt,
                    str(f.resolve()),
                    key,
                    _default_source(cfg, root),
                    cfg.source,
                    fields,
                    row_start=start,
                    row_stop=stop,
                    size_bytes=max(1, round(size * share)),
                )
            )
    return shards


def parquet_row_ranges(path: Path, rows_per_task: int) -> list[tuple[int, int | None, float]]:
    """(row_start, row_stop, share of the file) of the tasks a Parquet file is cut into: whole row groups, at
    least `rows_per_task` rows each (the last may be smaller); one task (0, None) when the file is not larger,
    has one row group, or cannot be read here (its reader then rejects it)."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException):
        return [(0, None, 1.0)]
    total = meta.num_rows
    if total <= rows_per_task or meta.num_row_groups < 2:
        return [(0, None, 1.0)]
    ranges, start, row = [], 0, 0
    for g in range(meta.num_row_groups):
        row += meta.row_group(g).num_rows
        if row - start >= rows_per_task or g == meta.num_row_groups - 1:
            ranges.append((start, row, (row - start) / total))
            start = row
    return ranges if len(ranges) > 1 else [(0, None, 1.0)]


def plan_tasks(config: PipelineConfig) -> list[Shard]:
    """All shards of all inputs; a task's index is its position here."""
    shards = [s for cfg in config.inputs for s in shards_for_input(cfg)]
    seen = {}
    for i, s in enumerate(shards):
        key = (s.default_source, s.force_source, s.file_key, s.row_start)
        if key in seen:
            raise ConfigError(
                f"input file '{s.file_key}' appears twice (tasks {seen[key]} and {i}); give the inputs different names"
            )
        seen[key] = i
    return shards


def plan_record(shards: list[Shard]) -> list[dict]:
    """What plan.json keeps to detect changed inputs on resume (sizes, not mtimes: copies keep plans)."""
    return [{"task": i, "shard": s.describe(), "bytes": s.size_bytes} for i, s in enumerate(shards)]
