"""loss_reweight and loss_filter: the offline weights are the online SampleReweighter's, resampling and filtering
through real pipeline runs (with the drop accounting), determinism across worker counts, and bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from curator.errors import ConfigError, RunError
from curator.loader.reweight import SampleReweighter
from curator.loader.reweight_formula import sample_weights
from curator.pipeline.executor import run_pipeline
from curator.score.group_weights import GroupWeights
from curator.score.loss_step import LOSS_SCHEMA
from curator.select.resample import TopK, gumbel_from_uniform, selected_by_threshold
from tests.score.conftest import pipeline
from tests.score.test_model_loss import steps, two_files


def run_steps(world, out, extra: list, workers: int = 1):
    run_pipeline(pipeline(two_files(world), steps(world) + extra), out, workers=workers, quiet=True)
    return pq.read_table(out / "stats" / "docs.parquet").to_pylist()


@pytest.fixture(scope="module")
def weighted(loss_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("lw") / "run"
    return run_steps(loss_world, out, [{"loss_reweight": {"mode": "weight", "temperature": 0.5}}])


def test_offline_weights_equal_the_online_reweighters(weighted):
    """The same losses through the pipeline step and through SampleReweighter (torch, the training path)."""
    losses = torch.tensor([d["loss"] for d in weighted], dtype=torch.float64)
    online = SampleReweighter("linupper", temperature=0.5).weights(losses).numpy()
    offline = np.array([d["loss_weight"] for d in weighted])
    np.testing.assert_allclose(offline, online * len(weighted), rtol=1e-9)
    assert all(d["kept"] for d in weighted) and {d["loss_group"] for d in weighted} == {"all"}
    assert offline.max() / offline.min() <= np.exp(1 / 0.5) + 1e-9 and offline.max() / offline.min() > 2


def test_grouped_weights_per_source_match_per_group_sample_weights(loss_world, tmp_path):
    docs = run_steps(loss_world, tmp_path / "r", [{"loss_reweight": {"mode": "weight", "group": "source",
                                                                      "strategy": "quadratic"}}])  # fmt: skip
    for source in {d["source"] for d in docs}:
        mine = [d for d in docs if d["source"] == source]
        want = sample_weights(np.array([d["loss"] for d in mine]), "quadratic") * len(mine)
        np.testing.assert_allclose([d["loss_weight"] for d in mine], want, rtol=1e-9)
        assert {d["loss_group"] for d in mine} == {source}


chunks = st.lists(
    st.lists(st.one_of(st.floats(0.5, 12.0), st.just(float("nan"))), min_size=0, max_size=30), min_size=1, max_size=5
)


@given(chunks, st.sampled_from(["linupper", "quadratic", "extremes", "uniform"]), st.floats(0.1, 5.0))
def test_streamed_group_weights_equal_sample_weights_whatever_the_chunks(parts, strategy, r):
    """GroupWeights over any cut into task files = sample_weights (and SampleReweighter) on the whole group."""
    flat = np.array([x for p in parts for x in p], np.float64)
    if not len(flat):
        return
    tables = [pa.table([pa.array(["g"] * len(p)), pa.array(p, pa.float64(), from_pandas=True),
                        pa.array(np.zeros(len(p)))], schema=LOSS_SCHEMA) for p in parts]  # fmt: skip
    gw = GroupWeights(strategy, r)
    for t in tables:
        gw.add_range(t)
    for t in tables:
        gw.add_scores(t)
    got = np.exp(np.concatenate([gw.log_weights(t) for t in tables]))
    finite = np.isfinite(flat)
    if not finite.any():
        assert (got == 0).all()
        return
    want = sample_weights(flat, strategy, r)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-300)
    if strategy != "uniform":
        online = SampleReweighter(strategy, r).weights(torch.from_numpy(flat)).numpy()
        np.testing.assert_allclose(got, online, rtol=1e-9, atol=1e-300)
    assert got.sum() == pytest.approx(1.0)


@given(st.lists(st.floats(-5, 5), min_size=1, max_size=40), st.integers(1, 50), st.integers(1, 4))
def test_top_k_selects_min_k_n_largest_keys_whatever_the_task_split(keys, k, n_tasks):
    keys = np.array(keys)
    numbers = np.arange(len(keys))
    cuts = np.array_split(numbers, n_tasks)
    top = TopK(k)
    for c in cuts:
        top.add(keys[c], numbers[c])
    mask = selected_by_threshold(keys, numbers, np.ones(len(keys), bool), top.threshold())
    assert mask.sum() == min(k, len(keys))
    if mask.sum() < len(keys):
        assert keys[mask].min() >= keys[~mask].max()


def test_gumbel_top_1_samples_in_proportion_to_the_weights():
    w = np.array([0.1, 0.3, 0.6])
    rng = np.random.default_rng(0)
    keys = np.log(w) + gumbel_from_uniform(rng.random((20000, 3)))
    share = np.bincount(keys.argmax(axis=1), minlength=3) / 20000
    np.testing.assert_allclose(share, w, atol=0.015)


@pytest.fixture(scope="module")
def resampled(loss_world, tmp_path_factory):
    out = tmp_path_factory.mktemp("rs") / "run"
    docs = run_steps(loss_world, out, [{"loss_reweight": {"k": 60, "group": "source", "seed": 3}}])
    return out, docs


def test_resample_keeps_k_with_reasons_and_accounting(resampled):
    out, docs = resampled
    kept = [d for d in docs if d["kept"]]
    assert len(kept) == 60
    assert {d["drop_reason"] for d in docs if not d["kept"]} == {"loss_not_selected"}
    assert all(d["drop_step"] == "loss_reweight" for d in docs if not d["kept"])
    assert min(d["loss_key"] for d in kept) >= max(d["loss_key"] for d in docs if not d["kept"])
    report = json.loads((out / "stats" / "02-loss_reweight.json").read_text())
    assert report["selected"] == 60 and report["docs"] == len(docs) and report["k"] == 60
    assert pq.read_table(out / "output").num_rows == 60


def test_resample_is_the_same_with_two_workers_and_depends_on_the_seed(loss_world, resampled, tmp_path):
    _, docs = resampled
    again = run_steps(loss_world, tmp_path / "two", [{"loss_reweight": {"k": 60, "group": "source", "seed": 3}}], 2)
    pick = lambda rows: sorted(d["id"] for d in rows if d["kept"])  # noqa: E731
    assert pick(again) == pick(docs)
    other = run_steps(loss_world, tmp_path / "s4", [{"loss_reweight": {"k": 60, "group": "source", "seed": 4}}])
    assert pick(other) != pick(docs)


def test_filter_drops_the_high_tail_per_group_and_absolute_low(loss_world, tmp_path):
    rule = {"loss_filter": {"max_quantile": 0.8, "min_loss": 4.0, "group": "length"}}
    docs = run_steps(loss_world, tmp_path / "f", [rule])
    report = json.loads((tmp_path / "f" / "stats" / "02-loss_filter.json").read_text())
    assert len(report["groups"]) > 2 and all(g["min_kept"] == 4.0 for g in report["groups"].values())
    for d in docs:
        if d["loss"] > d["loss_max_kept"]:
            assert d["drop_reason"] == "loss_high"
        elif d["loss"] < 4.0:
            assert d["drop_reason"] == "loss_low"
        else:
            assert d["kept"]
    high = sum(d["drop_reason"] == "loss_high" for d in docs)
    assert 0.1 * len(docs) < high < 0.3 * len(docs)


def test_bad_parameters_and_positions(loss_world, tmp_path):
    files = two_files(loss_world)[:1]
    tok = {"tokenize": {"tokenizer": str(loss_world["tokenizer"])}}
    with pytest.raises(
        ConfigError, match="needs column 'loss', which no earlier step provides .`model_loss` provides it."
    ):
        pipeline(files, [tok, {"loss_reweight": {"k": 5}}])
    with pytest.raises(ConfigError, match="exactly one of k"):
        pipeline(files, steps(loss_world) + [{"loss_reweight": {}}])
    with pytest.raises(ConfigError, match="mode weight keeps every document"):
        pipeline(files, steps(loss_world) + [{"loss_reweight": {"mode": "weight", "k": 3}}])
    with pytest.raises(ConfigError, match="strategy"):
        pipeline(files, steps(loss_world) + [{"loss_reweight": {"k": 3, "strategy": "upper"}}])
    with pytest.raises(ConfigError, match="at least one of max_loss"):
        pipeline(files, steps(loss_world) + [{"loss_filter": {}}])
    with pytest.raises(ConfigError, match="must be below max_quantile"):
        pipeline(files, steps(loss_world) + [{"loss_filter": {"min_quantile": 0.5, "max_quantile": 0.2}}])
    with pytest.raises(RunError, match="k=100,000 but only .* have a loss"):
        run_steps(loss_world, tmp_path / "big", [{"loss_reweight": {"k": 100_000}}])
    docs = run_steps(loss_world, tmp_path / "fewer", [{"loss_reweight": {"k": 100_000, "allow_fewer": True}}])
    assert all(d["kept"] for d in docs)


def test_held_out_documents_are_kept_and_left_out_of_the_selection(loss_world, tmp_path):
    from curator.loader.holdout import heldout_mask

    for rule in ({"loss_reweight": {"k": 30, "holdout": 0.2}}, {"loss_filter": {"max_quantile": 0.3, "holdout": 0.2}}):
        docs = run_steps(loss_world, tmp_path / next(iter(rule)), [rule])
        held = heldout_mask(pa.array([d["id"] for d in docs]), 0.2)
        assert held.sum() > 10 and all(d["kept"] for d, h in zip(docs, held, strict=True) if h)
        kept_train = sum(d["kept"] for d, h in zip(docs, held, strict=True) if not h)
        if "loss_reweight" in rule:
            assert kept_train == 30
        else:
            assert kept_train == pytest.approx(0.3 * (len(docs) - held.sum()), abs=3)
