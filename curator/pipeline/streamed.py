"""Streamed passes: a pass's per-batch steps run batch by batch on an engine that moves batches between
workers (Ray Data's `map_batches`), then the task's usual pass finishes from what they left on disk.

A streamed pass of one task has three parts:
- the *head* (one process per task): the source (reader, or the stage file of the global step the segment
  starts with) and that global step's filter pass. It tags every batch with (task, seq) into a *block*;
- the *streamed steps*: the segment's per-batch steps after the head (`is_per_batch`), each applied to
  one block at a time wherever the engine puts it (models in actor pools). Rows a step drops stay in the
  block, marked with the step's position and reason (their text removed), so the block carries its own
  accounting; each step adds its meter (rows, bytes, seconds) to the block's first row;
- the *sink*: each block is written to a spill file `state/stream/sNN/task-T/block-SSSSSS.arrow`.

The task's usual pass function (run_task / run_index_task) then replays the spill files in order: the
dropped rows go to the stats table in the order a local pass writes them, the survivors through the
remaining steps of the segment (a step that keeps state across batches) and on to the output or the next
global step, and the accounting is checked exactly as for a local pass. Spill files are removed when the
task's pass has published its results. Memory: one block per worker; the spill files hold one pass's
documents of the tasks in flight.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import RunError
from curator.io.atomic import tmp_path_for
from curator.io.rejects import RejectSink
from curator.io.sources import Shard
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.logs import close_logger
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.segment_pass import (
    Meter,
    SegmentPass,
    SegmentRecord,
    flow_problems,
    log_failure,
    meter_span,
    name_meters,
    reject_logger,
    step_row,
    task_logger,
)
from curator.pipeline.segments import Segment, plan_segments
from curator.pipeline.step import Step, StepContext, chain_steps
from curator.text.bytes import total_bytes

TASK, SEQ, DROP_POS, DROP_REASON, METERS = "__task", "__seq", "__drop_pos", "__drop_reason", "__meters"
SPILL_COMPRESSION = "lz4"
KEEP_FOR_DROPPED = ("id", "source", "file", "row", "n_bytes")  # what a dropped row keeps besides stats columns


# -- which steps stream ---------------------------------------------------------------------------------


def is_per_batch(step: Step | type[Step]) -> bool:
    """Whether a step (or step class) can run on any worker one batch at a time: it keeps no state across
    batches (it only overrides `process`), writes no side outputs, is not a global step, and does not opt out
    (`per_batch = False`)."""
    cls = step if isinstance(step, type) else type(step)
    return not issubclass(cls, GlobalStep) and cls.__call__ is Step.__call__ and not cls.side_outputs and cls.per_batch


def ray_data_role(cls: type[Step]) -> str:
    """How the Ray executor's mode data runs a step class, for `curator steps`."""
    if issubclass(cls, GlobalStep):
        return "global step: indexes each task after the stream, resolves on a worker actor, heads the next stream"
    if not is_per_batch(cls):
        return "runs in each task's pass (keeps state across batches or writes side outputs)"
    if cls.resources.memory_mb or cls.resources.gpus:
        return "a map_batches stage in an actor pool (its model loaded once per actor)"
    return "a map_batches stage (Ray tasks)"


def split_segment(steps: list[Step], segment: Segment) -> tuple[int, int]:
    """(head, streamed): how many of the segment's steps run in the head (the global step whose filter pass
    starts a later segment) and how many per-batch steps follow it on the engine; the rest run at replay."""
    head = 0 if segment.reads_input else 1
    streamed = 0
    for step in steps[segment.start + head : segment.stop]:
        if not is_per_batch(step):
            break
        streamed += 1
    return head, streamed


def segment_of(steps: list[Step], feeds: int | None) -> Segment:
    """The segment whose pass ends at the global step at `feeds` (None: the last one, into the output)."""
    return next(s for s in plan_segments(steps) if s.feeds == feeds)


def spill_dir(run_root: str | Path, segment: int, task: int) -> Path:
    return Path(run_root) / "state" / "stream" / f"s{segment:02d}" / f"task-{task:05d}"


