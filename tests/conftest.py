"""Shared fixtures: small JSONL/Parquet writers, synthetic documents with known properties, a tiny sample."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import orjson
import pytest
import zstandard
from hypothesis import settings

from curator.io.rejects import RejectSink
from curator.io.sources import FieldMap, ReadLimits, Shard

# No per-example deadline for any hypothesis test: compiled kernels (numba) compile on their first example and a
# shared machine stalls at random, so the default 200 ms deadline fails tests at random. Loaded here, before
# the test modules are imported, so a test's own @settings(max_examples=...) inherits it.
settings.register_profile("curator", deadline=None)
settings.load_profile("curator")

WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "über", "naïve", "café", "x", "the", "of", "and", "data"]


def synthetic_docs(n: int, seed: int = 0, source: str = "synth", with_ids: bool = True) -> list[dict]:
    """Documents with 1..60 words, a few extra fields, deterministic for a seed."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60)))
        d = {"text": text, "source": source, "lang": "en", "score": rng.random()}
        if with_ids:
            d["id"] = f"{source}-{i}"
        docs.append(d)
    return docs


def write_jsonl(path: Path, records: list, compression: str | None = None) -> Path:
    """Write dicts (as JSON) or raw bytes lines; compression None, 'gz' or 'zst'."""
    lines = [r if isinstance(r, bytes) else orjson.dumps(r) for r in records]
    payload = b"".join(line + b"\n" for line in lines)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compression == "gz":
        payload = gzip.compress(payload, mtime=0)
    elif compression == "zst":
        payload = zstandard.ZstdCompressor().compress(payload)
    path.write_bytes(payload)
    return path


def make_shard(path: Path, fmt: str = "jsonl", root: Path | None = None, **fields) -> Shard:
    root = root or path.parent
    return Shard(fmt, str(path), str(path.relative_to(root)), "test", None, FieldMap(**fields))


def read_all(reader_cls, shard: Shard, tmp_path: Path, limits: ReadLimits | None = None):
    """(documents as a list of dicts, rejects as a list of dicts, reader) for one shard."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = RejectSink(tmp_path / "rejects.parquet")
    reader = reader_cls(shard, limits or ReadLimits(), sink)
    batches = list(reader)
    sink.close()
    docs = pa.Table.from_batches(batches).to_pylist() if batches else []
    return docs, pq.read_table(tmp_path / "rejects.parquet").to_pylist(), reader


@pytest.fixture(scope="session")
def sample_corpus(tmp_path_factory) -> Path:
    """A small real sample corpus (about 1.5 MB), built once per test session."""
    from curator.sample import build_sample

    out = tmp_path_factory.mktemp("sample")
    build_sample(out, max_docs=1200, max_mb=1.5, shard_docs=200)
    return out
