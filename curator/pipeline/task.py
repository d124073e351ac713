"""Run one task: read a shard, stream it through the steps, write output, stats, rejects, then the marker."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import pyarrow as pa

from curator.errors import RunError
from curator.io.atomic import AtomicParquetWriter
from curator.io.readers import open_reader
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import Shard
from curator.io.writer import ShardedParquetWriter
from curator.pipeline.config import PipelineConfig
from curator.pipeline.global_step import bind_global_steps
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.stats import STEPS_SCHEMA, DocStatsWriter, docs_schema
from curator.pipeline.step import StepContext, chain_steps
from curator.schema import DOCUMENT_SCHEMA, validate_documents
from curator.text.bytes import total_bytes

MAX_LOGGED_REJECTS = 200


class Meter:
    """Wraps a batch iterator; counts rows and text bytes and the wall time spent producing them."""

    def __init__(self, inner: Iterator[pa.RecordBatch]):
        self._inner = inner
        self.rows = 0
        self.bytes = 0
        self.seconds = 0.0

    def __iter__(self):
        return self

    def __next__(self) -> pa.RecordBatch:
        t0 = time.perf_counter()
        try:
            batch = next(self._inner)
        finally:
            self.seconds += time.perf_counter() - t0
        self.rows += batch.num_rows
        self.bytes += total_bytes(batch.column("text"))
        return batch


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


def _task_logger(run: RunFolder, task: int) -> logging.Logger:
    logger = logging.getLogger(f"curator.task.{task}")
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.FileHandler(run.task_log(task), mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def run_task(task: int, shard: Shard, config: PipelineConfig, run_root: str) -> TaskResult:
    """Process one shard end to end. Output shards and stats parts appear only complete; the marker last."""
    run = RunFolder(run_root)
    run.clean_task(task)
    log = _task_logger(run, task)
    started = time.perf_counter()
    steps = config.build_steps()
    bind_global_steps(steps, run)
    logged = 0

    def on_reject(r: Reject) -> None:
        nonlocal logged
        if logged < MAX_LOGGED_REJECTS:
            log.warning("reject %s: %s: %s", r.location(), r.reason, r.detail)
        logged += 1

    rejects = RejectSink(run.rejects_part(task), on_reject=on_reject)
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
    writers = (out, docs, rejects)
    try:
        reader = open_reader(shard, config.reader.limits(), rejects)
        meters = chain_steps(iter(reader), steps, ctx, Meter)
        names = DOCUMENT_SCHEMA.names
        for batch in meters[-1]:
            documents = batch.select(names)
            try:
                validate_documents(documents)
            except ValueError as exc:
                raise RunError(
                    f"task {task} ({shard.describe()}): the steps broke the document schema: {exc}"
                ) from None
            out.write(documents)
            docs.write_kept(batch)
        rejected_docs = rejects.docs_lost
        step_rows = _step_rows(task, steps, meters, ctx, reader.records, rejects)
        _check_task(task, shard, reader.records, rejected_docs, meters, steps, ctx, out.rows, docs)
        outputs = [p.name for p in out.close()]
        docs.close()
        rejects.close()
        steps_writer = AtomicParquetWriter(run.steps_part(task), STEPS_SCHEMA)
        steps_writer.write(pa.RecordBatch.from_pylist(step_rows, schema=STEPS_SCHEMA))
        steps_writer.close()
        log.info(
            "done: %d records, %d kept, %d dropped, %d rejected", reader.records, out.rows, docs.dropped, rejected_docs
        )
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        for step in steps:
            step.teardown()
        for handler in log.handlers:
            handler.close()
    result = TaskResult(
        task=task,
        shard=shard.describe(),
        records=reader.records,
        rejected_docs=rejected_docs,
        rejects=rejects.count,
        kept=out.rows,
        dropped=docs.dropped,
        outputs=outputs,
        seconds=round(time.perf_counter() - started, 3),
    )
    write_atomic(run.marker(task), json.dumps(asdict(result), indent=1))
    return result


def _step_rows(task, steps, meters, ctx: StepContext, records: int, rejects: RejectSink) -> list[dict]:
    read = meters[0]
    rows = [
        dict(
            task=task,
            step_index=0,
            step="read",
            rows_in=records,
            rows_out=read.rows,
            rows_dropped=records - read.rows,
            dropped_by_reason=sorted(rejects.by_reason.items()),
            bytes_in=read.bytes,
            bytes_out=read.bytes,
            seconds=read.seconds,
        )
    ]
    for i, step in enumerate(steps, start=1):
        before, after = meters[i - 1], meters[i]
        dropped = ctx.dropped.get(i, {})
        rows.append(
            dict(
                task=task,
                step_index=i,
                step=step.name,
                rows_in=before.rows,
                rows_out=after.rows,
                rows_dropped=sum(dropped.values()),
                dropped_by_reason=sorted(dropped.items()),
                bytes_in=before.bytes,
                bytes_out=after.bytes,
                seconds=max(after.seconds - before.seconds, 0.0),
            )
        )
    return rows


def _check_task(task, shard, records, rejected_docs, meters, steps, ctx, written, docs) -> None:
    """Every record is kept, dropped with a reason, or rejected; otherwise the task fails loudly."""
    problems = []
    if records != meters[0].rows + rejected_docs:
        problems.append(f"reader saw {records} records but yielded {meters[0].rows} and rejected {rejected_docs}")
    for i, step in enumerate(steps, start=1):
        dropped = sum(ctx.dropped.get(i, {}).values())
        if meters[i - 1].rows != meters[i].rows + dropped:
            problems.append(
                f"step {i} '{step.name}' took {meters[i - 1].rows} rows, gave {meters[i].rows} and "
                f"reported {dropped} dropped: {meters[i - 1].rows - meters[i].rows - dropped} unaccounted"
            )
    if written != meters[-1].rows:
        problems.append(f"{meters[-1].rows} rows reached the writer but {written} were written")
    if docs.kept + docs.dropped != meters[0].rows:
        problems.append(f"stats hold {docs.kept + docs.dropped} documents, the reader yielded {meters[0].rows}")
    if problems:
        raise RunError(f"task {task} ({shard.describe()}): documents unaccounted for: " + "; ".join(problems))
