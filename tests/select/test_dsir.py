"""DSIR steps on a small real corpus: selection quality, reference weights, determinism, resume, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curator.errors import ConfigError, RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.select.dsir import DsirSelect
from curator.stats.conformance import check_run
from curator.stats.views import connect
from curator.text.ngrams import reference_ngram_buckets
from tests.conftest import write_jsonl


def _sample_docs(sample: Path) -> list[dict]:
    docs = []
    for path in sorted(sample.glob("*.jsonl.zst")):
        for line in zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read().decode().splitlines():
            docs.append(json.loads(line))
    return docs


@pytest.fixture(scope="module")
def pool(sample_corpus, tmp_path_factory) -> dict:
    """Raw pool (4 JSONL files, ~1k-char chunks of the sample) and a disjoint target of man-page chunks."""
    root = tmp_path_factory.mktemp("dsir")
    raw, target = [], []
    for n, doc in enumerate(_sample_docs(sample_corpus)):
        for i in range(0, len(doc["text"]), 1000):
            row = {"id": f"{doc['id']}#{i}", "source": doc["source"], "text": doc["text"][i : i + 1000]}
            (target if doc["source"] == "man" and n % 2 == 0 else raw).append(row)
    raw.append({"id": "empty-doc", "source": "prose", "text": ""})
    for f in range(4):
        write_jsonl(root / "raw" / f"part-{f}.jsonl", raw[f::4])
    write_jsonl(root / "target.jsonl", target)
    return {"root": root, "raw": raw, "target": target}


def config(pool: dict, step: str = "dsir_select", inputs: str | None = None, **params) -> object:
    params = {"target": str(pool["root"] / "target.jsonl"), **params}
    if step == "dsir_select" and "k" not in params and "fraction" not in params:
        params["fraction"] = 0.3  # on a pool this small, 10 % leaves buckets empty that KL punishes
    data = {"name": "dsir-test", "inputs": [{"path": inputs or str(pool["root"] / "raw")}], "steps": [{step: params}]}
    return parse_pipeline(data, "test")


def report(out: Path) -> dict:
    return json.loads(next((out / "stats").glob("*dsir*.json")).read_text())


def docs_table(out: Path) -> pa.Table:
    return pq.read_table(out / "stats" / "docs.parquet")


def test_selection_moves_toward_the_target(pool, tmp_path):
    summary = run_pipeline(config(pool), tmp_path / "run", workers=1, quiet=True)
    rep = report(tmp_path / "run")
    raw_man = sum(r["source"] == "man" for r in pool["raw"]) / len(pool["raw"])
    kept = pq.read_table(tmp_path / "run" / "output").column("source").to_pylist()
    assert summary.kept == rep["k"] == int(0.3 * len(pool["raw"])) == len(kept)
    assert kept.count("man") / len(kept) > 2 * raw_man  # enriched in the target's kind of text
    kl = rep["kl_selection"]["reduction_by"]
    assert kl["gumbel"] > 0.05 and kl["gumbel"] > kl["random"] + 0.05
    assert rep["kl"]["heldout_docs"] == int(np.ceil(0.1 * len(pool["target"])))
    assert 1.0 <= rep["log_weight"]["ess"] <= rep["eligible"]
    docs = docs_table(tmp_path / "run")
    assert docs.num_rows == len(pool["raw"]) and docs.column("dsir_log_weight").null_count == 0
    short = docs.filter(pa.compute.equal(docs.column("drop_reason"), "dsir_short"))
    assert short.num_rows >= 1 and short.column("dsir_key").null_count == short.num_rows
    assert max(short.column("dsir_length").to_pylist()) < 100
    assert summary.dropped_by_reason["dsir_not_selected"] == rep["eligible"] - rep["k"]
    assert check_run(tmp_path / "run")[1] == []  # the tables match schemas/ (dsir_weights columns included)
    con, _, views = connect([tmp_path / "run"])
    assert con.sql("SELECT count(*), sum(dsir_copies) FROM dsir_weights").fetchall() == [(docs.num_rows, rep["k"])]


def test_weights_equal_data_selections_computation(pool, tmp_path):
    """Raw and target fitted on everything, log w = log_diff . counts, as data-selection 1.0.3 computes it."""
    run_pipeline(config(pool, "dsir_fit", heldout_fraction=0.0), tmp_path / "run", workers=1, quiet=True)
    m = 10_000

    def counts(rows):
        return np.bincount([b for r in rows for b in reference_ngram_buckets(r["text"])], minlength=m)

    raw_c, tgt_c = counts(pool["raw"]), counts(pool["target"])
    log_diff = np.log(tgt_c / tgt_c.sum() + 1e-8) - np.log(raw_c / raw_c.sum() + 1e-8)
    docs = docs_table(tmp_path / "run").to_pydict()
    ours = dict(zip(docs["id"], docs["dsir_log_weight"], strict=True))
    lengths = dict(zip(docs["id"], docs["dsir_length"], strict=True))
    for row in pool["raw"][::7]:
        grams = reference_ngram_buckets(row["text"])
        expected = float(np.dot(log_diff, np.bincount(grams, minlength=m)))
        assert ours[row["id"]] == pytest.approx(expected, rel=1e-9, abs=1e-6)
        assert lengths[row["id"]] == (len(grams) + 1) // 2
    assert docs_table(tmp_path / "run").filter(pa.compute.invert(docs_table(tmp_path / "run")["kept"])).num_rows == 0


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.parquet"))}


@pytest.mark.slow
def test_same_selection_whatever_the_worker_count(pool, tmp_path):
    run_pipeline(config(pool), tmp_path / "one", workers=1, quiet=True)
    run_pipeline(config(pool), tmp_path / "two", workers=2, quiet=True)
    assert _files(tmp_path / "one" / "output") == _files(tmp_path / "two" / "output")
    assert docs_table(tmp_path / "one").equals(docs_table(tmp_path / "two"))
    assert report(tmp_path / "one") == report(tmp_path / "two")


def test_seed_changes_the_gumbel_draw_not_the_weights(pool, tmp_path):
    run_pipeline(config(pool, seed=1, temperature=50.0), tmp_path / "a", workers=1, quiet=True)
    run_pipeline(config(pool, seed=2, temperature=50.0), tmp_path / "b", workers=1, quiet=True)
    a, b = docs_table(tmp_path / "a").sort_by("id"), docs_table(tmp_path / "b").sort_by("id")
    assert a.column("dsir_log_weight").equals(b.column("dsir_log_weight"))
    assert a.column("kept").to_pylist() != b.column("kept").to_pylist()


def test_top_k_keeps_the_largest_weights_and_temperature_spreads_ess(pool, tmp_path):
    run_pipeline(config(pool, method="top_k", k=50, temperature=4.0), tmp_path / "run", workers=1, quiet=True)
    docs = docs_table(tmp_path / "run").to_pandas()
    eligible = docs[docs.dsir_length >= 100]
    assert set(docs[docs.kept].id) == set(eligible.nlargest(50, "dsir_log_weight").id)
    rep = report(tmp_path / "run")
    assert rep["ess_at_temperature"] > rep["log_weight"]["ess"]


def test_sampling_with_replacement_counts_copies(pool, tmp_path):
    run_pipeline(config(pool, method="replacement", k=300, temperature=30.0), tmp_path / "run", workers=1, quiet=True)
    docs = docs_table(tmp_path / "run").to_pandas()
    assert docs.dsir_copies.sum() == 300
    assert (docs[docs.kept].dsir_copies >= 1).all() and (docs[~docs.kept].dsir_copies == 0).all()
    assert report(tmp_path / "run")["selected_docs"] == int(docs.kept.sum())


@pytest.mark.slow
def test_fastText_comparison_row(pool, tmp_path):
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    model = tmp_path / "cmp.bin"
    root = pool["root"]
    inputs = [LabelledInput([str(root / "target.jsonl")], "target"), LabelledInput([str(root / "raw")], "raw")]
    train_classifier(inputs, model, TrainSettings(epoch=20), positive="target")
    run_pipeline(config(pool, compare_model=str(model)), tmp_path / "run", workers=1, quiet=True)
    by = report(tmp_path / "run")["kl_selection"]["reduction_by"]
    assert by["fasttext"] > by["random"] + 0.05
    scores = docs_table(tmp_path / "run").column("dsir_fasttext_score")
    assert scores.null_count == 0
    with pytest.raises(ConfigError, match="label 'hq' is not one of the model's labels: "):
        bad = config(pool, compare_model=str(model), compare_label="hq")
        run_pipeline(bad, tmp_path / "bad", workers=1, quiet=True)


@pytest.mark.slow
def test_target_as_parquet_and_hf_dataset_give_the_same_weights(pool, tmp_path):
    import datasets

    table = pa.Table.from_pylist(pool["target"])
    pq.write_table(table, tmp_path / "target.parquet")
    datasets.Dataset(table).save_to_disk(str(tmp_path / "target_hf"))
    weights = []
    for i, target in enumerate([pool["root"] / "target.jsonl", tmp_path / "target.parquet", tmp_path / "target_hf"]):
        run_pipeline(config(pool, "dsir_fit", target=str(target)), tmp_path / f"run{i}", workers=1, quiet=True)
        weights.append(docs_table(tmp_path / f"run{i}").column("dsir_log_weight"))
    assert weights[0].equals(weights[1]) and weights[0].equals(weights[2])


def test_prefix_fit_like_num_tokens_to_fit(pool, tmp_path):
    run_pipeline(config(pool, "dsir_fit", raw_fit_grams=20_000), tmp_path / "run", workers=1, quiet=True)
    rep = report(tmp_path / "run")
    assert 20_000 <= rep["raw_fit_grams"] < rep["grams"] / 4


def test_interrupted_resolve_resumes_to_the_same_result(pool, tmp_path, monkeypatch):
    run_pipeline(config(pool), tmp_path / "clean", workers=1, quiet=True)
    original = DsirSelect.select

    def crash(self, *args, **kwargs):
        raise RuntimeError("killed")

    monkeypatch.setattr(DsirSelect, "select", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run_pipeline(config(pool), tmp_path / "run", workers=1, quiet=True)
    assert not (tmp_path / "run" / "output").exists() or not any((tmp_path / "run" / "output").iterdir())
    monkeypatch.setattr(DsirSelect, "select", original)
    run_pipeline(config(pool), tmp_path / "run", workers=1, quiet=True)
    assert _files(tmp_path / "clean" / "output") == _files(tmp_path / "run" / "output")


# -- bad input ---------------------------------------------------------------------------------------------


def test_target_with_too_few_documents(pool, tmp_path):
    write_jsonl(tmp_path / "tiny.jsonl", pool["target"][:3] + [{"id": "e", "text": ""}])
    with pytest.raises(RunError, match=r"has 3 document\(s\) with at least one token.*min_target_docs=10"):
        run_pipeline(config(pool, target=str(tmp_path / "tiny.jsonl")), tmp_path / "run", workers=1, quiet=True)


def test_target_with_bad_lines_is_read_and_rejects_counted(pool, tmp_path):
    lines = [json.dumps(r).encode() for r in pool["target"]] + [b"{not json", b'{"id": 1, "text": 5}']
    write_jsonl(tmp_path / "t.jsonl", lines)
    run_pipeline(config(pool, "dsir_fit", target=str(tmp_path / "t.jsonl")), tmp_path / "run", workers=1, quiet=True)
    assert report(tmp_path / "run")["target"]["rejected"] == 2


def test_k_larger_than_the_eligible_pool(pool, tmp_path):
    with pytest.raises(RunError, match=r"k=5,000 but only [0-9,]+ of [0-9,]+ documents are eligible"):
        run_pipeline(config(pool, k=5000), tmp_path / "run", workers=1, quiet=True)
    summary = run_pipeline(config(pool, k=5000, allow_fewer=True), tmp_path / "ok", workers=1, quiet=True)
    rep = report(tmp_path / "ok")
    assert summary.kept == rep["eligible"] == rep["k"] and "exceeds" in rep["note"]


def test_pool_without_an_eligible_document(pool, tmp_path):
    write_jsonl(tmp_path / "short.jsonl", [{"id": str(i), "text": "too short " * i} for i in range(20)])
    with pytest.raises(RunError, match=r"no eligible document: all 20 are shorter than min_length=100"):
        run_pipeline(config(pool, inputs=str(tmp_path / "short.jsonl")), tmp_path / "run", workers=1, quiet=True)


def test_pool_of_empty_documents(pool, tmp_path):
    write_jsonl(tmp_path / "empty.jsonl", [{"id": str(i), "text": " " * i} for i in range(5)])
    with pytest.raises(RunError, match="none of the 5 documents has a token"):
        run_pipeline(config(pool, inputs=str(tmp_path / "empty.jsonl")), tmp_path / "run", workers=1, quiet=True)


def test_config_errors(pool, tmp_path):
    with pytest.raises(ConfigError, match="exactly one of k"):
        config(pool, k=5, fraction=0.5)
    with pytest.raises(ConfigError, match="exactly one of k"):
        config(pool, "dsir_select", k=None, fraction=None)
    with pytest.raises(ConfigError, match="quality train"):
        config(pool, compare_model=str(tmp_path / "missing.bin"))
    with pytest.raises(ConfigError, match="dsir_select target: input path .*nope.jsonl' does not exist"):
        run_pipeline(config(pool, target=str(tmp_path / "nope.jsonl")), tmp_path / "run", workers=1, quiet=True)


# -- command line ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_dsir_prints_the_report(pool, tmp_path):
    from typer.testing import CliRunner

    from curator.cli import app

    args = ["dsir", "--input", str(pool["root"] / "raw"), "--target", str(pool["root"] / "target.jsonl")]
    result = CliRunner().invoke(app, [*args, "--fraction", "0.3", "--out", str(tmp_path / "run"), "-q"])
    assert result.exit_code == 0, result.output
    assert "KL reduction at k=" in result.output and "gumbel +" in result.output
    counts = result.output.splitlines()[0]  # -q keeps the counts line, then the report
    assert " documents: " in counts and " kept, " in counts and " rejected" in counts
    assert "rows in" not in result.output  # no step table
    bad = CliRunner().invoke(app, [*args, "--k", "100000", "--out", str(tmp_path / "bad"), "-q"])
    assert bad.exit_code == 1 and "error: dsir_select: k=100,000 but only" in bad.output
    assert "Traceback" not in bad.output
