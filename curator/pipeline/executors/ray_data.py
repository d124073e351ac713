"""The Ray Data side of the Ray executor: a pass's per-batch steps as a `map_batches` pipeline.

For each pass the driver builds one Dataset over the pending tasks: a head operator (one Ray task per
curator task: its reader or stage file, and the global step's filter pass) yields tagged Arrow blocks; each
per-batch step is a `map_batches` operator over them (a step that declares memory or GPUs, i.e. holds a
model, in an actor pool sized from its declared, possibly fractional, CPUs; the others as Ray tasks, which
Ray fuses); a sink operator writes each block to its spill file. As soon as a task's blocks are all
spilled, its pass function finishes it from them on the executor's worker actors (curator.pipeline.streamed)
while the stream goes on (`StreamWatch`), so the spill files hold only the tasks in flight. Ray Data
retries the tasks and restarts the actors of a dead worker (`max_task_retries` times); a step that raises
fails its own task (its error kept in the task's spill folder, its blocks dropped) while the others go on,
and a re-run redoes the failed tasks.

Memory: Ray Data's streaming executor bounds the blocks in flight (`DataContext` resource limits); one
block is one reader batch (`reader.batch_rows` / `batch_bytes`) plus its dropped rows' stats columns.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from curator.errors import RunError
from curator.pipeline.progress import Progress
from curator.pipeline.streamed import (
    METERS,
    SEQ,
    TASK,
    BlockStep,
    segment_of,
    split_segment,
    stream_error,
    stream_head,
    stream_status,
    write_spill,
)

_STEP_CACHE: dict[tuple, BlockStep] = {}  # per worker process: steps set up once, reused by later blocks


@dataclass
class StreamSpec:
    """What a pass needs to be streamed: the pipeline, the run folder, the global step the pass feeds (None:
    the output), the input shards and the run lock's owner token."""

    config: Any
    run_root: str
    feeds: int | None
    shards: list
    owner: str
    key: str = ""  # identifies the pipeline in a worker's step cache


def groups(table: pa.Table) -> Iterator[pa.Table]:
    """The curator blocks inside one Ray block (Ray may merge the blocks an operator yields)."""
    if table.num_rows == 0:
        return
    tasks = table.column(TASK).to_numpy()
    seqs = table.column(SEQ).to_numpy()
    cuts = np.flatnonzero((np.diff(tasks) != 0) | (np.diff(seqs) != 0)) + 1
    bounds = [0, *cuts.tolist(), table.num_rows]
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        block = table.slice(start, stop - start)
        if not block.column(METERS)[0].is_valid:
            raise RunError(
                f"task {block.column(TASK)[0]}: a block was split by Ray Data; keep reader.batch_bytes below "
                "Ray's target block size (DataContext.target_max_block_size)"
            )
        yield block


def _head(batch: pa.Table, spec: StreamSpec) -> Iterator[pa.Table]:
    for task in batch.column("task").to_pylist():
        yield from stream_head(task, spec.shards[task], spec.config, spec.run_root, spec.feeds, spec.owner)


def _apply(step: BlockStep, table: pa.Table) -> pa.Table:
    """`step` on each curator block of a Ray block (an empty Ray block passes through)."""
    parts = [step(g) for g in groups(table)]
    return pa.concat_tables(parts, promote_options="permissive") if parts else table


def _step_task(table: pa.Table, spec: StreamSpec, position: int) -> pa.Table:
    """A per-batch step as a Ray task: its set-up step is cached in the worker process."""
    key = (spec.run_root, spec.key, position)
    step = _STEP_CACHE.get(key)
    if step is None:
        _STEP_CACHE.clear()
        step = _STEP_CACHE[key] = BlockStep(spec.config, spec.run_root, position)
    return _apply(step, table)


class _StepActor:
    """A per-batch step that holds a model, in a Ray Data actor pool (set up once per actor). Subclassed per
    stage with `spec` and `position` bound (`actor_class`), so Ray restarts a lost actor without arguments."""

    spec: StreamSpec
    position: int

    def __init__(self):
        self.step = BlockStep(self.spec.config, self.spec.run_root, self.position)

    def __call__(self, table: pa.Table) -> pa.Table:
        return _apply(self.step, table)


SUMMARY = pa.schema([("task", pa.int64()), ("seq", pa.int64()), ("rows", pa.int64())])


