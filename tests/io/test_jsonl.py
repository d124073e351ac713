"""JSONL reader: good files through the fast path, and every bad-input path through exact rejects."""

import gzip
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.io.decompress import TruncatedStream
from curator.io.jsonl import JsonlReader, open_decompressed
from curator.io.sources import ReadLimits
from tests.conftest import make_shard, read_all, synthetic_docs, write_jsonl


@pytest.mark.parametrize("compression", [None, "gz", "zst"])
def test_reads_all_documents_with_meta(tmp_path, compression):
    src = synthetic_docs(300)
    path = write_jsonl(tmp_path / f"a.jsonl{'.' + compression if compression else ''}", src, compression)
    docs, rejects, reader = read_all(JsonlReader, make_shard(path), tmp_path)
    assert rejects == []
    assert reader.records == 300
    assert [d["text"] for d in docs] == [d["text"] for d in src]
    assert [d["id"] for d in docs] == [d["id"] for d in src]
    assert all(d["source"] == "synth" for d in docs)
    meta = json.loads(docs[7]["meta"])
    assert meta == {"lang": "en", "score": src[7]["score"]}
    assert [d["row"] for d in docs] == list(range(300))
    assert docs[0]["n_bytes"] == len(src[0]["text"].encode())


def test_field_mapping_and_stable_ids(tmp_path):
    recs = [{"content": f"doc {i}", "origin": "web", "link": "http://x"} for i in range(5)]
    path = write_jsonl(tmp_path / "in" / "m.jsonl", recs)
    shard = make_shard(path, root=tmp_path, text="content", source="origin", url="link")
    docs, rejects, _ = read_all(JsonlReader, shard, tmp_path)
    assert rejects == []
    assert [d["text"] for d in docs] == [f"doc {i}" for i in range(5)]
    assert {d["source"] for d in docs} == {"web"} and docs[0]["url"] == "http://x"
    assert docs[0]["meta"] is None
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == 5 and ids[3].endswith(":3")
    again, _, _ = read_all(JsonlReader, shard, tmp_path)
    assert [d["id"] for d in again] == ids  # re-runs give the same ids


def test_date_like_strings_stay_strings_in_meta(tmp_path):
    recs = [{"text": "a b", "seen": "2024-01-02"}, {"text": "c", "seen": "2024-03-04"}]
    path = write_jsonl(tmp_path / "d.jsonl", recs)
    docs, _, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [json.loads(d["meta"])["seen"] for d in docs] == ["2024-01-02", "2024-03-04"]


def test_created_field_is_parsed_to_utc(tmp_path):
    recs = [
        {"text": "a", "created": "2024-01-02T03:04:05Z"},
        {"text": "b", "created": "2024-01-02"},
        {"text": "c", "created": "not a date"},
    ]
    path = write_jsonl(tmp_path / "c.jsonl", recs)
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == ["a", "b"]
    assert docs[0]["created"].isoformat() == "2024-01-02T03:04:05+00:00"
    assert rejects[0]["reason"] == "bad_value:created" and rejects[0]["line"] == 3


BAD_LINES = [
    (b'{"text": "unterminated', "malformed_json"),
    (b'{"text": "caf\xe9"}', "invalid_utf8"),
    (b'{"id": "x"}', "missing_field:text"),
    (b'{"text": null}', "missing_field:text"),
    (b'{"text": 42}', "wrong_type:text"),
    (b'{"text": "ok", "id": [1]}', "wrong_type:id"),
    (b'{"text": "ok", "source": 3}', "wrong_type:source"),
    (b"[1, 2, 3]", "not_an_object"),
]


