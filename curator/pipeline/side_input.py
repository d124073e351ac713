"""Read an input that is not the pipeline's stream (a DSIR target, a classifier's training files).

Same readers, field mapping and limits as pipeline inputs; rejected records are written to `rejects_dir`
(when given) and counted, never silently skipped. Memory: one batch.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from curator.io.readers import open_reader
from curator.io.rejects import RejectSink
from curator.io.sources import ReadLimits
from curator.pipeline.config import InputConfig
from curator.pipeline.plan import shards_for_input


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def side_input_batches(
    spec: InputConfig | str,
    limits: ReadLimits | None = None,
    rejects_dir: Path | None = None,
    warn: Callable[[str], None] = _warn,
) -> Iterator[pa.RecordBatch]:
    """Document batches (FLOW_SCHEMA: id, source, text, meta, ...) of every file or dataset slice of `spec`."""
    spec = InputConfig(path=spec) if isinstance(spec, str) else spec
    limits = limits or ReadLimits()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(rejects_dir) if rejects_dir is not None else Path(tmp)
        for i, shard in enumerate(shards_for_input(spec)):
            sink = RejectSink(folder / f"rejects-{i:05d}.parquet")
            try:
                yield from open_reader(shard, limits, sink)
            finally:
                sink.close()
            if sink.count:
                where = f" (see {folder})" if rejects_dir is not None else ""
                warn(f"{sink.count} rejected record(s) in {shard.describe()}: {sink.by_reason}{where}")
