"""The local executor and run folder: golden counts, determinism, resume, accounting, bad input end to end."""

import gzip
import hashlib
import json
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.errors import RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.stats import step_totals
from curator.pipeline.step import Step, register_step
from curator.schema import DOCUMENT_SCHEMA
from tests.conftest import synthetic_docs, write_jsonl

STEPS = [{"normalize_text": {}}, {"length_filter": {"min_words": 5, "max_chars": 300}}]


def _config(path, steps=STEPS, **extra):
    return parse_pipeline({"name": "t", "inputs": [{"path": str(path)}], "steps": steps, **extra})


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "in"
    for k in range(4):
        write_jsonl(root / f"part-{k}.jsonl", synthetic_docs(300, seed=k, source=f"src{k % 2}"))
    return root


def test_golden_counts_and_run_folder(tmp_path, corpus):
    summary = run_pipeline(_config(corpus), tmp_path / "run", workers=1, quiet=True)
    docs = [d for k in range(4) for d in synthetic_docs(300, seed=k)]
    n_words = [len(d["text"].split()) for d in docs]
    expected_kept = sum(1 for w, d in zip(n_words, docs, strict=True) if w >= 5 and len(d["text"]) <= 300)
    assert summary.records == 1200 and summary.kept == expected_kept
    assert summary.kept + summary.dropped == 1200 and summary.rejected_docs == 0
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "plan.json",
        "stats/docs.parquet",
        "stats/steps.parquet",
        "rejects/rejects.parquet",
        "stats/summary.json",
        "logs/run.log",
    ):
        assert (run / name).exists(), name
    assert len(list((run / "completions").glob("task-*.json"))) == 4
    assert len(list((run / "stats" / "parts").glob("docs-*.parquet"))) == 4
    out = pq.read_table(run / "output")
    assert out.schema.names == DOCUMENT_SCHEMA.names and out.num_rows == expected_kept
    stats = pq.read_table(run / "stats" / "docs.parquet")
    assert stats.num_rows == 1200
    assert {"source", "id", "kept", "drop_reason", "drop_step", "n_chars", "n_words"} <= set(stats.schema.names)
    rows = stats.to_pylist()
    assert all((r["kept"] and r["drop_reason"] is None) or (not r["kept"] and r["drop_reason"]) for r in rows)
    assert {r["drop_step"] for r in rows if not r["kept"]} == {"length_filter"}
    steps = pq.read_table(run / "stats" / "steps.parquet").to_pylist()
    assert [s["step"] for s in steps[:3]] == ["read", "normalize_text", "length_filter"]
    for s in steps:
        assert s["rows_in"] == s["rows_out"] + s["rows_dropped"]
    totals = step_totals(run / "stats" / "steps.parquet")
    assert [t["step"] for t in totals] == ["read", "normalize_text", "length_filter"]
    assert totals[2]["rows_in"] == 1200 and totals[2]["dropped"] == summary.dropped


def test_output_identical_whatever_the_worker_count(tmp_path, corpus):
    run_pipeline(_config(corpus), tmp_path / "w1", workers=1, quiet=True)
    run_pipeline(_config(corpus), tmp_path / "w2", workers=2, quiet=True)
    assert _digest(tmp_path / "w1" / "output") == _digest(tmp_path / "w2" / "output")
    assert (tmp_path / "w1/stats/docs.parquet").read_bytes() == (tmp_path / "w2/stats/docs.parquet").read_bytes()
    rejects = "rejects/rejects.parquet"
    assert (tmp_path / "w1" / rejects).read_bytes() == (tmp_path / "w2" / rejects).read_bytes()


