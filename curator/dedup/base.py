"""What exact and near-duplicate dedup share: the representative rule, the document index and the filter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, model_validator

from curator.dedup.clusters import ClusterFilter
from curator.errors import RunError
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.step import StepContext
from curator.text.bytes import byte_lengths

DUP_COLUMNS: dict[str, pa.DataType] = {
    "dup_cluster": pa.string(),  # id of the representative kept for the cluster (own id when unique)
    "dup_cluster_size": pa.int64(),  # input documents the cluster stands for (1 when unique)
    "dup_of": pa.string(),  # for a dropped duplicate: the id of the document kept instead
}


def dedup_line(facts: dict) -> str:
    """One line about a dedup step's clusters (from its clusters.json)."""
    line = f"{facts['clusters']:,} duplicate clusters, {facts['duplicates']:,} duplicates"
    if "candidate_pairs" in facts:
        line += f" ({facts['candidate_pairs']:,} candidate pairs, {facts['verified_pairs']:,} verified)"
    if facts.get("clustering") == "star":
        line += f"; star clusters keep {facts['kept_vs_transitive']:,} that transitive clustering would drop"
    return line


class DedupStep(GlobalStep):
    """Base of the dedup steps: `keep` picks the representative of each duplicate cluster."""

    shared_stats_columns: ClassVar[frozenset[str]] = frozenset(DUP_COLUMNS)  # each dedup step's own clusters

    keep: Literal["first", "longest", "score"] = Field(
        "first", description="representative: first in input order, longest text, or highest `score_column`"
    )
    score_column: str | None = Field(None, description="column to maximise when keep = score (e.g. a quality score)")
    reason: ClassVar[str] = ""  # the drop reason
    _filter: ClusterFilter | None = PrivateAttr(default=None)

    def required_columns(self) -> set[str]:
        return {self.score_column} if self.keep == "score" and self.score_column else set()

    def summary_lines(self, run_dir: Path, position: int) -> list[str]:
        from curator.pipeline.run_folder import RunFolder

        state = RunFolder(run_dir).stage_dir(position, self.name)
        facts_file = state / "clusters.json"
        if not facts_file.is_file():
            return []
        return [f"{state.name}: {dedup_line(json.loads(facts_file.read_text()))}"]

    @model_validator(mode="after")
    def _score_column_given(self):
        if self.keep == "score" and not self.score_column:
            raise ValueError("keep: score needs score_column (the column whose highest value is kept)")
        return self

    def priority(self, batch: pa.RecordBatch) -> np.ndarray:
        """Higher is better; ties go to the first document in input order."""
        n = batch.num_rows
        if self.keep == "first":
            return np.zeros(n)
        if self.keep == "longest":
            return byte_lengths(batch.column("text")).astype(np.float64)
        if self.score_column not in batch.schema.names:
            raise RunError(
                f"{self.name}: keep=score needs column '{self.score_column}', but the documents reaching this "
                f"step have only: {', '.join(batch.schema.names)}; add the step that computes it before {self.name}"
            )
        values = pc.cast(batch.column(self.score_column), pa.float64())
        return pc.fill_null(values, float("-inf")).to_numpy(zero_copy_only=False)

    @staticmethod
    def weight(batch: pa.RecordBatch) -> np.ndarray:
        """Input documents each row stands for: an earlier dedup's cluster size, else 1."""
        if "dup_cluster_size" not in batch.schema.names:
            return np.ones(batch.num_rows, np.int64)
        return pc.fill_null(batch.column("dup_cluster_size"), 1).to_numpy(zero_copy_only=False).astype(np.int64)

    # -- filter pass ------------------------------------------------------------------------------------

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._filter = None

    def extra_columns(self, batch: pa.RecordBatch, start: int) -> dict[str, pa.Array]:
        """Step-specific stats columns for the batch whose first row is ordinal `start` of the task."""
        return {}

    def open_task(self, task: int) -> None:
        self._filter = ClusterFilter(self.state, task, self.name)

    def apply(self, batch: pa.RecordBatch, start: int) -> tuple[dict[str, pa.Array], pa.Array | None]:
        columns, reasons = self._filter.apply(batch, start, self.reason)
        return {**self.extra_columns(batch, start), **columns}, reasons
