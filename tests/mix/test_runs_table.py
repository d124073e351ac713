"""Runs table: validation errors name the run/column; rounding is renormalised with a note; append_runs."""

import pyarrow as pa
import pytest

from curator.errors import ConfigError
from curator.mix.runs_table import append_runs, parse_runs, read_runs
from tests.mix.conftest import write_csv

ROW = {"run": "a", "tokens": 100.0, "w:x": 0.5, "w:y": 0.5, "loss:x": 2.0}


def table(*rows):
    return pa.Table.from_pylist([ROW | r for r in rows])


def test_reads_and_exposes_arrays(tmp_path):
    t = read_runs(write_csv(tmp_path / "r.csv", [ROW, ROW | {"tokens": 200.0, "loss:x": 1.9}]))
    assert t.domains == ["x", "y"] and t.evals == ["x"] and t.weights.shape == (2, 2)
    assert t.loss("loss:x").tolist() == [2.0, 1.9] and t.at_checkpoint().tolist() == [1]


def test_rounded_weights_are_renormalised_with_a_note():
    t = parse_runs(table({"w:x": 0.333, "w:y": 0.666}))
    assert abs(t.weights.sum() - 1) < 1e-12 and "renormalised the weights of 1 row" in t.notes[0]


@pytest.mark.parametrize(
    "row, message",
    [
        ({"w:x": 0.7, "w:y": 0.5}, "run 'a' at tokens=100 sum to 1.2"),
        ({"w:x": -0.1, "w:y": 1.1}, "negative or missing weight"),
        ({"loss:x": float("nan")}, "non-finite loss:x"),
        ({"tokens": -1.0}, "missing or negative `tokens`"),
        ({"extra": 1}, "unknown column(s) extra"),
    ],
)
def test_bad_rows_are_config_errors_naming_the_run_or_column(row, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_runs(table(row))


def test_missing_columns_duplicates_and_changing_mixtures():
    with pytest.raises(ConfigError, match="missing column"):
        parse_runs(pa.table({"run": ["a"], "w:x": [1.0], "loss:x": [1.0]}))
    with pytest.raises(ConfigError, match="no loss columns"):
        parse_runs(pa.table({"run": ["a"], "tokens": [1.0], "w:x": [1.0]}))
    with pytest.raises(ConfigError, match="appears twice"):
        parse_runs(table({}, {}))
    with pytest.raises(ConfigError, match="run 'a' has different weights"):
        parse_runs(table({}, {"tokens": 200.0, "w:x": 0.4, "w:y": 0.6}))


def test_missing_checkpoint_names_the_run():
    t = parse_runs(table({}, {"run": "b", "tokens": 200.0}))
    with pytest.raises(ConfigError, match="run 'a' has no checkpoint at tokens=200"):
        t.at_checkpoint(200.0)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_runs(tmp_path / "none.csv")
    (tmp_path / "bad.parquet").write_text("no")
    with pytest.raises(ConfigError, match="cannot read it as Parquet"):
        read_runs(tmp_path / "bad.parquet")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_append_runs_is_atomic_and_refuses_duplicates_and_other_columns(tmp_path, suffix):
    path = tmp_path / f"runs.{suffix}"
    assert append_runs(path, [ROW]) == 1
    assert append_runs(path, [ROW | {"tokens": 200.0}]) == 2
    assert read_runs(path).tokens.tolist() == [100.0, 200.0]
    with pytest.raises(ConfigError, match="appears twice"):
        append_runs(path, [ROW])
    with pytest.raises(ConfigError, match="missing \\['loss:x'\\]"):
        append_runs(path, [{k: v for k, v in ROW.items() if k != "loss:x"} | {"tokens": 300.0}])
    assert len(read_runs(path).run) == 2 and [p.name for p in tmp_path.iterdir()] == [path.name]
