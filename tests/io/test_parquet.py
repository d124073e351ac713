"""Parquet reader: field mapping, meta, and bad files (wrong schema, nulls, bad UTF-8, truncation)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq

from curator.io.parquet import ParquetReader
from curator.io.sources import ReadLimits
from tests.conftest import make_shard, read_all


def _write(path, table, **kw):
    pq.write_table(table, path, **kw)
    return path


def test_reads_documents_and_meta(tmp_path):
    t = pa.table({"text": ["a b", "c d e"], "id": [10, 11], "lang": ["en", "de"], "n": [1, 2]})
    docs, rejects, reader = read_all(ParquetReader, make_shard(_write(tmp_path / "x.parquet", t), "parquet"), tmp_path)
    assert rejects == [] and reader.records == 2
    assert [d["id"] for d in docs] == ["10", "11"]
    assert json.loads(docs[1]["meta"]) == {"lang": "de", "n": 2}
    assert docs[0]["source"] == "test"


def test_missing_text_column_is_one_file_reject_counting_its_rows(tmp_path):
    t = pa.table({"body": ["a", "b", "c"]})
    docs, rejects, reader = read_all(ParquetReader, make_shard(_write(tmp_path / "w.parquet", t), "parquet"), tmp_path)
    assert docs == []
    assert [(r["reason"], r["n_docs"], r["file"]) for r in rejects] == [("schema_mismatch", 3, "w.parquet")]
    assert "body" in rejects[0]["detail"] and "text_field" in rejects[0]["detail"]
    assert reader.records == 3


def test_wrongly_typed_text_column_is_a_schema_mismatch(tmp_path):
    t = pa.table({"text": [1, 2]})
    _, rejects, _ = read_all(ParquetReader, make_shard(_write(tmp_path / "i.parquet", t), "parquet"), tmp_path)
    assert rejects[0]["reason"] == "schema_mismatch" and "int64" in rejects[0]["detail"]


def test_null_text_rows_are_rejected_by_row(tmp_path):
    t = pa.table({"text": ["a", None, "c"]})
    docs, rejects, _ = read_all(ParquetReader, make_shard(_write(tmp_path / "n.parquet", t), "parquet"), tmp_path)
    assert [d["text"] for d in docs] == ["a", "c"]
    assert [(r["reason"], r["row"], r["line"]) for r in rejects] == [("missing_field:text", 1, None)]


def test_binary_text_with_bad_utf8_rejects_only_that_row(tmp_path):
    t = pa.table({"text": pa.array([b"fine", b"caf\xe9", b"also fine"], pa.binary())})
    docs, rejects, _ = read_all(ParquetReader, make_shard(_write(tmp_path / "b.parquet", t), "parquet"), tmp_path)
    assert [d["text"] for d in docs] == ["fine", "also fine"]
    assert [(r["reason"], r["row"]) for r in rejects] == [("invalid_utf8", 1)]


def test_oversized_document_is_rejected(tmp_path):
    t = pa.table({"text": ["small", "x" * 5000]})
    docs, rejects, _ = read_all(
        ParquetReader,
        make_shard(_write(tmp_path / "o.parquet", t), "parquet"),
        tmp_path,
        ReadLimits(max_doc_bytes=1000),
    )
    assert [d["text"] for d in docs] == ["small"] and rejects[0]["reason"] == "document_too_large"


def test_truncated_parquet_file_is_unreadable(tmp_path):
    path = _write(tmp_path / "t.parquet", pa.table({"text": ["a"] * 1000}))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    docs, rejects, _ = read_all(ParquetReader, make_shard(path, "parquet"), tmp_path)
    assert docs == [] and rejects[0]["reason"] == "unreadable_file" and rejects[0]["file"] == "t.parquet"


def test_empty_parquet_file(tmp_path):
    path = _write(tmp_path / "e.parquet", pa.table({"text": pa.array([], pa.string())}))
    docs, rejects, _ = read_all(ParquetReader, make_shard(path, "parquet"), tmp_path)
    assert docs == [] and [(r["reason"], r["n_docs"]) for r in rejects] == [("empty_file", 0)]


def test_rows_continue_across_row_groups(tmp_path):
    path = _write(tmp_path / "g.parquet", pa.table({"text": [f"t{i}" for i in range(50)]}), row_group_size=7)
    docs, _, _ = read_all(ParquetReader, make_shard(path, "parquet"), tmp_path, ReadLimits(batch_rows=5))
    assert [d["row"] for d in docs] == list(range(50))


def test_a_row_with_several_problems_is_rejected_once(tmp_path):
    t = pa.table({"text": pa.array([b"ok", b"caf\xe9", None], pa.binary()), "created": ["2024-01-01", "never", "x"]})
    docs, rejects, reader = read_all(ParquetReader, make_shard(_write(tmp_path / "m.parquet", t), "parquet"), tmp_path)
    assert [d["text"] for d in docs] == ["ok"]
    assert [(r["row"], r["reason"]) for r in rejects] == [(1, "invalid_utf8"), (2, "missing_field:text")]
    assert reader.records == 3
