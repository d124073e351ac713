"""DSIR weight modes: chunk streams and document weights against plain-Python references, and the modes in runs."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.errors import ConfigError
from curator.pipeline.executor import run_pipeline
from curator.select.chunks import chunk_stream, document_log_weights, full_chunk_grams
from curator.text.ngrams import reference_ngram_buckets
from tests.select.test_dsir import config, docs_table, pool, report  # noqa: F401 - pool is a fixture

ROOT = Path(__file__).resolve().parents[2]


def _reference_chunks(tokens: list[int], ngrams: int, w: int, grams: list[int]) -> list[list[int]]:
    """Chunks of one document's stream: the grams (first token s, last token t) with s // w == t // w."""
    chunks = [[] for _ in range(math.ceil(len(tokens) / w))]
    p = 0
    for g in range(1, ngrams + 1):
        for t in range(g - 1, len(tokens)):
            if (t - g + 1) // w == t // w:
                chunks[t // w].append(grams[p])
            p += 1
    return chunks


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 40), max_size=6),
    st.integers(1, 4),
    st.integers(1, 12),
    st.randoms(use_true_random=False),
)
def test_chunk_stream_matches_a_plain_reference(token_counts, ngrams, w, rnd):
    streams = []
    for n in token_counts:
        size = sum(max(0, n - g + 1) for g in range(1, ngrams + 1))
        streams.append([rnd.randrange(1000) for _ in range(size)])
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in streams])]).astype(np.int64)
    buckets = np.array([b for s in streams for b in s], np.uint16)
    got_b, got_o, first = chunk_stream(buckets, offsets, ngrams, w)
    expected = [c for n, s in zip(token_counts, streams, strict=True) for c in _reference_chunks([0] * n, ngrams, w, s)]
    assert np.diff(first).tolist() == [math.ceil(n / w) for n in token_counts]
    assert [got_b[a:b].tolist() for a, b in zip(got_o[:-1], got_o[1:], strict=True)] == expected


def test_unknown_mode_in_the_function():
    with pytest.raises(ValueError, match="unknown weight mode 'bogus'"):
        document_log_weights(np.zeros(4), np.zeros(2, np.uint16), np.array([0, 2]), 2, "bogus", 8)


def _reference_weight(text: str, log_diff: np.ndarray, mode: str, w: int) -> float:
    """The mode's weight written out: chunks are cut from DSIR's tokens and featurised as separate texts."""
    grams = reference_ngram_buckets(text)
    if not grams:
        return 0.0
    if mode == "length_normalized":
        return float(np.mean(log_diff[grams])) * full_chunk_grams(w, 2)
    words = re.findall(r"\w+|[^\w\s]+", text.lower())
    pieces = [" ".join(words[i : i + w]) for i in range(0, len(words), w)]
    chunk_w = [float(np.mean(log_diff[reference_ngram_buckets(p)])) * full_chunk_grams(w, 2) for p in pieces]
    return float(np.log(np.mean(np.exp(np.array(chunk_w) - max(chunk_w))))) + max(chunk_w)


@pytest.mark.parametrize("mode", ["length_normalized", "chunk"])
def test_weights_equal_a_plain_reference(pool, tmp_path, mode):  # noqa: F811
    run = tmp_path / "run"
    run_pipeline(
        config(pool, "dsir_fit", heldout_fraction=0.0, weight=mode, chunk_words=64), run, workers=1, quiet=True
    )
    m = 10_000

    def counts(rows):
        return np.bincount([b for r in rows for b in reference_ngram_buckets(r["text"])], minlength=m)

    raw_c, tgt_c = counts(pool["raw"]), counts(pool["target"])
    log_diff = np.log(tgt_c / tgt_c.sum() + 1e-8) - np.log(raw_c / raw_c.sum() + 1e-8)
    docs = docs_table(run).to_pydict()
    ours = dict(zip(docs["id"], docs["dsir_log_weight"], strict=True))
    rows = [r for r in pool["raw"][::11] if r["text"].isascii()] + [r for r in pool["raw"] if not r["text"]]
    for row in rows:
        assert ours[row["id"]] == pytest.approx(_reference_weight(row["text"], log_diff, mode, 64), rel=1e-9, abs=1e-9)
    rep = report(run)
    assert rep["weight"] == mode and rep["chunk_words"] == 64
    assert abs(rep["log_weight"]["corr_with_length"]) < 0.5  # no longer driven by length


