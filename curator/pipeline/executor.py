"""Local executor: a process pool over tasks, resume from markers, merged stats and a final accounting check."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.errors import RunError
from curator.io.atomic import AtomicParquetWriter
from curator.io.parquet import read_parquet_file
from curator.io.rejects import REJECTS_SCHEMA
from curator.pipeline.config import PipelineConfig
from curator.pipeline.global_step import global_positions
from curator.pipeline.plan import plan_record, plan_tasks
from curator.pipeline.pool import WorkerPool, run_tasks
from curator.pipeline.progress import TaskProgress
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.pipeline.stage import run_stage
from curator.pipeline.stats import STEPS_SCHEMA, docs_schema
from curator.pipeline.task import TaskResult, run_task


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
    logger = logging.getLogger("curator.run")
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.FileHandler(run.logs / "run.log", mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


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
    sizes = [s.size_bytes for s in shards]
    input_bytes = sum(sizes) if all(sizes) else None  # a Hugging Face slice has no file size: one per core
    n_workers = max(1, min(workers or config.executor.resolved_workers(input_bytes), len(shards)))
    with WorkerPool(n_workers) as pool:
        pool.warm(warm_worker, config)  # workers start while the driver checks the steps and the folder
        for step in config.build_steps():
            step.preflight()
        run = RunFolder(out)
        lock = run.claim(overwrite=overwrite)
        try:
            return _run_claimed(run, config, shards, pool, quiet)
        finally:
            lock.release()


def warm_worker(config: PipelineConfig) -> None:
    """In a fresh worker: import the task code and load what the steps need (models, tokenizers) once."""
    import curator.pipeline.stage  # noqa: F401
    import curator.pipeline.task  # noqa: F401

    for step in config.build_steps():
        try:
            step.preflight()
        except Exception:  # the driver's own preflight reports it
            return


def _run_claimed(run: RunFolder, config: PipelineConfig, shards, pool: WorkerPool, quiet: bool) -> RunSummary:
    resuming = run.begin(config.resolved(), plan_record(shards))
    log = _logger(run)
    pending = [i for i in range(len(shards)) if not run.is_done(i)]
    log.info("%s %s: %d tasks, %d to run", "resume" if resuming else "start", config.name, len(shards), len(pending))
    if pending:
        for position in global_positions(config.build_steps()):
            run_stage(run, config, shards, position, pool, quiet, log)
    progress = TaskProgress(len(shards), done=len(shards) - len(pending), quiet=quiet, label="final pass")
    try:
        failures = run_tasks(
            pool,
            run_task,
            pending,
            lambda i: (i, shards[i], config, str(run.root)),
            describe=lambda i: shards[i].describe(),
            on_result=lambda r: progress.update(r.records, r.kept),
            log=log,
        )
    finally:
        progress.close()
    if failures:
        raise RunError(
            f"{len(failures)} task(s) failed; fix the cause and re-run the same command to resume:\n  "
            + "\n  ".join(failures[:10])
        )
    summary = finalize(run, config, len(shards), ran=len(pending))
    log.info("finished: %s", json.dumps(asdict(summary)))
    return summary


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
        raise RunError(f"{run.root}: documents unaccounted for: " + "; ".join(problems))
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
