"""One task's pass through one segment of the steps: its source, the metered step chain and its accounting."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pyarrow as pa

from curator.errors import CuratorError, RunError
from curator.io.readers import open_reader
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import Shard
from curator.pipeline.global_step import read_index_marker
from curator.pipeline.logs import file_logger
from curator.pipeline.run_folder import RunFolder
from curator.pipeline.segments import Segment, read_stage
from curator.pipeline.step import Step, StepContext, chain_steps
from curator.text.bytes import total_bytes

MAX_LOGGED_REJECTS = 200


class Meter:
    """Wraps a batch iterator; counts rows and text bytes and the wall time spent producing them. With a
    `label` (what produces the batches: "task 3 (file): step 2 'name'"), an unexpected exception from it
    becomes a RunError that names it (exceptions from further up arrive as RunErrors already)."""

    def __init__(self, inner: Iterator[pa.RecordBatch], label: str | None = None):
        self._inner = inner
        self.label = label
        self.rows = 0
        self.bytes = 0
        self.seconds = 0.0

    def __iter__(self):
        return self

    def __next__(self) -> pa.RecordBatch:
        t0 = time.perf_counter()
        try:
            batch = next(self._inner)
        except (StopIteration, CuratorError):
            raise
        except Exception as exc:
            if self.label is None:
                raise
            raise RunError(f"{self.label} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            self.seconds += time.perf_counter() - t0
        self.rows += batch.num_rows
        self.bytes += total_bytes(batch.column("text"))
        return batch


@dataclass
class SegmentRecord:
    """What one task's pass through one segment did; kept in the index marker until the last pass merges it."""

    records: int = 0  # input records the reader saw (first segment only)
    rejected_docs: int = 0  # documents lost to rejects (first segment only)
    rejects: int = 0  # reject rows written (first segment only)
    rows_in: int = 0  # documents entering the segment's first step
    rows_out: int = 0  # documents leaving its last step
    dropped: int = 0  # documents its steps dropped
    steps: list[dict] = field(default_factory=list)  # its rows of the steps table
    seconds: float = 0.0

    @classmethod
    def from_json(cls, data: dict) -> SegmentRecord:
        rows = [{**r, "dropped_by_reason": [tuple(kv) for kv in r["dropped_by_reason"]]} for r in data["steps"]]
        return cls(**{**data, "steps": rows})


def step_row(task: int, position: int, name: str, span: tuple, dropped: dict[str, int]) -> dict:
    """One row of the steps table: `span` (rows in, rows out, text bytes in, bytes out, seconds inside the
    step) and its drops by reason."""
    rows_in, rows_out, bytes_in, bytes_out, seconds = span
    return dict(
        task=task,
        step_index=position,
        step=name,
        rows_in=rows_in,
        rows_out=rows_out,
        rows_dropped=sum(dropped.values()),
        dropped_by_reason=sorted(dropped.items()),
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        seconds=seconds,
    )


def meter_span(before: Meter, after: Meter) -> tuple:
    """What a step did, from the meters on its input and its output (step_row's `span`)."""
    return before.rows, after.rows, before.bytes, after.bytes, max(after.seconds - before.seconds, 0.0)


def flow_problems(rows: list[dict], rows_in: int, written: int, where: str) -> list[str]:
    """What does not add up along a chain of step rows (reader row excluded): each step takes what the one
    before gave, and keeps or drops with a reason everything it takes; `written` rows reached `where`."""
    problems, flow = [], rows_in
    for row in rows:
        position, name = row["step_index"], row["step"]
        if position == 0:
            continue
        if row["rows_in"] != flow:
            problems.append(f"step {position} '{name}' took {row['rows_in']} rows but {flow} reached it")
        lost = row["rows_in"] - row["rows_out"] - row["rows_dropped"]
        if lost:
            problems.append(
                f"step {position} '{name}' took {row['rows_in']} rows, gave {row['rows_out']} and reported "
                f"{row['rows_dropped']} dropped: {lost} unaccounted"
            )
        flow = row["rows_out"]
    if written != flow:
        problems.append(f"{flow} rows reached {where} but {written} were written")
    return problems


def name_meters(meters: list[Meter], steps: list[Step], first: int, where: str) -> None:
    """Label the meters of a chain (source first, then each step's output, the first at 1-based position
    `first`), so an exception names the reader or the step that raised it."""
    meters[0].label = f"{where}: reading"
    for j, step in enumerate(steps):
        meters[j + 1].label = f"{where}: step {first + j} '{step.name}'"