def spill_block(folder: Path, seq: int) -> Path:
    return folder / f"block-{seq:06d}.arrow"


ERROR_FILE = "error.txt"  # why a task's stream failed (engines do not always carry exceptions back)


def record_error(folder: Path, message: str) -> None:
    """Keep the first error of a task's stream beside its spill files, for the driver's report."""
    if not (folder / ERROR_FILE).exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / ERROR_FILE, message)


def remove_spill(run_root: str | Path, segment: int, task: int) -> None:
    """Drop a task's spill files once its pass has published what it read from them."""
    shutil.rmtree(spill_dir(run_root, segment, task), ignore_errors=True)
    for parent in (spill_dir(run_root, segment, task).parent, Path(run_root) / "state" / "stream"):
        try:
            parent.rmdir()
        except OSError:  # not empty (other tasks), or gone
            break


def remove_all_spill(run_root: str | Path) -> None:
    """Remove every spill file of a run (a finished run has none left but those of a killed stream)."""
    shutil.rmtree(Path(run_root) / "state" / "stream", ignore_errors=True)


# -- blocks ---------------------------------------------------------------------------------------------


def _const(value, n: int, type_: pa.DataType) -> pa.Array:
    return pa.repeat(pa.scalar(value, type_), n)


def _meters_column(n: int, info: dict) -> pa.Array:
    return pa.concat_arrays([pa.array([json.dumps(info)], pa.string()), pa.nulls(n - 1, pa.string())])


def make_block(task: int, seq: int, dead: list[pa.Table], alive: pa.RecordBatch | None, meters: list) -> pa.Table:
    """One block: the rows dropped so far (each with its step's position and reason), then the survivors;
    tagged with (task, seq); `meters` ([position, rows in, rows out, bytes in, bytes out, seconds] per
    streamed step, plus the survivors' columns) on the first row."""
    parts = list(dead)
    if alive is not None and alive.num_rows and parts:  # dropped rows take the survivors' column types, so the
        parts = [_like(part, alive.schema) for part in parts]  # survivors keep theirs through the concat
    if alive is not None and alive.num_rows:
        n = alive.num_rows
        parts.append(
            pa.Table.from_batches([alive])
            .append_column(DROP_POS, pa.nulls(n, pa.int32()))
            .append_column(DROP_REASON, pa.nulls(n, pa.string()))
        )
    table = pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]
    n = table.num_rows
    info = {"meters": meters, "columns": alive.schema.names if alive is not None else []}
    return (
        table.append_column(TASK, _const(task, n, pa.int32()))
        .append_column(SEQ, _const(seq, n, pa.int64()))
        .append_column(METERS, _meters_column(n, info))
    )


