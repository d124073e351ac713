"""The planner cuts a large uncompressed JSONL file into byte ranges of whole lines; rows, ids, rejects and
stats stay those of the file read as one task."""

import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.errors import RunError
from curator.io.jsonl import JsonlReader, open_shard
from curator.io.rejects import RejectSink
from curator.io.sources import ReadLimits
from curator.pipeline.config import InputConfig, parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.plan import jsonl_byte_ranges, plan_tasks, shards_for_input
from tests.conftest import synthetic_docs, write_jsonl

LINE = b'{"text": "aaaa"}\n'  # 17 bytes: line k is bytes [17k, 17k + 17), its newline byte 17k + 16


def _read(shards, folder: Path, limits: ReadLimits | None = None) -> tuple[list[dict], list[dict]]:
    """(documents, rejects) of reading `shards` one after another, each as its own task."""
    docs, rejects = [], []
    for i, shard in enumerate(shards):
        sink = RejectSink(folder / f"rejects-{i}.parquet")
        batches = list(JsonlReader(shard, limits or ReadLimits(), sink))
        sink.close()
        docs += pa.Table.from_batches(batches).to_pylist() if batches else []
        rejects += pq.read_table(folder / f"rejects-{i}.parquet").to_pylist()
    return docs, rejects


def _cut_and_whole(path: Path, bytes_per_task: int, tmp_path: Path, limits: ReadLimits | None = None):
    """The shards of `path` cut by `bytes_per_task`, and the (documents, rejects) of the cut and the whole reads."""
    cut = shards_for_input(InputConfig(path=str(path)), bytes_per_task)
    whole = shards_for_input(InputConfig(path=str(path)))
    assert len(whole) == 1
    (tmp_path / "cut").mkdir()
    (tmp_path / "whole").mkdir()
    return cut, _read(cut, tmp_path / "cut", limits), _read(whole, tmp_path / "whole", limits)


