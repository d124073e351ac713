"""Segments: a pipeline's steps cut at its global steps, and the stage files that carry documents between them.

A pipeline reads its input once. Segment 0 streams the reader through the steps before the first global
step; every later segment starts with a global step's filter pass. A segment that ends at a global step
writes the documents reaching that step (all their columns: text, meta and the stats so far) to a *stage
file* under the step's state folder, `state/NN-name/input/`, while feeding them to the step's `index()`;
the next segment reads that file instead of re-reading and re-transforming the input. The last segment ends
in the output. Stage files are Arrow IPC (LZ4), written under a temporary name and renamed when complete;
memory is one batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curator.io.atomic import TMP_PREFIX, tmp_path_for
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.step import Step

STAGE_COMPRESSION = "lz4"  # fast to write and read back; the files live only until the run has finished


@dataclass(frozen=True)
class Segment:
    """Steps `start:stop` (0-based positions) run in one pass; `feeds` is the global step at `stop` that the
    segment's survivors go to (None for the last segment, which writes the output)."""

    index: int
    start: int
    stop: int
    feeds: int | None

    @property
    def reads_input(self) -> bool:
        """Segment 0 reads the pipeline's input; the others read the stage file of the step at `start`."""
        return self.index == 0


def plan_segments(steps: list[Step]) -> list[Segment]:
    """The segments of a pipeline, in order: one per global step plus the last one."""
    cuts = [i for i, s in enumerate(steps) if isinstance(s, GlobalStep)]
    segments, start = [], 0
    for k, position in enumerate(cuts):
        segments.append(Segment(k, start, position, position))
        start = position
    segments.append(Segment(len(cuts), start, len(steps), None))
    return segments


def stage_folder(state: Path) -> Path:
    """Where the documents entering a global step are kept between its index pass and its filter pass."""
    return state / "input"


def stage_part(state: Path, task: int, part: int) -> Path:
    return stage_folder(state) / f"task-{task:05d}-{part:04d}.arrow"


class StageWriter:
    """Writes one task's batches to stage files; a batch with another schema starts a new part.

    Nothing is visible under the final names until `close()`, which publishes every part and returns how
    many there are. Memory: one batch plus the IPC writer's buffers.
    """

    def __init__(self, state: Path, task: int):
        self.state = state
        self.task = task
        self._options = pa.ipc.IpcWriteOptions(compression=STAGE_COMPRESSION)
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._schema: pa.Schema | None = None
        self._parts: list[Path] = []
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        if self._writer is None or not batch.schema.equals(self._schema, check_metadata=False):
            self._close_part()
            path = stage_part(self.state, self.task, len(self._parts))
            path.parent.mkdir(parents=True, exist_ok=True)
            self._parts.append(path)
            self._schema = batch.schema
            self._writer = pa.ipc.new_file(str(tmp_path_for(path)), batch.schema, options=self._options)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def tee(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """Write each batch, then pass it on."""
        for batch in batches:
            self.write(batch)
            yield batch

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def close(self) -> int:
        self._close_part()
        self.remove_stale()
        for path in self._parts:
            with open(tmp_path_for(path), "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path_for(path), path)
        return len(self._parts)

    def remove_stale(self) -> None:
        """Parts of an earlier attempt of this task beyond this attempt's count."""
        folder = stage_folder(self.state)
        if not folder.is_dir():
            return
        name = f"task-{self.task:05d}-"
        keep = {p.name for p in self._parts}
        for path in folder.iterdir():
            if path.name.startswith(name) and path.name not in keep:
                path.unlink(missing_ok=True)

    def abort(self) -> None:
        try:
            self._close_part()
        finally:
            for path in self._parts:
                tmp_path_for(path).unlink(missing_ok=True)


def read_stage(state: Path, task: int, parts: int) -> Iterator[pa.RecordBatch]:
    """The batches a task's index pass wrote for the global step with state folder `state`, in order."""
    for part in range(parts):
        with pa.OSFile(str(stage_part(state, task, part))) as source:  # copies: batches outlive the file
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i)


def stage_complete(state: Path, task: int, parts: int) -> bool:
    """Whether every stage part of `task` is on disk (they are removed once a run has finished)."""
    return all(stage_part(state, task, part).exists() for part in range(parts))


def remove_stage_files(state: Path) -> int:
    """Delete a global step's stage files (and leftovers of interrupted writes); returns bytes freed."""
    folder = stage_folder(state)
    if not folder.is_dir():
        return 0
    freed = 0
    for path in folder.iterdir():
        if path.suffix == ".arrow" or path.name.startswith(TMP_PREFIX):
            freed += path.stat().st_size
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()
    return freed


def segment_part(state: Path, kind: str, task: int) -> Path:
    """What the pass feeding a global step recorded besides the stage file: `docs` (documents its steps
    dropped) or `rejects` (the reader's, for the first segment), as Parquet beside the index marker."""
    return state / "index" / f"{kind}-{task:05d}.parquet"
