"""A curated run shared by the stats tests: the sample corpus plus a malformed file, through the quickstart steps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline


@pytest.fixture(scope="session")
def curated_run(sample_corpus, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("curated")
    data = root / "data"
    shutil.copytree(sample_corpus, data)
    (data / "broken.jsonl").write_text('{"id": "ok-1", "source": "prose", "text": "fine"}\n{"id": oops\n')
    cfg = parse_pipeline(
        {
            "name": "curated",
            "inputs": [{"path": str(data / "*.jsonl*")}],
            "steps": [
                {"normalize_text": {}},
                {"length_filter": {"min_words": 20}},
                "exact_dedup",
                {"minhash_dedup": {"bands": 42, "rows": 3, "threshold": 0.35}},
                "language_id",
                {"gopher_quality": {"score_only": True}},
            ],
        }  # fmt: skip
    )
    run_pipeline(cfg, root / "run", workers=1, quiet=True)
    return root / "run"
