"""The two task functions an executor runs: a global step's index pass and the final pass of one task.

A task reads its shard once (see curator.pipeline.segments): the index pass of the first global step reads
the input, every later pass reads the stage file the previous one left. What each pass dropped or rejected
is recorded beside its index marker; the final pass merges it all into the task's stats parts, writes the
output, and checks that every record of the shard is kept, dropped with a reason, or rejected. Output
shards and stats parts appear only complete; the completion marker last.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from curator.errors import RunError
from curator.io.atomic import AtomicParquetWriter
from curator.io.rejects import RejectSink
from curator.io.sources import Shard
from curator.io.writer import ShardedParquetWriter
from curator.pipeline.config import PipelineConfig
from curator.pipeline.global_step import bind_global_steps, index_marker, read_index_marker
from curator.pipeline.logs import close_logger, file_logger
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.run_lock import check_owner
from curator.pipeline.segment_pass import (
    SegmentPass,
    SegmentRecord,
    log_failure,
    reject_logger,
    task_logger,
)
from curator.pipeline.segments import StageWriter, plan_segments, segment_part
from curator.pipeline.stats import STEPS_SCHEMA, DocStatsWriter, docs_schema
from curator.pipeline.step import StepContext
from curator.pipeline.streamed import ReplayPass, remove_spill
from curator.schema import DOCUMENT_SCHEMA, validate_documents


@dataclass
class TaskResult:
    """What one task did; the same numbers are in its completion marker."""

    task: int
    shard: str
    records: int = 0  # input records seen by the reader
    rejected_docs: int = 0  # documents lost to rejects (row-level and whole-file)
    rejects: int = 0  # reject rows written
    kept: int = 0
    dropped: int = 0
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    skipped: bool = False

    @classmethod
    def from_marker(cls, data: dict) -> TaskResult:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "skipped"}, skipped=True)


def run_index_task(
    task: int,
    shard: Shard,
    config: PipelineConfig,
    run_root: str,
    position: int,
    owner: str = "",
    streamed: bool = False,
) -> dict:
    """Stream one task through the segment that ends at the global step at `position`: its survivors go to
    the step's stage file and its `index()`; drops, rejects and step rows are kept beside the index marker.
    `owner`: the run lock's token of the driver; checked before anything is published. `streamed`: the
    segment's per-batch steps already ran on an engine (curator.pipeline.streamed); replay their spill files."""
    check_owner(run_root, owner)
    run = RunFolder(run_root)
    steps = config.build_steps()
    bind_global_steps(steps, run)
    segment = next(s for s in plan_segments(steps) if s.feeds == position)
    target = steps[position]
    log = task_logger(run, task)
    log.info("pass %d: index of %s", segment.index, target.state.name)
    docs = DocStatsWriter(segment_part(target.state, "docs", task), docs_schema(steps))
    rejects = None
    if segment.reads_input:
        rejects = RejectSink(segment_part(target.state, "rejects", task), on_reject=reject_logger(log))
    stage = StageWriter(target.state, task)
    ctx = StepContext(task=task, seed=config.seed, run_dir=run_root, on_drop=docs.write_dropped)
    sinks = [s for s in (stage, docs, rejects) if s is not None]
    flow = None
    try:
        flow = _segment_flow(streamed, task, shard, config, run, steps, segment, ctx, rejects)
        target.setup(ctx.for_step(position + 1))
        facts = target.index_task(stage.tee(flow.survivors()), task)
        record = flow.finish(stage.rows, f"{target.name}'s stage file")
        check_owner(run_root, owner)
        parts = stage.close()
        docs.close()
        if rejects is not None:
            rejects.close()
    except BaseException as exc:
        for sink in sinks:
            sink.abort()
        log_failure(log, exc)
        raise
    finally:
        if flow is not None:
            flow.teardown()
        target.teardown()
        close_logger(log)
    facts = {"task": task, "shard": shard.describe(), **facts, "stage_parts": parts, "segment": asdict(record)}
    write_atomic(index_marker(target.state, task), json.dumps(facts, indent=1))
    if streamed:
        remove_spill(run_root, segment.index, task)
    return facts


def run_resolve(config: PipelineConfig, run_root: str, position: int, n_tasks: int) -> dict:
    """The global passes (`resolve`) of the global step at `position` over its on-disk state, wherever the
    executor runs them (the driver's process locally, a worker actor on Ray); logged to logs/run.log."""
    run = RunFolder(run_root)
    steps = config.build_steps()
    bind_global_steps(steps, run)
    step = steps[position]
    step.setup(StepContext(task=-1, seed=config.seed, run_dir=run_root))
    markers = [json.loads(index_marker(step.state, i).read_text()) for i in range(n_tasks)]
    log = file_logger("curator.resolve", run.logs / "run.log")
    try:
        return step.resolve(markers, log)
    finally:
        close_logger(log)


