"""Mixture laws: DML recovery and held-out Spearman, the linear baseline, LightGBM, fit_runs errors."""

import numpy as np
import pyarrow as pa
import pytest

from curator.errors import ConfigError
from curator.mix import dml, linear
from curator.mix.fit import fit_runs, parse_targets
from curator.mix.heldout import kfold_predictions, spearman, spearman_interval
from curator.mix.runs_table import parse_runs
from curator.mix.synthetic import random_dml_truth, synthetic_dml_rows


def runs(n=24, seed=1, domains=3, evals=3, truth_seed=0):
    truth = random_dml_truth(domains, evals, truth_seed)
    return truth, parse_runs(pa.Table.from_pylist(synthetic_dml_rows(truth, n, seed=seed)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dml_heldout_spearman_at_least_0_98(seed):
    truth, table = runs(seed=seed, truth_seed=seed)
    fit = fit_runs(table, "dml")
    for name, h in fit["heldout"].items():
        assert h["spearman"] >= 0.98, (name, h["spearman"])
    # the law is recovered up to the shift of t that k absorbs (the weights sum to 1)
    p = fit["params"]["e0"]
    t = truth.t[0] - truth.t[0, -1]
    assert np.allclose(p["t"], t, atol=0.15) and p["c"] == pytest.approx(truth.c[0], abs=0.05)


def test_dml_beats_linear_held_out():
    _, table = runs(seed=4)
    w, y = table.weights, table.loss("e1")
    err = {m.__name__: np.mean(np.abs(kfold_predictions(w, y, m.fit, m.predict) - y)) for m in (dml, linear)}
    assert err["curator.mix.dml"] < err["curator.mix.linear"] / 3


def test_lightgbm_law():
    pytest.importorskip("lightgbm")
    _, table = runs(n=40)
    fit = fit_runs(table, "lightgbm", ["loss:e0"], folds=4)
    assert fit["quality"]["e0"]["r2"] > 0.9 and fit["heldout"]["e0"]["spearman"] > 0.8


def test_lightgbm_missing_gives_the_install_hint(monkeypatch):
    import builtins

    real = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda n, *a, **k: (_ for _ in ()).throw(ImportError()) if n == "lightgbm" else real(n, *a, **k),
    )
    _, table = runs()
    with pytest.raises(ConfigError, match=r"pip install 'curator\[mix\]'"):
        fit_runs(table, "lightgbm", ["loss:e0"])


def test_targets_and_bad_inputs(tmp_path):
    _, table = runs()
    assert parse_targets(["loss:e0=3", "e1=1"], table) == {"e0": 0.75, "e1": 0.25}
    assert parse_targets(None, table) == pytest.approx({"e0": 1 / 3, "e1": 1 / 3, "e2": 1 / 3})
    with pytest.raises(ConfigError, match="to every target or to none"):
        parse_targets(["loss:e0=3", "e1"], table)
    with pytest.raises(ConfigError, match="no column 'loss:nope'"):
        parse_targets(["loss:nope"], table)
    with pytest.raises(ConfigError, match="choose one of cmr, dml"):
        fit_runs(table, "quadratic")
    with pytest.raises(ConfigError, match="--law cmr needs --domain"):
        fit_runs(table, "cmr")
    _, few = runs(n=4)
    with pytest.raises(ConfigError, match="4 different mixtures; the dml law over 3 domains needs >= 5"):
        fit_runs(few, "dml")
    same = pa.Table.from_pylist(
        [r | {"w:d0": 0.2, "w:d1": 0.3, "w:d2": 0.5} for r in synthetic_dml_rows(random_dml_truth(3, 1), 6)]
    )
    with pytest.raises(ConfigError, match="a single ratio"):
        fit_runs(parse_runs(same), "dml")


def test_spearman_helpers():
    a = np.arange(20.0)
    assert spearman(a, a**3) == pytest.approx(1.0)
    lo, hi = spearman_interval(a, a + np.random.default_rng(0).normal(0, 3, 20))
    assert 0 < lo < hi <= 1
