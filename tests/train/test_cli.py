"""`curator train`: a run with --set/--steps, its summary, resume, errors via exit codes, `curator sql` on it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from curator.cli import app
from tests.train.conftest import train_config, write_config

runner = CliRunner()


def test_train_cli_and_sql(tmp_path, mixture):
    cfg = write_config(tmp_path / "train.yaml", train_config(mixture, steps=100, eval_every=4))
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(out), "--steps", "8", "--set", "lr=0.02", "-q"])
    assert res.exit_code == 0, res.output
    assert "step 8 (8 this session)" in res.output and "tokens/s" in res.output
    assert json.loads((out / "stats" / "train_summary.json").read_text())["steps"] == 8
    res = runner.invoke(app, ["train", str(cfg), "--out", str(out), "--steps", "10", "--set", "lr=0.02"])
    assert res.exit_code == 0, res.output
    assert "step 10 (2 this session)" in res.output and "eval loss per domain: code" in res.output

    res = runner.invoke(
        app,
        [
            "sql",
            str(out),
            "SELECT count(*) AS n FROM train_log WHERE split = 'train' AND domain IS NULL",
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    assert res.output.split() == ["n", "10"]
    res = runner.invoke(app, ["sql", str(out)])
    assert "train_log" in res.output and "mixture_log" in res.output


def test_train_cli_errors(tmp_path, mixture):
    cfg = write_config(tmp_path / "train.yaml", train_config(mixture, stpes=3))
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "did you mean 'steps'" in res.output
    res = runner.invoke(app, ["train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2 and "not found" in res.output
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.txt").write_text("x")
    cfg = write_config(tmp_path / "ok.yaml", train_config(mixture, steps=2))
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "other")])
    assert res.exit_code == 2 and "not a curator run folder" in res.output


def test_overwrite_starts_a_changed_run_again_and_keeps_other_files(tmp_path, mixture):
    out = tmp_path / "run"
    cfg = write_config(tmp_path / "train.yaml", train_config(mixture, steps=4, eval_every=0, checkpoint_every=2))
    assert runner.invoke(app, ["train", str(cfg), "--out", str(out), "-q"]).exit_code == 0
    (out / "notes.md").write_text("mine")
    changed = ["train", str(cfg), "--out", str(out), "-q", "--set", "lr=0.005"]
    res = runner.invoke(app, changed)
    assert res.exit_code == 1 and "different config (changed: lr)" in res.output
    res = runner.invoke(app, [*changed, "--steps", "3", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert "step 3 (3 this session)" in res.output
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002.pt", "step-000003.pt"]
    assert (out / "notes.md").read_text() == "mine"


def test_reweight_and_policy_options(tmp_path, mixture):
    cfg = write_config(tmp_path / "train.yaml", train_config(mixture, steps=3, eval_every=0))
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(out), "-q", "--reweight", "quadratic",
                              "--policy", "odm", "--set", "policy.params.warmup=1"])  # fmt: skip
    assert res.exit_code == 0, res.output
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["reweight"]["strategy"] == "quadratic" and saved["policy"] == {"name": "odm", "params": {"warmup": 1}}
    res = runner.invoke(app, ["train", str(cfg), "--out", str(tmp_path / "r2"), "--policy", "odn"])
    assert res.exit_code == 2 and "unknown policy 'odn'" in res.output