def task_logger(run: RunFolder, task: int) -> logging.Logger:
    """The task's log file (appended to by each of its passes)."""
    return file_logger(f"curator.task.{task}", run.task_log(task))


def log_failure(log: logging.Logger, exc: BaseException) -> None:
    """A failed pass's exception and traceback in the task's log (where the task ran: a worker, a Ray node)."""
    if isinstance(exc, Exception):
        log.error("failed: %s", exc, exc_info=exc)
    else:
        log.warning("interrupted (%s)", type(exc).__name__)


def reject_logger(log: logging.Logger):
    """on_reject callback: log the first MAX_LOGGED_REJECTS rejects of a pass."""
    logged = 0

    def on_reject(r: Reject) -> None:
        nonlocal logged
        if logged < MAX_LOGGED_REJECTS:
            log.warning("reject %s: %s: %s", r.location(), r.reason, r.detail)
        logged += 1

    return on_reject


class SegmentPass:
    """Streams one task through `steps[segment.start:segment.stop]`, from the reader (first segment) or from
    the stage file of the global step the segment starts with; `finish` checks and returns its record."""

    def __init__(
        self,
        task: int,
        shard: Shard,
        config,
        run: RunFolder,
        steps: list[Step],
        segment: Segment,
        ctx: StepContext,
        rejects: RejectSink | None,
    ):
        self.task, self.shard, self.segment, self.ctx = task, shard, segment, ctx
        self.steps = steps[segment.start : segment.stop]
        self.rejects = rejects
        self.reader = None
        self.started = time.perf_counter()
        if segment.reads_input:
            self.reader = open_reader(shard, config.reader.limits(), rejects)
            source = iter(self.reader)
        else:
            owner = steps[segment.start]  # the global step whose filter pass starts this segment
            source = read_stage(owner.state, task, read_index_marker(owner, task)["stage_parts"])
        self.meters = chain_steps(source, self.steps, ctx, Meter, first=segment.start + 1)
        name_meters(self.meters, self.steps, segment.start + 1, f"task {task} ({shard.describe()})")

    def survivors(self) -> Iterator[pa.RecordBatch]:
        return self.meters[-1]

    def finish(self, written: int, where: str) -> SegmentRecord:
        """Check that every document entering the segment left it, was dropped with a reason, or was rejected
        (and that `written` rows reached `where`); the segment's record."""
        meters = self.meters
        record = SegmentRecord(rows_in=meters[0].rows, rows_out=meters[-1].rows, steps=self._step_rows())
        problems = []
        if self.reader is not None:
            record.records = self.reader.records
            record.rejected_docs, record.rejects = self.rejects.docs_lost, self.rejects.count
            if record.records != record.rows_in + record.rejected_docs:
                problems.append(
                    f"reader saw {record.records} records but yielded {record.rows_in} and rejected "
                    f"{record.rejected_docs}"
                )
        problems += flow_problems(record.steps, record.rows_in, written, where)
        if problems:
            raise RunError(
                f"task {self.task} ({self.shard.describe()}): documents unaccounted for: " + "; ".join(problems)
            )
        record.dropped = sum(r["rows_dropped"] for r in record.steps if r["step_index"] > 0)
        record.seconds = round(time.perf_counter() - self.started, 3)
        return record

    def _step_rows(self) -> list[dict]:
        rows = []
        if self.reader is not None:
            read = self.meters[0]
            rows.append(
                dict(
                    task=self.task,
                    step_index=0,
                    step="read",
                    rows_in=self.reader.records,
                    rows_out=read.rows,
                    rows_dropped=self.reader.records - read.rows,
                    dropped_by_reason=sorted(self.rejects.by_reason.items()),
                    bytes_in=read.bytes,
                    bytes_out=read.bytes,
                    seconds=read.seconds,
                )
            )
        for j, step in enumerate(self.steps):
            position = self.segment.start + 1 + j
            dropped = self.ctx.dropped.get(position, {})
            rows.append(
                step_row(self.task, position, step.name, meter_span(self.meters[j], self.meters[j + 1]), dropped)
            )
        return rows

    def teardown(self) -> None:
        for step in self.steps:
            step.teardown()
