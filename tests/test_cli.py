"""The command line: run (with summary, dry run, overrides), clear errors without tracebacks, steps, sample."""

import importlib.metadata
import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from tests.conftest import synthetic_docs, write_jsonl

runner = CliRunner()


def _pipeline(tmp_path, body: str):
    path = tmp_path / "p.yaml"
    path.write_text(body)
    return path


def test_run_prints_summary_and_writes_run_folder(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(50))
    p = _pipeline(tmp_path, f"inputs:\n  - path: {tmp_path}/in\nsteps:\n  - length_filter: {{min_words: 10}}\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "run"), "--set", "executor.workers=1"])
    assert res.exit_code == 0, res.output
    assert "accounted for" in res.output and "length_filter" in res.output
    assert pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").num_rows == 50


def test_dry_run_writes_nothing(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(5))
    p = _pipeline(tmp_path, f"inputs:\n  - path: {tmp_path}/in/*.jsonl\nsteps: [normalize_text]\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "run"), "--dry-run"])
    assert res.exit_code == 0 and "1 task(s)" in res.output and "read -> normalize_text -> write" in res.output
    assert "executor: local, workers: auto" in res.output
    assert not (tmp_path / "run").exists()
    pytest.importorskip("ray")
    res = runner.invoke(
        app, ["run", str(p), "--out", str(tmp_path / "run"), "--dry-run", "--executor", "ray", "-w", "3"]
    )
    assert (
        "executor: ray, mode data, on a private local Ray cluster, 3 workers; Ray Data stages: normalize_text"
        in res.output
    )
    assert not (tmp_path / "run").exists()


def test_config_errors_exit_2_with_a_message_and_no_traceback(tmp_path):
    p = _pipeline(tmp_path, "inputs:\n  - path: x.jsonl\nsteps:\n  - normalise_text: {}\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "did you mean 'normalize_text'" in res.output and "Traceback" not in res.output
    missing = runner.invoke(
        app, ["run", str(_pipeline(tmp_path, "inputs:\n  - path: nowhere/*.jsonl\n")), "--out", str(tmp_path / "r2")]
    )
    assert missing.exit_code == 2 and "matches no files" in missing.output


def test_steps_lists_parameters_with_type_default_and_description():
    res = runner.invoke(app, ["steps"])
    assert res.exit_code == 0 and "length_filter" in res.output and "min_words: int = 0" in res.output
    assert "PydanticUndefined" not in res.output
    text = " ".join(res.output.split())  # descriptions are wrapped, never cut
    assert "ids: list[str] = required Parquet file(s) or globs with an `id` column" in text
    assert "target: InputConfig = required target documents: JSONL/Parquet path or glob" in text
    assert "stop_words: list[str] = ['the', 'be', 'to', 'of', 'and', 'that', 'have', 'with']" in text  # a factory
    assert "long_docs: 'olmo' | 'random' = 'olmo'" in text


def test_dedup_command_prints_the_s_curve_and_drops_copies(tmp_path):
    docs = synthetic_docs(40, seed=5)
    docs += [{**docs[3], "id": "copy-of-3"}, {**docs[4], "id": "upper-4", "text": docs[4]["text"].upper()}]
    write_jsonl(tmp_path / "in" / "a.jsonl", docs)
    res = runner.invoke(app, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "-w", "1"])
    assert res.exit_code == 0, res.output
    assert "42 bands x 3 rows" in res.output and "P(candidate)" in res.output
    assert "exact_dup: " in res.output and "duplicate clusters" in res.output
    stats = {r["id"]: r for r in pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()}
    assert stats["copy-of-3"]["drop_reason"] == "exact_dup" and stats["copy-of-3"]["dup_of"] == docs[3]["id"]
    assert stats["upper-4"]["drop_reason"] == "exact_dup"


def test_dedup_command_rejects_an_impossible_band_setting(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(3))
    res = runner.invoke(app, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path / "run"), "-b", "64", "-r", "4"])
    assert res.exit_code == 2 and "exceeds --num-perm" in res.output and "steps[" not in res.output


def test_quiet_prints_one_line_of_counts_with_the_rejects(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", [*synthetic_docs(30), b'{"id": "broken", "text": '])
    p = _pipeline(tmp_path, f"inputs:\n  - path: {tmp_path}/in\nsteps:\n  - length_filter: {{min_words: 10}}\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "run"), "-w", "1", "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "run" / "stats" / "summary.json").read_text())
    assert summary["rejected_docs"] == 1 and summary["dropped"] > 0
    assert res.output.splitlines() == [
        f"31 documents: {summary['kept']:,} kept, {summary['dropped']:,} dropped, 1 rejected "
        f"(see {tmp_path / 'run' / 'rejects' / 'rejects.parquet'})"
    ]
    dedup = runner.invoke(app, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path / "d"), "-w", "1", "--quiet"])
    assert dedup.exit_code == 0, dedup.output
    assert len(dedup.output.splitlines()) == 1 and dedup.output.startswith("31 documents: ")


def test_quiet_without_rejects_names_no_rejects_file(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(5))
    p = _pipeline(tmp_path, f"inputs:\n  - path: {tmp_path}/in\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "run"), "-w", "1", "-q"])
    assert res.exit_code == 0 and res.output == "5 documents: 5 kept, 0 dropped, 0 rejected\n"


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_from_package_metadata(flag):
    res = runner.invoke(app, [flag])
    assert res.exit_code == 0 and res.output == f"curator {importlib.metadata.version('curator')}\n"


def test_version_falls_back_to_the_package_attribute(monkeypatch):
    import curator

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output == f"curator {curator.__version__}\n"
