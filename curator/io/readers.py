"""Pick the reader for a shard, and find the input files behind a path, directory or glob."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from curator.errors import ConfigError
from curator.io.hf import HFReader, is_hf_folder
from curator.io.jsonl import JsonlReader
from curator.io.parquet import ParquetReader
from curator.io.rejects import RejectSink
from curator.io.run_marker import is_run_folder
from curator.io.sources import ReadLimits, Shard

JSONL_SUFFIXES = (
    ".jsonl",
    ".json",
    ".ndjson",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson.gz",
    ".jsonl.zst",
    ".json.zst",
    ".jsonl.zstd",
    ".ndjson.zst",
)
PARQUET_SUFFIXES = (".parquet", ".pq")


def format_of(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    return None


def open_reader(shard: Shard, limits: ReadLimits, rejects: RejectSink):
    """The reader for `shard`; iterate it for FLOW_SCHEMA batches, read `.records` afterwards."""
    if shard.format == "jsonl":
        return JsonlReader(shard, limits, rejects)
    if shard.format == "parquet":
        return ParquetReader(shard, limits, rejects)
    if shard.format == "hf":
        return HFReader(shard, limits, rejects)
    raise ConfigError(f"unknown input format '{shard.format}' (use jsonl, parquet or hf)")


def _glob_root(pattern: str) -> Path:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _inside_run_folder(file: Path, root: Path, cache: dict[Path, bool]) -> bool:
    """True when a folder strictly between `root` and `file` is a curator run folder."""
    for parent in file.parents:
        if parent == root or len(parent.parts) <= len(root.parts):
            return False
        if parent not in cache:
            cache[parent] = is_run_folder(parent)
        if cache[parent]:
            return True
    return False


def find_files(path: str, fmt: str = "auto") -> tuple[Path, list[Path]]:
    """(root, files) for a file, a directory (searched recursively) or a glob; sorted, so plans are stable.

    Run folders found below a directory or glob root are skipped, so a run whose --out lies inside its
    input folder never reads its own (or another run's) output, stats or rejects as input.
    """
    if os.path.isdir(path) and is_run_folder(path):
        raise ConfigError(
            f"input '{path}' is a curator run folder; to read the documents it kept, use '{Path(path) / 'output'}'"
        )
    cache: dict[Path, bool] = {}
    if any(ch in path for ch in "*?["):
        root = _glob_root(path)
        if is_run_folder(root):
            raise ConfigError(
                f"input '{path}' reads a curator run folder's own tables; for the documents it kept use "
                f"'{root / 'output'}' (or a glob under it)"
            )
        files = [Path(p) for p in glob.glob(path, recursive=True) if os.path.isfile(p)]
        files = [p for p in files if not _inside_run_folder(p, root, cache)]
    elif os.path.isdir(path):
        root = Path(path)
        files = []
        for folder, subdirs, names in os.walk(path):
            subdirs[:] = sorted(d for d in subdirs if not is_run_folder(Path(folder) / d))
            files += [Path(folder) / n for n in names if not n.startswith(".")]
        if fmt == "auto":
            files = [p for p in files if format_of(p) is not None]
    elif os.path.isfile(path):
        root = Path(path).parent
        files = [Path(path)]
    else:
        raise ConfigError(f"input path '{path}' does not exist (relative paths are read from {os.getcwd()})")
    return root, sorted(files)


__all__ = ["find_files", "format_of", "is_hf_folder", "open_reader"]
