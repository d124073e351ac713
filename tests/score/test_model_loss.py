"""model_loss: losses through a real pipeline run with a real checkpoint, checked against a plain per-document
forward pass; batching, windows, short documents, the cache, and every bad input."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from curator.buckets.tokenizer import train_tokenizer
from curator.cli import app
from curator.errors import ConfigError, RunError
from curator.pipeline.executor import run_pipeline
from curator.pipeline.side_input import side_input_batches
from curator.score.model_loss import CACHE_DIR
from curator.score.scorer import load_model, micro_batches, score_tokens, windows
from tests.conftest import write_jsonl
from tests.score.conftest import SEQ_LEN, pipeline


def two_files(world) -> list[str]:
    return sorted(str(p) for p in world["corpus"].glob("*.jsonl.zst"))[:2]


def steps(world, **model_loss) -> list:
    return [{"tokenize": {"tokenizer": str(world["tokenizer"])}},
            {"model_loss": {"checkpoint": str(world["train_run"]), **model_loss}}]  # fmt: skip


def reference_loss(model, ids: np.ndarray) -> tuple[float, int]:
    """A plain loop: the document's windows one at a time, no padding, no batching."""
    total, count = 0.0, 0
    for a in range(0, len(ids) - 1, SEQ_LEN):
        piece = torch.from_numpy(ids[a : a + SEQ_LEN + 1].astype(np.int64))
        with torch.no_grad():
            logits = model(piece[None, :-1])[0]
        total += float(F.cross_entropy(logits, piece[1:], reduction="sum"))
        count += len(piece) - 1
    return (total / count if count else float("nan")), count


@pytest.fixture(scope="module")
def scored(loss_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("ml") / "run"
    run_pipeline(pipeline(two_files(loss_world), steps(loss_world)), out, workers=1, quiet=True)
    return out


def test_golden_losses_equal_a_plain_forward_pass(loss_world, scored):
    docs = pq.read_table(scored / "stats" / "docs.parquet").to_pylist()
    assert len(docs) > 100 and all(d["kept"] for d in docs)
    model, info = load_model(loss_world["checkpoint"])
    assert info.step == 30 and info.model.seq_len == SEQ_LEN
    from curator.buckets.tokenizer import load_tokenizer

    tok = load_tokenizer(loss_world["tokenizer"])
    eos = tok.token_to_id("<|endoftext|>")
    texts = {r["id"]: r["text"] for f in two_files(loss_world) for b in side_input_batches(f) for r in b.to_pylist()}
    long_docs = 0
    for d in docs[:: max(1, len(docs) // 40)]:
        ids = np.array(tok.encode(texts[d["id"]], add_special_tokens=False).ids + [eos])
        want, count = reference_loss(model, ids)
        assert d["loss_tokens"] == count == d["n_tokens"] - 1
        assert d["loss"] == pytest.approx(want, abs=2e-4)
        long_docs += len(ids) > SEQ_LEN + 1
    assert long_docs > 0  # the windows path was exercised
    losses = np.array([d["loss"] for d in docs])
    assert 3.0 < losses.mean() < np.log(info.model.vocab_size) + 1  # trained a little: below uniform-ish


def test_same_losses_with_two_workers_and_cache_reused(loss_world, scored, tmp_path):
    out = tmp_path / "two"
    run_pipeline(pipeline(two_files(loss_world), steps(loss_world)), out, workers=2, quiet=True)
    cols = ["id", "loss", "loss_tokens"]
    assert pq.read_table(out / "stats" / "docs.parquet", columns=cols).equals(
        pq.read_table(scored / "stats" / "docs.parquet", columns=cols)
    )
    caches = list((scored / CACHE_DIR).glob("*/task-*.npz"))
    assert len(caches) == 2  # one per task, reused when a task is redone


def test_batching_and_sorting_do_not_change_losses(loss_world):
    model, _ = load_model(loss_world["checkpoint"])
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 1000, n) for n in rng.integers(1, 200, 60)]
    assert any(len(d) < 2 for d in docs) or docs.append(np.array([7])) is None
    a = score_tokens(model, docs, batch_tokens=4096, sort=True)
    b = score_tokens(model, docs, batch_tokens=300, sort=False)
    np.testing.assert_allclose(a.mean_loss, b.mean_loss, rtol=1e-5)
    assert np.isnan(a.mean_loss[[len(d) < 2 for d in docs]]).all()
    assert a.padded_tokens < b.padded_tokens and a.real_tokens == b.real_tokens == sum(max(len(d) - 1, 0) for d in docs)
    c = score_tokens(model, docs, max_tokens=10)
    assert (c.tokens == np.minimum([len(d) for d in docs], 10).clip(1) - 1).all()


def test_windows_and_micro_batches_cover_every_prediction_once():
    d, s, n = windows([np.arange(5), np.arange(1), np.arange(130)], 64, None)
    assert d.tolist() == [0, 2, 2, 2] and s.tolist() == [0, 0, 64, 128] and n.tolist() == [4, 64, 64, 1]
    batches = micro_batches(np.array([3, 50, 7, 50, 1, 45, 6]), 150)
    assert [b.tolist() for b in batches] == [[1, 3, 5], [2, 6], [0], [4]]
    assert [b.tolist() for b in micro_batches(np.array([3, 50, 7, 50]), 100, sort=False)] == [[0, 1], [2, 3]]
    assert sorted(i for b in micro_batches(np.array([500, 2]), 100) for i in b) == [0, 1]  # too long: alone


def test_short_and_empty_documents_get_null_loss_with_a_reason(loss_world, tmp_path):
    docs = [{"id": "one", "text": "a"}, {"id": "two", "text": "hello world, a longer one"}, {"id": "e", "text": " "}]
    write_jsonl(tmp_path / "d.jsonl", docs)
    st = [{"tokenize": {"tokenizer": str(loss_world["tokenizer"]), "add_eos": False}},
          {"model_loss": {"checkpoint": str(loss_world["checkpoint"])}}]  # fmt: skip
    run_pipeline(pipeline([str(tmp_path / "d.jsonl")], st), tmp_path / "r", workers=1, quiet=True)
    rows = {r["id"]: r for r in pq.read_table(tmp_path / "r" / "stats" / "docs.parquet").to_pylist()}
    assert rows["one"]["loss"] is None and rows["one"]["loss_skip"] == "too_short" and rows["one"]["loss_tokens"] == 0
    assert rows["two"]["loss"] > 0 and rows["two"]["loss_skip"] is None
    assert all(r["kept"] for r in rows.values())


def test_bad_inputs(loss_world, tmp_path):
    files = two_files(loss_world)[:1]
    ckpt = str(loss_world["checkpoint"])
    with pytest.raises(ConfigError, match="needs column 'tokens', which no earlier step provides"):
        pipeline(files, [{"model_loss": {"checkpoint": ckpt}}])
    missing = pipeline(files, [steps(loss_world)[0], {"model_loss": {"checkpoint": str(tmp_path / "nope.pt")}}])
    with pytest.raises(ConfigError, match="not found"):  # a pipeline file loads before its checkpoint is trained
        run_pipeline(missing, tmp_path / "missing", workers=1, quiet=True)
    assert not (tmp_path / "missing").exists()  # refused before the run folder is made
    (tmp_path / "empty_run").mkdir()
    with pytest.raises(ConfigError, match="has no checkpoints"):
        pipeline(files, [steps(loss_world)[0], {"model_loss": {"checkpoint": str(tmp_path / "empty_run")}}])
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ConfigError, match="not a `curator train` checkpoint"):
        pipeline(files, [steps(loss_world)[0], {"model_loss": {"checkpoint": str(tmp_path / "other.pt")}}])
    (tmp_path / "junk.pt").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="cannot be read"):
        pipeline(files, [steps(loss_world)[0], {"model_loss": {"checkpoint": str(tmp_path / "junk.pt")}}])
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no GPU"):
            run_pipeline(pipeline(files, steps(loss_world, device="cuda")), tmp_path / "gpu", workers=1, quiet=True)


