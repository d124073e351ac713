"""The step contract: batches in, batches out; filters score first, then decide keep/drop with a reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, PrivateAttr

from curator.errors import ConfigError
from curator.pipeline.registry import BUILTIN_STEP_MODULES, register_step, registered_steps, suggest  # noqa: F401
from curator.text import kernel_cache

DropSink = Callable[[str, pa.RecordBatch, pa.Array, "int | None"], None]  # step name, rows, reasons, position


@dataclass(frozen=True)
class Resources:
    """What one running copy of a step needs beyond a batch: CPU cores, memory (a model...), GPUs. Executors
    that place work (Ray) size their workers and actor pools from it; the local executor runs one per core."""

    cpus: float = 1.0
    memory_mb: int = 0
    gpus: float = 0.0


@dataclass
class StepContext:
    """What a step may know about the task it runs in. In a pipeline each step gets its own view
    (`for_step`) that knows the step's position, so a step that appears twice is accounted twice."""

    task: int = 0
    seed: int = 0
    run_dir: str | None = None
    on_drop: DropSink | None = None
    dropped: dict[int | str, dict[str, int]] = field(default_factory=dict)  # step position (or name) -> reason -> rows
    step_index: int | None = None  # 1-based position of the step in the pipeline (steps table's step_index)

    def output_dir(self, name: str) -> Path:
        """The run folder's `name` folder, created, for a step's side outputs (declared in `side_outputs`)."""
        if self.run_dir is None:
            raise ConfigError(f"this step writes into the run folder's {name}/; run it in a pipeline")
        folder = Path(self.run_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def for_step(self, index: int) -> StepContext:
        """This context as seen by the step at 1-based position `index` (drops shared, keyed by position)."""
        return replace(self, step_index=index)

    def drop(self, step: str, batch: pa.RecordBatch, reasons: pa.Array) -> None:
        """Record rows a step removed; every removed row must come through here with a reason."""
        counts = self.dropped.setdefault(step if self.step_index is None else self.step_index, {})
        for item in pc.value_counts(reasons).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        if self.on_drop is not None:
            self.on_drop(step, batch, reasons, self.step_index)

    def apply_drops(self, step: str, batch: pa.RecordBatch, reasons: pa.Array | None) -> pa.RecordBatch:
        """Record the rows with a reason as dropped by `step`; return the rows without one (null = keep)."""
        if reasons is None or reasons.null_count == len(reasons):
            return batch
        drop = pc.is_valid(reasons)
        self.drop(step, batch.filter(drop), reasons.filter(drop))
        kept = batch.filter(pc.invert(drop))
        if "text" in batch.schema.names:  # cached text-kernel results follow the kept rows to the next step
            kernel_cache.follow_filter(batch.column("text"), kept.column("text"), drop)
        return kept


class Step(BaseModel):
    """A pipeline step: `__call__(batches) -> batches`. Parameters are pydantic fields (validated from YAML).

    Subclasses set `name` (the YAML key) and override `process(batch)` for one-batch-at-a-time work or
    `__call__` for stateful streaming. Heavy state is loaded in `setup()` so steps pickle cheaply.
    Columns a step adds for the stats table are declared in `stats_columns`.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: ClassVar[str] = ""
    stats_columns: ClassVar[dict[str, pa.DataType]] = {}
    # stats columns other step classes may also write with the same meaning (one shared definition, e.g. the
    # dedup steps' dup_cluster); any other column declared by two step classes of a pipeline is an error
    shared_stats_columns: ClassVar[frozenset[str]] = frozenset()
    # columns the step adds to its batches besides the stats columns (e.g. tokenize's `tokens`)
    provides_columns: ClassVar[frozenset[str]] = frozenset()
    resources: ClassVar[Resources] = Resources()
    # optional packages the step imports: module name -> pip requirement (checked when the pipeline is loaded)
    packages: ClassVar[dict[str, str]] = {}
    # top-level folders of the run folder the step writes through `ctx.output_dir` (buckets/, tokens/):
    # `--overwrite` removes them with the run's own entries; `clean_task_outputs` clears one task's part
    side_outputs: ClassVar[tuple[str, ...]] = ()
    # whether `process` may see any batch of any task on any worker (Ray Data streams such steps batch by
    # batch); set False for a step whose `process` keeps state from one batch to the next
    per_batch: ClassVar[bool] = True
    _ctx: StepContext | None = PrivateAttr(default=None)

    def setup(self, ctx: StepContext) -> None:
        self._ctx = ctx

    def teardown(self) -> None:
        """Release what setup() loaded."""

    def clean_task_outputs(self, run_dir: Path, task: int) -> None:
        """Remove what an interrupted attempt of `task` left in this step's side outputs, before a redo."""

    def describe(self) -> str:
        """What a user should see about this step's settings before it runs ('' for nothing)."""
        return ""

    def preflight(self) -> None:
        """Raise a CuratorError before any task starts when something the step needs is missing (a file...)."""

    def summary_lines(self, run_dir: Path, position: int) -> list[str]:
        """What `curator run` prints about this step after a finished run of `run_dir`, where it sat at
        0-based `position` (its reports and side outputs: dedup clusters, DSIR fit...); [] for nothing."""
        return []

    def required_columns(self) -> set[str]:
        """Columns this step reads beyond the document columns (id, text, source...); an earlier step must
        provide each (checked when the pipeline is loaded)."""
        return set()

    @classmethod
    def position_problem(cls, index: int, names: list[str]) -> str | None:
        """Why this step cannot sit at `index` of a pipeline whose step names are `names` (None when it can)."""
        return None

    @classmethod
    def pipeline_problem(cls, index: int, steps: list[dict]) -> str | None:
        """Why this step's parameters do not fit the other steps' (`steps`: [{name: params}]; None when they do)."""
        return None

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            out = self.process(batch)
            if out is not None and out.num_rows:
                yield out

    @property
    def ctx(self) -> StepContext:
        if self._ctx is None:
            self._ctx = StepContext()
        return self._ctx


def chain_steps(
    batches: Iterator[pa.RecordBatch],
    steps: list[Step],
    ctx: StepContext,
    wrap: Callable | None = None,
    first: int = 1,
) -> list[Iterator[pa.RecordBatch]]:
    """Set each step up with its own view of `ctx` (its 1-based pipeline position, `first` for steps[0])
    and stream `batches` through the steps in order; `wrap` (e.g. a meter) wraps the input and every step's
    output. Returns the stage iterators, input first: the last one yields what the steps let through. The
    one source -> steps chain of every pass."""
    stages = [wrap(batches) if wrap else batches]
    for i, step in enumerate(steps, start=first):
        step.setup(ctx.for_step(i))
        out = step(stages[-1])
        stages.append(wrap(out) if wrap else out)
    return stages


def with_columns(batch: pa.RecordBatch, columns: dict[str, pa.Array]) -> pa.RecordBatch:
    """`batch` with `columns` appended, replacing same-named ones."""
    for name, values in columns.items():
        idx = batch.schema.get_field_index(name)
        batch = batch.set_column(idx, name, values) if idx >= 0 else batch.append_column(name, values)
    return batch


def first_reason(n: int, rules: list[tuple[pa.Array, str]]) -> pa.Array:
    """Per row, the reason of the first rule whose mask is true, or null (keep). Vectorised."""
    reasons = pa.nulls(n, pa.string())
    for mask, reason in reversed(rules):
        reasons = pc.if_else(pc.fill_null(mask, False), pa.scalar(reason), reasons)
    return reasons


class Filter(Step):
    """A step that scores rows (columns for the stats table) and then keeps or drops each with a reason.

    Override `score(batch) -> {column: array}` and `decide(batch) -> reasons`, a string array with null
    for rows to keep. Re-thresholding later is a SQL query over the score columns, not a re-run.
    """

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        return {}

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        raise NotImplementedError

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        batch = with_columns(batch, self.score(batch))
        return self.ctx.apply_drops(self.name, batch, self.decide(batch))
