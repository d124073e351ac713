"""Streamed passes without Ray: an in-process executor that runs the head, the per-batch steps one block at a
time (blocks merged and re-split as Ray Data may), the spill sink and the replay, against the local run."""

import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import curator.pipeline.executor as driver
from curator.errors import RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.executors import LocalExecutor
from curator.pipeline.executors.ray_data import groups
from curator.pipeline.step import Step, register_step
from curator.pipeline.streamed import (
    BlockStep,
    block_parts,
    dead_rows,
    is_per_batch,
    make_block,
    segment_of,
    spill_block,
    spill_dir,
    split_segment,
    stream_error,
    stream_head,
    write_spill,
)
from tests.conftest import synthetic_docs, write_jsonl


@register_step
class PassThroughStream(Step):
    """Test step: overrides __call__ (may keep state across batches), so it runs at replay, not streamed."""

    name = "pass_through_stream_for_test"

    def __call__(self, batches):
        yield from batches


@register_step
class CountsBatches(Step):
    """Test step: keeps a count across batches in `process`, so it opts out of streaming."""

    name = "counts_batches_for_test"
    per_batch = False

    def process(self, batch):
        return batch


@register_step
class LosesRows(Step):
    """Test step: a buggy step that drops every row of task `task` without reporting them."""

    name = "loses_rows_for_test"
    task: int = -1

    def process(self, batch):
        return batch.slice(0, 0) if self.ctx.task == self.task else batch


@register_step
class BreakOnTask(Step):
    """Test step: raises on task `task` (a per-batch step that fails in the stream)."""

    name = "break_on_task_for_test"
    task: int = -1

    def process(self, batch):
        if self.ctx.task == self.task:
            raise ValueError("this step broke")
        return batch


STEPS = [
    {"normalize_text": {}},
    {"length_filter": {"min_words": 8}},  # drops rows, some batches entirely
    "exact_dedup",  # a global step: the next segment's head
    {"length_filter": {"max_chars": 300}},
    {"pass_through_stream_for_test": {}},  # stops the streamed run: the rest runs at replay
    {"gopher_quality": {"score_only": True}},
]


class InProcessStreamExecutor(LocalExecutor):
    """Streams every pass like the Ray executor's mode data, in this process: head blocks -> each per-batch
    step, block by block (all of a task's blocks merged into one table and re-split first) -> spill files ->
    the pass function with streamed=True."""

    def __init__(self):
        super().__init__(1)
        self.streamed_passes = 0

    def outcomes(self, spec):
        config, root, feeds, shards, owner = spec.stream
        steps = config.build_steps()
        segment = segment_of(steps, feeds)
        head, streamed = split_segment(steps, segment)
        stages = [BlockStep(config, root, p) for p in range(segment.start + head, segment.start + head + streamed)]
        self.streamed_passes += 1
        for task in spec.pending:
            try:
                blocks = list(stream_head(task, shards[task], config, root, feeds, owner))
                for stage in stages:
                    merged = pa.concat_tables(blocks, promote_options="permissive") if blocks else None
                    blocks = [stage(g) for g in groups(merged)] if merged is not None else []
                for block in blocks:
                    write_spill(block, root, segment.index)
                yield task, spec.fn(*spec.args_of(task), True)
            except Exception as exc:  # as the Ray executor reports it: the error the task's stream recorded
                error = stream_error(root, segment.index, task)
                yield task, RunError(f"task {task} ({shards[task].describe()}): {error}") if error else exc


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "in"
    for k in range(3):
        docs = synthetic_docs(120, seed=k)
        write_jsonl(root / f"part-{k}.jsonl", docs + [{**d, "id": d["id"] + "-copy"} for d in docs[:10]])
    (root / "part-1.jsonl").open("a").write("{broken\n")
    return root


def _config(corpus: Path, steps=STEPS):
    return parse_pipeline(
        {
            "name": "streamed",
            "inputs": [{"path": str(corpus)}],
            "reader": {"batch_rows": 16},  # many blocks per task
            "steps": steps,
            "plugins": ["tests.pipeline.test_streamed"],
        }
    )


def _digests(run: Path) -> dict[str, str]:
    files = sorted((run / "output").glob("*.parquet")) + [run / "stats" / "docs.parquet"]
    files.append(run / "rejects" / "rejects.parquet")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _steps(run: Path) -> list[dict]:
    rows = pq.read_table(run / "stats" / "steps.parquet").drop_columns(["seconds"]).to_pylist()
    return sorted(rows, key=lambda r: (r["task"], r["step_index"]))


@pytest.fixture
def streaming(monkeypatch):
    executor = InProcessStreamExecutor()
    monkeypatch.setattr(driver, "make_executor", lambda *a, **k: executor)
    return executor


def test_which_steps_stream():
    steps = _config(Path("."), STEPS).build_steps()
    assert [is_per_batch(s) for s in steps] == [True, True, False, True, False, True]
    first, second = segment_of(steps, 2), segment_of(steps, None)
    assert split_segment(steps, first) == (0, 2)  # the reader, then two per-batch steps
    assert split_segment(steps, second) == (1, 1)  # exact_dedup's filter pass, one step, then replay


def test_a_step_may_opt_out_of_streaming():
    steps = _config(Path("."), [{"normalize_text": {}}, {"counts_batches_for_test": {}}]).build_steps()
    assert [is_per_batch(s) for s in steps] == [True, False]


