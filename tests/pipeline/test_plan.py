"""The planner cuts a large Parquet file into tasks of whole row groups; the run's rows and stats do not change."""

import pyarrow as pa
import pyarrow.parquet as pq

from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.plan import parquet_row_ranges, plan_tasks
from tests.conftest import synthetic_docs


def _parquet(path, docs, row_group_size=100, with_ids=False):
    table = pa.Table.from_pylist([{k: d[k] for k in ("text", "source") + (("id",) if with_ids else ())} for d in docs])
    pq.write_table(table, path, row_group_size=row_group_size)


def test_row_ranges_follow_the_row_groups(tmp_path):
    _parquet(tmp_path / "a.parquet", synthetic_docs(500, seed=1, source="s"))
    assert parquet_row_ranges(tmp_path / "a.parquet", 200) == [(0, 200, 0.4), (200, 400, 0.4), (400, 500, 0.2)]
    assert parquet_row_ranges(tmp_path / "a.parquet", 250) == [(0, 300, 0.6), (300, 500, 0.4)]
    assert parquet_row_ranges(tmp_path / "a.parquet", 500) == [(0, None, 1.0)]  # not larger: one task
    _parquet(tmp_path / "one.parquet", synthetic_docs(500, seed=1, source="s"), row_group_size=1000)
    assert parquet_row_ranges(tmp_path / "one.parquet", 100) == [(0, None, 1.0)]  # one row group cannot be cut
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    assert parquet_row_ranges(tmp_path / "bad.parquet", 100) == [(0, None, 1.0)]  # its reader rejects it


def test_a_split_file_gives_the_same_documents_and_stats(tmp_path):
    docs = synthetic_docs(500, seed=2, source="s")
    (tmp_path / "in").mkdir()
    _parquet(tmp_path / "in" / "a.parquet", docs + docs[:50])  # exact copies, no ids: ids come from file rows
    steps = [{"normalize_text": {}}, {"length_filter": {"min_words": 5}}, "exact_dedup"]

    def run(rows_per_task, name, workers=1):
        config = parse_pipeline(
            {"inputs": [{"path": str(tmp_path / "in"), "rows_per_task": rows_per_task}], "steps": steps}
        )
        summary = run_pipeline(config, tmp_path / name, workers=workers, quiet=True)
        return config, summary

    whole_config, whole = run(10_000, "whole")
    split_config, split = run(200, "split", workers=2)
    assert len(plan_tasks(whole_config)) == 1 and len(plan_tasks(split_config)) == 3
    assert [s.describe() for s in plan_tasks(split_config)] == [
        "parquet:a.parquet[0:200]",
        "parquet:a.parquet[200:400]",
        "parquet:a.parquet[400:550]",
    ]
    assert split.records == whole.records == 550
    assert (split.kept, split.dropped) == (whole.kept, whole.dropped)
    assert split.dropped_by_reason == whole.dropped_by_reason and split.dropped_by_reason["exact_dup"] > 0
    assert pq.read_table(tmp_path / "split" / "output").equals(pq.read_table(tmp_path / "whole" / "output"))
    split_docs, whole_docs = (
        pq.read_table(tmp_path / n / "stats" / "docs.parquet").sort_by("row") for n in ("split", "whole")
    )
    assert split_docs.equals(whole_docs)  # in task order: within a task, a pass's drops come before later ones


def test_a_split_file_that_cannot_give_documents_is_rejected_once_per_range(tmp_path):
    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table({"body": [f"row {i}" for i in range(300)]}), tmp_path / "in" / "b.parquet", row_group_size=100
    )
    config = parse_pipeline({"inputs": [{"path": str(tmp_path / "in"), "rows_per_task": 100}], "steps": []})
    summary = run_pipeline(config, tmp_path / "run", workers=1, quiet=True)
    rejects = pq.read_table(tmp_path / "run" / "rejects" / "rejects.parquet").to_pylist()
    assert [(r["reason"], r["row"], r["n_docs"]) for r in rejects] == [
        ("schema_mismatch", 0, 100),
        ("schema_mismatch", 100, 100),
        ("schema_mismatch", 200, 100),
    ]
    assert summary.records == summary.rejected_docs == 300
