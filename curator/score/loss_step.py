"""The shared passes of the loss-based global steps (loss_select.py): the index pass writes each task's (group,
loss, Gumbel noise) to state/NN-name/loss/task-N.parquet (about 20 B per document); the filter pass applies the
per-task arrays that a step's resolve wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, PrivateAttr

from curator.dedup.state import task_file, write_json
from curator.errors import RunError
from curator.loader.holdout import heldout_mask
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.step import StepContext
from curator.score.group_weights import Group, group_keys
from curator.select.resample import gumbel_from_uniform
from curator.text.hashing import seeded_uniform

LOSS_SCHEMA = pa.schema([("group", pa.string()), ("loss", pa.float64()), ("noise", pa.float64())])
HOLDOUT_HELP = (
    "keep the documents a mixture with this `holdout:` share will hold out for validation (same id hash) and "
    "leave them out of the statistics and the selection, so a validation set stays untouched by selection"
)


class LossStep(GlobalStep):
    """Shared index and filter passes of the loss-based global steps."""

    group: Group = Field("all", description="normalise within: all, source, or length (log2 bucket of tokens)")
    seed: int = Field(0, description="added to the pipeline seed: the Gumbel noise")
    holdout: float = Field(0.0, ge=0.0, lt=0.5, description=HOLDOUT_HELP)
    _arrays: dict | None = PrivateAttr(default=None)

    def required_columns(self) -> set[str]:
        return {"loss"}  # from a `model_loss` step

    def full_seed(self) -> int:
        return self.seed + self.ctx.seed

    def index(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        path = task_file(self.state, "loss", task, ".parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(".tmp-" + path.name)
        with pq.ParquetWriter(tmp, LOSS_SCHEMA) as writer:
            for batch in batches:
                if "loss" not in batch.schema.names:
                    raise RunError(f"{self.name} found no `loss` column: put a `model_loss` step before it")
                ids = batch.column("id").cast(pa.string())
                noise = gumbel_from_uniform(seeded_uniform(ids, self.full_seed()))
                held = heldout_mask(ids, self.holdout)  # held-out documents: kept, and out of every statistic
                noise[held] = np.nan
                loss = batch.column("loss").cast(pa.float64())
                loss = pc.if_else(pa.array(held), pa.scalar(None, pa.float64()), loss) if held.any() else loss
                table = pa.table([group_keys(batch, self.group), loss, pa.array(noise)], schema=LOSS_SCHEMA)
                writer.write_table(table)
        tmp.replace(path)
        return {}

    def task_losses(self, task: int) -> pa.Table:
        return pq.read_table(task_file(self.state, "loss", task, ".parquet"))

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._arrays = None

    def columns(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> dict[str, pa.Array]:
        return {}

    def reasons(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> pa.Array | None:
        return None

    def task_arrays(self, task: int) -> dict:
        return {}

    def open_task(self, task: int) -> None:
        self._arrays = self.task_arrays(task)

    def apply(self, batch: pa.RecordBatch, start: int) -> tuple[dict[str, pa.Array], pa.Array | None]:
        sl = slice(start, start + batch.num_rows)
        return self.columns(batch, self._arrays, sl), self.reasons(batch, self._arrays, sl)

    def publish(self, report: dict) -> dict:
        write_json(self.state / "report.json", report)
        write_json(Path(self.ctx.run_dir or self.state.parent.parent) / "stats" / f"{self.state.name}.json", report)
        return report
