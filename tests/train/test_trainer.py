"""train(): learning, exact resume (with a reweighter and a policy), the run folder, bad input."""

from __future__ import annotations

import math

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch

from curator.errors import ConfigError, RunError
from curator.train import train
from curator.train.checkpoint import list_checkpoints
from curator.train.train_log import read_train_log
from tests.train.conftest import VOCAB, train_config


def _overall(table, split="train"):
    rows = table.filter(pc.and_(pc.equal(table.column("split"), split), pc.is_null(table.column("domain"))))
    return rows.column("step").to_pylist(), np.array(rows.column("loss").to_pylist(), float)


def _mixture_log(run):
    table = pq.read_table(sorted((run / "stats" / "mixture_log").glob("part-*.parquet")))
    return table.sort_by([("step", "ascending"), ("domain", "ascending")]).to_pylist()


def test_loss_decreases_and_run_folder(tmp_path, mixture):
    out = tmp_path / "run"
    summary = train(train_config(mixture, lr=3e-2), out)
    assert summary.steps == 40 and summary.tokens == 40 * 4 * 16
    table = read_train_log(out)
    steps, losses = _overall(table)
    assert steps == list(range(1, 41))
    eval_steps, eval_losses = _overall(table, "eval")
    assert eval_steps == [10, 20, 30, 40]
    assert eval_losses[-1] < eval_losses[0] - 0.3 and eval_losses[-1] < math.log(VOCAB) - 1.0
    assert losses[-5:].mean() < losses[:5].mean()
    domains = set(table.column("domain").drop_null().to_pylist())
    assert domains == {"code", "prose", "docs"}
    assert summary.eval_domain_loss.keys() == {"code", "prose", "docs"}
    assert [s for s, _ in list_checkpoints(out)] == [10, 20, 30, 40]
    state = torch.load(out / "checkpoints" / "step-000040.pt", weights_only=False)
    assert {"model", "optimizer", "loader", "policy", "torch_rng", "step"} <= state.keys()
    assert state["loader"]["consumed_step"] == 39
    assert (out / "config.yaml").is_file() and (out / ".curator-run.json").is_file()
    assert (out / "stats" / "train_summary.json").is_file()
    assert _mixture_log(out)  # the loader's weights were logged


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "reweight": {"strategy": "linupper", "warmup_steps": 5},
            "policy": {"name": "odm", "params": {"warmup": 5}},
            "grad_accum": 2,
        },
    ],
)
def test_resume_equals_uninterrupted(tmp_path, mixture, extra):
    cfg = train_config(mixture, **extra)
    train(cfg, tmp_path / "whole")
    train(cfg, tmp_path / "parts", stop_at=25)
    (tmp_path / "parts" / "checkpoints" / "step-000025.pt").unlink()  # killed before its checkpoint was written
    summary = train(cfg, tmp_path / "parts")
    assert summary.start_step == 20 and summary.steps == 40
    whole, parts = read_train_log(tmp_path / "whole"), read_train_log(tmp_path / "parts")
    assert whole.num_rows == parts.num_rows
    assert whole.drop_columns(["loss"]).equals(parts.drop_columns(["loss"]))
    a = np.array(whole.column("loss").to_pylist(), float)
    b = np.array(parts.column("loss").to_pylist(), float)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, equal_nan=True)
    assert _mixture_log(tmp_path / "whole") == _mixture_log(tmp_path / "parts")
    if extra:
        weights = {r["weight"] for r in _mixture_log(tmp_path / "whole") if r["policy"] == "odm"}
        assert len(weights) > 3  # the policy did change the weights


def test_finished_run_resumes_to_more_steps(tmp_path, mixture):
    out = tmp_path / "run"
    train(train_config(mixture, steps=10, eval_every=0), out)
    again = train(train_config(mixture, steps=10, eval_every=0), out)
    assert again.start_step == 10 and again.steps == 10
    more = train(train_config(mixture, steps=12, eval_every=0), out)
    assert more.start_step == 10 and more.steps == 12


