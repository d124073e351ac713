"""Tokenise + decompose a small real corpus: exact reassembly from the shards, accounting, determinism,
resume, the torch loader path, the report, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import zstandard
from typer.testing import CliRunner

from curator.buckets.dd_step import DatasetDecomposition
from curator.buckets.tokenizer import load_tokenizer, train_tokenizer
from curator.cli import app
from curator.errors import ConfigError, RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.side_input import side_input_batches
from curator.stats.conformance import check_run
from tests.buckets.conftest import MAX_B, MIN_B, config


def _texts(sample: Path) -> dict[str, str]:
    docs = {}
    for path in sorted(sample.glob("*.jsonl.zst")):
        for line in zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read().decode().splitlines():
            d = json.loads(line)
            docs[d["id"]] = d["text"]
    return docs


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tokenizer_training_is_deterministic(sample_corpus, tokenizer, tmp_path):
    again = tmp_path / "again.json"
    train_tokenizer(side_input_batches(str(sample_corpus / "*.jsonl.zst")), again, vocab_size=1024)
    assert again.read_bytes() == tokenizer.read_bytes()
    tok = load_tokenizer(again)
    assert tok.get_vocab_size() == 1024 and tok.token_to_id("<|endoftext|>") is not None


def test_pieces_reassemble_every_document_from_the_shards(run, sample_corpus, tokenizer):
    from curator.buckets.shards import BucketStore

    store = BucketStore(run)
    tok = load_tokenizer(tokenizer)
    eos = tok.token_to_id("<|endoftext|>")
    texts = _texts(sample_corpus)
    pieces = store.pieces().to_pylist()
    assert store.dtype == np.uint16 and set(store.buckets) <= set(range(MIN_B, MAX_B + 1))
    by_doc: dict[str, list] = {}
    for p in pieces:
        by_doc.setdefault(p["id"], []).append(p)
    stats = {r["id"]: r for r in pq.read_table(run / "stats" / "docs.parquet").to_pylist()}
    for doc_id, parts in by_doc.items():
        ids = tok.encode(texts[doc_id], add_special_tokens=False).ids + [eos]
        parts.sort(key=lambda p: p["offset"])
        joined = np.concatenate([store.sequence(p["bucket"], p["seq"]) for p in parts])
        assert joined.tolist() == ids[: len(joined)]  # exact, in order, from token 0
        row = stats[doc_id]
        assert row["n_tokens"] == len(ids) and row["dd_tokens"] == len(joined)
        assert row["dd_dropped_tokens"] == len(ids) - len(joined) < (1 << MIN_B)
    assert sum(len(v) for v in by_doc.values()) == sum(store.counts().values())


def test_every_document_is_accounted_for(run):
    docs = pq.read_table(run / "stats" / "docs.parquet").to_pylist()
    summary = json.loads((run / "stats" / "summary.json").read_text())
    dropped = [d for d in docs if not d["kept"]]
    assert all(d["drop_reason"] == "dd_below_min_bucket" and d["n_tokens"] < (1 << MIN_B) for d in dropped)
    assert all(d["dd_pieces"] >= 1 for d in docs if d["kept"])
    assert summary["kept"] == sum(d["kept"] for d in docs) == pq.read_table(run / "output").num_rows
    from curator.buckets.shards import BucketStore

    assert BucketStore(run).tokens() == sum(d["dd_tokens"] for d in docs if d["kept"])
    checked, problems = check_run(run)
    assert problems == [] and any(c.startswith("buckets") for c in checked)


@pytest.mark.slow
def test_byte_identical_shards_with_two_workers(run, sample_corpus, tokenizer, tmp_path):
    run_pipeline(config(sample_corpus, tokenizer), tmp_path / "two", workers=2, quiet=True)
    assert _files(run / "buckets") == _files(tmp_path / "two" / "buckets")


@pytest.mark.slow
def test_random_long_document_rule_is_seeded(sample_corpus, tokenizer, tmp_path):
    run_pipeline(config(sample_corpus, tokenizer, long_docs="random"), tmp_path / "a", workers=1, quiet=True)
    run_pipeline(config(sample_corpus, tokenizer, long_docs="random"), tmp_path / "b", workers=1, quiet=True)
    assert _files(tmp_path / "a" / "buckets") == _files(tmp_path / "b" / "buckets")


def test_interrupted_task_leaves_no_shards_and_resumes_identically(
    run, sample_corpus, tokenizer, tmp_path, monkeypatch
):
    original = DatasetDecomposition._decompose_batch
    calls = {"n": 0}

    def crash_third_batch(self, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return original(self, batch)

    monkeypatch.setattr(DatasetDecomposition, "_decompose_batch", crash_third_batch)
    with pytest.raises(RunError, match="task 2 .* failed: RuntimeError: killed"):
        run_pipeline(config(sample_corpus, tokenizer), tmp_path / "run", workers=1, quiet=True)
    assert not (tmp_path / "run" / "buckets" / "task-00002").exists()
    assert not any(p.name.startswith(".tmp-") for p in (tmp_path / "run" / "buckets").iterdir())
    monkeypatch.setattr(DatasetDecomposition, "_decompose_batch", original)
    run_pipeline(config(sample_corpus, tokenizer), tmp_path / "run", workers=1, quiet=True)
    assert _files(run / "buckets") == _files(tmp_path / "run" / "buckets")


def test_torch_dataloader_over_the_sampler(run):
    from curator.buckets.dataset import BucketDataset
    from curator.buckets.sampler import BucketBatchSampler
    from curator.buckets.shards import BucketStore

    store = BucketStore(run)
    sampler = BucketBatchSampler(store.counts(), batch_size=1, curriculum="grow_p2", seed=0)
    dataset = BucketDataset(run)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=BucketDataset.collate,
                                         num_workers=1)  # fmt: skip
    batches = list(loader)
    assert len(batches) == len(sampler)
    for b in batches:
        assert b["input_ids"].shape == ((1 << MAX_B) >> b["bucket"], 1 << b["bucket"])
        assert b["input_ids"].numel() == sampler.tokens_per_step
    # the same rows as reading the store directly
    first = batches[0]
    bucket, idx = first["bucket"], (first["keys"] & ((1 << 40) - 1)).numpy()
    assert np.array_equal(first["input_ids"].numpy(), store.batch(bucket, idx).astype(np.int64))


def test_report_cli(run, tmp_path):
    result = CliRunner().invoke(app, ["buckets", "report", str(run), "--context", "512", "--min-bucket", "5",
                                      "--out", str(tmp_path)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dd_32-512" in result.output and "this run's buckets" in result.output
    assert "length histogram (documents per log2 bin of tokens)" in result.output
    report = json.loads((tmp_path / "buckets.json").read_text())
    rows = {r["method"]: r for r in report["contexts"]["512"]["all"]}
    # the report's decomposition of the run's lengths is what the step wrote
    realised = sum(v["tokens"] for v in report["realised"]["buckets"].values())
    assert rows["dd_32-512"]["kept_tokens"] == realised
    assert rows["concat_chunk"]["relative_cost"] == pytest.approx(1.0)
    assert (tmp_path / "buckets.png").stat().st_size > 10_000 and (tmp_path / "buckets.md").exists()


# -- bad input ---------------------------------------------------------------------------------------------


def test_decomposition_without_tokenize_or_not_last(sample_corpus, tokenizer):
    data = {"inputs": [{"path": str(sample_corpus)}], "steps": ["dataset_decomposition"]}
    with pytest.raises(ConfigError, match=r"steps\[0\].dataset_decomposition: needs column 'tokens'"):
        parse_pipeline(data)
    data["steps"] = [{"tokenize": {"tokenizer": str(tokenizer)}}, "dataset_decomposition", "exact_dedup"]
    with pytest.raises(ConfigError, match="must be the last step"):
        parse_pipeline(data)
    data["steps"] = [
        {"tokenize": {"tokenizer": str(tokenizer)}},
        {"dataset_decomposition": {"min_bucket": 9, "max_bucket": 8}},
    ]
    with pytest.raises(ConfigError, match=r"min_bucket \(9\) is above max_bucket \(8\)"):
        parse_pipeline(data)


def test_missing_or_broken_tokenizer(sample_corpus, tokenizer, tmp_path):
    with pytest.raises(ConfigError, match="tokenizer file .* not found; train one with `curator tokenizer train"):
        run_pipeline(config(sample_corpus, tmp_path / "nope.json"), tmp_path / "run", workers=1, quiet=True)
    assert not (tmp_path / "run").exists()  # refused before the run folder was made
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not a tokenizer.json file"):
        run_pipeline(config(sample_corpus, tmp_path / "bad.json"), tmp_path / "run", workers=1, quiet=True)
    cfg = config(sample_corpus, tokenizer)
    cfg.steps[0]["tokenize"]["eos_token"] = "<eos>"
    with pytest.raises(ConfigError, match=r"no end-of-document token \['<eos>'\]; its special tokens: \['<\|endoftext"):
        run_pipeline(cfg, tmp_path / "run", workers=1, quiet=True)


def test_report_on_a_run_without_tokens(sample_corpus, tmp_path):
    run_pipeline(parse_pipeline({"inputs": [{"path": str(sample_corpus / "*.jsonl.zst")}]}), tmp_path / "r",
                 workers=1, quiet=True)  # fmt: skip
    result = CliRunner().invoke(app, ["buckets", "report", str(tmp_path / "r")])
    assert result.exit_code == 1 and "no n_tokens column: the run had no `tokenize` step" in result.output
    result = CliRunner().invoke(app, ["buckets", "report", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "does not exist; give the folder passed to `curator run --out`" in result.output


def test_tokenizer_train_cli(sample_corpus, tmp_path):
    out = tmp_path / "t.json"
    result = CliRunner().invoke(app, ["tokenizer", "train", str(sample_corpus / "*.jsonl.zst"), "--out", str(out),
                                      "--vocab-size", "300", "--max-docs", "50"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "300 tokens, trained on 50 documents" in result.output
    result = CliRunner().invoke(app, ["tokenizer", "train", str(tmp_path / "none.jsonl"), "--out", str(out)])
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_store_refuses_a_truncated_shard_and_bad_indices(run, tmp_path):
    import shutil

    from curator.buckets.shards import BucketStore
    from curator.errors import RunError

    store = BucketStore(run)
    bucket = store.buckets[0]
    with pytest.raises(IndexError, match=f"bucket {bucket} holds"):
        store.batch(bucket, np.array([store.counts()[bucket]]))
    with pytest.raises(KeyError, match="is empty; buckets with data"):
        store.batch(30, np.array([0]))
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    shard = next((copy / "buckets" / "task-00000").glob("D*.u16"))
    shard.write_bytes(shard.read_bytes()[:-2])  # a truncated file: half a token short
    with pytest.raises(RunError, match="is not a whole number of .*-token sequences"):
        BucketStore(copy)
    with pytest.raises(RunError, match="has no buckets/ folder"):
        BucketStore(tmp_path)
