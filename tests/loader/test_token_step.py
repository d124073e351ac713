"""keep_listed and token_store as pipeline steps: their bad-input paths."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.errors import ConfigError
from curator.filters.listed import KeepListed
from curator.pipeline.config import parse_pipeline
from curator.pipeline.step import StepContext


def test_keep_listed_keeps_only_the_listed_ids_of_its_task(tmp_path):
    ids = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"task": pa.array([0, 1], pa.int32()), "id": ["a", "b"]}), ids)
    step = KeepListed(ids=[str(ids)])
    step.setup(StepContext(task=1))
    batch = pa.record_batch({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})
    assert step.process(batch).column("id").to_pylist() == ["b"]
    assert step.ctx.dropped == {"keep_listed": {"not_in_domain": 2}}


def test_keep_listed_bad_lists(tmp_path):
    with pytest.raises(ConfigError, match=r"keep_listed: id list '.*nope.parquet' does not exist"):
        KeepListed(ids=[str(tmp_path / "nope.parquet")]).preflight()
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(ConfigError, match="keep_listed: '.*bad.parquet' is not a readable Parquet file"):
        KeepListed(ids=[str(bad)]).preflight()
    noid = tmp_path / "noid.parquet"
    pq.write_table(pa.table({"key": ["a"]}), noid)
    with pytest.raises(ConfigError, match="has no 'id' column"):
        KeepListed(ids=[str(noid)]).preflight()


def test_token_store_needs_tokenize_before_it_and_goes_last(tmp_path):
    with pytest.raises(ConfigError, match=r"steps\[0\].token_store: needs column 'tokens'"):
        parse_pipeline({"inputs": [{"path": "x"}], "steps": ["token_store"]})
    steps = [{"tokenize": {"tokenizer": "t.json"}}, "token_store", "normalize_text"]
    with pytest.raises(ConfigError, match=r"steps\[1\].token_store: must be the last step"):
        parse_pipeline({"inputs": [{"path": "x"}], "steps": steps})
    with pytest.raises(ConfigError, match=r"token_store.dtype"):
        parse_pipeline(
            {"inputs": [{"path": "x"}], "steps": [{"tokenize": {"tokenizer": "t"}}, {"token_store": {"dtype": "int8"}}]}
        )