def test_vocab_too_small(tmp_path, mixture):
    cfg = train_config(mixture, model={"d_model": 32, "n_layers": 1, "n_heads": 2, "vocab_size": 100})
    with pytest.raises(ConfigError, match=f"smaller than the store's tokenizer vocabulary \\({VOCAB}\\)"):
        train(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_missing_mixture(tmp_path):
    with pytest.raises(ConfigError, match="mixture file .*nope.yaml' not found"):
        train({"mixture": str(tmp_path / "nope.yaml")}, tmp_path / "run")


def test_unknown_key_did_you_mean(tmp_path, mixture):
    with pytest.raises(ConfigError, match="unknown key 'stpes' \\(did you mean 'steps'\\?\\)"):
        train(train_config(mixture, stpes=3), tmp_path / "run")
    with pytest.raises(ConfigError, match="reweight.temprature: unknown key .*did you mean 'temperature'"):
        train(train_config(mixture, reweight={"temprature": 1.0}), tmp_path / "run")


def test_bad_policy_and_reweight(tmp_path, mixture):
    with pytest.raises(ConfigError, match="unknown policy 'odn'"):
        train(train_config(mixture, policy={"name": "odn"}), tmp_path / "run")
    with pytest.raises(ConfigError, match="reweight"):
        train(train_config(mixture, reweight={"strategy": "nope"}), tmp_path / "run")


def test_foreign_folder_refused(tmp_path, mixture):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not empty and is not a curator run folder"):
        train(train_config(mixture, steps=2), out)
    assert (out / "notes.txt").read_text() == "keep me"


def test_different_config_refused(tmp_path, mixture):
    out = tmp_path / "run"
    train(train_config(mixture, steps=2, eval_every=0), out)
    with pytest.raises(RunError, match="different config \\(changed: lr\\)"):
        train(train_config(mixture, steps=2, eval_every=0, lr=0.5), out)
    with pytest.raises(RunError, match="already holds checkpoints"):
        train(train_config(mixture, steps=2, eval_every=0), out, resume=False)


def test_validation_uses_the_heldout_documents(mixture):
    from curator.loader.mixture import load_mixture
    from curator.loader.store import TokenStore
    from curator.train.validation import heldout_batches

    config = load_mixture(mixture)
    store = TokenStore(config.store)
    batches = heldout_batches(store, config, samples=3, batch_size=2)
    for d, name in enumerate(config.names):
        held = store.heldout(name).read(0, store.heldout(name).tokens)
        rows = [b for b in batches if int(b["domain_id"][0]) == d]
        windows = torch.cat([torch.cat([b["input_ids"], b["labels"][:, -1:]], dim=1) for b in rows])
        assert len(windows) == 3  # 10 held-out documents of >= 8 tokens give >= 3 windows of 17 tokens
        for k, window in enumerate(windows.tolist()):
            assert window == held[k * config.seq_len : k * config.seq_len + config.seq_len + 1].tolist()
        assert all(torch.equal(b["labels"][:, :-1], b["input_ids"][:, 1:]) for b in rows)


def test_a_domain_without_heldout_documents_is_refused_before_training(tmp_path):
    from tests.loader.conftest import mixture_file
    from tests.train.conftest import write_pattern_store

    store = write_pattern_store(tmp_path / "store", {"code": 50, "prose": 40, "docs": 30}, heldout=0)
    config = train_config(mixture_file(tmp_path, store, seq_len=16, global_batch=4))
    with pytest.raises(ConfigError, match=r"domain\(s\) code, prose, docs of store .* have no held-out documents: the "
                                          r"store was built without held-out documents .*eval_every: 0"):  # fmt: skip
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()
    assert train({**config, "eval_every": 0, "steps": 2}, tmp_path / "run2").steps == 2


def test_doremi_reference_model_gives_the_clipped_per_token_excess(tmp_path, mixture):
    """DoReMi with a reference checkpoint: the policy's first update sees, per domain, the mean over samples of
    the mean over label tokens of max(loss - reference loss, 0), computed here independently."""
    import torch.nn.functional as F

    from curator.loader.dataset import MixtureLoader
    from curator.loader.mixture import load_mixture
    from curator.train.model import GPT, GPTConfig

    ref_run = tmp_path / "ref"
    train(train_config(mixture, steps=10, eval_every=0), ref_run)
    policy = {"name": "doremi", "params": {"reference": str(ref_run), "eta": 1.0}}
    out = tmp_path / "proxy"
    summary = train(train_config(mixture, steps=6, eval_every=0, checkpoint_every=1, policy=policy), out)
    assert summary.steps == 6
    first = torch.load(out / "checkpoints" / "step-000001.pt", weights_only=False)["policy"]

    batch = next(iter(MixtureLoader(load_mixture(mixture))))
    torch.manual_seed(0)  # the proxy's initialisation (train seed 0)
    proxy = GPT(GPTConfig(VOCAB, 32, 1, 2, 16))
    reference = GPT(GPTConfig(VOCAB, 32, 1, 2, 16))
    reference.load_state_dict(torch.load(ref_run / "checkpoints" / "step-000010.pt", weights_only=False)["model"])
    with torch.no_grad():
        mine = F.cross_entropy(proxy(batch["input_ids"]).transpose(1, 2), batch["labels"], reduction="none")
        theirs = F.cross_entropy(reference(batch["input_ids"]).transpose(1, 2), batch["labels"], reduction="none")
    per_sample = (mine - theirs).clamp(min=0).mean(dim=1).numpy()
    ids = batch["domain_id"].numpy()
    for d in range(3):
        if (ids == d).any():
            assert first["excess"][d] == pytest.approx(per_sample[ids == d].mean(), rel=1e-5)
    assert np.any(np.array(first["excess"]) > 0)
    last_step = max(r["step"] for r in _mixture_log(out))
    weights = {r["domain"]: r["weight"] for r in _mixture_log(out) if r["step"] == last_step}
    assert last_step > 0 and weights != pytest.approx({"code": 0.5, "prose": 0.3, "docs": 0.2})  # they moved


def test_doremi_reference_errors(tmp_path, mixture):
    def run(reference):
        policy = {"name": "doremi", "params": {"reference": str(reference)}}
        return train(train_config(mixture, steps=2, eval_every=0, policy=policy), tmp_path / "run")

    with pytest.raises(ConfigError, match="doremi: reference .*missing does not exist; give a training run folder"):
        run(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="folder without checkpoints/"):
        run(tmp_path / "empty")
    other = tmp_path / "other"
    train(train_config(mixture, steps=2, eval_every=0, model={"d_model": 32, "n_layers": 1, "n_heads": 2,
                                                               "vocab_size": VOCAB + 8}), other)  # fmt: skip
    with pytest.raises(ConfigError, match=r"reference checkpoint .*step-000002.pt has a vocabulary of 264, this run"):
        run(other)
    assert not (tmp_path / "run").exists()


def test_process_workers_train_the_same_run_as_threads(tmp_path, mixture):
    """The loader's process backend (DataLoader worker processes) feeds the trainer the same batches."""
    base = train_config(mixture, steps=6, eval_every=3, policy={"name": "odm", "params": {"warmup": 2}})
    threads = train({**base, "loader": {"num_workers": 2, "backend": "thread"}}, tmp_path / "threads")
    with pytest.raises(ConfigError, match="horizon 3 is too short: 4 batch.es. can be in flight .process backend"):
        train({**base, "loader": {"num_workers": 2, "backend": "process"}}, tmp_path / "procs")
    assert not (tmp_path / "procs").exists()  # refused before the run folder is made
    procs = train({**base, "loader": {"num_workers": 1, "backend": "process"}}, tmp_path / "procs")
    a, b = read_train_log(tmp_path / "threads"), read_train_log(tmp_path / "procs")
    assert a.column("loss").to_pylist() == pytest.approx(b.column("loss").to_pylist(), abs=1e-6)
    assert threads.eval_domain_loss == pytest.approx(procs.eval_domain_loss, abs=1e-6)


def test_init_from_continues_a_base_model(tmp_path, mixture):
    """Continual pre-training: a run initialised from a base checkpoint starts at the base's loss, not at a
    random model's, and counts its own steps; other sizes and missing checkpoints are refused."""
    base = tmp_path / "base"
    train(train_config(mixture, steps=30, eval_every=0, lr=3e-2), base)
    cpt = train(train_config(mixture, steps=2, eval_every=0, init_from=str(base), schedule="constant",
                             warmup_steps=0, lr=1e-3), tmp_path / "cpt")  # fmt: skip
    train(train_config(mixture, steps=2, eval_every=0, warmup_steps=0, lr=1e-3), tmp_path / "fresh")
    base_last = _overall(read_train_log(base))[1][-5:].mean()
    first_cpt = _overall(read_train_log(tmp_path / "cpt"))[1][0]
    fresh_first = _overall(read_train_log(tmp_path / "fresh"))[1][0]
    assert cpt.steps == 2 and first_cpt < base_last + 0.3 and fresh_first - first_cpt > 1.0  # random: ~log 256
    with pytest.raises(ConfigError, match="init_from: checkpoint .*nope.pt. not found"):
        train(train_config(mixture, steps=2, init_from=str(tmp_path / "nope.pt")), tmp_path / "x")
    other = train_config(mixture, steps=2, eval_every=0, init_from=str(base))
    other["model"] = {**other["model"], "d_model": 64}
    with pytest.raises(ConfigError, match="its model differs from this run's .d_model 32 vs 64"):
        train(other, tmp_path / "y")
    assert not (tmp_path / "y").exists()  # refused before the run folder is made


def test_a_finished_run_rerun_with_fewer_steps_changes_nothing(tmp_path, mixture):
    out = tmp_path / "run"
    first = train(train_config(mixture, steps=4, eval_every=0, checkpoint_every=2), out)
    files = {p: p.read_bytes() for p in (out / "config.yaml", out / "stats" / "train_summary.json")}
    again = train(train_config(mixture, steps=3, eval_every=0, checkpoint_every=2), out)
    assert again.steps == 4 and again.train_loss == first.train_loss
    assert "already at step 4 (>= steps 3): nothing to do" in again.stopped
    assert {p: p.read_bytes() for p in files} == files


def test_doremi_reference_is_pinned_to_its_checkpoint_file(tmp_path, mixture):
    ref = tmp_path / "ref"
    train(train_config(mixture, steps=4, eval_every=0, checkpoint_every=2), ref)
    policy = {"name": "doremi", "params": {"reference": str(ref)}}
    config = train_config(mixture, steps=2, eval_every=0, checkpoint_every=1, policy=policy)
    train(config, tmp_path / "proxy")
    import yaml

    saved = yaml.safe_load((tmp_path / "proxy" / "config.yaml").read_text())
    assert saved["policy"]["params"]["reference"] == str(ref / "checkpoints" / "step-000004.pt")
    train(train_config(mixture, steps=6, eval_every=0, checkpoint_every=2), ref)  # the reference run goes on
    with pytest.raises(RunError, match="different config .changed: policy"):
        train({**config, "steps": 3}, tmp_path / "proxy")  # resuming would silently use another reference
    with pytest.raises(ConfigError, match="policy doremi needs a reference"):
        train(train_config(mixture, steps=2, policy={"name": "doremi"}), tmp_path / "x")
    with pytest.raises(ConfigError, match="mixture.yaml is not a training run folder, a checkpoint .pt file or a"):
        train(train_config(mixture, steps=2, policy={"name": "doremi", "params": {"reference": str(mixture)}}),
              tmp_path / "x")  # fmt: skip
