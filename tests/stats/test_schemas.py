"""The declared stats schemas (schemas/*.schema.json) match what the writers write; clusters and mixture log."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.stats.conformance import check_run
from curator.stats.mixture_log import MIXTURE_LOG_DIR, MixtureLogWriter
from curator.stats.views import connect


def test_a_real_run_matches_the_declared_schemas(curated_run):
    checked, problems = check_run(curated_run)
    assert problems == []
    assert {c.split()[0] for c in checked} >= {"docs", "steps", "rejects", "text", "clusters"}
    result = CliRunner().invoke(app, ["schemas", "--check", str(curated_run)])
    assert result.exit_code == 0 and ": OK:" in result.output


def test_a_drifted_table_is_reported(curated_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(curated_run, run)
    docs = pq.read_table(run / "stats" / "docs.parquet")
    drifted = docs.set_column(docs.schema.get_field_index("n_bytes"), "n_bytes", pc.cast(docs["n_bytes"], pa.int32()))
    pq.write_table(drifted.replace_schema_metadata({b"curator.schema_version": b"0"}), run / "stats" / "docs.parquet")
    checked, problems = check_run(run)
    assert any("'n_bytes' is int32, declared int64" in p for p in problems)
    assert any("schema version 0, declared 1" in p for p in problems)
    result = CliRunner().invoke(app, ["schemas", "--check", str(run)])
    assert result.exit_code == 1 and "problem(s)" in result.output
    assert CliRunner().invoke(app, ["schemas", "--check", str(tmp_path)]).exit_code == 2  # not a run folder


def test_check_takes_several_run_folders_after_one_flag_or_repeated(curated_run, tmp_path):
    drifted = tmp_path / "drifted"
    shutil.copytree(curated_run, drifted)
    steps_file = drifted / "stats" / "steps.parquet"
    pq.write_table(pq.read_table(steps_file).replace_schema_metadata({b"curator.schema_version": b"0"}), steps_file)
    for args in (["--check", curated_run, drifted], ["--check", curated_run, "--check", drifted]):
        result = CliRunner().invoke(app, ["schemas", *map(str, args)])
        assert result.exit_code == 1, result.output
        assert f"{curated_run}: OK:" in result.output and f"{drifted}: 1 problem(s)" in result.output
    both_ok = CliRunner().invoke(app, ["schemas", "--check", str(curated_run), str(curated_run)])
    assert both_ok.exit_code == 0 and both_ok.output.count(": OK:") == 2


def test_check_usage_errors(curated_run, tmp_path):
    result = CliRunner().invoke(app, ["schemas", "--check"])
    assert result.exit_code == 2 and "--check needs at least one run folder" in result.output
    result = CliRunner().invoke(app, ["schemas", str(curated_run), "--out", str(tmp_path / "s")])
    assert result.exit_code == 2 and "run folders given without --check" in result.output
    assert not (tmp_path / "s").exists()


def test_clusters_view_agrees_with_the_drops(curated_run):
    con, _, views = connect([curated_run])
    assert "clusters" in views
    rows = con.sql(
        "SELECT step, count(dup_of) AS dups, count(*) AS members, count(DISTINCT dup_cluster) AS clusters "
        "FROM clusters GROUP BY step ORDER BY step"
    ).fetchall()
    dropped = dict(con.sql("SELECT drop_reason, count(*) FROM docs WHERE NOT kept GROUP BY ALL").fetchall())
    by_step = {r[0]: r for r in rows}
    assert by_step["exact_dedup"][1] == dropped["exact_dup"]
    assert by_step["minhash_dedup"][1] == dropped["near_dup"]
    # every dropped duplicate points at a document that the same step kept
    orphans = con.sql(
        "SELECT count(*) FROM clusters c WHERE dup_of IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM clusters r WHERE r.step = c.step AND r.id = c.dup_of AND r.dup_of IS NULL)"
    ).fetchall()
    assert orphans == [(0,)]


def test_mixture_log_writer_and_view(curated_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(curated_run, run)
    log = MixtureLogWriter(run, policy="doremi", flush_every=8)
    for step in range(5):
        w = {"code": 0.2 + 0.1 * step / 4, "prose": 0.8 - 0.1 * step / 4}
        log.log(step, step * 64, w, losses={"code": 2.0 - step / 10, "prose": 3.0})
    log.log(5, 320, {"code": 0.5, "prose": 0.5})  # steps 4-5 buffered: a crash here loses only them
    assert len(list((run / MIXTURE_LOG_DIR).glob("part-*.parquet"))) == 1
    log.close()
    resumed = MixtureLogWriter(run, policy="doremi")  # a resumed trainer appends after the existing parts
    resumed.log(6, 384, {"code": 0.5, "prose": 0.5})
    assert resumed.flush().name == "part-00002.parquet"
    con, _, views = connect([run])
    assert "mixture_log" in views
    sums = con.sql("SELECT step, sum(weight) FROM mixture_log GROUP BY step ORDER BY step").fetchall()
    assert [s for s, _ in sums] == list(range(7)) and all(abs(t - 1) < 1e-9 for _, t in sums)
    assert check_run(run)[1] == []
    with pytest.raises(ValueError, match="sum to 1"):
        log.log(6, 384, {"code": 0.7, "prose": 0.7})
