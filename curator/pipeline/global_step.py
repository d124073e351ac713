"""Global steps: steps that decide with the whole corpus in view (dedup, DSIR, loss selection).

A global step runs in three phases, driven by the executor: `index` (one task's documents -> per-task state
under `state/<position>-<name>/`), `resolve` (once, global passes over that on-disk state), then the filter
pass, in which `apply` adds each batch's columns and drop reasons from what `resolve` decided. This base owns
what every global step shares: the state folder, the index marker, and the check that the filter pass sees
exactly the documents the index pass saw (same count, same ids in the same order).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import PrivateAttr

from curator.errors import RunError
from curator.pipeline.step import Step, with_columns


class IdDigest:
    """Order-sensitive 64-bit digest of an id stream, independent of how it is cut into batches."""

    def __init__(self):
        self.position = 0
        self.value = np.uint64(0)

    def update(self, ids: pa.Array) -> None:
        from curator.text.hashing import MIX_PRIME, fmix64_array, normalized_text_hashes

        h, _ = normalized_text_hashes(ids.cast(pa.string()), lowercase=False, collapse_space=False)
        positions = np.arange(self.position, self.position + len(h), dtype=np.uint64)
        with np.errstate(over="ignore"):
            mixed = fmix64_array(h ^ (positions * MIX_PRIME))
            self.value = np.uint64(self.value + mixed.sum(dtype=np.uint64))
        self.position += len(h)

    @property
    def hex(self) -> str:
        return f"{int(self.value):016x}"


STATE_CHANGED = "the run's state/ folder changed since the index pass: re-run with --overwrite"


def index_marker(state: Path, task: int) -> Path:
    """The index pass's completion marker of `task` (its facts as JSON)."""
    return state / "index" / f"task-{task:05d}.json"


def read_index_marker(step: GlobalStep, task: int) -> dict:
    """The index marker of `task` for the global step `step`; a RunError when its index pass never finished."""
    path = index_marker(step.state, task)
    if not path.exists():
        raise RunError(f"{step.name}: task {task} was never indexed ({step.state}); re-run to rebuild the state")
    return json.loads(path.read_text())


class GlobalStep(Step):
    """A step that decides with the whole corpus in view.

    Subclasses implement `index(batches, task)` (consume one task's documents, write per-task state under
    `self.state`, return facts for the task's index marker), `resolve(markers, log)` (global passes over
    that state), `open_task(task)` (load one task's decisions) and `apply(batch, start)` (the columns and
    drop reasons of the batch whose first row is the task's document number `start`).
    """

    _state: Path | None = PrivateAttr(default=None)

    def bind(self, state: Path) -> None:
        self._state = Path(state)

    @property
    def state(self) -> Path:
        if self._state is None:
            raise RuntimeError(f"step '{self.name}' has no state folder; it runs inside a pipeline or `dedup`")
        return self._state

    def prepare(self) -> None:
        """Once, in the main process, before the index pass (e.g. record or check the state's scheme)."""

    def index(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        raise NotImplementedError

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        raise NotImplementedError

    def open_task(self, task: int) -> None:
        """Load what `apply` needs of one task (its cluster decisions, weights...)."""

    def apply(self, batch: pa.RecordBatch, start: int) -> tuple[dict[str, pa.Array], pa.Array | None]:
        """(columns to add, drop reasons or None) for `batch`, whose first row is document `start` of the task."""
        raise NotImplementedError

    # -- what the executor calls -----------------------------------------------------------------------

    def index_task(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        """Run `index` over one task's documents; the facts gain the document count and the ids' digest."""
        digest = IdDigest()

        def counted() -> Iterator[pa.RecordBatch]:
            for batch in batches:
                digest.update(batch.column("id"))
                yield batch

        facts = self.index(counted(), task)
        return {**facts, "docs": digest.position, "ids_digest": digest.hex}

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        """The filter pass: check the stream against the index marker, add columns, drop with reasons."""
        task = self.ctx.task
        marker = read_index_marker(self, task)
        expected = int(marker["docs"])
        digest = IdDigest()
        self.open_task(task)
        for batch in batches:
            start = digest.position
            if start + batch.num_rows > expected:
                raise RunError(
                    f"{self.name}: task {task} has more documents than its index pass saw ({expected:,}); "
                    f"{STATE_CHANGED}"
                )
            digest.update(batch.column("id"))
            columns, reasons = self.apply(batch, start)
            kept = self.ctx.apply_drops(self.name, with_columns(batch, columns), reasons)
            if kept.num_rows:
                yield kept
        if digest.position != expected or digest.hex != marker.get("ids_digest"):
            raise RunError(
                f"{self.name}: task {task} saw other documents than its index pass ({digest.position:,} vs "
                f"{expected:,}, id digest {digest.hex} vs {marker.get('ids_digest')}); {STATE_CHANGED}"
            )


def bind_global_steps(steps: list[Step], run) -> None:
    """Point each global step at its state folder in the run folder `run`, `state/<position>-<name>`."""
    for i, step in enumerate(steps):
        if isinstance(step, GlobalStep):
            step.bind(run.stage_dir(i, step.name))


def global_positions(steps: list[Step]) -> list[int]:
    """0-based positions of the global steps of a pipeline."""
    return [i for i, s in enumerate(steps) if isinstance(s, GlobalStep)]
