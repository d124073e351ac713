"""`curator mix reference`: per-domain reference losses from a real checkpoint on a real token store, read by the
doremi policy; the per-document file adds up to the table; bad inputs exit 2."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.loader.policies import DoReMi, read_reference_table
from curator.loader.store import TokenStore
from curator.score.scorer import load_model, score_tokens
from tests.score.conftest import DOMAINS


def invoke(*args: str):
    return CliRunner().invoke(app, ["mix", "reference", *args])


def test_reference_table_is_read_by_doremi(loss_world, tmp_path):
    out = tmp_path / "ref.parquet"
    res = invoke(str(loss_world["store"]), "--checkpoint", str(loss_world["train_run"]), "--out", str(out),
                 "--max-docs", "40")  # fmt: skip
    assert res.exit_code == 0, res.output
    table = read_reference_table(out)
    assert sorted(table) == sorted(DOMAINS) and all(3.0 < v < 8.0 for v in table.values())
    DoReMi.from_table(out, list(DOMAINS))
    docs = pq.read_table(tmp_path / "ref.docs.parquet").to_pylist()
    for name in DOMAINS:
        mine = [d for d in docs if d["domain"] == name and d["loss"] is not None]
        n = sum(d["loss_tokens"] for d in mine)
        assert table[name] == pytest.approx(sum(d["loss"] * d["loss_tokens"] for d in mine) / n, rel=1e-12)
    # one document recomputed from the store's own tokens
    store = TokenStore(loss_world["store"]).domain("code")
    ends = store.doc_ends()
    first = docs[0]
    start = 0 if first["doc"] == 0 else int(ends[first["doc"] - 1])
    model, _ = load_model(loss_world["checkpoint"])
    ids = store.read(start, int(ends[first["doc"]]) - start).astype(np.int64)
    assert score_tokens(model, [ids]).mean_loss[0] == np.float64(first["loss"])


def test_csv_output_and_one_domain(loss_world, tmp_path):
    out = tmp_path / "ref.csv"
    res = invoke(str(loss_world["store"]), "--checkpoint", str(loss_world["checkpoint"]), "--out", str(out),
                 "--max-docs", "5", "--domain", "man")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert list(read_reference_table(out)) == ["man"]
    assert "[curator] reference losses: 5 documents scored (now man)" in res.output  # progress (quiet: none)
    quiet = invoke(str(loss_world["store"]), "--checkpoint", str(loss_world["checkpoint"]), "--out", str(out),
                   "--max-docs", "5", "--domain", "man", "-q")  # fmt: skip
    assert quiet.exit_code == 0 and "[curator]" not in quiet.output


def test_bad_inputs_exit_2(loss_world, tmp_path):
    ck, store = str(loss_world["train_run"]), str(loss_world["store"])
    cases = [
        ([str(tmp_path / "nostore"), "--checkpoint", ck, "--out", str(tmp_path / "r.parquet")], "mixture build"),
        ([store, "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "r.parquet")], "curator train"),
        ([store, "--checkpoint", ck, "--out", str(tmp_path / "r.json")], ".parquet or .csv"),
        ([store, "--checkpoint", ck, "--out", str(tmp_path / "r.parquet"), "--domain", "wiki"], "no domain 'wiki'"),
        ([store, "--checkpoint", ck, "--out", str(tmp_path / "r.parquet"), "--device", "tpu"], "--device"),
    ]
    for args, message in cases:
        res = invoke(*args)
        assert res.exit_code == 2 and message in res.output, (args, res.output)
    assert not (tmp_path / "r.parquet").exists() and not (tmp_path / "r.docs.parquet").exists()