def test_chunk_mode_is_the_same_whatever_the_worker_count(pool, tmp_path):  # noqa: F811
    params = {"weight": "chunk", "chunk_words": 32}
    run_pipeline(config(pool, **params), tmp_path / "one", workers=1, quiet=True)
    run_pipeline(config(pool, **params), tmp_path / "two", workers=2, quiet=True)
    one = {str(p.relative_to(tmp_path / "one")): p.read_bytes() for p in (tmp_path / "one" / "output").rglob("*")}
    two = {str(p.relative_to(tmp_path / "two")): p.read_bytes() for p in (tmp_path / "two" / "output").rglob("*")}
    assert one == two
    assert docs_table(tmp_path / "one").equals(docs_table(tmp_path / "two"))
    rep = report(tmp_path / "one")
    assert rep == report(tmp_path / "two")
    per_chunk = rep["kl_selection"]["per_chunk"]["reduction_by"]
    assert per_chunk["gumbel"] > per_chunk["random"] and rep["kl"]["heldout_chunks"] > rep["kl"]["heldout_docs"]


def test_target_sources_keeps_only_those_target_documents(pool, tmp_path):  # noqa: F811
    others = [dict(r, id=f"x{i}") for i, r in enumerate(pool["raw"][:200]) if r["source"] != "man"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in pool["target"] + others))
    run_pipeline(config(pool, "dsir_fit", target=str(path), target_sources=["man"]), tmp_path / "a", quiet=True)
    run_pipeline(config(pool, "dsir_fit"), tmp_path / "b", quiet=True)
    assert report(tmp_path / "a")["target"]["other_sources_skipped"] == len(others) > 0
    weights = [docs_table(tmp_path / x).sort_by("id").column("dsir_log_weight") for x in "ab"]
    assert weights[0].equals(weights[1])  # the other documents left no trace


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"chunk_words": 0}, r"dsir_select\.chunk_words: Input should be greater than or equal to 1 \(got 0\)"),
        ({"weight": "per_token"}, r"dsir_select\.weight: .*'sum', 'length_normalized' or 'chunk'"),
        ({"target_sources": []}, r"dsir_select\.target_sources: .*at least 1 item"),
    ],
)
def test_bad_weight_parameters(pool, params, message):  # noqa: F811
    with pytest.raises(ConfigError, match=message):
        config(pool, **params)


@pytest.mark.slow
def test_the_shipped_recipe_reports_a_positive_kl_reduction(tmp_path):
    """`curator run pipelines/dsir.yaml` on a freshly built (smaller) sample corpus."""
    from curator.sample import build_sample

    build_sample(tmp_path / "data" / "sample", max_docs=2000, max_mb=6.0, shard_docs=250)
    shutil.copytree(ROOT / "pipelines", tmp_path / "pipelines")
    start = time.monotonic()
    cmd = [sys.executable, "-m", "curator", "run", "pipelines/dsir.yaml", "--out", "run", "-q"]
    done = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert done.returncode == 0, done.stderr
    rep = report(tmp_path / "run")
    assert rep["weight"] == "chunk" and time.monotonic() - start < 60
    sel = rep["kl_selection"]
    assert sel["reduction"] > 0 and sel["reduction_by"]["top_k"] > 0 and sel["per_chunk"]["reduction"] > 0
    assert sel["reduction"] > sel["reduction_by"]["random"]
    kept = pq.read_table(tmp_path / "run" / "output").column("source").to_pylist()
    pool_sources = docs_table(tmp_path / "run").column("source").to_pylist()
    assert kept.count("docs") / len(kept) > 3 * pool_sources.count("docs") / len(pool_sources)  # enriched