def test_rerun_skips_finished_tasks_and_redoes_half_done_ones(tmp_path, corpus):
    cfg = _config(corpus)
    run = tmp_path / "run"
    run_pipeline(cfg, run, workers=1, quiet=True)
    before = _digest(run / "output")
    # simulate a crash in task 2: marker gone, a finished-looking shard, a half-written temp file
    (run / "completions" / "task-00002.json").unlink()
    (run / "output" / ".tmp-part-00002-0001.parquet").write_bytes(b"half")
    pq.write_table(
        pa.table({"id": ["dup"], "source": ["x"], "text": ["stale"]}), run / "output" / "part-00002-0007.parquet"
    )
    (run / "stats" / "docs.parquet").unlink()  # the final merge had not happened either
    log_before = (run / "logs" / "task-00000.log").read_text()
    summary = run_pipeline(cfg, run, workers=1, quiet=True)
    assert summary.tasks_run == 1 and summary.records == 1200
    assert _digest(run / "output") == before
    assert not list((run / "output").glob(".tmp-*"))
    assert (run / "logs" / "task-00000.log").read_text() == log_before  # task 0 was not redone


def test_interrupted_task_leaves_no_marker_and_resumes(tmp_path, corpus):
    @register_step
    class Explode(Step):
        """Fails on the first batch of task 1 while armed (a crash mid-task)."""

        name = "explode_for_test"
        armed: bool = True

        def process(self, batch):
            if self.armed and self.ctx.task == 1:
                raise RuntimeError("boom")
            return batch

    cfg = _config(corpus, steps=[{"explode_for_test": {"armed": True}}])
    with pytest.raises(RunError, match=r"(?s)1 task\(s\) failed.*task 1 .*RuntimeError: boom"):
        run_pipeline(cfg, tmp_path / "run", workers=1, quiet=True)
    assert "RuntimeError: boom" in (tmp_path / "run" / "logs" / "run.log").read_text()  # with its traceback
    done = [p.name for p in sorted((tmp_path / "run" / "completions").iterdir())]
    assert done == ["task-00000.json", "task-00002.json", "task-00003.json"]  # the other tasks went on
    assert not list((tmp_path / "run" / "output").glob("part-00001*"))
    with pytest.raises(RunError, match="different pipeline"):
        run_pipeline(_config(corpus, steps=[{"explode_for_test": {"armed": False}}]), tmp_path / "run", workers=1)
    summary = run_pipeline(
        _config(corpus, steps=[{"explode_for_test": {"armed": False}}]),
        tmp_path / "run",
        workers=1,
        quiet=True,
        overwrite=True,
    )
    assert summary.kept == 1200


def test_a_step_that_loses_rows_fails_the_run_loudly(tmp_path, corpus):
    @register_step
    class Leaky(Step):
        """Drops rows without saying why (a bug the accounting must catch)."""

        name = "leaky_for_test"

        def process(self, batch):
            return batch.slice(0, batch.num_rows - 1)

    with pytest.raises(RunError, match="unaccounted.*leaky_for_test"):
        run_pipeline(_config(corpus, steps=["leaky_for_test"]), tmp_path / "run", workers=1, quiet=True)
    assert not list((tmp_path / "run" / "completions").iterdir())


def test_a_step_that_breaks_the_document_schema_fails_with_the_column_named(tmp_path, corpus):
    @register_step
    class NullText(Step):
        """Sets text to null (a bug the writer must refuse)."""

        name = "null_text_for_test"

        def process(self, batch):
            idx = batch.schema.get_field_index("text")
            return batch.set_column(idx, "text", pa.nulls(batch.num_rows, pa.string()))

    with pytest.raises(RunError, match="steps broke the document schema: document column 'text' has .* nulls"):
        run_pipeline(_config(corpus, steps=["null_text_for_test"]), tmp_path / "run", workers=1, quiet=True)


def test_changed_inputs_are_refused_on_resume(tmp_path, corpus):
    run_pipeline(_config(corpus), tmp_path / "run", workers=1, quiet=True)
    write_jsonl(corpus / "part-9.jsonl", synthetic_docs(3))
    with pytest.raises(RunError, match="input files changed"):
        run_pipeline(_config(corpus), tmp_path / "run", workers=1, quiet=True)


