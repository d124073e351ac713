"""Hugging Face datasets: a save_to_disk folder (Dataset and DatasetDict) and an in-memory IterableDataset."""

import datasets
import pyarrow.parquet as pq

from curator.io.hf import HFReader
from curator.io.rejects import RejectSink
from curator.io.sources import FieldMap, ReadLimits, Shard
from curator.pipeline.config import PipelineConfig
from curator.pipeline.plan import plan_tasks


def _dataset(n=25):
    return datasets.Dataset.from_dict({"content": [f"doc number {i}" for i in range(n)], "idx": list(range(n))})


def test_load_from_disk_folder_split_into_tasks(tmp_path):
    _dataset().save_to_disk(str(tmp_path / "ds"))
    cfg = PipelineConfig(inputs=[{"path": str(tmp_path / "ds"), "text_field": "content", "rows_per_task": 10}])
    shards = plan_tasks(cfg)
    assert [(s.format, s.row_start, s.row_stop) for s in shards] == [("hf", 0, 10), ("hf", 10, 20), ("hf", 20, 25)]
    texts = []
    for s in shards:
        sink = RejectSink(tmp_path / f"r{s.row_start}.parquet")
        texts += [t for b in HFReader(s, ReadLimits(batch_rows=4), sink) for t in b.column("text").to_pylist()]
        sink.close()
    assert texts == [f"doc number {i}" for i in range(25)]


def test_dataset_dict_needs_a_split_when_ambiguous(tmp_path):
    datasets.DatasetDict({"train": _dataset(3), "test": _dataset(2)}).save_to_disk(str(tmp_path / "dd"))
    cfg = PipelineConfig(inputs=[{"path": str(tmp_path / "dd"), "text_field": "content", "split": "test"}])
    (shard,) = plan_tasks(cfg)
    sink = RejectSink(tmp_path / "r.parquet")
    rows = [r for b in HFReader(shard, ReadLimits(), sink) for r in b.to_pylist()]
    assert len(rows) == 2 and rows[0]["file"] == "dd/test"


def test_iterable_dataset_and_wrong_field(tmp_path):
    ids = _dataset(7).to_iterable_dataset()
    shard = Shard("hf", "mem", "mem", "mem", None, FieldMap(text="content"))
    sink = RejectSink(tmp_path / "r.parquet")
    rows = [r for b in HFReader(shard, ReadLimits(batch_rows=3), sink, dataset=ids) for r in b.to_pylist()]
    assert [r["row"] for r in rows] == list(range(7)) and '"idx":6' in rows[6]["meta"]
    bad = Shard("hf", "mem", "mem", "mem", None, FieldMap(text="nope"))
    sink2 = RejectSink(tmp_path / "r2.parquet")
    assert list(HFReader(bad, ReadLimits(), sink2, dataset=_dataset(4))) == []
    sink2.close()
    rej = pq.read_table(tmp_path / "r2.parquet").to_pylist()
    assert rej[0]["reason"] == "schema_mismatch"


def test_pipeline_over_hf_folder_with_wrong_field_accounts_for_every_row(tmp_path):
    from curator.pipeline.executor import run_pipeline

    _dataset(12).save_to_disk(str(tmp_path / "ds"))
    cfg = PipelineConfig(inputs=[{"path": str(tmp_path / "ds"), "text_field": "missing", "rows_per_task": 5}])
    summary = run_pipeline(cfg, tmp_path / "run", workers=1, quiet=True)
    assert summary.records == 12 and summary.rejected_docs == 12 and summary.kept == 0
    assert summary.rejects_by_reason == {"schema_mismatch": 3}
