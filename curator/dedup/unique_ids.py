"""unique_ids: one document per id; later records that repeat an earlier id are dropped as duplicate_id."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from curator.dedup.base import DUP_COLUMNS
from curator.dedup.exact import KeyedDedup
from curator.pipeline.step import register_step
from curator.text.hashing import normalized_text_hashes


@register_step
class UniqueIds(KeyedDedup):
    """Keep the first document of each id (input order: task, then row) and drop every later record with
    the same id as `duplicate_id`, with `dup_of` naming the id, so ids are unambiguous for `dup_of`,
    `drop_listed` and contamination lists. Put it first. Memory: as exact_dedup (24 B per document on disk,
    `memory_budget` while grouping); one more read of the input.
    """

    name: ClassVar[str] = "unique_ids"
    reason: ClassVar[str] = "duplicate_id"
    stats_columns: ClassVar[dict[str, pa.DataType]] = dict(DUP_COLUMNS)

    keep: Literal["first"] = Field("first", description="the first record of an id (in input order) is kept")

    def key_hashes(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        return normalized_text_hashes(batch.column("id"), lowercase=False, collapse_space=False)
