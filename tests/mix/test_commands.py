"""FIT.json versions, predict, optimize (caps, KL, mixture file), design, report, and the CLI via CliRunner."""

import json

import numpy as np
import pyarrow.csv as pcsv
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import ConfigError
from curator.loader.mixture import load_mixture
from curator.mix import design_mixtures, fit_runs, optimize_fit, predict_mixtures, read_fit, write_report
from curator.mix.optimize import caps_for, round_weights

runner = CliRunner()


@pytest.fixture
def dml_fit(tmp_path, dml_csv):
    path = tmp_path / "fit.json"
    fit_runs(dml_csv, "dml", ["loss:e0", "loss:e1"], path)
    return path


def test_fit_file_versions_and_law_checks(tmp_path, dml_fit):
    fit = json.loads(dml_fit.read_text())
    assert fit["law"] == "dml" and fit["law_version"] == 1 and fit["format"] == "curator-mix-fit"
    (tmp_path / "old.json").write_text(json.dumps(fit | {"law_version": 0}))
    with pytest.raises(ConfigError, match="version 0, but this curator reads version 1; refit"):
        read_fit(tmp_path / "old.json")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a `curator mix fit` file"):
        read_fit(tmp_path / "x.json")
    with pytest.raises(ConfigError, match="holds a 'dml' fit; this command needs cmr"):
        read_fit(dml_fit, ("cmr",))


def test_predict_adds_columns_and_flags_extrapolation(tmp_path, dml_fit):
    mixtures = tmp_path / "m.csv"
    mixtures.write_text("run,w:d0,w:d1,w:d2\na,0.3,0.3,0.4\nb,1,0,0\n")
    out = predict_mixtures(dml_fit, mixtures, tmp_path / "pred.csv")
    assert out.column_names[-4:] == ["pred:e0", "pred:e1", "pred:target", "extrapolated"]
    t = out.to_pydict()
    assert t["pred:target"][0] == pytest.approx((t["pred:e0"][0] + t["pred:e1"][0]) / 2)
    assert t["extrapolated"] == [False, True]
    assert pcsv.read_csv(tmp_path / "pred.csv").num_rows == 2
    mixtures.write_text("w:d0,w:d1,w:zz\n0.3,0.3,0.4\n")
    with pytest.raises(ConfigError, match="w:zz are not domains of the fit"):
        predict_mixtures(dml_fit, mixtures)
    mixtures.write_text("w:d0,w:d1\n0.5,0.5\n")
    with pytest.raises(ConfigError, match="missing weight column\\(s\\) w:d2"):
        predict_mixtures(dml_fit, mixtures)
    mixtures.write_text("run,w:d0,w:d1,w:d2\nx,0.5,0.5,0.5\n")
    with pytest.raises(ConfigError, match=r"row 1 \(x\) sum to 1.5"):
        predict_mixtures(dml_fit, mixtures)


def test_optimize_beats_the_prior_respects_caps_and_writes_a_loadable_mixture(tmp_path, dml_fit):
    base = tmp_path / "base.yaml"
    base.write_text(
        "name: m\nstore: st\nseq_len: 16\ndomains:\n"
        + "".join(f"  - {{name: d{i}, weight: 0.3333333, from: {{paths: [x{i}.jsonl]}}}}\n" for i in range(3))
        + "normalize_weights: true\n"
    )
    tokens = {"d0": 1e6, "d1": 2e6, "d2": 3e6}
    opt = optimize_fit(dml_fit, tmp_path / "opt.yaml", base=base, max_epochs=1, tokens=3e6, domain_tokens=tokens)
    assert opt.pred_opt["pred:target"] < opt.pred_prior["pred:target"]
    assert (opt.weights <= opt.caps + 1e-6).all() and opt.weights.sum() == pytest.approx(1)
    mix = load_mixture(tmp_path / "opt.yaml")
    assert mix.weights == pytest.approx(opt.weights, abs=1e-5) and mix.domains[0].source.paths == ["x0.jsonl"]
    strong = optimize_fit(dml_fit, prior="uniform", kl=10.0)
    assert np.abs(strong.weights - 1 / 3).max() < 0.1  # a large KL keeps it near the prior
    with pytest.raises(ConfigError, match="add up to 0.600 < 1"):
        caps_for(["d0", "d1"], {"d0": 1, "d1": 2}, 1, 5)
    with pytest.raises(ConfigError, match="caps need --tokens"):
        caps_for(["d0"], None, 4, None)
    assert sum(round_weights([1 / 3, 1 / 3, 1 / 3])) == pytest.approx(1, abs=1e-12)


def test_optimize_lightgbm_uses_regmix_search(tmp_path, dml_csv):
    pytest.importorskip("lightgbm")
    fit_runs(dml_csv, "lightgbm", ["loss:e0"], tmp_path / "lgb.json", folds=3)
    opt = optimize_fit(tmp_path / "lgb.json", prior="uniform")
    assert "RegMix" in opt.method and opt.pred_opt["pred:target"] <= opt.pred_prior["pred:target"]


def test_design(tmp_path):
    t = design_mixtures(["a", "b", "c"], [0.5, 0.3, 0.2], 12, seed=0, out=tmp_path / "d.csv")
    w = np.column_stack([t.column(c).to_numpy() for c in ("w:a", "w:b", "w:c")])
    assert w.shape == (12, 3) and np.allclose(w.sum(axis=1), 1) and (w <= 15 * np.array([0.5, 0.3, 0.2]) + 1e-9).all()
    g = design_mixtures(["code", "gen"], grid=[0, 0.2, 0.5])
    assert g.column("w:code").to_pylist() == [0, 0.2, 0.5]
    with pytest.raises(ConfigError, match="--grid is for two domains"):
        design_mixtures(["a", "b", "c"], grid=[0, 0.5, 1])
    with pytest.raises(ConfigError, match="needs >= 5"):
        design_mixtures(["a", "b", "c"], n=3)