def _like(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with the columns it shares with `schema` cast to their types there (where a cast works)."""
    for i, name in enumerate(table.schema.names):
        idx = schema.get_field_index(name)
        if idx >= 0 and table.schema.field(i).type != schema.field(idx).type:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):  # else: the concat promotes
                table = table.set_column(i, name, table.column(i).cast(schema.field(idx).type))
    return table


def dead_rows(batch: pa.RecordBatch, reasons: pa.Array, position: int, keep: set[str]) -> pa.Table:
    """Dropped rows as a block keeps them: the columns the stats table reads, the step's position, the reason."""
    names = [c for c in batch.schema.names if c in keep]
    table = pa.Table.from_batches([batch.select(names)])
    return table.append_column(DROP_POS, _const(position, batch.num_rows, pa.int32())).append_column(
        DROP_REASON, reasons.cast(pa.string())
    )


def block_parts(block: pa.Table) -> tuple[int, int, pa.Table, pa.RecordBatch | None, dict]:
    """(task, seq, dropped rows, survivors or None, meters) of a block."""
    task, seq = block.column(TASK)[0].as_py(), block.column(SEQ)[0].as_py()
    info = json.loads(block.column(METERS)[0].as_py())
    alive_mask = pc.is_null(block.column(DROP_POS))
    dead = block.filter(pc.invert(alive_mask)).drop_columns([TASK, SEQ, METERS])
    alive_rows = block.filter(alive_mask)
    alive = None
    if alive_rows.num_rows:
        alive = alive_rows.select(info["columns"]).combine_chunks().to_batches()[0]
    return task, seq, dead, alive, info


def stats_keep(steps: list[Step]) -> set[str]:
    """Columns a dropped row keeps: the stats table's (base columns and every declared score)."""
    keep = set(KEEP_FOR_DROPPED)
    for step in steps:
        keep.update(step.stats_columns)
    return keep


# -- the head: source + the global step's filter pass, per task ----------------------------------------


def stream_head(
    task: int, shard: Shard, config, run_root: str, feeds: int | None, owner: str = ""
) -> Iterator[pa.Table]:
    """The blocks of one task's streamed pass, from its source through the segment's head; writes the head's
    record (reader counts, its steps' rows, the block count) and the reader's rejects beside the spill files.
    Clears what an earlier attempt of the task left first."""
    from curator.pipeline.global_step import bind_global_steps
    from curator.pipeline.run_lock import check_owner

    check_owner(run_root, owner)
    run = RunFolder(run_root)
    steps = config.build_steps()
    bind_global_steps(steps, run)
    segment = segment_of(steps, feeds)
    head, streamed = split_segment(steps, segment)
    folder = spill_dir(run_root, segment.index, task)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    keep = stats_keep(steps)
    dead: list[pa.Table] = []

    def on_drop(step: str, batch: pa.RecordBatch, reasons: pa.Array, position: int | None) -> None:
        dead.append(dead_rows(batch, reasons, position, keep))

    log = task_logger(run, task)
    log.info("pass %d: streamed (%d step(s) on the engine)", segment.index, streamed)
    rejects = RejectSink(folder / "rejects.parquet", on_reject=reject_logger(log)) if segment.reads_input else None
    ctx = StepContext(task=task, seed=config.seed, run_dir=run_root, on_drop=on_drop)
    flow = None
    seq = 0
    try:
        flow = SegmentPass(task, shard, config, run, steps, replace(segment, stop=segment.start + head), ctx, rejects)
        for batch in flow.survivors():
            yield make_block(task, seq, dead, batch, [])
            dead.clear()
            seq += 1
        if dead:  # the last batches' rows were all dropped: a block of dropped rows only
            yield make_block(task, seq, dead, None, [])
            seq += 1
        record = flow.finish(flow.meters[-1].rows, "the streamed steps")
        if rejects is not None:
            rejects.close()
    except BaseException as exc:
        if rejects is not None:
            rejects.abort()
        if isinstance(exc, Exception):
            record_error(folder, str(exc) if isinstance(exc, RunError) else f"{type(exc).__name__}: {exc}")
        log_failure(log, exc)
        raise
    finally:
        if flow is not None:
            flow.teardown()
        close_logger(log)
    head_info = {"blocks": seq, "head": head, "streamed": streamed, "record": asdict(record)}
    write_atomic(folder / "head.json", json.dumps(head_info))


# -- a streamed step: one block at a time ---------------------------------------------------------------


class BlockStep:
    """Applies the step at 0-based `position` of a pipeline to one block at a time (set up once per worker)."""

    def __init__(self, config, run_root: str, position: int):
        from curator.pipeline.global_step import bind_global_steps

        steps = config.build_steps()
        bind_global_steps(steps, RunFolder(run_root))
        self.step = steps[position]
        self.position = position + 1  # 1-based, as in the steps table
        self.segment = next(s.index for s in plan_segments(steps) if s.start <= position < s.stop)
        self.seed, self.run_root = config.seed, run_root
        self.keep = stats_keep(steps)
        self.step.setup(StepContext(task=-1, seed=config.seed, run_dir=run_root).for_step(self.position))

    def __call__(self, block: pa.Table) -> pa.Table:
        task = block.column(TASK)[0].as_py()
        try:
            return self._apply(block)
        except Exception as exc:  # kept beside the task's spill files: Ray Data does not carry it back
            why = str(exc) if isinstance(exc, RunError) else f"{type(exc).__name__}: {exc}"
            message = (
                why
                if why.startswith("documents unaccounted")
                else f"step {self.position} '{self.step.name}' failed: {why}"
            )
            record_error(spill_dir(self.run_root, self.segment, task), message)
            log = task_logger(RunFolder(self.run_root), task)
            log_failure(log, exc)
            close_logger(log)
            raise RunError(f"task {task}: {message}") from exc

    def _apply(self, block: pa.Table) -> pa.Table:
        task, seq, dead, alive, info = block_parts(block)
        new_dead: list[pa.Table] = []

        def on_drop(step: str, batch: pa.RecordBatch, reasons: pa.Array, position: int | None) -> None:
            new_dead.append(dead_rows(batch, reasons, position, self.keep))

        meter = [self.position, 0, 0, 0, 0, 0.0]
        out = None
        if alive is not None:
            ctx = StepContext(task=task, seed=self.seed, run_dir=self.run_root, on_drop=on_drop)
            self.step._ctx = ctx.for_step(self.position)
            started = time.perf_counter()
            outs = list(self.step(iter([alive])))
            seconds = time.perf_counter() - started
            out = pa.Table.from_batches(outs).combine_chunks().to_batches()[0] if outs else None
            meter = [
                self.position,
                alive.num_rows,
                out.num_rows if out is not None else 0,
                total_bytes(alive.column("text")),
                total_bytes(out.column("text")) if out is not None else 0,
                seconds,
            ]
        dead_parts = ([dead] if dead.num_rows else []) + new_dead
        if out is None and not dead_parts:  # a block keeps at least one row: its first carries the meters
            raise RunError(
                f"documents unaccounted for: step {self.position} '{self.step.name}' took {meter[1]} rows, gave "
                "none and reported none dropped"
            )
        return make_block(task, seq, dead_parts, out, info["meters"] + [meter])

    def teardown(self) -> None:
        self.step.teardown()


# -- the sink -------------------------------------------------------------------------------------------


def write_spill(block: pa.Table, run_root: str, segment: int) -> pa.Table:
    """Write one block to its spill file (complete or not at all); returns (task, seq, rows) for the driver."""
    task, seq = block.column(TASK)[0].as_py(), block.column(SEQ)[0].as_py()
    path = spill_block(spill_dir(run_root, segment, task), seq)
    tmp = tmp_path_for(path)
    options = pa.ipc.IpcWriteOptions(compression=SPILL_COMPRESSION)
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, block.schema, options=options) as writer:
            writer.write_table(block)
        os.replace(tmp, path)
    except OSError as exc:
        record_error(path.parent, f"writing its spill file {path} failed: {exc}")
        raise
    return pa.table(
        {"task": pa.array([task], pa.int64()), "seq": pa.array([seq], pa.int64()), "rows": [block.num_rows]}
    )


