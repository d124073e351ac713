"""A real token store written with the store writer: three domains of synthetic documents (EOS-terminated)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from curator.loader.store import TokenShardWriter, write_store_meta

EOS = 0
VOCAB = 5000


def write_store(
    root, domains: dict[str, list[int]], seed: int = 0, tokenizer_sha: str = "t" * 64, pow2: tuple[int, ...] = ()
):
    """Each domain: a list of shard sizes in documents; documents of 3..60 tokens (ids 1.. in a domain band),
    or with `pow2` exponents, Dataset Decomposition-like sequences of 2^i tokens (EOS only at some ends)."""
    rng = np.random.default_rng(seed)
    meta = {}
    for d, (name, shard_docs) in enumerate(domains.items()):
        shards, tokens, docs = [], 0, 0
        for task, n_docs in enumerate(shard_docs):
            writer = TokenShardWriter(root / "domains" / name / "tokens", task, np.uint16)
            lengths = 1 << rng.choice(pow2, n_docs) if pow2 else rng.integers(3, 60, n_docs)
            flat = rng.integers(1 + d * 1000, 1000 + d * 1000, int(lengths.sum())).astype(np.uint16)
            ends = np.cumsum(lengths) - 1
            flat[ends[rng.random(n_docs) < 0.5] if pow2 else ends] = EOS
            writer.write(flat, lengths)
            info = writer.close()
            shards.append(info)
            tokens += info["tokens"]
            docs += info["docs"]
        meta[name] = {"shards": shards, "tokens": tokens, "docs": docs, "source": {"paths": ["synthetic"]}}
    tokenizer = {"path": "synthetic", "sha256": tokenizer_sha, "vocab_size": VOCAB, "eos_id": EOS}
    write_store_meta(root, {"tokenizer": tokenizer, "dtype": "uint16", "domains": meta, "mixture": "test"})
    return root


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    return write_store(root, {"code": [300, 200], "prose": [400], "docs": [60, 60, 60]})


def mixture_file(tmp_path, store, **overrides):
    data = {
        "name": "t",
        "store": str(store),
        "seq_len": 32,
        "global_batch": 8,
        "horizon": 3,
        "seed": 7,
        "domains": [
            {"name": "code", "weight": 0.5},
            {"name": "prose", "weight": 0.3},
            {"name": "docs", "weight": 0.2, "max_epochs": 2},
        ],
    }
    data.update(overrides)
    path = tmp_path / "mixture.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="session")
def dd_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("dd_store")
    return write_store(root, {"code": [200, 100], "prose": [300], "docs": [80]}, pow2=(3, 4, 5, 6))


def take(loader, n: int) -> list[dict]:
    """The first `n` batches of a loader (a `for` loop broken off, as a training loop would)."""
    out = []
    for batch in loader:
        out.append(batch)
        if len(out) == n:
            break
    return out
