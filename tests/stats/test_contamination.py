"""`curator contamination`: n-gram overlap against a pure-Python reference, --mark + drop_listed, bad input."""

from __future__ import annotations

import json
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import ConfigError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.stats.contamination import load_benchmark, scan_run
from curator.stats.views import connect
from curator.text.wordgrams import ngram_overlap, word_ngrams
from tests.conftest import write_jsonl


def grams_of(text: str, n: int) -> list[tuple[str, ...]]:
    """Reference: lowercased \\w+ words, every run of n consecutive ones."""
    words = re.findall(r"\w+", text.lower())
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet="ab cD.,\n-é", max_size=60), min_size=1, max_size=8),
    st.lists(st.text(alphabet="ab cD.,\n-é", max_size=60), min_size=1, max_size=8),
    st.integers(1, 4),
)
def test_overlap_counts_equal_the_reference(docs, bench, n):
    grams, _, _ = word_ngrams(pa.array(bench), n)
    reference = np.unique(grams)
    hit = np.zeros(len(reference), bool)
    counts, matched, first = ngram_overlap(pa.array(docs), n, reference, hit)
    bench_set = {g for b in bench for g in grams_of(b, n)}
    for d, text in enumerate(docs):
        mine = grams_of(text, n)
        assert counts[d] == len(mine)
        assert matched[d] == sum(g in bench_set for g in mine)
        assert (first[d] >= 0) == (matched[d] > 0)
    seen = {g for text in docs for g in grams_of(text, n)} & bench_set
    assert hit.sum() == len(seen)


@pytest.fixture(scope="module")
def benchmark(curated_run, tmp_path_factory):
    """Passages of a few kept documents (recased, re-punctuated), novel items, and one too short to check."""
    out = pq.read_table(curated_run / "output", columns=["id", "source", "text"]).to_pylist()
    items, planted = [], []
    for i, doc in enumerate(out[::97][:6]):
        words = re.findall(r"\w+", doc["text"])
        if len(words) < 60:
            continue
        items.append({"id": f"leak-{i}", "text": " ; ".join(words[20:50]).upper()})
        planted.append(doc["id"])
    items += [
        {"id": "novel-1", "text": "an entirely new question: purple giraffes count prime numbers on the moon at dawn"},
        {"id": "short", "text": "two words"},
    ]  # fmt: skip
    path = write_jsonl(tmp_path_factory.mktemp("bench") / "qa.jsonl", items)
    return {"path": path, "items": items, "planted": planted, "docs": out}


def test_contaminated_documents_are_those_sharing_a_13_gram(curated_run, benchmark):
    bench = load_benchmark(benchmark["path"])
    assert bench.too_short == 1 and len(bench.item_ids) == len(benchmark["items"])
    report = scan_run(curated_run, bench)
    bench_set = {g for item in benchmark["items"] for g in grams_of(item["text"], 13)}
    expected = {d["id"] for d in benchmark["docs"] if any(g in bench_set for g in grams_of(d["text"], 13))}
    table = pq.read_table(report["table"]).to_pylist()
    assert {r["id"] for r in table if r["contaminated"]} == expected
    assert set(benchmark["planted"]) <= expected
    assert all(r["benchmark_item"].startswith("leak-") for r in table if r["id"] in benchmark["planted"])
    assert report["all"]["contaminated"] == len(expected) and report["all"]["docs"] == len(benchmark["docs"])
    assert report["benchmark_items_seen"] == len(benchmark["planted"])  # not the novel or the short item
    for src, v in report["per_source"].items():
        assert v["contaminated"] == sum(1 for r in table if r["source"] == src and r["contaminated"])
    con, _, views = connect([curated_run])
    assert "contamination" in views
    assert con.sql("SELECT DISTINCT benchmark FROM contamination").fetchall() == [("qa",)]


def test_min_matches_raises_the_bar(curated_run, benchmark):
    bench = load_benchmark(benchmark["path"])
    strict = scan_run(curated_run, bench, min_matches=10_000)
    assert strict["all"]["contaminated"] == 0 and strict["all"]["matched"] > 0


def test_mark_then_drop_listed_removes_them_with_a_reason(curated_run, benchmark, tmp_path):
    result = CliRunner().invoke(app, ["contamination", str(curated_run), "-b", str(benchmark["path"]), "--mark"])
    assert result.exit_code == 0, result.output
    assert "| all |" in result.output and "drop_listed" in result.output
    report = json.loads((curated_run / "contamination" / "qa.json").read_text())
    ids = pq.read_table(report["ids"]).column("id").to_pylist()
    assert len(ids) == report["all"]["contaminated"] > 0
    cfg = parse_pipeline(
        {
            "name": "decontaminated",
            "inputs": [{"path": str(curated_run / "output")}],
            "steps": [{"drop_listed": {"ids": [report["ids"]], "reason": "contaminated"}}],
        }  # fmt: skip
    )
    summary = run_pipeline(cfg, tmp_path / "clean", workers=1, quiet=True)
    assert summary.dropped_by_reason == {"contaminated": len(ids)}
    kept = set(pq.read_table(tmp_path / "clean" / "output", columns=["id"]).column("id").to_pylist())
    assert not kept & set(ids) and len(kept) + len(ids) == len(benchmark["docs"])
    again = CliRunner().invoke(app, ["contamination", str(curated_run), "-b", str(benchmark["path"])])
    assert again.exit_code == 0 and not (curated_run / "contamination" / "ids" / "qa.parquet").exists()


def test_bad_input(curated_run, benchmark, tmp_path):
    def cli(*args):
        return CliRunner().invoke(app, ["contamination", *map(str, args)])

    missing = cli(curated_run, "-b", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and "does not exist" in missing.output
    short = write_jsonl(tmp_path / "short.jsonl", [{"id": "a", "text": "just four words here"}])
    result = cli(curated_run, "-b", short)
    assert result.exit_code == 2 and "none of its 1 items has 13 words" in result.output
    (tmp_path / "bad.jsonl").write_text(benchmark["path"].read_text() + '{"id": "x", "text": \n')
    result = cli(curated_run, "-b", tmp_path / "bad.jsonl")
    assert result.exit_code == 0 and "1 rejected record(s)" in result.output
    not_run = cli(tmp_path, "-b", benchmark["path"])
    assert not_run.exit_code == 2 and "not a run folder" in not_run.output and "Traceback" not in not_run.output
    steps = [{"drop_listed": {"ids": ["no.parquet"]}}]
    cfg = parse_pipeline({"name": "x", "inputs": [{"path": str(curated_run / "output")}], "steps": steps})
    with pytest.raises(ConfigError, match="id list 'no.parquet' does not exist"):
        run_pipeline(cfg, tmp_path / "x", workers=1, quiet=True)
    assert not (tmp_path / "x" / "completions").exists()  # failed before any task