@pytest.fixture(scope="module")
def other_tokenizers(loss_world, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("tok2")
    files = two_files(loss_world)
    out = {}
    for vocab in (512, 2048):
        train_tokenizer(side_input_batches(files[0]), root / f"t{vocab}.json", vocab_size=vocab)
        out[vocab] = root / f"t{vocab}.json"
    return out


def test_wrong_tokenizer_is_refused_when_the_pipeline_is_read(loss_world, other_tokenizers, tmp_path):
    files = two_files(loss_world)[:1]
    ml = {"model_loss": {"checkpoint": str(loss_world["train_run"])}}
    with pytest.raises(ConfigError, match="has 2,048 tokens but checkpoint .* models 1,024"):
        pipeline(files, [{"tokenize": {"tokenizer": str(other_tokenizers[2048])}}, ml])
    with pytest.raises(ConfigError, match="is not the one checkpoint .* was trained with"):
        pipeline(files, [{"tokenize": {"tokenizer": str(other_tokenizers[512])}}, ml])


def test_token_ids_outside_the_vocabulary_are_a_run_error(loss_world):
    model, _ = load_model(loss_world["checkpoint"])
    with pytest.raises(RunError, match="outside the model's vocabulary"):
        score_tokens(model, [np.array([1, 2, 5000])])


def test_cli_exit_codes(loss_world, tmp_path):
    import yaml

    tok = {"tokenize": {"tokenizer": str(loss_world["tokenizer"])}}
    bad = {"inputs": [{"path": two_files(loss_world)[0]}], "steps": [tok, {"model_loss": {"checkpoint": "x.pt"}}]}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(bad))
    res = CliRunner().invoke(app, ["run", str(tmp_path / "p.yaml"), "--out", str(tmp_path / "r"), "-q"])
    assert res.exit_code == 2 and "x.pt" in res.output and "curator train" in res.output