def test_bad_inputs_end_as_rejects_and_the_run_goes_on(tmp_path):
    root = tmp_path / "in"
    write_jsonl(
        root / "a.jsonl",
        [{"text": "fine words here and there"}, b"{broken", b'{"text": "caf\xe9"}', {"id": "no-text"}, {"text": 7}],
    )
    (root / "b.jsonl").write_bytes(b"")
    full = gzip.compress(
        b"".join(json.dumps({"text": f"doc {i} has enough words ok"}).encode() + b"\n" for i in range(3000))
    )
    (root / "c.jsonl.gz").write_bytes(full[: len(full) // 2])
    write_jsonl(root / "d.jsonl", [{"text": "z" * 2000}])
    pq.write_table(pa.table({"body": ["wrong schema"] * 4}), root / "e.parquet")
    cfg = parse_pipeline(
        {
            "inputs": [{"path": str(root)}],
            "reader": {"max_doc_bytes": 1000},
            "steps": [{"length_filter": {"min_words": 2}}],
        }
    )
    summary = run_pipeline(cfg, tmp_path / "run", workers=2, quiet=True)
    rejects = pq.read_table(tmp_path / "run/rejects/rejects.parquet").to_pylist()
    got = {(r["file"], r["line"], r["reason"]) for r in rejects}
    assert ("a.jsonl", 2, "malformed_json") in got and ("a.jsonl", 3, "invalid_utf8") in got
    assert ("a.jsonl", 4, "missing_field:text") in got and ("a.jsonl", 5, "wrong_type:text") in got
    assert ("b.jsonl", None, "empty_file") in got and ("d.jsonl", 1, "document_too_large") in got
    assert ("e.parquet", None, "schema_mismatch") in got
    assert any(f == "c.jsonl.gz" and r == "truncated_file" for f, _, r in got)
    assert summary.kept >= 1 and summary.records == summary.kept + summary.dropped + summary.rejected_docs
    (cut,) = [r for r in rejects if r["reason"] == "truncated_file"]
    # row rejects in a.jsonl, d.jsonl, e.parquet's 4 rows, and the line the truncation cut off
    assert summary.rejected_docs == 4 + 1 + 4 + cut["n_docs"] and cut["n_docs"] == 1
    readable = zlib.decompressobj(31).decompress(full[: len(full) // 2])
    out = pq.read_table(tmp_path / "run/output").column("text").to_pylist()
    assert sum(t.startswith("doc ") for t in out) == readable.count(b"\n") > 1000  # every complete line


def test_a_step_used_twice_is_accounted_at_each_position(tmp_path, corpus):
    """Two length_filter steps (different limits) plus exact dedup between them: each position keeps its own
    drops in the steps table and the docs table (drop_step_index), and the run's accounting holds."""
    steps = [
        {"length_filter": {"min_words": 5}},
        "exact_dedup",
        {"length_filter": {"max_chars": 300}},
    ]
    summary = run_pipeline(_config(corpus, steps), tmp_path / "run", workers=1, quiet=True)
    rows = step_totals(tmp_path / "run" / "stats" / "steps.parquet")
    first, second = rows[1], rows[3]
    assert first["step"] == second["step"] == "length_filter"
    assert first["dropped"] > 0 and second["dropped"] > 0 and first["dropped"] != second["dropped"]
    docs = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()
    by_position = {}
    for d in docs:
        if not d["kept"]:
            by_position[d["drop_step_index"]] = by_position.get(d["drop_step_index"], 0) + 1
    assert by_position[1] == first["dropped"] and by_position[3] == second["dropped"]
    assert all(d["drop_step"] == "length_filter" for d in docs if d["drop_step_index"] in (1, 3))
    assert summary.kept + summary.dropped == summary.records - summary.rejected_docs
