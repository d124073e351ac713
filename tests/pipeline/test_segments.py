"""Read once: passes between global steps go through stage files; resume and redo keep the output identical."""

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curator.errors import RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.segments import Segment, plan_segments
from curator.pipeline.step import Step, register_step
from tests.conftest import synthetic_docs, write_jsonl

STEPS = [
    {"normalize_text": {}},
    {"count_batches_for_test": {}},
    {"length_filter": {"min_words": 5, "max_chars": 300}},
    "exact_dedup",
    {"minhash_dedup": {"bands": 16, "rows": 8}},
    {"length_filter": {"min_words": 8}},
]


@register_step
class CountBatches(Step):
    """Test step: appends one line per batch it sees to `log` (a file), to count how often the input is read."""

    name = "count_batches_for_test"
    log: str = ""
    fail_task: int = -1  # raise on this task's batches while the file `fail_flag` exists (a crash in a pass)
    fail_flag: str = ""

    def process(self, batch):
        if self.ctx.task == self.fail_task and Path(self.fail_flag).exists():
            raise RuntimeError("crash for test")
        if self.log:
            with open(self.log, "a") as fh:
                fh.write(f"{self.ctx.task} {batch.num_rows}\n")
        return batch


def _config(corpus: Path, log: Path, **counter):
    steps = list(STEPS)
    steps[1] = {"count_batches_for_test": {"log": str(log), **counter}}
    plugins = ["tests.pipeline.test_segments"]  # worker processes register the test step too
    return parse_pipeline({"name": "t", "inputs": [{"path": str(corpus)}], "steps": steps, "plugins": plugins})


def _digests(run: Path) -> dict[str, str]:
    files = sorted((run / "output").glob("*.parquet")) + [run / "stats" / "docs.parquet"]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "in"
    for k in range(3):
        docs = synthetic_docs(200, seed=k, source=f"src{k % 2}")
        copies = [{**d, "id": d["id"] + "-copy"} for d in docs[:20]]
        write_jsonl(root / f"part-{k}.jsonl", docs + copies)  # exact duplicates inside each file
    return root


def test_plan_segments_cuts_at_global_steps():
    config = parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": STEPS})
    assert plan_segments(config.build_steps()) == [
        Segment(0, 0, 3, 3),
        Segment(1, 3, 4, 4),
        Segment(2, 4, 6, None),
    ]
    first_global = parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": ["exact_dedup"]}).build_steps()
    assert plan_segments(first_global) == [Segment(0, 0, 0, 0), Segment(1, 0, 1, None)]


def test_the_input_is_read_once_and_the_stats_add_up(tmp_path, corpus):
    log = tmp_path / "batches.txt"
    summary = run_pipeline(_config(corpus, log), tmp_path / "run", workers=1, quiet=True)
    seen = log.read_text().splitlines()
    assert len(seen) == 3 and sum(int(line.split()[1]) for line in seen) == 660  # one pass over 3 files
    assert summary.records == 660 and summary.kept + summary.dropped == 660
    assert summary.dropped_by_reason["exact_dup"] > 0
    steps = pq.read_table(tmp_path / "run" / "stats" / "steps.parquet").to_pylist()
    assert sorted({r["step_index"] for r in steps}) == [0, 1, 2, 3, 4, 5, 6]
    assert all(sum(1 for r in steps if r["task"] == t) == 7 for t in range(3))
    docs = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet")
    where = set(zip(docs.column("file").to_pylist(), docs.column("row").to_pylist(), strict=True))
    assert docs.num_rows == 660 and len(where) == 660  # every input record once
    copies = docs.filter(pc.ends_with(docs.column("id"), "-copy"))
    assert copies.num_rows == 60 and not any(copies.column("kept").to_pylist())  # the first copy is kept
    assert not list((tmp_path / "run" / "state").glob("*/input/*"))  # stage files removed when finished


