"""Turn a pipeline's inputs into an ordered list of tasks (one per file, or per slice of a dataset)."""

from __future__ import annotations

import os
from pathlib import Path

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
        shards.append(
            Shard(
                fmt,
                str(f.resolve()),
                key,
                _default_source(cfg, root),
                cfg.source,
                fields,
                size_bytes=f.stat().st_size,
            )
        )
    return shards


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
