"""A real Dataset Decomposition run over the sample corpus (tokenize + dataset_decomposition), built once per
session for the pipeline and the loader tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator.buckets.tokenizer import train_tokenizer
from curator.pipeline.config import PipelineConfig, parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.side_input import side_input_batches

MIN_B, MAX_B = 5, 9


def config(sample: Path, tokenizer: Path, **dd) -> PipelineConfig:
    steps = [{"tokenize": {"tokenizer": str(tokenizer)}},
             {"dataset_decomposition": {"min_bucket": MIN_B, "max_bucket": MAX_B, **dd}}]  # fmt: skip
    return parse_pipeline({"name": "dd-test", "inputs": [{"path": str(sample / "*.jsonl.zst")}], "steps": steps})


@pytest.fixture(scope="session")
def tokenizer(sample_corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    train_tokenizer(side_input_batches(str(sample_corpus / "*.jsonl.zst")), out, vocab_size=1024)
    return out


@pytest.fixture(scope="session")
def run(sample_corpus, tokenizer, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ddrun") / "run"
    run_pipeline(config(sample_corpus, tokenizer), out, workers=1, quiet=True)
    return out
