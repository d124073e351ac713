"""Global steps: a step that must see the whole corpus runs as index pass -> global passes -> filter.

The executor runs, for each global step in pipeline order: an *index* pass over every task (the steps before
it, then `index()`, which writes per-task state under `state/NN-name/`), then `resolve()` once (global
passes over that on-disk state, each finished pass marked so a crash resumes at the next one), and finally
the normal task pass, in which the step filters with what `resolve()` decided. The steps before a global
step run again in each pass, so they must be deterministic (they are checked: the filter pass must see the
same documents, in the same order, as the index pass).
"""

from __future__ import annotations

import json
import time

from curator.errors import RunError
from curator.io.readers import open_reader
from curator.io.rejects import RejectSink
from curator.io.sources import Shard
from curator.pipeline.global_step import GlobalStep, bind_global_steps, global_positions, index_marker  # noqa: F401
from curator.pipeline.pool import WorkerPool, run_tasks
from curator.pipeline.progress import TaskProgress
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.step import StepContext, chain_steps


def run_index_task(task: int, shard: Shard, config, run_root: str, position: int) -> dict:
    """Stream one shard through the steps before the global step at `position`, into its `index()`."""
    run = RunFolder(run_root)
    steps = config.build_steps()[: position + 1]
    bind_global_steps(steps, run)
    target = steps[-1]
    assert isinstance(target, GlobalStep)
    scratch = target.state / "index" / f"rejects-{task:05d}.parquet"  # the task pass records rejects
    rejects = RejectSink(scratch)
    ctx = StepContext(task=task, seed=config.seed, run_dir=run_root)
    started = time.perf_counter()
    try:
        reader = iter(open_reader(shard, config.reader.limits(), rejects))
        batches = chain_steps(reader, steps[:-1], ctx)[-1]  # the same chain as the task pass, up to the target
        target.setup(ctx.for_step(len(steps)))
        facts = target.index_task(batches, task)
    finally:
        rejects.abort()
        for step in steps:
            step.teardown()
    facts = {"task": task, "shard": shard.describe(), **facts, "seconds": round(time.perf_counter() - started, 3)}
    write_atomic(index_marker(target.state, task), json.dumps(facts, indent=1))
    return facts


def run_stage(run: RunFolder, config, shards: list[Shard], position: int, pool: WorkerPool, quiet: bool, log) -> dict:
    """Index pass (resumable per task) then the step's global passes (resumable per pass)."""
    step = config.build_steps()[position]
    assert isinstance(step, GlobalStep)
    step.bind(run.stage_dir(position, step.name))
    step._ctx = StepContext(task=-1, seed=config.seed, run_dir=str(run.root))  # prepare() and resolve() see it
    state = step.state
    (state / "index").mkdir(parents=True, exist_ok=True)
    step.prepare()
    pending = [i for i in range(len(shards)) if not index_marker(state, i).exists()]
    log.info("%s: index pass, %d of %d tasks to run", step.name, len(pending), len(shards))
    progress = TaskProgress(len(shards), done=len(shards) - len(pending), quiet=quiet, label=f"{step.name} index")
    try:
        failures = run_tasks(
            pool,
            run_index_task,
            pending,
            lambda i: (i, shards[i], config, str(run.root), position),
            describe=lambda i: shards[i].describe(),
            on_result=lambda facts: progress.update(facts["docs"], facts["docs"]),
            log=log,
        )
    finally:
        progress.close()
    if failures:
        raise RunError(
            f"{step.name}: {len(failures)} index task(s) failed; re-run the same command to resume:\n  "
            + "\n  ".join(failures[:10])
        )
    markers = [json.loads(index_marker(state, i).read_text()) for i in range(len(shards))]
    started = time.perf_counter()
    facts = step.resolve(markers, log)
    log.info("%s: resolved in %.2f s: %s", step.name, time.perf_counter() - started, json.dumps(facts))
    return facts