def run_task(
    task: int, shard: Shard, config: PipelineConfig, run_root: str, owner: str = "", streamed: bool = False
) -> TaskResult:
    """The final pass of one task: the last segment into output/, then the task's merged stats and marker.
    `owner`: the run lock's token of the driver; checked before anything is published. `streamed`: as for
    run_index_task."""
    check_owner(run_root, owner)
    run = RunFolder(run_root)
    steps = config.build_steps()
    run.clean_task(task, steps)
    log = task_logger(run, task)
    bind_global_steps(steps, run)
    *earlier, last = plan_segments(steps)
    log.info("pass %d: output", last.index)
    records = [SegmentRecord.from_json(read_index_marker(steps[s.feeds], task)["segment"]) for s in earlier]
    rejects = RejectSink(run.rejects_part(task), on_reject=reject_logger(log))
    docs = DocStatsWriter(run.docs_part(task), docs_schema(steps))
    out = ShardedParquetWriter(
        run.output,
        run.output_prefix(task),
        DOCUMENT_SCHEMA,
        config.output.max_shard_bytes,
        config.output.compression,
        config.output.compression_level,
    )
    ctx = StepContext(task=task, seed=config.seed, run_dir=run_root, on_drop=docs.write_dropped)
    flow = None
    try:
        for segment in earlier:  # what the earlier passes dropped and rejected, in pipeline order
            state = steps[segment.feeds].state
            docs.copy_dropped(segment_part(state, "docs", task))
            if segment.reads_input:
                rejects.copy_from(segment_part(state, "rejects", task))
        first_rejects = rejects if last.reads_input else None
        flow = _segment_flow(streamed, task, shard, config, run, steps, last, ctx, first_rejects)
        names = DOCUMENT_SCHEMA.names
        for batch in flow.survivors():
            documents = batch.select(names)
            try:
                validate_documents(documents)
            except ValueError as exc:
                raise RunError(
                    f"task {task} ({shard.describe()}): the steps broke the document schema: {exc}"
                ) from None
            out.write(documents)
            docs.write_kept(batch)
        records.append(flow.finish(out.rows, "the writer"))
        _check_segments(task, shard, records, docs)
        check_owner(run_root, owner)
        outputs = [p.name for p in out.close()]
        docs.close()
        rejects.close()
        steps_writer = AtomicParquetWriter(run.steps_part(task), STEPS_SCHEMA)
        rows = [row for record in records for row in record.steps]
        steps_writer.write(pa.RecordBatch.from_pylist(rows, schema=STEPS_SCHEMA))
        steps_writer.close()
        log.info(
            "done: %d records, %d kept, %d dropped, %d rejected",
            records[0].records,
            out.rows,
            docs.dropped,
            rejects.docs_lost,
        )
    except BaseException as exc:
        for w in (out, docs, rejects):
            w.abort()
        log_failure(log, exc)
        raise
    finally:
        if flow is not None:
            flow.teardown()
        close_logger(log)
    result = TaskResult(
        task=task,
        shard=shard.describe(),
        records=records[0].records,
        rejected_docs=rejects.docs_lost,
        rejects=rejects.count,
        kept=out.rows,
        dropped=docs.dropped,
        outputs=outputs,
        seconds=round(sum(r.seconds for r in records), 3),
    )
    write_atomic(run.marker(task), json.dumps(asdict(result), indent=1))
    if streamed:
        remove_spill(run_root, last.index, task)
    return result


def _segment_flow(streamed: bool, task, shard, config, run, steps, segment, ctx, rejects):
    """The segment's pass for one task: run here (SegmentPass), or replayed from its streamed spill files."""
    if streamed:
        return ReplayPass(task, shard, run, steps, segment, ctx, rejects)
    return SegmentPass(task, shard, config, run, steps, segment, ctx, rejects)


def _check_segments(task: int, shard: Shard, records: list[SegmentRecord], docs: DocStatsWriter) -> None:
    """Each pass started with the documents the one before it ended with, and the stats hold every document
    the reader yielded (kept or dropped)."""
    problems = []
    for k in range(1, len(records)):
        if records[k].rows_in != records[k - 1].rows_out:
            problems.append(
                f"pass {k} read {records[k].rows_in} documents, pass {k - 1} left {records[k - 1].rows_out}"
            )
    if docs.kept + docs.dropped != records[0].rows_in:
        problems.append(f"stats hold {docs.kept + docs.dropped} documents, the reader yielded {records[0].rows_in}")
    if problems:
        raise RunError(f"task {task} ({shard.describe()}): documents unaccounted for: " + "; ".join(problems))