def test_reports(tmp_path, dml_fit, cpt_csv):
    paths = write_report(dml_fit, tmp_path / "r1")
    assert paths["png"].stat().st_size > 1000 and "k-fold Spearman" in paths["markdown"].read_text()
    fit_runs(cpt_csv, "cmr", out=tmp_path / "cmr.json", domain="code", general="general", n_boot=10)
    md = write_report(tmp_path / "cmr.json", tmp_path / "r2")["markdown"].read_text()
    assert "CMR at 300,000,000 tokens" in md and "leave_one_ratio_out" in md


def test_cli_fit_predict_optimize_cmr(tmp_path, dml_csv, cpt_csv):
    fit = tmp_path / "fit.json"
    res = runner.invoke(app, ["mix", "fit", str(dml_csv), "--law", "dml", "-t", "loss:e0", "--out", str(fit)])
    assert res.exit_code == 0, res.output
    assert "k-fold Spearman" in res.output and "renormalised the weights" in res.output
    mixtures = tmp_path / "m.csv"
    mixtures.write_text("run,w:d0,w:d1,w:d2\na,0.3,0.3,0.4\n")
    res = runner.invoke(app, ["mix", "predict", str(fit), str(mixtures), "--out", str(tmp_path / "p.csv")])
    assert res.exit_code == 0 and "pred:target" in res.output
    res = runner.invoke(app, ["mix", "optimize", str(fit), "--out", str(tmp_path / "o.yaml"), "--prior", "uniform"])
    assert res.exit_code == 0 and "optimized" in res.output and "no --base" in res.output
    res = runner.invoke(
        app, ["mix", "cmr", str(cpt_csv), "--domain", "code", "--general", "general", "--tokens", "6e8"]
    )
    assert res.exit_code == 0, res.output
    assert "CMR of code" in res.output and "extrapolated: 600,000,000 tokens is outside" in res.output
    res = runner.invoke(app, ["mix", "fit", str(cpt_csv), "--law", "cmr", "--domain", "code", "--general", "general",
                              "--out", str(tmp_path / "c.json")])  # fmt: skip
    assert res.exit_code == 0 and "leave-one-ratio-out" in res.output and "CMR at" in res.output
    res = runner.invoke(
        app, ["mix", "design", "--domains", "a,b", "--grid", "0,0.2,0.4", "--out", str(tmp_path / "d.csv")]
    )
    assert res.exit_code == 0 and "ratio-0.200" in res.output
    res = runner.invoke(app, ["mix", "report", str(tmp_path / "c.json"), "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0 and (tmp_path / "rep" / "report.png").exists()


def test_cli_errors_exit_2_with_messages(tmp_path, dml_csv, cpt_csv):
    res = runner.invoke(app, ["mix", "fit", str(tmp_path / "none.csv"), "--out", str(tmp_path / "f.json")])
    assert res.exit_code == 2 and "runs table" in res.output and "not found" in res.output
    res = runner.invoke(app, ["mix", "cmr", str(cpt_csv), "--domain", "code", "--general", "general", "--eps", "0"])
    assert res.exit_code == 2 and "--eps 0.0: give a positive tolerance" in res.output
    res = runner.invoke(app, ["mix", "cmr", str(cpt_csv), "--domain", "code", "--general", "gen"])
    assert res.exit_code == 2 and "no column 'loss:gen'" in res.output
    res = runner.invoke(app, ["mix", "cmr", str(cpt_csv), "--domain", "code", "--general", "general",
                              "--base-loss", "general"])  # fmt: skip
    assert res.exit_code == 2 and "write NAME=NUMBER" in res.output
    fit = tmp_path / "f.json"
    runner.invoke(app, ["mix", "fit", str(dml_csv), "--out", str(fit)])
    res = runner.invoke(app, ["mix", "cmr", str(fit)])
    assert res.exit_code == 2 and "holds a 'dml' fit" in res.output
    assert "Traceback" not in res.output


def test_optimize_honours_the_base_mixtures_per_domain_max_epochs(tmp_path, dml_fit):
    base = tmp_path / "base.yaml"
    epochs = {"d0": 0.5, "d1": None, "d2": None}
    base.write_text(
        "name: m\nstore: st\nseq_len: 16\ndomains:\n"
        + "".join(
            f"  - {{name: d{i}, weight: 0.3333333, from: {{paths: [x{i}.jsonl]}}"
            + (f", max_epochs: {epochs[f'd{i}']}" if epochs[f"d{i}"] else "")
            + "}\n"
            for i in range(3)
        )
    )
    tokens = {"d0": 1e6, "d1": 2e6, "d2": 3e6}
    opt = optimize_fit(dml_fit, tmp_path / "opt.yaml", base=base, tokens=3e6, domain_tokens=tokens)
    assert opt.caps.tolist() == pytest.approx([0.5 * 1e6 / 3e6, 1.0, 1.0])
    assert opt.weights[0] <= opt.caps[0] + 1e-6 and "base's per-domain max_epochs" in opt.notes[1]
    assert load_mixture(tmp_path / "opt.yaml").domains[0].max_epochs == 0.5  # kept in the written mixture
    overridden = optimize_fit(dml_fit, base=base, max_epochs=3, tokens=3e6, domain_tokens=tokens)
    assert overridden.caps.tolist() == pytest.approx([1.0, 1.0, 1.0])
    untold = optimize_fit(dml_fit, base=base, domain_tokens=tokens)  # no budget: no caps, and it says so
    assert untold.caps.tolist() == [1.0, 1.0, 1.0] and "give --tokens" in untold.notes[1]
