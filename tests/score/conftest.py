"""A real proxy LM for the loss steps: the sample corpus -> a curation run -> a token store (`build_store`, the
session BPE tokenizer of tests/buckets) -> a tiny GPT trained by `curator.train.train()` -> its checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from curator.loader.build import build_store
from curator.loader.mixture import parse_mixture
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.train import train
from tests.buckets.conftest import tokenizer  # noqa: F401 - the shared session tokenizer fixture
from tests.train.conftest import _one_thread, train_config, write_config  # noqa: F401 - one torch thread

DOMAINS = ("code", "prose", "docs", "man")
SEQ_LEN = 64


def pipeline(inputs: list[str], steps: list, **extra) -> object:
    """A parsed pipeline over `inputs` (paths or globs)."""
    return parse_pipeline({"name": "loss-test", "inputs": [{"path": p} for p in inputs], "steps": steps, **extra})


@pytest.fixture(scope="session")
def loss_world(sample_corpus, tokenizer, tmp_path_factory) -> dict:  # noqa: F811
    """{corpus, tokenizer, run, store, mixture, train_run, checkpoint}: built once per session (~20 s)."""
    root = tmp_path_factory.mktemp("loss")
    run = root / "quickstart"
    run_pipeline(pipeline([str(sample_corpus / "*.jsonl.zst")], []), run, workers=1, quiet=True)
    store = root / "store"
    mixture = {
        "name": "loss-test",
        "store": str(store),
        "tokenizer": str(tokenizer),
        "seq_len": SEQ_LEN,
        "global_batch": 8,
        "domains": [
            {"name": d, "weight": 0.25, "from": {"run": str(run), "where": f"source = '{d}'"}} for d in DOMAINS
        ],
    }
    build_store(parse_mixture(mixture), workers=1, quiet=True)
    mixture_path = write_config(root / "mixture.yaml", mixture)
    train_run = root / "train"
    config = train_config(mixture_path, steps=30, eval_every=0, checkpoint_every=15, lr=1e-2)
    train(config, train_run)
    checkpoint = train_run / "checkpoints" / "step-000030.pt"
    assert checkpoint.is_file()
    return {
        "corpus": Path(sample_corpus),
        "tokenizer": Path(tokenizer),
        "run": run,
        "store": store,
        "mixture": mixture_path,
        "train_run": train_run,
        "checkpoint": checkpoint,
    }
