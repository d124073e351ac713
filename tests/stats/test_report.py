"""`curator stats`: the corpus report agrees with the stats table counted independently; bad runs fail cleanly."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter

import pyarrow.parquet as pq
from typer.testing import CliRunner

from curator.cli import app
from curator.stats.render import markdown
from curator.stats.report import corpus_report

STEPS = ["normalize_text", "length_filter", "exact_dedup", "minhash_dedup", "language_id", "gopher_quality"]


def docs_rows(run):
    return pq.read_table(run / "stats" / "docs.parquet").to_pylist()


def test_flow_and_funnel_match_the_docs_table(curated_run):
    report = corpus_report(curated_run)
    docs = docs_rows(curated_run)
    summary = json.loads((curated_run / "stats" / "summary.json").read_text())
    assert report["totals"]["read"] == len(docs) == summary["records"] - summary["rejected_docs"]
    assert report["totals"]["kept"] == summary["kept"] == sum(d["kept"] for d in docs)
    assert [f["after"] for f in report["flow"]] == ["read", *STEPS]
    for i, stage in enumerate(report["flow"]):
        gone = set(STEPS[:i])
        for source, counts in stage["sources"].items():
            alive = [d for d in docs if d["source"] == source and d["drop_step"] not in gone]
            assert counts["docs"] == len(alive) and counts["bytes"] == sum(d["n_bytes"] for d in alive)
    by_reason = Counter((d["drop_step"], d["drop_reason"]) for d in docs if not d["kept"])
    assert {(r["step"], r["reason"]): r["docs"] for r in report["drops"]} == dict(by_reason)
    assert report["totals"]["rejected_records"] == report["totals"]["rejected_docs"] == 1  # the malformed line


def test_duplicates_languages_histograms_scores(curated_run):
    report = corpus_report(curated_run)
    docs = docs_rows(curated_run)
    exact, near = report["dedup"]
    assert (exact["kind"], near["kind"]) == ("exact", "near")
    entering = [d for d in docs if d["drop_step"] not in {"normalize_text", "length_filter"}]
    assert exact["entering"] == len(entering)
    assert exact["duplicates"] == sum(d["drop_reason"] == "exact_dup" for d in docs) > 0
    assert math.isclose(exact["rate"], exact["duplicates"] / exact["entering"])
    assert near["clusters"] >= 1 and near["largest"] >= 2
    with_lang = [d for d in docs if d["lang"] is not None]
    assert sum(v["docs"] for langs in report["languages"].values() for v in langs.values()) == len(with_lang)
    hist = report["histograms"]["bytes"]
    assert sum(v["docs"] for h in hist.values() for v in h.values()) == len(docs)
    for source, h in hist.items():
        for b, v in h.items():
            want = [d for d in docs if d["source"] == source and 2**b <= max(d["n_bytes"], 1) < 2 ** (b + 1)]
            assert v["docs"] == len(want) and v["kept"] == sum(d["kept"] for d in want)
    scores = report["scores"]
    assert {"lang_score", "alpha_word_frac", "content_words", "stop_words"} <= set(scores)  # integer scores too
    assert not {"n_words", "dup_cluster_size"} & set(scores)  # lengths and bookkeeping are not scores
    values = sorted(d["alpha_word_frac"] for d in docs if d["alpha_word_frac"] is not None)
    assert scores["alpha_word_frac"]["n"] == len(values)
    assert math.isclose(
        scores["alpha_word_frac"]["quantiles"]["p50"], (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2
    )  # noqa: E501
    assert all(sum(c) for c in scores["lang_score"]["histogram"]["counts"].values())


def test_extremes_point_at_their_rows(curated_run):
    report = corpus_report(curated_run)
    docs = docs_rows(curated_run)
    kept = sorted(d["n_bytes"] for d in docs if d["kept"])
    ext = report["extremes"]
    assert [r["n_bytes"] for r in ext["shortest_kept"]] == kept[:5]
    assert [r["n_bytes"] for r in ext["longest_kept"]] == kept[::-1][:5]
    assert ext["shortest_read"][0]["n_bytes"] == min(d["n_bytes"] for d in docs)
    for row in ext["longest_kept"]:
        ids = pq.read_table(curated_run / row["output"], columns=["id"]).column("id").to_pylist()
        assert row["id"] in ids
    assert "## Drop funnel" in markdown(report) and "exact_dup" in markdown(report)


def test_cli_writes_markdown_json_png(curated_run, tmp_path):
    result = CliRunner().invoke(app, ["stats", str(curated_run), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "# Corpus report" in result.output and "Language mix" in result.output
    assert (tmp_path / "stats.md").read_text().startswith("# Corpus report")
    assert json.loads((tmp_path / "stats.json").read_text())["totals"]["read"] > 0
    assert (tmp_path / "stats.png").read_bytes()[:4] == b"\x89PNG"


def test_report_needs_no_text(curated_run, tmp_path):
    """Only the stats tables are read: a run whose output/ is gone still reports (pointers empty)."""
    run = tmp_path / "run"
    shutil.copytree(curated_run, run, ignore=shutil.ignore_patterns("output"))
    report = corpus_report(run)
    assert report["totals"] == corpus_report(curated_run)["totals"]
    assert all(r["output"] is None for r in report["extremes"]["longest_kept"])


def test_interrupted_run_and_non_run_folder(curated_run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(curated_run, partial)
    (partial / "stats" / "docs.parquet").unlink()
    result = CliRunner().invoke(app, ["stats", str(partial), "--no-plot"])
    assert result.exit_code == 0 and "the run did not finish" in result.output
    result = CliRunner().invoke(app, ["stats", str(tmp_path)])
    assert result.exit_code == 2 and "not a run folder" in result.output and "Traceback" not in result.output


def test_a_step_that_appears_twice_is_reported_at_each_position(tmp_path):
    """Flow, funnel and dedup rows are keyed by position: `length_filter` before and after `exact_dedup`."""
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline
    from tests.conftest import synthetic_docs, write_jsonl

    docs = synthetic_docs(300, seed=3, source="s")
    write_jsonl(tmp_path / "in.jsonl", docs + [{**d, "id": d["id"] + "-copy"} for d in docs[:40]])
    steps = [{"length_filter": {"min_words": 5}}, "exact_dedup", {"length_filter": {"min_words": 25}}]
    config = parse_pipeline({"inputs": [{"path": str(tmp_path / "in.jsonl")}], "steps": steps})
    summary = run_pipeline(config, tmp_path / "run", workers=1, quiet=True)
    report = corpus_report(tmp_path / "run")
    assert report["totals"]["kept"] == summary.kept and report["totals"]["read"] == summary.records
    counts = [sum(v["docs"] for v in f["sources"].values()) for f in report["flow"]]
    assert counts == sorted(counts, reverse=True) and min(counts) >= 0
    assert [f["after"] for f in report["flow"]] == ["read", "length_filter (1)", "exact_dedup", "length_filter (3)"]
    by_step = {d["step"]: d["docs"] for d in report["drops"]}
    table = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()
    for position, label in ((1, "length_filter (1)"), (3, "length_filter (3)")):
        assert by_step[label] == sum(1 for d in table if d["drop_step_index"] == position)
    (dedup,) = report["dedup"]
    assert dedup["entering"] == counts[1] and dedup["duplicates"] == counts[1] - counts[2]