def stream_error(run_root: str | Path, segment: int, task: int) -> str | None:
    """The error a task's stream recorded (a step raised, a spill file could not be written), or None."""
    path = spill_dir(run_root, segment, task) / ERROR_FILE
    return path.read_text() if path.exists() else None


def stream_status(run_root: str | Path, segment: int, task: int) -> str | None:
    """None when a task's streamed part is complete on disk, else what is missing."""
    folder = spill_dir(run_root, segment, task)
    head = folder / "head.json"
    error = stream_error(run_root, segment, task)
    if error is not None:
        return error
    if not head.exists():
        return "its stream did not finish"
    blocks = json.loads(head.read_text())["blocks"]
    missing = [s for s in range(blocks) if not spill_block(folder, s).exists()]
    if missing:
        return f"{len(missing)} of its {blocks} streamed blocks were not written"
    return None


# -- replay: the task's pass, from the spill files ------------------------------------------------------


class ReplayPass:
    """Stands in for a SegmentPass in a task's pass function when the segment was streamed: yields the
    survivors of the spill files (then of the segment's remaining steps), writes the dropped rows through
    `ctx` in a local pass's order, and checks the same accounting in `finish`."""

    def __init__(
        self,
        task: int,
        shard: Shard,
        run: RunFolder,
        steps: list[Step],
        segment: Segment,
        ctx: StepContext,
        rejects: RejectSink | None,
    ):
        self.task, self.shard, self.segment, self.ctx = task, shard, segment, ctx
        self.folder = spill_dir(run.root, segment.index, task)
        problem = stream_status(run.root, segment.index, task)
        if problem:
            raise RunError(f"task {task} ({shard.describe()}): the streamed pass is incomplete: {problem}")
        info = json.loads((self.folder / "head.json").read_text())
        self.blocks = info["blocks"]
        self.head = SegmentRecord.from_json(info["record"])
        if rejects is not None and (self.folder / "rejects.parquet").exists():
            rejects.copy_from(self.folder / "rejects.parquet")
        first_streamed = segment.start + info["head"]
        self.streamed = steps[first_streamed : first_streamed + info["streamed"]]
        self.tail = steps[first_streamed + info["streamed"] : segment.stop]
        self.first_streamed = first_streamed + 1  # 1-based
        self.names = {segment.start + 1 + j: s.name for j, s in enumerate(steps[segment.start : segment.stop])}
        self.sums = {self.first_streamed + j: [0, 0, 0, 0, 0.0] for j in range(len(self.streamed))}
        self.started = time.perf_counter()
        first_tail = self.first_streamed + len(self.streamed)
        self.meters = chain_steps(self._replay(), self.tail, ctx, Meter, first=first_tail)
        name_meters(self.meters, self.tail, first_tail, f"task {task} ({shard.describe()})")
        self.meters[0].label = None  # the replay's own errors are RunErrors that say what is wrong

    def _replay(self) -> Iterator[pa.RecordBatch]:
        for seq in range(self.blocks):
            with pa.OSFile(str(spill_block(self.folder, seq))) as source:
                block = pa.ipc.open_file(source).read_all()
            _, _, dead, alive, info = block_parts(block)
            for position, *values in info["meters"]:
                sums = self.sums[position]
                for k, v in enumerate(values):
                    sums[k] += v
            if dead.num_rows:
                positions = dead.column(DROP_POS)
                for position in sorted(pc.unique(positions).to_pylist()):
                    rows = dead.filter(pc.equal(positions, position))
                    batch = rows.drop_columns([DROP_POS, DROP_REASON]).combine_chunks().to_batches()[0]
                    reasons = rows.column(DROP_REASON).combine_chunks()
                    self.ctx.for_step(position).drop(self.names[position], batch, reasons)
            if alive is not None:
                yield alive

    def survivors(self) -> Iterator[pa.RecordBatch]:
        return self.meters[-1]

    def finish(self, written: int, where: str) -> SegmentRecord:
        """Check the head's, the streamed steps' and the remaining steps' counts; the segment's record."""
        head, ctx = self.head, self.ctx
        rows = [dict(r) for r in head.steps]
        for position, span in self.sums.items():
            rows.append(step_row(self.task, position, self.names[position], span, ctx.dropped.get(position, {})))
        first_tail = self.first_streamed + len(self.streamed)
        for j in range(len(self.tail)):
            position, span = first_tail + j, meter_span(self.meters[j], self.meters[j + 1])
            rows.append(step_row(self.task, position, self.names[position], span, ctx.dropped.get(position, {})))
        problems = flow_problems(rows, head.rows_in, written, where)
        for row in rows:  # the head's drops were counted where they happened and again from the spill files
            position = row["step_index"]
            if 0 < position < self.first_streamed and row["rows_dropped"] != sum(
                ctx.dropped.get(position, {}).values()
            ):
                problems.append(f"step {position} '{row['step']}': its dropped rows did not all reach the spill files")
        if problems:
            raise RunError(
                f"task {self.task} ({self.shard.describe()}): documents unaccounted for: " + "; ".join(problems)
            )
        return SegmentRecord(
            records=head.records,
            rejected_docs=head.rejected_docs,
            rejects=head.rejects,
            rows_in=head.rows_in,
            rows_out=next((r["rows_out"] for r in reversed(rows) if r["step_index"] > 0), head.rows_in),
            dropped=sum(r["rows_dropped"] for r in rows if r["step_index"] > 0),
            steps=rows,
            seconds=round(head.seconds + time.perf_counter() - self.started, 3),
        )

    def teardown(self) -> None:
        for step in self.tail:
            step.teardown()
