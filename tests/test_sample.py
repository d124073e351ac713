"""The sample corpus: real multi-domain text, labelled, deterministic, sized by --max-docs/--max-mb."""

import json

import orjson
import pytest
import zstandard

from curator.sample import build_sample, troff_to_text


def _records(folder):
    out = []
    for f in sorted(folder.glob("part-*.jsonl.zst")):
        data = zstandard.ZstdDecompressor().stream_reader(f.open("rb")).read()
        out += [orjson.loads(line) for line in data.splitlines()]
    return out


def test_sample_is_multi_domain_and_labelled(sample_corpus):
    docs = _records(sample_corpus)
    manifest = json.loads((sample_corpus / "MANIFEST.json").read_text())
    assert len(docs) == manifest["docs"] <= 1200
    sources = {d["source"] for d in docs}
    assert {"prose", "code"} <= sources  # man and docs too where the machine has them
    assert all(d["text"] and d["id"] for d in docs)
    assert len({d["id"] for d in docs}) == len(docs)
    assert any("def " in d["text"] for d in docs if d["source"] == "code")


@pytest.mark.slow
def test_sample_is_deterministic_and_sized(tmp_path):
    a = build_sample(tmp_path / "a", max_docs=60, max_mb=5, seed=1, shard_docs=25)
    build_sample(tmp_path / "b", max_docs=60, max_mb=5, seed=1, shard_docs=25)
    assert a["docs"] == 60 and a["files"] == ["part-0000.jsonl.zst", "part-0001.jsonl.zst", "part-0002.jsonl.zst"]
    for name in a["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    small = build_sample(tmp_path / "c", max_docs=10_000, max_mb=0.2, seed=1)
    assert 0.2e6 <= small["bytes"] < 0.2e6 + 300_000


def test_troff_to_text():
    src = (
        '.\\" comment\n.TH LS 1\n.SH NAME\nls \\- list directory contents\n.SH SYNOPSIS\n.B ls\n'
        "[\\fIOPTION\\fR]... [\\fIFILE\\fR]...\n.PP\nList information\\(emabout files.\n"
    )
    text = troff_to_text(src)
    assert text == (
        "NAME\nls - list directory contents\n\nSYNOPSIS\nls\n[OPTION]... [FILE]...\n\n"
        "List information\u2014about files."
    )