def test_blocks_merged_by_the_engine_are_split_again_and_a_split_block_is_refused():
    batch = pa.record_batch({"id": ["a", "b", "c", "d"], "text": ["w x", "y", "z z", "q"]})
    blocks = [
        make_block(0, 0, [], batch, []),
        make_block(0, 1, [], batch.slice(1), []),
        make_block(1, 0, [], batch, []),
    ]
    merged = pa.concat_tables(blocks)
    assert [g.num_rows for g in groups(merged)] == [4, 3, 4]
    with pytest.raises(RunError, match="a block was split by Ray Data; keep reader.batch_bytes below"):
        list(groups(merged.slice(2)))  # the rest of a block whose first row (and meters) went elsewhere


def test_a_streamed_run_equals_the_local_run(corpus, tmp_path, monkeypatch):
    local = tmp_path / "local"
    run_pipeline(_config(corpus), local, workers=1, quiet=True)
    executor = InProcessStreamExecutor()
    monkeypatch.setattr(driver, "make_executor", lambda *a, **k: executor)
    summary = run_pipeline(_config(corpus), tmp_path / "streamed", quiet=True)
    assert executor.streamed_passes == 2
    assert summary.records == summary.kept + summary.dropped + summary.rejected_docs == 391
    assert summary.dropped > 0 and summary.rejected_docs == 1
    assert _digests(tmp_path / "streamed") == _digests(local)  # output, docs (same row order), rejects
    assert _steps(tmp_path / "streamed") == _steps(local)
    assert not (tmp_path / "streamed" / "state" / "stream").exists()  # each task removed its spill files


def test_a_missing_block_fails_the_task_and_the_rerun_redoes_it(corpus, tmp_path, streaming, monkeypatch):
    real = write_spill

    def lose_task_1_block_2(block, root, segment):
        out = real(block, root, segment)
        spill_block(spill_dir(root, segment, 1), 2).unlink(missing_ok=True)
        return out

    monkeypatch.setattr("tests.pipeline.test_streamed.write_spill", lose_task_1_block_2)
    with pytest.raises(RunError, match=r"task 1 .*the streamed pass is incomplete: 1 of its \d+ streamed blocks"):
        run_pipeline(_config(corpus), tmp_path / "run", quiet=True)
    monkeypatch.setattr("tests.pipeline.test_streamed.write_spill", real)
    summary = run_pipeline(_config(corpus), tmp_path / "run", quiet=True)
    assert summary.records == 391  # the failed index pass is redone for task 1 (the others kept their markers)
    local = tmp_path / "local"
    run_pipeline(_config(corpus), local, workers=1, quiet=True)
    assert _digests(tmp_path / "run") == _digests(local)


def test_a_changed_spill_file_is_caught_by_the_accounting(corpus, tmp_path, streaming, monkeypatch):
    real = write_spill

    def drop_a_row(block, root, segment):
        if block.column("__task")[0].as_py() == 0 and block.column("__seq")[0].as_py() == 1:
            block = block.slice(0, block.num_rows - 1)  # a survivor vanishes between the stream and the replay
        return real(block, root, segment)

    monkeypatch.setattr("tests.pipeline.test_streamed.write_spill", drop_a_row)
    with pytest.raises(RunError, match="task 0 .*documents unaccounted for"):
        run_pipeline(_config(corpus), tmp_path / "run", quiet=True)


def test_survivors_keep_their_column_types_beside_dropped_rows():
    """A row dropped while a column was int64 does not widen the survivors' column when a later step made it
    int32 (the next step must see what it would see locally)."""
    dropped = dead_rows(
        pa.record_batch({"id": ["a"], "n_words": pa.array([3], pa.int64())}), pa.array(["x"]), 1, {"id", "n_words"}
    )
    alive = pa.record_batch({"id": ["b"], "text": ["t"], "n_words": pa.array([5], pa.int32())})
    block = make_block(0, 0, [dropped], alive, [])
    _, _, dead, survivors, _ = block_parts(block)
    assert survivors.schema == alive.schema and dead.num_rows == 1


@pytest.mark.parametrize("streamed", [False, True])
def test_a_failing_step_is_named_and_its_traceback_is_in_the_task_log(corpus, tmp_path, monkeypatch, streamed):
    if streamed:
        monkeypatch.setattr(driver, "make_executor", lambda *a, **k: InProcessStreamExecutor())
    steps = [*STEPS[:2], {"break_on_task_for_test": {"task": 2}}, *STEPS[2:]]
    with pytest.raises(RunError, match=r"task 2 \(jsonl:part-2.jsonl\): step 3 'break_on_task_for_test' failed: Val"):
        run_pipeline(_config(corpus, steps), tmp_path / "run", workers=1, quiet=True)
    log = (tmp_path / "run" / "logs" / "task-00002.log").read_text()
    assert "Traceback" in log and 'raise ValueError("this step broke")' in log


@pytest.mark.parametrize("streamed", [False, True])
def test_a_step_that_loses_rows_is_caught(corpus, tmp_path, monkeypatch, streamed):
    if streamed:
        monkeypatch.setattr(driver, "make_executor", lambda *a, **k: InProcessStreamExecutor())
    steps = [*STEPS[:2], {"loses_rows_for_test": {"task": 1}}, *STEPS[2:]]
    with pytest.raises(
        RunError, match=r"task 1 \(jsonl:part-1.jsonl\): documents unaccounted for: step 3 'loses_rows_for_test' took"
    ):
        run_pipeline(_config(corpus, steps), tmp_path / "run", workers=1, quiet=True)
