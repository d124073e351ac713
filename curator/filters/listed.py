"""drop_listed / keep_listed: drop the documents whose id is (or is not) in a Parquet id list, with a reason, so
they stay accounted for in the stats (contaminated ids from `curator contamination --mark`, a mixture domain)."""

from __future__ import annotations

import glob
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, PrivateAttr

from curator.errors import ConfigError
from curator.pipeline.step import Filter, StepContext, first_reason, register_step


def read_ids(paths: list[str], task: int | None = None, step: str = "drop_listed") -> pa.Array:
    """Distinct ids of the `id` column of every listed Parquet file (globs allowed). With `task`, a file that has
    a `task` column contributes only its rows for that task (files without one contribute every row)."""
    files = []
    for p in paths:
        matched = [Path(f) for f in sorted(glob.glob(p))] if any(c in p for c in "*?[") else [Path(p)]
        missing = [f for f in matched if not f.exists()]
        if not matched or missing:
            raise ConfigError(f"{step}: id list '{p}' does not exist")
        files += matched
    columns = []
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (OSError, pa.ArrowInvalid) as exc:
            raise ConfigError(f"{step}: '{f}' is not a readable Parquet file ({exc})") from None
        if "id" not in schema.names:
            raise ConfigError(f"{step}: '{f}' has no 'id' column (columns: {', '.join(schema.names)})")
        rows = [("task", "=", task)] if task is not None and "task" in schema.names else None
        columns.append(pq.read_table(f, columns=["id"], filters=rows).column("id").cast(pa.string()))
    return pc.unique(pa.chunked_array([c for col in columns for c in col.chunks], pa.string()))


@register_step
class DropListed(Filter):
    """Drop documents whose id is listed in Parquet file(s) with an `id` column; reason configurable.

    Memory: the listed ids (held as one Arrow array for a hash lookup) + one batch.
    """

    name = "drop_listed"

    ids: list[str] = Field(min_length=1, description="Parquet file(s) or globs with an `id` column")
    reason: str = Field("listed", min_length=1, description="drop reason recorded in stats/docs.parquet")
    _values: pa.Array | None = PrivateAttr(default=None)

    def preflight(self) -> None:
        read_ids(self.ids)

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._values = read_ids(self.ids)

    def describe(self) -> str:
        return f"ids from {', '.join(self.ids)}, reason {self.reason}"

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        listed = pc.is_in(batch.column("id"), value_set=self._values)
        return first_reason(batch.num_rows, [(listed, self.reason)])


@register_step
class KeepListed(Filter):
    """Keep only the documents whose id is listed in Parquet file(s) with an `id` column; drop the rest with a
    reason (default `not_in_domain`). A list with a `task` column applies its rows to that task of this pipeline
    only, which is how `curator mixture build` matches ids per source file (two runs may share an id).

    Memory: the listed ids of the running task (one Arrow array for a hash lookup) + one batch.
    """

    name = "keep_listed"

    ids: list[str] = Field(min_length=1, description="Parquet file(s) or globs with an `id` (optional `task`) column")
    reason: str = Field("not_in_domain", min_length=1, description="drop reason for documents not listed")
    _values: pa.Array | None = PrivateAttr(default=None)

    def preflight(self) -> None:
        read_ids(self.ids, step=self.name)

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._values = read_ids(self.ids, task=ctx.task, step=self.name)

    def describe(self) -> str:
        return f"ids from {', '.join(self.ids)}, others dropped with reason {self.reason}"

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        listed = pc.is_in(batch.column("id"), value_set=self._values)
        return first_reason(batch.num_rows, [(pc.invert(listed), self.reason)])
