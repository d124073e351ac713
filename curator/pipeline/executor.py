"""The run driver: plan the tasks, run each global step's index pass and resolve, then the final pass, on an
executor (curator.pipeline.executors); resume from markers, merge the stats and check the accounting."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.errors import RunError
from curator.io.atomic import AtomicParquetWriter
from curator.io.parquet import read_parquet_file
from curator.io.rejects import REJECTS_SCHEMA
from curator.io.sources import Shard
from curator.pipeline.config import PipelineConfig
from curator.pipeline.executors import Executor, LocalExecutor, PassSpec
from curator.pipeline.global_step import bind_global_steps, global_positions, index_marker
from curator.pipeline.logs import file_logger
from curator.pipeline.plan import plan_record, plan_tasks
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.segments import remove_stage_files, stage_complete
from curator.pipeline.stats import STEPS_SCHEMA, docs_schema
from curator.pipeline.step import Step, StepContext
from curator.pipeline.streamed import remove_all_spill
from curator.pipeline.task import TaskResult, run_index_task, run_resolve, run_task


@dataclass
class RunSummary:
    """Totals of a finished run; also written to stats/summary.json."""

    run_dir: str
    tasks: int
    tasks_run: int
    records: int
    kept: int
    dropped: int
    rejected_docs: int
    rejects: int
    output_files: int
    output_rows: int
    dropped_by_reason: dict[str, int] = field(default_factory=dict)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    duplicate_ids: int = 0  # ids shared by more than one kept document (0 with the unique_ids step)
    duplicate_id_examples: list[str] = field(default_factory=list)


def _logger(run: RunFolder) -> logging.Logger:
    return file_logger("curator.run", run.logs / "run.log")


def run_pipeline(
    config: PipelineConfig,
    out: str | Path,
    workers: int | None = None,
    overwrite: bool = False,
    quiet: bool = False,
) -> RunSummary:
    """Run `config` into the run folder `out`, resuming if it holds an unfinished run of the same pipeline.

    Output is identical whatever the worker count: each task writes its own deterministically named files
    and the stats are merged in task order. Raises RunError if a task fails or documents are unaccounted.
    """
    shards = plan_tasks(config)
    with make_executor(config, shards, workers, out) as executor:
        executor.start(warm_worker, config)  # workers start while the driver checks the steps and the folder
        for step in config.build_steps():
            step.preflight()
        run = RunFolder(out)
        lock = run.claim(overwrite=overwrite)
        try:
            executor.claimed(run.root)
            return _run_claimed(run, config, shards, executor, quiet, lock.token)
        finally:
            lock.release()


def make_executor(
    config: PipelineConfig, shards: list[Shard], workers: int | None = None, out: str | Path | None = None
) -> Executor:
    """The executor of `config` for a run into `out`, with its worker count (`workers` overrides the config's)."""
    settings = config.executor
    if settings.kind == "ray":
        from curator.pipeline.executors.ray import RayExecutor, pipeline_resources

        resources = pipeline_resources(config.build_steps())
        cpus_from = "the most a step declares"
        if settings.cpus_per_worker is not None:
            resources = replace(resources, cpus=settings.cpus_per_worker)
            cpus_from = "executor.cpus_per_worker"
        requested = workers or (None if settings.workers == "auto" else int(settings.workers))
        return RayExecutor(
            min(requested, len(shards)) if requested else len(shards),
            resources,
            address=settings.address,
            max_task_retries=settings.max_task_retries,
            cpus_from=cpus_from,
            mode=settings.mode,
            cpus_per_worker=settings.cpus_per_worker,
            asked=requested,
            run_key=str(Path(out).resolve()) if out is not None else None,
        )
    sizes = [s.size_bytes for s in shards]
    input_bytes = sum(sizes) if all(sizes) else None  # a Hugging Face slice has no file size: one per core
    n_workers = max(1, min(workers or settings.resolved_workers(input_bytes), len(shards)))
    return LocalExecutor(n_workers)


def warm_worker(config: PipelineConfig) -> None:
    """In a fresh worker: import the task code and load what the steps need (models, tokenizers) once."""
    import curator.pipeline.task  # noqa: F401

    for step in config.build_steps():
        try:
            step.preflight()
        except Exception:  # the driver's own preflight reports it
            return


def _run_claimed(
    run: RunFolder, config: PipelineConfig, shards, executor: Executor, quiet: bool, owner: str
) -> RunSummary:
    resuming = run.begin(config.resolved(), plan_record(shards))
    log = _logger(run)
    steps = config.build_steps()
    bind_global_steps(steps, run)
    pending = [i for i in range(len(shards)) if not run.is_done(i)]
    log.info("%s %s: %d tasks, %d to run", "resume" if resuming else "start", config.name, len(shards), len(pending))
    log.info("executor %s", executor.describe())
    executor.log = log
    if pending:
        redo_lost_stages(steps, pending, log)
        for position in global_positions(steps):
            run_global_step(run, config, steps, position, shards, executor, quiet, log, owner)
    root = str(run.root)
    executor.run_pass(
        PassSpec(
            "final pass",
            run_task,
            pending,
            len(shards),
            args_of=lambda i: (i, shards[i], config, root, owner),
            describe=lambda i: shards[i].describe(),
            counts=lambda r: (r.records, r.kept),
            stream=(config, root, None, shards, owner),
        ),
        log,
        quiet,
    )
    summary = finalize(run, config, len(shards), ran=len(pending))
    remove_all_spill(root)  # what a killed Ray Data stream left (each finished task removes its own)
    if not config.executor.keep_stage_files:
        freed = sum(remove_stage_files(steps[p].state) for p in global_positions(steps))
        if freed:
            log.info("removed the stage files (%.1f MB)", freed / 1e6)
    log.info("finished: %s", json.dumps(asdict(summary)))
    return summary


def redo_lost_stages(steps: list[Step], pending: list[int], log: logging.Logger) -> None:
    """A pending task whose stage files are gone (removed when the run finished, or deleted) redoes the index
    passes from the last global step whose stage file it still has (from its input if none)."""
    globals_ = [steps[p] for p in global_positions(steps)]
    for task in pending:
        have = 0
        for k in range(len(globals_), 0, -1):
            marker = index_marker(globals_[k - 1].state, task)
            if marker.exists() and stage_complete(
                globals_[k - 1].state, task, json.loads(marker.read_text()).get("stage_parts", 0)
            ):
                have = k
                break
        for step in globals_[have:]:
            marker = index_marker(step.state, task)
            if marker.exists():
                log.info("task %d: %s's stage file is gone; its index pass runs again", task, step.name)
                marker.unlink()


def run_global_step(
    run: RunFolder,
    config: PipelineConfig,
    steps,
    position: int,
    shards,
    executor: Executor,
    quiet: bool,
    log,
    owner: str = "",
) -> dict:
    """A global step's index pass (resumable per task), then its global passes (resumable per pass)."""
    step = steps[position]
    step._ctx = StepContext(task=-1, seed=config.seed, run_dir=str(run.root))  # prepare() and resolve() see it
    (step.state / "index").mkdir(parents=True, exist_ok=True)
    step.prepare()
    pending = [i for i in range(len(shards)) if not index_marker(step.state, i).exists()]
    log.info("%s: index pass, %d of %d tasks to run", step.name, len(pending), len(shards))
    root = str(run.root)
    executor.run_pass(
        PassSpec(
            f"{step.name} index",
            run_index_task,
            pending,
            len(shards),
            args_of=lambda i: (i, shards[i], config, root, position, owner),
            describe=lambda i: shards[i].describe(),
            counts=lambda facts: (facts["docs"], facts["docs"]),
            resume_hint="re-run the same command to resume",
            stream=(config, root, position, shards, owner),
            indexes=True,
        ),
        log,
        quiet,
    )
    started = time.perf_counter()
    facts = executor.run_one(run_resolve, (config, root, position, len(shards)))
    log.info("%s: resolved in %.2f s: %s", step.name, time.perf_counter() - started, json.dumps(facts))
    return facts


def _merge(parts: list[Path], target: Path, schema) -> int:
    """Concatenate per-task Parquet parts in task order, one row group at a time."""
    writer = AtomicParquetWriter(target, schema)
    for part in parts:
        pf = pq.ParquetFile(part)
        for g in range(pf.num_row_groups):
            writer.write(pf.read_row_group(g).cast(schema))
    writer.close()
    return writer.rows


def finalize(run: RunFolder, config: PipelineConfig, n_tasks: int, ran: int) -> RunSummary:
    """Merge the per-task stats parts (kept: they let any task be redone), then check the accounting."""
    markers = [TaskResult.from_marker(run.read_marker(i)) for i in range(n_tasks)]
    if ran or not run.finished_tables_exist():
        missing = [
            p
            for i in range(n_tasks)
            for p in (run.docs_part(i), run.steps_part(i), run.rejects_part(i))
            if not p.exists()
        ]
        if missing:
            raise RunError(f"{run.root}: per-task stats are missing ({missing[0].name}, ...); re-run with --overwrite")
        _merge([run.docs_part(i) for i in range(n_tasks)], run.docs_table, docs_schema(config.build_steps()))
        _merge([run.steps_part(i) for i in range(n_tasks)], run.steps_table, STEPS_SCHEMA)
        _merge([run.rejects_part(i) for i in range(n_tasks)], run.rejects_table, REJECTS_SCHEMA)
    summary = account(run, markers, ran)
    summary.duplicate_ids, summary.duplicate_id_examples = duplicate_kept_ids(run.docs_table)
    write_atomic(run.summary, json.dumps(asdict(summary), indent=1))
    return summary


def duplicate_kept_ids(docs_table: Path, examples: int = 5) -> tuple[int, list[str]]:
    """(ids carried by more than one kept document, a few of them). DuckDB groups out of core, so memory
    stays bounded whatever the corpus size."""
    import duckdb

    con = duckdb.connect()
    try:
        repeated = "SELECT id FROM read_parquet($path) WHERE kept GROUP BY id HAVING count(*) > 1"
        path = {"path": str(docs_table)}
        (count,) = con.execute(f"SELECT count(*) FROM ({repeated})", path).fetchone()
        shown = con.execute(f"{repeated} ORDER BY id LIMIT $n", {**path, "n": examples}).fetchall() if count else []
    finally:
        con.close()
    return int(count), [r[0] for r in shown]


def account(run: RunFolder, markers: list[TaskResult], ran: int) -> RunSummary:
    """Cross-check markers, stats tables and output files; raise RunError when the counts do not add up."""
    records = sum(m.records for m in markers)
    kept = sum(m.kept for m in markers)
    dropped = sum(m.dropped for m in markers)
    rejected = sum(m.rejected_docs for m in markers)
    docs = read_parquet_file(run.docs_table, columns=["kept", "drop_reason"])
    rejects = read_parquet_file(run.rejects_table, columns=["reason", "n_docs"])
    outputs = run.output_files()
    output_rows = sum(pq.ParquetFile(p).metadata.num_rows for p in outputs)
    docs_kept = int(pc.sum(docs.column("kept")).as_py() or 0)
    problems = []
    if records != kept + dropped + rejected:
        problems.append(f"{records:,} records read != {kept:,} kept + {dropped:,} dropped + {rejected:,} rejected")
    if docs.num_rows != kept + dropped:
        problems.append(f"stats/docs.parquet has {docs.num_rows:,} rows, expected {kept + dropped:,}")
    if docs_kept != kept or output_rows != kept:
        problems.append(f"kept: markers say {kept:,}, stats say {docs_kept:,}, output/ holds {output_rows:,} rows")
    lost = int(pc.sum(pc.fill_null(rejects.column("n_docs"), 0)).as_py() or 0)
    if lost != rejected:
        problems.append(f"rejects/ accounts for {lost:,} documents, markers for {rejected:,}")
    if problems:
        raise RunError(
            f"{run.root}: documents unaccounted for: " + "; ".join(problems) + "; if files of finished tasks were "
            "changed or removed, delete those tasks' completions/task-NNNNN.json and re-run, or use --overwrite"
        )
    reasons = docs.filter(pc.invert(docs.column("kept"))).column("drop_reason")
    by_reason = {r["values"]: r["counts"] for r in pc.value_counts(reasons).to_pylist()} if len(reasons) else {}
    rej = rejects.column("reason")
    rej_by = {r["values"]: r["counts"] for r in pc.value_counts(rej).to_pylist()} if len(rej) else {}
    return RunSummary(
        str(run.root),
        len(markers),
        ran,
        records,
        kept,
        dropped,
        rejected,
        rejects.num_rows,
        len(outputs),
        output_rows,
        dict(sorted(by_reason.items())),
        dict(sorted(rej_by.items())),
    )
