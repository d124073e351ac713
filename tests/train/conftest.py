"""A small synthetic store and a tiny training config (tens of thousands of parameters, one thread)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from curator.loader.store import TokenShardWriter, write_store_meta
from tests.loader.conftest import EOS, mixture_file

VOCAB = 256


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pattern_shard(folder, d: int, n_docs: int, rng) -> dict:
    writer = TokenShardWriter(folder, 0, np.uint16)
    lengths = rng.integers(8, 40, n_docs)
    docs = []
    for n in lengths:
        ids = 1 + d * 60 + (rng.integers(0, 60) + (d + 1) * np.arange(n - 1)) % 60
        docs.append(np.append(ids, EOS))
    writer.write(np.concatenate(docs).astype(np.uint16), lengths)
    return writer.close()


def write_pattern_store(root, domains: dict[str, int], seed: int = 0, heldout: int = 10):
    """Learnable documents: domain d counts upwards in steps of d + 1 through its own band of 60 token ids
    (from a random start, 8..40 tokens, then EOS); vocabulary VOCAB. `heldout` more documents per domain
    go to its held-out (validation) shard."""
    rng = np.random.default_rng(seed)
    meta = {}
    for d, (name, n_docs) in enumerate(domains.items()):
        folder = root / "domains" / name / "tokens"
        info = _pattern_shard(folder, d, n_docs, rng)
        meta[name] = {"shards": [info], "tokens": info["tokens"], "docs": info["docs"], "source": {"paths": ["x"]}}
        if heldout:
            held = _pattern_shard(folder / "heldout", d, heldout, rng)
            meta[name]["heldout"] = {"shards": [held], "tokens": held["tokens"], "docs": held["docs"]}
    tokenizer = {"path": "synthetic", "sha256": "p" * 64, "vocab_size": VOCAB, "eos_id": EOS}
    write_store_meta(root, {"tokenizer": tokenizer, "dtype": "uint16", "domains": meta, "mixture": "test"})
    return root


@pytest.fixture(scope="session")
def train_store(tmp_path_factory):
    return write_pattern_store(tmp_path_factory.mktemp("train_store"), {"code": 200, "prose": 150, "docs": 60})


@pytest.fixture
def mixture(tmp_path, train_store):
    return mixture_file(tmp_path, train_store, seq_len=16, global_batch=4)


def train_config(mixture, **overrides) -> dict:
    """A raw training config: d_model 32, one layer, 40 steps, no warmup to speak of."""
    data = {
        "mixture": str(mixture),
        "model": {"d_model": 32, "n_layers": 1, "n_heads": 2},
        "steps": 40,
        "lr": 1e-2,
        "warmup_steps": 2,
        "eval_every": 10,
        "eval_samples": 8,
        "checkpoint_every": 10,
        "keep_checkpoints": None,
    }
    data.update(overrides)
    return data


def write_config(path, data: dict):
    path.write_text(yaml.safe_dump(data))
    return path


__all__ = ["VOCAB", "train_config", "write_config"]