def _sink(table: pa.Table, spec: StreamSpec, segment: int) -> pa.Table:
    """Each curator block to its spill file; (task, seq, rows) per block for the driver's progress."""
    parts = [write_spill(g, spec.run_root, segment) for g in groups(table)]
    return pa.concat_tables(parts) if parts else SUMMARY.empty_table()


def _build(ray, spec: StreamSpec, pending, steps, segment, offered_cpus, cpus_per_worker, retries, workers):
    """The pass's Dataset: head -> one map_batches per streamed step -> sink, at most `workers` Ray tasks (and
    actors per pool) at a time; Ray Data's notices turned off."""
    head, streamed = split_segment(steps, segment)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = False  # blocks are named (task, seq): order is not needed
    context.print_on_execution_start = False
    # a step that raises fails its own task (its error kept beside its spill files), not the whole pass: Ray
    # Data drops the failed block and goes on, as the local executor lets the other tasks finish
    context.max_errored_blocks = -1
    with contextlib.suppress(AttributeError):  # its memory advice repeats the steps' declared memory
        context.issue_detectors_config.detectors = []
    ds = ray.data.from_items([{"task": t} for t in pending], override_num_blocks=len(pending))
    retry = {"max_retries": retries}
    size = max(1, min(workers, len(pending)))
    tasks = {"compute": ray.data.TaskPoolStrategy(size=size), **retry}  # the same for all: Ray fuses them
    ds = ds.map_batches(_head, batch_size=1, batch_format="pyarrow", fn_kwargs={"spec": spec}, **tasks)
    first = segment.start + head
    for position in range(first, first + streamed):
        step = steps[position]
        kwargs = {"batch_size": None, "batch_format": "pyarrow"}
        r = step.resources
        if r.memory_mb or r.gpus:  # holds a model: an actor pool, sized by its declared CPUs
            cpus = cpus_per_worker or r.cpus
            if cpus > offered_cpus - 1:  # leave a CPU to the head and step tasks, or the pool starves them
                cpus = max(offered_cpus - 1, offered_cpus / 2)
            pool = max(1, min(workers, int((offered_cpus - 1) // cpus))) if offered_cpus > 1 else 1
            options = {"num_cpus": cpus, "compute": ray.data.ActorPoolStrategy(size=pool)}
            options |= {"max_restarts": retries, "max_task_retries": retries}
            if r.gpus:
                options["num_gpus"] = r.gpus
            if r.memory_mb:
                options["memory"] = r.memory_mb * 1024 * 1024
            actor = type(f"Step{position}", (_StepActor,), {"spec": spec, "position": position})
            ds = ds.map_batches(actor, **kwargs, **options)
        else:
            ds = ds.map_batches(_step_task, fn_kwargs={"spec": spec, "position": position}, **kwargs, **tasks)
    ds = ds.map_batches(
        _sink, fn_kwargs={"spec": spec, "segment": segment.index}, batch_size=None, batch_format="pyarrow", **tasks
    )
    return ds


class StreamWatch:
    """Streams a pass's pending tasks through Ray Data in a background thread and reports each task as soon
    as its spill files are complete, so the task's pass can finish (and free its spill files) while the
    stream goes on. `poll` returns [(task, None)] for tasks ready to finish and, once the stream has ended,
    [(task, RunError)] for those it could not complete; `done` is True after that."""

    def __init__(self, ray, spec: StreamSpec, pending: list[int], offered_cpus: float, cpus_per_worker: float | None,
                 retries: int, workers: int, quiet: bool, label: str):  # fmt: skip
        steps = spec.config.build_steps()
        self.ray, self.spec, self.retries, self.label = ray, spec, retries, label
        self.segment = segment_of(steps, spec.feeds).index
        self.waiting = set(pending)  # not reported yet
        self.seen: set[int] = set()  # tasks with at least one spilled block
        self.done = False
        with warnings.catch_warnings():  # Ray 2.60 deprecates the remote args that carry the retry count
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = _build(ray, spec, pending, steps, segment_of(steps, spec.feeds), offered_cpus, cpus_per_worker,
                        retries, workers)  # fmt: skip
        self.progress = Progress(0, quiet=quiet, unit="block", desc=f"{label}: streaming")
        self.progress.hold_first()  # the first line after `every` seconds (the last one always comes)
        self.blocks = self.rows = 0
        self.events: queue.Queue = queue.Queue()
        self._ray_log = logging.getLogger("ray.data")
        self._level = self._ray_log.level
        self._ray_log.setLevel(logging.CRITICAL)  # Ray Data's notices, and its tracebacks of what we report
        self._thread = threading.Thread(target=self._consume, args=(ds,), daemon=True, name="curator-stream")
        self._thread.start()

    def _consume(self, ds) -> None:
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                self.events.put(("blocks", batch.column("task").to_pylist(), batch.column("rows").to_pylist()))
            self.events.put(("end", None))
        except BaseException as exc:  # a step raised past Ray Data, or Ray gave up on a worker
            self.events.put(("end", _cause(exc, self.ray, self.retries)))

    def poll(self, wait: float = 0.0) -> list[tuple[int, BaseException | None]]:
        """What changed since the last poll (waiting up to `wait` s for the stream when nothing did)."""
        if self.done:
            return []
        ended, failure = False, None
        items = []
        try:
            items.append(self.events.get(timeout=wait) if wait > 0 else self.events.get_nowait())
            while True:
                items.append(self.events.get_nowait())
        except queue.Empty:
            pass
        for kind, *payload in items:
            if kind == "end":
                ended, failure = True, payload[0]
                continue
            tasks, rows = payload
            self.seen.update(tasks)
            for n in rows:
                self.blocks += 1
                self.rows += n
                self.progress.advance(
                    self.blocks,
                    {"docs": f"{self.rows:,}"},
                    lambda b=self.blocks, r=self.rows: f"{self.label}: {b:,} block(s), {r:,} docs streamed",
                )
        candidates = self.waiting if ended else self.waiting & self.seen
        ready = [t for t in sorted(candidates) if stream_status(self.spec.run_root, self.segment, t) is None]
        self.waiting.difference_update(ready)
        out: list[tuple[int, BaseException | None]] = [(t, None) for t in ready]
        if ended:
            out += self._failures(failure)
            self._finish()
        return out

    def _failures(self, failure: str | None) -> list[tuple[int, BaseException]]:
        own, other = [], []
        for task in sorted(self.waiting):
            problem = stream_status(self.spec.run_root, self.segment, task) or "its stream did not finish"
            where = f"task {task} ({self.spec.shards[task].describe()})"
            error = stream_error(self.spec.run_root, self.segment, task)
            if error is not None:  # the error its own stream recorded
                own.append((task, RunError(error if error.startswith(f"task {task} ") else f"{where}: {error}")))
            elif failure is not None:
                other.append((task, RunError(f"{where}: {problem}; the stream stopped: {failure}")))
            else:  # a step's error would be recorded: Ray gave up on the worker running part of it
                own.append((task, RunError(
                    f"{where}: {problem}: its Ray worker died {self.retries + 1} time(s) "
                    "(killed, out of memory, or its node lost; executor.max_task_retries sets the retries)"
                )))  # fmt: skip
        self.waiting.clear()
        return own + other  # the tasks' own errors first: the run's error lists the first ten

    def _finish(self) -> None:
        self.done = True
        self._ray_log.setLevel(self._level)
        self.progress.close()
        if self.progress.mode == "lines":
            line = f"[curator] {self.label}: streamed {self.blocks:,} block(s), {self.rows:,} docs"
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Stop reporting (the stream itself stops with the driver's Ray session)."""
        if not self.done:
            self._finish()


def _cause(exc: BaseException, ray, retries: int) -> str:
    """What stopped a stream, in one line: a worker that died more often than retried, or the exception
    (the task's own error is in its spill folder: Ray Data does not carry a UDF's exception back)."""
    chain, seen = [], exc
    while seen is not None and seen not in chain and len(chain) < 20:
        chain.append(seen)
        seen = getattr(seen, "cause", None) or seen.__cause__ or seen.__context__
    died = (ray.exceptions.WorkerCrashedError, ray.exceptions.ActorDiedError, ray.exceptions.NodeDiedError)
    for candidate in chain:
        if isinstance(candidate, died):
            return f"a Ray worker died {retries + 1} time(s) ({type(candidate).__name__})"
    for candidate in chain:
        if isinstance(candidate, RunError):
            return str(candidate)
    return f"{type(chain[-1]).__name__}: {str(chain[-1]).splitlines()[0] if str(chain[-1]) else ''}"
