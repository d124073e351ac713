"""Turn a pipeline's inputs into an ordered list of tasks (one per file, or per slice of a dataset, of a large
Parquet file's row groups or of a large uncompressed JSONL file's bytes)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curator.errors import ConfigError
from curator.io.hf import hf_num_rows, is_hf_folder
from curator.io.jsonl import compression_of
from curator.io.readers import find_files, format_of
from curator.io.sources import Shard
from curator.pipeline.config import InputConfig, PipelineConfig

NEWLINE_CHUNK = 16 << 20  # bytes read at a time while counting a JSONL file's newlines
WHOLE_FILE = (0, None, 0)


def _default_source(cfg: InputConfig, root: Path) -> str:
    if cfg.name:
        return cfg.name
    name = root.resolve().name
    return name or "input"


def shards_for_input(cfg: InputConfig, bytes_per_task: int | None = None) -> list[Shard]:
    """The shards of one input, in a stable order; uncompressed JSONL files larger than `bytes_per_task` are cut
    into byte ranges (None: never, as for a side input read whole by one process)."""
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
        whole = Shard(
            fmt,
            str(f.resolve()),
            os.path.relpath(f, root),
            _default_source(cfg, root),
            cfg.source,
            fields,
            size_bytes=max(1, f.stat().st_size),
        )
        shards += _cut_file(whole, f, cfg.rows_per_task, bytes_per_task)
    return shards


def _cut_file(whole: Shard, path: Path, rows_per_task: int, bytes_per_task: int | None) -> list[Shard]:
    """The tasks one file is cut into (the file itself when it is not cut)."""
    if whole.format == "parquet":
        return [
            replace(whole, row_start=start, row_stop=stop, size_bytes=max(1, round(whole.size_bytes * share)))
            for start, stop, share in parquet_row_ranges(path, rows_per_task)
        ]
    if whole.format == "jsonl" and bytes_per_task is not None:
        return [
            replace(
                whole,
                byte_start=start,
                byte_stop=stop,
                row_start=line,
                size_bytes=max(1, (whole.size_bytes if stop is None else stop) - start),
            )
            for start, stop, line in jsonl_byte_ranges(path, bytes_per_task)
        ]
    return [whole]


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


def jsonl_byte_ranges(
    path: Path, bytes_per_task: int, chunk_bytes: int = NEWLINE_CHUNK
) -> list[tuple[int, int | None, int]]:
    """(byte_start, byte_stop, 0-based number of its first line) of the tasks an uncompressed JSONL file is cut
    into: about `bytes_per_task` bytes each, every boundary moved forward to just after a newline, so each line
    lies in exactly one range; the line numbers come from one streaming pass that counts newlines up to the
    last boundary. Memory: one chunk (`chunk_bytes`, 16 MiB) and its byte mask, whatever the file's size.
    One task (0, None, 0) when the file is not larger, is compressed, or cannot be read here (its reader then
    rejects it)."""
    try:
        size = path.stat().st_size
        if size <= bytes_per_task or compression_of(path) is not None:
            return [WHOLE_FILE]
        with open(path, "rb") as fh:
            starts = _range_starts(fh, size, bytes_per_task, chunk_bytes)
    except OSError:
        return [WHOLE_FILE]
    stops = [start for start, _ in starts[1:]] + [None]
    return [(start, stop, line) for (start, line), stop in zip(starts, stops, strict=True)]


def _range_starts(fh: BinaryIO, size: int, bytes_per_task: int, chunk_bytes: int) -> list[tuple[int, int]]:
    """(byte offset, line number) of each range's first line: the next range starts just after the first
    newline at or after byte `start + bytes_per_task - 1`, unless that newline ends the file."""
    starts = [(0, 0)]
    target = bytes_per_task  # the next boundary lies after the first newline at byte >= target - 1
    base = lines = 0  # file offset of the chunk, newlines before it
    while target < size and (chunk := fh.read(chunk_bytes)):
        data = np.frombuffer(chunk, dtype=np.uint8)
        counted = 0  # the chunk's newlines before this offset are in `lines`
        while target < size and (nl := chunk.find(b"\n", max(target - 1 - base, 0))) != -1:
            lines += _newlines(data[counted : nl + 1])
            counted = nl + 1
            if base + counted >= size:
                break
            starts.append((base + counted, lines))
            target = base + counted + bytes_per_task
        lines += _newlines(data[counted:])
        base += len(chunk)
    return starts


def _newlines(data: np.ndarray) -> int:
    """How many '\\n' bytes `data` holds."""
    return int(np.count_nonzero(data == 10))


def plan_tasks(config: PipelineConfig) -> list[Shard]:
    """All shards of all inputs; a task's index is its position here (a JSONL file over reader.bytes_per_task is
    read once to count its newlines, holding one 16 MiB chunk)."""
    shards = [s for cfg in config.inputs for s in shards_for_input(cfg, config.reader.bytes_per_task)]
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
