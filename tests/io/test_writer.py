"""Sharded Parquet writer: deterministic names, rotation by size, nothing final until complete."""

import pyarrow as pa
import pyarrow.parquet as pq

from curator.io.atomic import AtomicParquetWriter
from curator.io.writer import ShardedParquetWriter
from curator.schema import DOCUMENT_SCHEMA


def _docs(n, start=0):
    return pa.RecordBatch.from_pylist(
        [{"id": str(i), "source": "s", "text": f"text {i} " * 50} for i in range(start, start + n)],
        schema=DOCUMENT_SCHEMA,
    )


def test_rotation_by_size_and_names(tmp_path):
    w = ShardedParquetWriter(tmp_path, "part-00003", DOCUMENT_SCHEMA, max_shard_bytes=3_000)
    for k in range(10):
        w.write(_docs(100, k * 100))
    paths = w.close()
    assert len(paths) > 1
    assert [p.name for p in paths] == [f"part-00003-{i:04d}.parquet" for i in range(len(paths))]
    ids = [r for p in paths for r in pq.read_table(p).column("id").to_pylist()]
    assert ids == [str(i) for i in range(1000)]


def test_nothing_under_final_name_before_close_and_abort_cleans(tmp_path):
    w = AtomicParquetWriter(tmp_path / "x.parquet", DOCUMENT_SCHEMA)
    w.write(_docs(3))
    assert not (tmp_path / "x.parquet").exists() and (tmp_path / ".tmp-x.parquet").exists()
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_same_input_same_bytes(tmp_path):
    for d in ("a", "b"):
        w = ShardedParquetWriter(tmp_path / d, "p", DOCUMENT_SCHEMA)
        w.write(_docs(50))
        w.close()
    assert (tmp_path / "a" / "p-0000.parquet").read_bytes() == (tmp_path / "b" / "p-0000.parquet").read_bytes()


def test_empty_task_writes_no_shard(tmp_path):
    w = ShardedParquetWriter(tmp_path, "p", DOCUMENT_SCHEMA)
    assert w.close() == [] and list(tmp_path.iterdir()) == []
