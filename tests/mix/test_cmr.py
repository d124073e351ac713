"""The CMR law: synthetic recovery (fixed seeds and hypothesis), held-out checks, bad CPT tables."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.errors import ConfigError
from curator.mix.cmr import bootstrap_cmr, cmr_data, fit_cmr_law, leave_one_ratio_out, truncated_heldout
from curator.mix.runs_table import parse_runs
from curator.mix.synthetic import CMRTruth, synthetic_cmr_rows


def fitted(rows, **kw):
    return fit_cmr_law(cmr_data(parse_runs(pa.Table.from_pylist(rows)), "code", "general", **kw))


def cmr_error(truth, seed):
    fit = fitted(synthetic_cmr_rows(truth, seed=seed))
    return abs(fit.cmr_at(fit.data.token_scale, 0.05)[0] - truth.cmr(1.0, 0.05))


def test_recovers_the_cmr_within_0_02_on_average_over_seeds():
    errors = [cmr_error(CMRTruth(), seed) for seed in range(6)]
    assert np.mean(errors) < 0.02, errors


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(p=st.floats(0.8, 1.6), a2=st.floats(0.15, 0.35), s2=st.floats(0.2, 0.5))
def test_recovery_over_random_truths(p, a2, s2):
    truth = CMRTruth(p=p, a2=a2, s2=s2)
    assert np.mean([cmr_error(truth, seed) for seed in range(4)]) < 0.02


def test_token_laws_fit_and_heldout_errors_are_small():
    fit = fitted(synthetic_cmr_rows(seed=3))
    q = fit.quality()
    assert q["domain"]["r2"] > 0.99 and q["general"]["r2"] > 0.99
    loro = leave_one_ratio_out(fit)
    assert loro["held_out"] == [0.1, 0.25, 0.4, 0.6] and loro["general_mae"] < 0.005
    cut = truncated_heldout(fit, 0.5, 0.05)
    assert cut["general_mae"] < 0.02 and cut["domain_mae"] < 0.01
    boot = bootstrap_cmr(fit, fit.data.token_scale, 0.05, 30, seed=0)
    assert len(boot) == 30 and np.quantile(boot, 0.05) < fit.cmr_at(fit.data.token_scale, 0.05)[0] < boot.max() + 1e-9


def test_clamps_to_0_and_1_and_says_so():
    fit = fitted(synthetic_cmr_rows(CMRTruth(b0=0.1)))
    assert fit.cmr_at(fit.data.token_scale, 0.05) == (0.0, pytest.approx(fit.cmr_at(3e8, 0.05)[1]))
    assert "clamped to 0" in fit.cmr_at(3e8, 0.05)[1]
    value, note = fitted(synthetic_cmr_rows()).cmr_at(3e8, 0.5)
    assert value == 1.0 and "clamped to 1" in note


def test_base_loss_option_replaces_the_tokens_0_rows():
    rows = [r for r in synthetic_cmr_rows() if r["tokens"] > 0]
    with pytest.raises(ConfigError, match="add rows at tokens=0.*--base-loss 'loss:code=VALUE'"):
        fitted(rows)
    fit = fitted(rows, base_loss={"loss:code": 2.6, "loss:general": 3.0})
    assert fit.data.base_gen == 3.0 and 0.3 < fit.cmr_at(3e8, 0.05)[0] < 0.5


def test_bad_cpt_tables():
    rows = synthetic_cmr_rows()
    single = [r for r in rows if r["run"] == "cpt-r0.400"]
    with pytest.raises(ConfigError, match="a single ratio"):
        fitted(single)
    two = [r for r in rows if r["run"] in ("cpt-r0.400", "cpt-r0.600")]
    with pytest.raises(ConfigError, match=">= 3 ratios below 1"):
        fitted(two)
    short = [r for r in rows if not (r["run"] == "cpt-r0.100" and r["tokens"] > 5e7)]
    with pytest.raises(ConfigError, match="run 'cpt-r0.100' has 2 checkpoint"):
        fitted(short)
    gap = [r for r in rows if not (r["run"] == "cpt-r0.100" and r["tokens"] == 1e8)]
    assert any("run 'cpt-r0.100' lacks 1 checkpoint" in n for n in fitted(gap).data.notes)
    with pytest.raises(ConfigError, match="no column 'loss:prose'"):
        cmr_data(parse_runs(pa.Table.from_pylist(rows)), "code", "prose")


def test_untied_fit_and_json_round_trip():
    from curator.mix.cmr import CMRFit

    data = cmr_data(parse_runs(pa.Table.from_pylist(synthetic_cmr_rows(seed=2))), "code", "general")
    untied = fit_cmr_law(data, tied=False)
    assert len(untied.gen) == 6
    again = CMRFit.from_json(untied.to_json())
    assert again.cmr_at(3e8, 0.05) == untied.cmr_at(3e8, 0.05)