@pytest.mark.parametrize("bad,reason", BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_bad_line_is_rejected_with_line_and_reason_and_the_rest_is_read(tmp_path, bad, reason):
    good = [json.dumps({"text": f"good {i}"}).encode() for i in range(4)]
    path = write_jsonl(tmp_path / "bad.jsonl", good[:2] + [bad] + good[2:])
    docs, rejects, reader = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == [f"good {i}" for i in range(4)]
    assert len(rejects) == 1
    r = rejects[0]
    assert (r["file"], r["line"], r["row"], r["reason"], r["n_docs"]) == ("bad.jsonl", 3, 2, reason, 1)
    assert r["detail"] and r["raw"]
    assert reader.records == 5
    assert [d["row"] for d in docs] == [0, 1, 3, 4]  # rows are line indices: ids do not shift


def test_blank_lines_are_not_documents(tmp_path):
    path = tmp_path / "blank.jsonl"
    path.write_bytes(b'{"text": "a"}\n\n   \n{"text": "b"}\n\n')
    docs, rejects, reader = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == ["a", "b"] and rejects == [] and reader.records == 2
    assert [d["row"] for d in docs] == [0, 3]


def test_last_line_without_newline(tmp_path):
    path = tmp_path / "nonl.jsonl"
    path.write_bytes(b'{"text": "a"}\n{"text": "b"}')
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == ["a", "b"] and rejects == []


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_empty_file_is_one_reject(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    assert docs == []
    assert [(r["reason"], r["n_docs"], r["file"]) for r in rejects] == [("empty_file", 0, "empty.jsonl")]


@pytest.mark.parametrize("compression", ["gz", "zst"])
def test_truncated_compressed_file_keeps_what_was_read(tmp_path, compression):
    src = synthetic_docs(2000, seed=3)
    full = write_jsonl(tmp_path / f"t.jsonl.{compression}", src, compression)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) * 2 // 3])
    docs, rejects, reader = read_all(JsonlReader, make_shard(full), tmp_path, ReadLimits(batch_bytes=4096))
    assert 0 < len(docs) < 2000
    assert [d["text"] for d in docs] == [d["text"] for d in src[: len(docs)]]
    assert [r["reason"] for r in rejects] == ["truncated_file"]
    assert rejects[0]["line"] == len(docs) + 1 and rejects[0]["n_docs"] in (0, 1)
    assert reader.records == len(docs) + rejects[0]["n_docs"]


@pytest.mark.parametrize("compression", ["gz", "zst"])
@pytest.mark.parametrize("keep", [0.6, 0.9, 0.999])
def test_truncation_keeps_every_complete_line_with_default_limits(tmp_path, compression, keep):
    """With the default 16 MiB read size a small truncated file used to lose all of its lines."""
    src = synthetic_docs(3000, seed=4)
    full = write_jsonl(tmp_path / f"t.jsonl.{compression}", src, compression)
    data = full.read_bytes()
    full.write_bytes(data[: int(len(data) * keep)])
    stream = open_decompressed(full)
    readable = b""
    try:
        while chunk := stream.read(1):
            readable += chunk
    except TruncatedStream:
        pass
    complete = readable.count(b"\n")  # what any decoder can recover: every complete line before the cut
    assert complete > 0
    docs, rejects, reader = read_all(JsonlReader, make_shard(full), tmp_path)
    assert [d["text"] for d in docs] == [d["text"] for d in src[:complete]]
    (reject,) = rejects
    partial = not readable.endswith(b"\n")
    assert reject["reason"] == "truncated_file" and reject["line"] == complete + 1
    assert reject["n_docs"] == int(partial) and reader.records == complete + int(partial)
    assert "ends early" in reject["detail"] and ("cut off" in reject["detail"]) == partial
    if partial:  # the cut-off line is kept as the reject's raw snippet
        assert orjson.dumps(src[complete]).decode().startswith(reject["raw"][:-1])


def test_concatenated_members_and_frames_are_read_whole(tmp_path):
    a, b = synthetic_docs(10, seed=1), synthetic_docs(10, seed=2)
    gz = write_jsonl(tmp_path / "a.gz", a, "gz").read_bytes() + write_jsonl(tmp_path / "b.gz", b, "gz").read_bytes()
    (tmp_path / "ab.jsonl.gz").write_bytes(gz + b"\x00" * 8)  # zero padding after the last member is allowed
    zs = write_jsonl(tmp_path / "a.zst", a, "zst").read_bytes() + write_jsonl(tmp_path / "b.zst", b, "zst").read_bytes()
    (tmp_path / "ab.jsonl.zst").write_bytes(zs)
    for name in ("ab.jsonl.gz", "ab.jsonl.zst"):
        docs, rejects, _ = read_all(JsonlReader, make_shard(tmp_path / name), tmp_path)
        assert [d["text"] for d in docs] == [d["text"] for d in a + b] and rejects == []


def test_corrupt_bytes_mid_stream_keep_the_lines_before_them(tmp_path):
    src = synthetic_docs(2000, seed=5)
    full = write_jsonl(tmp_path / "c.jsonl.gz", src, "gz")
    data = bytearray(full.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    full.write_bytes(bytes(data))
    docs, rejects, reader = read_all(JsonlReader, make_shard(full), tmp_path)
    assert 0 < len(docs) < 2000 and [d["text"] for d in docs] == [d["text"] for d in src[: len(docs)]]
    assert [r["reason"] for r in rejects] == ["truncated_file"] and "corrupt" in rejects[0]["detail"]


def test_huge_document_is_rejected_while_streaming(tmp_path):
    big = json.dumps({"text": "y" * (50 << 20)}).encode()
    path = write_jsonl(tmp_path / "huge.jsonl", [b'{"text": "before"}', big, b'{"text": "after"}'])
    docs, rejects, reader = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == ["before", "after"]
    assert [(r["reason"], r["line"]) for r in rejects] == [("document_too_large", 2)]
    assert len(rejects[0]["raw"]) <= 512
    assert reader.records == 3


def test_large_document_under_block_size_is_rejected(tmp_path):
    limits = ReadLimits(max_doc_bytes=1000, batch_bytes=1 << 20)
    path = write_jsonl(tmp_path / "l.jsonl", [{"text": "a"}, {"text": "z" * 5000}, {"text": "b"}])
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp_path, limits)
    assert [d["text"] for d in docs] == ["a", "b"]
    assert [(r["reason"], r["line"]) for r in rejects] == [("document_too_large", 2)]


def test_batches_are_bounded_by_rows(tmp_path):
    path = write_jsonl(tmp_path / "b.jsonl", synthetic_docs(1000))
    shard = make_shard(path)
    from curator.io.rejects import RejectSink

    reader = JsonlReader(shard, ReadLimits(batch_rows=64, batch_bytes=8192), RejectSink(tmp_path / "r.parquet"))
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == 1000 and max(sizes) <= 64


def test_gzip_detected_by_magic_not_name(tmp_path):
    path = tmp_path / "named-plain.jsonl"
    path.write_bytes(gzip.compress(b'{"text": "zipped"}\n'))
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    assert [d["text"] for d in docs] == ["zipped"] and rejects == []


def test_fast_and_line_paths_agree_on_documents(tmp_path):
    src = synthetic_docs(200, seed=5)
    clean = write_jsonl(tmp_path / "clean.jsonl", src)
    dirty = write_jsonl(tmp_path / "dirty.jsonl", [json.dumps(d).encode() for d in src] + [b"{oops"])
    a, _, _ = read_all(JsonlReader, make_shard(clean), tmp_path)
    b, rej, _ = read_all(JsonlReader, make_shard(dirty), tmp_path)
    assert len(rej) == 1
    strip = [{k: v for k, v in d.items() if k not in ("file", "meta")} for d in a]
    assert strip == [{k: v for k, v in d.items() if k not in ("file", "meta")} for d in b]
    assert [json.loads(d["meta"]) for d in a] == [json.loads(d["meta"]) for d in b]


def _exact(value) -> bytes:
    """JSON with sorted keys: tells 1 from 1.0 and a missing key from a null one."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def test_meta_keeps_each_lines_own_fields_and_types(tmp_path):
    recs = [
        {"text": "a", "n": 1, "score": 2, "tags": {"x": 1}},
        {"text": "b", "n": 2, "score": 2.5, "tags": {"y": [1, 2]}},
        {"text": "c", "score": None},  # no n, no tags
    ]
    path = write_jsonl(tmp_path / "m.jsonl", recs)
    docs, _, _ = read_all(JsonlReader, make_shard(path), tmp_path)
    expected = [{k: v for k, v in r.items() if k != "text"} for r in recs]
    assert [_exact(orjson.loads(d["meta"])) for d in docs] == [_exact(e) for e in expected]


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**62), 2**62),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
    st.dictionaries(st.sampled_from(["p", "q"]), st.integers(0, 9) | st.text(max_size=3), max_size=2),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "meta_d"]), _values, max_size=4), min_size=1, max_size=12)
)
def test_meta_equals_each_records_unmapped_fields(tmp_path_factory, extras):
    """Whichever path a block takes (Arrow's parse or line by line), meta is the record's other fields, exactly."""
    tmp = tmp_path_factory.mktemp("meta")
    recs = [{"text": f"doc {i}", **extra} for i, extra in enumerate(extras)]
    path = write_jsonl(tmp / "r.jsonl", recs)
    docs, rejects, _ = read_all(JsonlReader, make_shard(path), tmp)
    assert rejects == []
    got = [None if d["meta"] is None else _exact(orjson.loads(d["meta"])) for d in docs]
    assert got == [_exact(e) if e else None for e in extras]
