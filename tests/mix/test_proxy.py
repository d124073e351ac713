"""`curator mix proxy`: proxy runs at designed mixtures -> a runs table; resume, CPT mode, bad input."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import ConfigError
from curator.mix.proxy import ContinualPretraining, ratio_design, read_design, run_proxies
from tests.train.conftest import write_config

NAMES = ["code", "prose", "docs"]
TINY = {"model": {"d_model": 16, "n_layers": 1, "n_heads": 2}, "lr": 1e-2, "warmup_steps": 1, "eval_samples": 4}


def _table(out):
    return pq.read_table(out / "runs.parquet").sort_by([("run", "ascending"), ("tokens", "ascending")]).to_pylist()


def test_ratio_grid_runs_table_and_resume(tmp_path, mixture):
    out = tmp_path / "px"
    design = ratio_design("code", "prose", [0.2, 0.7], NAMES)
    summary = run_proxies(mixture, design, out, TINY, steps=6, evals=2)
    assert len(summary.trained) == 2 and summary.rows == 4
    rows = _table(out)
    assert {r["w:code"] for r in rows} == {0.2, 0.7} and all(r["w:docs"] == 0.0 for r in rows)
    assert all(abs(r["w:code"] + r["w:prose"] - 1) < 1e-12 for r in rows)
    assert sorted({r["tokens"] for r in rows}) == [3 * 4 * 16, 6 * 4 * 16]  # evaluations at steps 3 and 6
    assert all(r[f"loss:{n}"] > 0 for r in rows for n in NAMES)  # every domain evaluated, weight 0 included
    assert rows[0]["model"] == "d16-l1" and rows[0]["params"] > 0
    # a re-run trains nothing and writes the same table; a new point only adds itself
    again = run_proxies(mixture, design, out, TINY, steps=6, evals=2)
    assert again.trained == [] and len(again.skipped) == 2 and _table(out) == rows
    more = run_proxies(mixture, design + ratio_design("code", "prose", [0.5], NAMES), out, TINY, steps=6, evals=2)
    assert len(more.trained) == 1 and more.rows == 6
    # an interrupted proxy (no summary, last checkpoint lost) is resumed, not restarted or skipped
    victim = out / "runs" / summary.trained[0]
    (victim / "stats" / "train_summary.json").unlink()
    (victim / "checkpoints" / "step-000006.pt").unlink()
    resumed = run_proxies(mixture, design, out, TINY, steps=6, evals=2)
    assert resumed.trained == [victim.name]
    assert [r for r in _table(out) if r["run"] == victim.name] == [r for r in rows if r["run"] == victim.name]


def test_continual_pretraining_rows_start_from_the_base(tmp_path, mixture):
    out = tmp_path / "cpt"
    design = ratio_design("code", "prose", [0.1, 0.5], NAMES)
    cpt = ContinualPretraining(general="prose", base_steps=6)
    summary = run_proxies(mixture, design, out, TINY, steps=4, evals=2, cpt=cpt)
    assert summary.trained[0].startswith("base-") and len(summary.trained) == 3
    rows = _table(out)
    starts = [r for r in rows if r["tokens"] == 0]
    assert len(starts) == 2 and starts[0]["loss:prose"] == starts[1]["loss:prose"]  # the base model's losses
    assert sorted({r["tokens"] for r in rows}) == [0, 2 * 4 * 16, 4 * 4 * 16]  # counted from the start of CPT
    import yaml

    config = yaml.safe_load((out / "runs" / summary.trained[1] / "config.yaml").read_text())
    assert f"/{summary.trained[0]}/checkpoints/" in config["init_from"] and config["schedule"] == "constant"
    assert config["warmup_steps"] == 0
    assert config["lr"] == pytest.approx(1e-3)  # the base's last lr (cosine to min_lr_ratio 0.1 of 1e-2)


def test_design_table_and_bad_input(tmp_path, mixture):
    good = tmp_path / "design.csv"
    good.write_text("w:code,w:prose,w:docs\n0.333,0.333,0.333\n0.5,0.5,0\n")
    with pytest.warns(UserWarning, match="renormalised the weights of 1 row"):
        design = read_design(good, NAMES)
    assert design[0] == pytest.approx({n: 1 / 3 for n in NAMES})  # rounded weights renormalised
    bad = tmp_path / "bad.csv"
    bad.write_text("w:code,w:prose\n0.5,0.4\n")
    with pytest.raises(ConfigError, match=r"bad.csv: the weights of row 1 sum to 0.9, more than 0.01 from 1"):
        read_design(bad, NAMES)
    other = tmp_path / "other.csv"
    other.write_text("w:code,w:math\n0.5,0.5\n")
    with pytest.raises(ConfigError, match="unknown domain.s. math"):
        read_design(other, NAMES)
    with pytest.raises(ConfigError, match="unknown domain 'math'"):
        ratio_design("math", "prose", [0.1], NAMES)
    with pytest.raises(ConfigError, match=r"--ratios must be numbers in \[0, 1\]"):
        ratio_design("code", "prose", [1.5], NAMES)
    with pytest.raises(ConfigError, match="evals <= steps"):
        run_proxies(mixture, design, tmp_path / "x", TINY, steps=2, evals=3)


def test_cli(tmp_path, mixture):
    runner = CliRunner()
    cfg = write_config(tmp_path / "train.yaml", {"mixture": "ignored", **TINY})
    out = tmp_path / "px"
    args = ["mix", "proxy", str(mixture), "--out", str(out), "--train", str(cfg), "--steps", "4", "--evals", "2"]
    res = runner.invoke(app, [*args, "--ratios", "0.3", "--domain", "code", "--general", "docs", "-q"])
    assert res.exit_code == 0, res.output
    assert "trained: p-" in res.output and "runs.parquet: 2 rows (1 proxies trained now" in res.output
    res = runner.invoke(app, [*args, "--ratios", "0.3"])
    assert res.exit_code == 2 and "--ratios needs --domain" in res.output
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "give the mixtures as --design TABLE or as --ratios" in res.output
    res = runner.invoke(app, [*args, "--ratios", "a,b", "--domain", "code", "--general", "docs"])
    assert res.exit_code == 2 and "--ratios: give numbers" in res.output
