"""One exit-code rule for every command: 2 for a usage/config/path error, 1 for a run or data problem."""

import pytest
from typer.testing import CliRunner

from curator.cli import app
from tests.conftest import synthetic_docs, write_jsonl

runner = CliRunner()


@pytest.fixture()
def paths(tmp_path):
    """Inputs, a bad pipeline, a pipeline with a missing input, a folder that is not a run, a missing path."""
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(10))
    (tmp_path / "bad.yaml").write_text(f"inputs:\n  - path: {tmp_path}/in\nsteps: [no_such_step]\n")
    (tmp_path / "missing.yaml").write_text(f"inputs:\n  - path: {tmp_path}/nowhere/*.jsonl\n")
    (tmp_path / "not_a_run").mkdir()
    return tmp_path


CASES = {
    # command: {error class: arguments (formatted with {t} = tmp_path)}
    "run": {
        "bad config": ["run", "{t}/bad.yaml", "-o", "{t}/r"],
        "missing input path": ["run", "{t}/missing.yaml", "-o", "{t}/r"],
    },
    "dedup": {
        "bad config": ["dedup", "{t}/in", "-o", "{t}/r", "--keep", "bogus"],
        "missing input path": ["dedup", "{t}/nowhere", "-o", "{t}/r"],
    },
    "dsir": {
        "bad config": ["dsir", "-i", "{t}/in", "-t", "{t}/in", "-k", "2", "-o", "{t}/r", "--method", "bogus"],
        "missing input path": ["dsir", "-i", "{t}/nowhere", "-t", "{t}/in", "-k", "2", "-o", "{t}/r"],
    },
    "sql": {
        "bad config": ["sql", "{t}/not_a_run", "SELECT 1", "--format", "xml"],
        "missing input path": ["sql", "{t}/nowhere", "SELECT 1"],
        "non-run folder": ["sql", "{t}/not_a_run", "SELECT 1"],
    },
    "stats": {
        "missing input path": ["stats", "{t}/nowhere"],
        "non-run folder": ["stats", "{t}/not_a_run"],
    },
    "schemas --check": {
        "missing input path": ["schemas", "--check", "{t}/nowhere"],
        "non-run folder": ["schemas", "--check", "{t}/not_a_run"],
    },
    "buckets report": {
        "missing input path": ["buckets", "report", "{t}/nowhere"],
        "non-run folder": ["buckets", "report", "{t}/not_a_run"],
    },
    "contamination": {
        "bad config": ["contamination", "{t}/not_a_run", "-b", "{t}/in/a.jsonl", "--ngram", "0"],
        "missing input path": ["contamination", "{t}/not_a_run", "-b", "{t}/nowhere.jsonl"],
        "non-run folder": ["contamination", "{t}/not_a_run", "-b", "{t}/in/a.jsonl"],
    },
}


@pytest.mark.parametrize(
    ("command", "error"), [(c, e) for c, errors in CASES.items() for e in errors], ids=lambda x: x.replace(" ", "-")
)
def test_usage_config_and_path_errors_exit_2_in_every_command(paths, command, error):
    args = [a.format(t=paths) for a in CASES[command][error]]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert "error: " in res.output and "Traceback" not in res.output


def test_run_and_data_problems_exit_1(paths):
    ok = paths / "ok.yaml"
    ok.write_text(f"inputs:\n  - path: {paths}/in\n")
    assert runner.invoke(app, ["run", str(ok), "-o", str(paths / "r"), "-w", "1"]).exit_code == 0
    other = paths / "other.yaml"
    other.write_text(f"inputs:\n  - path: {paths}/in\nsteps: [normalize_text]\n")
    res = runner.invoke(app, ["run", str(other), "-o", str(paths / "r"), "-w", "1"])
    assert res.exit_code == 1 and "holds a run of a different pipeline" in res.output
    (paths / "empty").mkdir()
    (paths / "empty" / "config.yaml").write_text("name: x\n")
    res = runner.invoke(app, ["sql", str(paths / "empty"), "SELECT 1"])
    assert res.exit_code == 1 and "holds no stats tables yet" in res.output


def test_click_usage_errors_also_exit_2():
    assert runner.invoke(app, ["run"]).exit_code == 2
    assert runner.invoke(app, ["sql", "--no-such-option"]).exit_code == 2