def test_a_boundary_moves_to_just_after_the_next_newline(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(LINE * 4)
    assert jsonl_byte_ranges(path, 17) == [(0, 17, 0), (17, 34, 1), (34, 51, 2), (51, None, 3)]  # on a newline
    assert jsonl_byte_ranges(path, 16) == [(0, 17, 0), (17, 34, 1), (34, 51, 2), (51, None, 3)]  # at one
    assert jsonl_byte_ranges(path, 18) == [(0, 34, 0), (34, None, 2)]  # just past one: to the next
    assert jsonl_byte_ranges(path, 30) == [(0, 34, 0), (34, None, 2)]  # inside a line
    assert jsonl_byte_ranges(path, 50) == [(0, 51, 0), (51, None, 3)]
    assert jsonl_byte_ranges(path, 52) == [(0, None, 0)]  # the only newline after the target ends the file
    assert jsonl_byte_ranges(path, 68) == [(0, None, 0)]  # not larger: one task
    assert jsonl_byte_ranges(path, 5, chunk_bytes=3) == jsonl_byte_ranges(path, 5)  # chunks do not matter
    assert jsonl_byte_ranges(tmp_path / "missing.jsonl", 5) == [(0, None, 0)]  # its reader rejects it


def test_shards_name_their_byte_range_and_their_first_row(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_bytes(LINE * 4)
    shards = shards_for_input(InputConfig(path=str(tmp_path / "in")), 30)
    assert [s.describe() for s in shards] == ["jsonl:a.jsonl[bytes 0:34]", "jsonl:a.jsonl[bytes 34:]"]
    assert [(s.row_start, s.size_bytes) for s in shards] == [(0, 34), (2, 34)]
    config = parse_pipeline({"inputs": [{"path": str(tmp_path / "in")}], "reader": {"bytes_per_task": "30b"}})
    assert plan_tasks(config) == shards
    assert [s.describe() for s in shards_for_input(InputConfig(path=str(tmp_path / "in")))] == ["jsonl:a.jsonl"]


@pytest.mark.parametrize("compression", ["gz", "zst"])
def test_a_compressed_jsonl_file_is_not_cut(tmp_path, compression):
    path = write_jsonl(tmp_path / f"a.jsonl.{compression}", synthetic_docs(200, seed=1), compression)
    assert path.stat().st_size > 1000
    shards = shards_for_input(InputConfig(path=str(path)), 100)
    assert [s.describe() for s in shards] == [f"jsonl:a.jsonl.{compression}"]
    assert shards[0].size_bytes == path.stat().st_size


@pytest.mark.parametrize(
    ("name", "content", "bytes_per_task"),
    [
        ("on_newlines", LINE * 6, 17),
        ("inside_lines", LINE * 6, 25),
        ("inside_utf8", b"".join(f'{{"text": "d\u00e9j\u00e0 \u65e5\u672c {i}"}}\n'.encode() for i in range(9)), 15),
        ("crlf", b"".join(f'{{"text": "line {i}"}}\r\n'.encode() for i in range(9)), 19),
        ("blank_lines", b'\n\n{"text": "a"}\n\n   \n\n{"text": "b"}\n\n\n{"text": "c"}\n\n', 3),
        ("no_final_newline", LINE * 3 + b'{"text": "last"}', 17),
        ("bad_lines", LINE * 3 + b"{broken\n" + LINE + b'{"text": 7}\n' + b'{"text": "caf\xe9"}\n' + LINE, 40),
    ],
)
def test_a_cut_file_reads_as_the_whole_file(tmp_path, name, content, bytes_per_task):
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(content)
    cut, (docs, rejects), (whole_docs, whole_rejects) = _cut_and_whole(path, bytes_per_task, tmp_path)
    assert len(cut) > 2
    assert docs == whole_docs and len(docs) > 0
    assert rejects == whole_rejects


def test_a_boundary_inside_a_multibyte_character_keeps_it_whole(tmp_path):
    line = '{"text": "\u65e5\u672c\u8a9e"}\n'.encode()  # the characters are bytes 10-18
    path = tmp_path / "u.jsonl"
    path.write_bytes(line * 3)
    n = len(line)
    assert jsonl_byte_ranges(path, 12) == [(0, n, 0), (n, 2 * n, 1), (2 * n, None, 2)]  # target 12: inside 日
    _, (docs, rejects), _ = _cut_and_whole(path, 12, tmp_path)
    assert [(d["row"], d["text"]) for d in docs] == [(i, "\u65e5\u672c\u8a9e") for i in range(3)] and not rejects


def test_ranges_read_in_small_batches_match_the_whole_file(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", synthetic_docs(400, seed=4, with_ids=False))
    limits = ReadLimits(batch_rows=7, batch_bytes=1000, max_doc_bytes=900)
    cut, (docs, _), (whole_docs, _) = _cut_and_whole(path, 3000, tmp_path, limits)
    assert len(cut) > 5
    assert docs == whole_docs and [d["row"] for d in docs] == list(range(400))


def test_a_range_reads_the_blocks_of_a_whole_read_but_at_its_boundaries(tmp_path):
    path = write_jsonl(tmp_path / "a.jsonl", synthetic_docs(300, seed=6))
    limits = ReadLimits(batch_bytes=1000)

    def blocks(shard) -> list[tuple[int, bytes]]:
        sink = RejectSink(tmp_path / f"rejects-{shard.byte_start}.parquet")
        with open_shard(shard) as stream:
            found = [(first, block) for block, first, _ in JsonlReader(shard, limits, sink)._blocks(stream)]
        sink.close()
        return found

    shards = shards_for_input(InputConfig(path=str(path)), 4000)
    cut = [b for s in shards for b in blocks(s)]
    whole = blocks(shards_for_input(InputConfig(path=str(path)))[0])
    starts = [s.row_start + 1 for s in shards[1:]]  # 1-based, as the blocks number their lines
    straddling = [(f, b) for f, b in whole if any(f < r <= f + b.count(b"\n") - 1 for r in starts)]
    assert len(shards) > 5 and 0 < len(straddling) <= len(starts)  # blocks that a range boundary cuts in two
    assert all(b in cut for b in whole if b not in straddling)  # the same lines, so the same types inferred
    assert len(cut) == len(whole) + len(straddling)  # each cut block is read as two


def test_a_blank_file_is_one_empty_file_reject_and_a_blank_range_none(tmp_path):
    (tmp_path / "blank.jsonl").write_bytes(b"\n" * 40)
    cut, (docs, rejects), (_, whole_rejects) = _cut_and_whole(tmp_path / "blank.jsonl", 10, tmp_path)
    assert len(cut) == 4 and docs == []
    assert [r["reason"] for r in rejects] == [r["reason"] for r in whole_rejects] == ["empty_file"]
    (tmp_path / "late.jsonl").write_bytes(b"\n" * 40 + LINE)  # only the last range holds a record
    shards = shards_for_input(InputConfig(path=str(tmp_path / "late.jsonl")), 10)
    (tmp_path / "late").mkdir()
    docs, rejects = _read(shards, tmp_path / "late")
    assert [d["row"] for d in docs] == [40] and rejects == []


@settings(max_examples=300)
@given(
    lines=st.lists(
        st.one_of(
            st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\n"), max_size=12).map(str.encode),
            st.sampled_from([b"", b"\r", b"  ", b'{"text": "x"}']),
        ),
        max_size=25,
    ),
    final_newline=st.booleans(),
    bytes_per_task=st.integers(1, 80),
    chunk_bytes=st.integers(1, 64),
)
def test_ranges_partition_the_lines_exactly(lines, final_newline, bytes_per_task, chunk_bytes):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.jsonl"
        path.write_bytes(data)
        ranges = jsonl_byte_ranges(path, bytes_per_task, chunk_bytes)
    stops = [len(data) if stop is None else stop for _, stop, _ in ranges]
    assert ranges[0][:1] == (0,) and ranges[-1][1] is None
    assert [start for start, _, _ in ranges[1:]] == stops[:-1]  # contiguous, none empty, none overlapping
    assert all(start < stop for (start, _, _), stop in zip(ranges, stops, strict=True)) or data == b""
    assert all(data[stop - 1 : stop] == b"\n" for stop in stops[:-1])  # every cut just after a newline
    assert all(line == data[:start].count(b"\n") for start, _, line in ranges)  # file-relative line numbers
    pieces = [data[start:stop].split(b"\n") for (start, _, _), stop in zip(ranges, stops, strict=True)]
    got = [line for piece in pieces[:-1] for line in piece[:-1]] + pieces[-1]  # whole lines: each piece ends "\n"
    assert got == data.split(b"\n")  # every line once, in order
    if len(data) > bytes_per_task:  # about bytes_per_task each: no range ends before it, or a line, is reached
        assert all(stop - start >= bytes_per_task for (start, _, _), stop in zip(ranges[:-1], stops, strict=False))


def _run(tmp_path: Path, name: str, bytes_per_task: str, workers: int = 1):
    config = parse_pipeline(
        {
            "inputs": [{"path": str(tmp_path / "in")}],
            "reader": {"bytes_per_task": bytes_per_task},
            "steps": [{"normalize_text": {}}, {"length_filter": {"min_words": 5}}, "exact_dedup"],
        }
    )
    return config, run_pipeline(config, tmp_path / name, workers=workers, quiet=True)


def test_a_cut_file_gives_the_same_documents_stats_and_rejects(tmp_path):
    docs = synthetic_docs(500, seed=2, source="s", with_ids=False)
    lines = [json.dumps(d).encode() for d in docs + docs[:50]]  # exact copies, no ids: ids come from file rows
    lines[230:230] = [b"{broken", b"", b'{"text": 7}']  # in the 2nd range, with a blank line between
    write_jsonl(tmp_path / "in" / "a.jsonl", lines)
    size = (tmp_path / "in" / "a.jsonl").stat().st_size
    whole_config, whole = _run(tmp_path, "whole", "256MiB")
    cut_config, cut = _run(tmp_path, "cut", str(size // 4), workers=2)
    assert len(plan_tasks(whole_config)) == 1 and len(plan_tasks(cut_config)) == 4
    assert plan_tasks(cut_config)[1].row_start <= 230 < plan_tasks(cut_config)[2].row_start
    assert cut.records == whole.records == 552
    assert (cut.kept, cut.dropped, cut.rejected_docs) == (whole.kept, whole.dropped, whole.rejected_docs)
    assert cut.dropped_by_reason == whole.dropped_by_reason and cut.dropped_by_reason["exact_dup"] > 0
    assert pq.read_table(tmp_path / "cut" / "output").equals(pq.read_table(tmp_path / "whole" / "output"))
    cut_docs, whole_docs = (
        pq.read_table(tmp_path / n / "stats" / "docs.parquet").sort_by("row") for n in ("cut", "whole")
    )
    assert cut_docs.equals(whole_docs)
    cut_rejects, whole_rejects = (
        pq.read_table(tmp_path / n / "rejects" / "rejects.parquet").sort_by("row").to_pylist() for n in ("cut", "whole")
    )
    assert cut_rejects == whole_rejects
    assert [(r["file"], r["row"], r["line"], r["reason"]) for r in cut_rejects] == [
        ("a.jsonl", 230, 231, "malformed_json"),
        ("a.jsonl", 232, 233, "wrong_type:text"),
    ]


def test_a_run_planned_before_files_were_cut_says_why_it_cannot_resume(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(60, seed=3))
    size = (tmp_path / "in" / "a.jsonl").stat().st_size
    _run(tmp_path, "run", "256MiB")
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del config["reader"]["bytes_per_task"]  # as a curator without the setting wrote it
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    _run(tmp_path, "run", "256MiB")  # the same plan: it resumes
    _run(tmp_path, "cut", str(size // 2))
    (tmp_path / "cut" / "plan.json").write_text(json.dumps([{"task": 0, "shard": "jsonl:a.jsonl", "bytes": size}]))
    with pytest.raises(RunError, match=r"was jsonl:a.jsonl \(\d+ bytes\), now jsonl:a.jsonl\[bytes 0:\d+\].*cuts them"):
        _run(tmp_path, "cut", str(size // 2))
