"""unique_ids: the first record of an id is kept, later ones (same file or another) dropped as duplicate_id."""

import pyarrow.parquet as pq
from typer.testing import CliRunner

from curator.cli import app
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from tests.conftest import write_jsonl


def _corpus(root):
    write_jsonl(root / "a.jsonl", [{"id": "x", "text": "one"}, {"id": "y", "text": "two"}, {"id": "x", "text": "3"}])
    write_jsonl(root / "b.jsonl", [{"id": "y", "text": "four"}, {"id": "z", "text": "five"}, {"text": "no id"}])
    return root


def _pipeline(root, steps):
    return parse_pipeline({"name": "ids", "inputs": [{"path": str(root)}], "steps": steps})


def test_later_records_of_an_id_are_dropped_within_and_across_files(tmp_path):
    corpus = _corpus(tmp_path / "in")
    for workers in (1, 2):
        run = tmp_path / f"run{workers}"
        summary = run_pipeline(_pipeline(corpus, ["unique_ids", "exact_dedup"]), run, workers=workers, quiet=True)
        assert (summary.records, summary.kept, summary.duplicate_ids) == (6, 4, 0)
        assert summary.dropped_by_reason == {"duplicate_id": 2}
        docs = pq.read_table(run / "stats" / "docs.parquet").to_pylist()
        dropped = [(d["file"], d["row"], d["id"], d["drop_step"]) for d in docs if not d["kept"]]
        assert sorted(dropped) == [("a.jsonl", 2, "x", "unique_ids"), ("b.jsonl", 0, "y", "unique_ids")]
        texts = sorted(pq.read_table(run / "output").column("text").to_pylist())
        assert texts == ["five", "no id", "one", "two"]


def test_a_run_without_it_reports_the_shared_ids(tmp_path):
    corpus = _corpus(tmp_path / "in")
    summary = run_pipeline(_pipeline(corpus, []), tmp_path / "run", workers=1, quiet=True)
    assert summary.kept == 6 and summary.duplicate_ids == 2 and summary.duplicate_id_examples == ["x", "y"]
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: ids\ninputs: [{{path: {corpus}}}]\nsteps: []\n")
    result = CliRunner().invoke(app, ["run", str(pipeline), "--out", str(tmp_path / "cli"), "-q"])
    assert result.exit_code == 0
    assert "2 id(s) are shared by more than one kept document" in result.output and "unique_ids" in result.output