def test_same_output_with_two_workers_and_after_a_crash_in_the_first_pass(tmp_path, corpus):
    run_pipeline(_config(corpus, tmp_path / "a.txt"), tmp_path / "one", workers=1, quiet=True)
    reference = _digests(tmp_path / "one")
    run_pipeline(_config(corpus, tmp_path / "b.txt"), tmp_path / "two", workers=2, quiet=True)
    assert _digests(tmp_path / "two") == reference
    # task 1 crashes in the first pass; the others go on, then a re-run resumes from the stage files
    crash, flag = tmp_path / "crash", tmp_path / "flag"
    flag.touch()
    config = _config(corpus, tmp_path / "c.txt", fail_task=1, fail_flag=str(flag))
    with pytest.raises(RunError, match=r"(?s)exact_dedup index: 1 task\(s\) failed.*crash for test"):
        run_pipeline(config, crash, workers=1, quiet=True)
    assert (crash / "state" / "03-exact_dedup" / "input" / "task-00000-0000.arrow").exists()
    flag.unlink()  # the cause is fixed: the same command resumes
    run_pipeline(config, crash, workers=1, quiet=True)
    assert _digests(crash) == reference
    assert len((tmp_path / "c.txt").read_text().splitlines()) == 3  # tasks 0 and 2 were not read again


def test_a_redone_task_of_a_finished_run_rebuilds_its_stage_files(tmp_path, corpus):
    run = tmp_path / "run"
    run_pipeline(_config(corpus, tmp_path / "a.txt"), run, workers=1, quiet=True)
    reference = _digests(run)
    (run / "completions" / "task-00001.json").unlink()
    (run / "stats" / "docs.parquet").unlink()
    summary = run_pipeline(_config(corpus, tmp_path / "a.txt"), run, workers=1, quiet=True)
    assert summary.tasks_run == 1 and _digests(run) == reference
    assert "stage file is gone" in (run / "logs" / "run.log").read_text()


def test_rejects_of_the_first_pass_reach_the_run_tables(tmp_path):
    root = tmp_path / "in"
    write_jsonl(root / "a.jsonl", [{"text": "enough words in this one document"}, b"{broken", {"text": 7}])
    full = gzip.compress(b"".join(json.dumps({"text": f"doc {i} words"}).encode() + b"\n" for i in range(500)))
    (root / "b.jsonl.gz").write_bytes(full[: len(full) // 2])
    config = parse_pipeline({"inputs": [{"path": str(root)}], "steps": ["exact_dedup"]})
    summary = run_pipeline(config, tmp_path / "run", workers=1, quiet=True)
    rejects = pq.read_table(tmp_path / "run" / "rejects" / "rejects.parquet").to_pylist()
    reasons = sorted(r["reason"] for r in rejects)
    assert reasons == ["malformed_json", "truncated_file", "wrong_type:text"]
    assert summary.records == summary.kept + summary.dropped + summary.rejected_docs
    read = [r for r in pq.read_table(tmp_path / "run" / "stats" / "steps.parquet").to_pylist() if r["step"] == "read"]
    assert sum(r["rows_in"] - r["rows_out"] for r in read) == summary.rejected_docs


def test_a_task_of_a_driver_that_lost_the_run_folder_publishes_nothing(tmp_path, corpus):
    """A task whose driver no longer holds the run's lock (a Ray worker outliving a killed driver, while a new
    driver redoes the run) stops before it publishes anything."""
    from curator.pipeline.plan import plan_tasks
    from curator.pipeline.run_lock import lock_holder
    from curator.pipeline.task import run_task

    config = _config(corpus, tmp_path / "a.txt")
    run = tmp_path / "run"
    run_pipeline(config, run, workers=1, quiet=True)
    before = _digests(run)
    (run / "completions" / "task-00000.json").unlink()
    assert lock_holder(run)[1]  # the last holder's token stays in the lock file
    with pytest.raises(RunError, match="another curator command has taken over"):
        run_task(0, plan_tasks(config)[0], config, str(run), owner="a-driver-that-died")
    assert _digests(run) == before and not (run / "completions" / "task-00000.json").exists()
