"""Dedup inside pipelines: golden corpus with injected duplicates, determinism, resume, rules and errors."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curator.dedup.inject import InjectionPlan, inject_duplicates
from curator.dedup.near import MinHashDedup
from curator.errors import ConfigError, RunError
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.step import Step, register_step
from tests.conftest import write_jsonl

VOCAB = [f"tok{i}" for i in range(4000)]


def base_docs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"id": f"doc{i:04d}", "text": " ".join(rng.choice(VOCAB) for _ in range(rng.randint(60, 160)))}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Three JSONL files: 240 distinct documents plus injected copies with known originals."""
    docs = base_docs(240)
    docs += [
        {"id": "short-a", "text": "hello there world"},
        {"id": "short-b", "text": "Hello there, world!"},  # same words, other punctuation: near, not exact
        {"id": "nowords-a", "text": "!!! ... ???"},
        {"id": "nowords-b", "text": "!!! ... ???"},  # no words: exact dedup only
    ]
    plan = InjectionPlan(exact=0.04, variant=0.04, near=0.08, chains=0.02, chain_length=3, edit_range=(0.01, 0.03))
    injected = inject_duplicates(docs, plan, seed=3)
    root = tmp_path_factory.mktemp("dedup-corpus")
    for k in range(3):
        write_jsonl(root / f"part-{k}.jsonl", injected.docs[k::3])
    return root, injected


def dedup_config(root: Path, **minhash) -> dict:
    return {
        "name": "dedup-test",
        "inputs": [{"path": str(root)}],
        "steps": ["normalize_text", "exact_dedup", {"minhash_dedup": minhash}],
    }


def run(root: Path, out: Path, workers: int = 1, **minhash):
    return run_pipeline(parse_pipeline(dedup_config(root, **minhash)), out, workers=workers, quiet=True)


def family(doc_id: str, truth: dict) -> str:
    return truth.get(doc_id, doc_id)


def test_golden_corpus_drops_exactly_the_injected_copies(corpus, tmp_path):
    root, injected = corpus
    summary = run(root, tmp_path / "run")
    stats = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()
    dropped = [r for r in stats if not r["kept"]]
    by_id = {r["id"]: r for r in stats}
    # every injected copy, plus the two short and no-word duplicates, and nothing else
    assert len(dropped) == len(injected.truth) + 2
    for r in dropped:
        assert family(r["id"], injected.truth) == family(r["dup_of"], injected.truth) or r["id"] in {
            "short-b",
            "nowords-b",
            "short-a",
            "nowords-a",
        }
        assert by_id[r["dup_of"]]["kept"], "dup_of names a document that was kept"
    reasons = {r["id"]: r["drop_reason"] for r in dropped}
    for doc_id, kind in injected.kind.items():
        if doc_id in reasons:
            assert reasons[doc_id] == ("exact_dup" if kind in ("exact", "variant") else "near_dup"), doc_id
    assert {reasons.get("short-a"), reasons.get("short-b")} == {None, "near_dup"}
    assert {reasons.get("nowords-a"), reasons.get("nowords-b")} == {None, "exact_dup"}
    # cluster sizes count every input document of the family, exact copies included
    for doc_id, base in injected.truth.items():
        rep = by_id[doc_id]["dup_cluster"]
        members = [i for i in injected.truth if injected.truth[i] == base] + [base]
        assert by_id[rep]["dup_cluster_size"] == len(members)
    assert summary.dropped_by_reason["exact_dup"] + summary.dropped_by_reason["near_dup"] == len(dropped)
    assert all(r["exact_hash"] is not None for r in stats)
    for r in dropped:
        if r["drop_reason"] == "exact_dup":  # the key the index pass computed reaches the stats
            assert r["exact_hash"] == by_id[r["dup_of"]]["exact_hash"]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.parquet"))}


@pytest.mark.slow
def test_output_is_byte_identical_whatever_the_worker_count(corpus, tmp_path):
    root, _ = corpus
    run(root, tmp_path / "w1", workers=1)
    run(root, tmp_path / "w2", workers=2)
    assert _files(tmp_path / "w1" / "output") == _files(tmp_path / "w2" / "output")
    stats = "stats/docs.parquet"  # (steps.parquet holds timings)
    assert (tmp_path / "w1" / stats).read_bytes() == (tmp_path / "w2" / stats).read_bytes()
    for name in ("pairs.npy", "clusters.json"):
        a = (tmp_path / "w1" / "state" / "02-minhash_dedup" / name).read_bytes()
        assert a == (tmp_path / "w2" / "state" / "02-minhash_dedup" / name).read_bytes()


def test_a_killed_pass_resumes_at_the_next_unfinished_one(corpus, tmp_path, monkeypatch):
    root, _ = corpus
    run(root, tmp_path / "clean")
    calls = []

    def crash(self, state, numbering):
        calls.append(1)
        raise KeyboardInterrupt("killed during the pairs pass")

    monkeypatch.setattr(MinHashDedup, "_verified_pairs", crash)
    with pytest.raises(KeyboardInterrupt):
        run(root, tmp_path / "resumed")
    state = tmp_path / "resumed" / "state" / "02-minhash_dedup"
    finished = {p: p.stat().st_mtime_ns for p in [*state.glob("index/*.json"), *state.glob("buckets/*.npy")]}
    assert len(list(state.glob("buckets/*.npy"))) == 42 and not (state / "pairs.json").exists()
    monkeypatch.undo()
    run(root, tmp_path / "resumed")
    assert calls == [1]
    assert {p: p.stat().st_mtime_ns for p in finished} == finished, "finished passes were not redone"
    assert _files(tmp_path / "clean" / "output") == _files(tmp_path / "resumed" / "output")


def test_keep_longest_keeps_the_longest_copy(tmp_path):
    text = " ".join(f"w{i}" for i in range(80))
    write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": "a", "text": text}, {"id": "b", "text": text + " extra words at the end"}, {"id": "c", "text": text}],
    )
    config = dedup_config(tmp_path / "in.jsonl", keep="longest")
    config["steps"] = [{"minhash_dedup": {"keep": "longest", "threshold": 0.8}}]
    run_pipeline(parse_pipeline(config), tmp_path / "run", quiet=True)
    stats = {r["id"]: r for r in pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()}
    assert stats["b"]["kept"] and stats["a"]["dup_of"] == "b" and stats["c"]["dup_of"] == "b"
    assert stats["b"]["dup_cluster_size"] == 3


def test_keep_score_without_the_column_names_it(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", base_docs(5))
    config = dedup_config(tmp_path / "in.jsonl")
    config["steps"] = [{"exact_dedup": {"keep": "score", "score_column": "quality"}}]
    with pytest.raises(ConfigError, match=r"steps\[0\].exact_dedup: needs column 'quality', which no earlier step"):
        parse_pipeline(config)  # refused when loaded, before any pass
    config["steps"] = [{"exact_dedup": {"keep": "score"}}]
    with pytest.raises(ConfigError, match="needs score_column"):
        parse_pipeline(config)


def test_band_setting_beyond_num_perm_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="exceeds num_perm"):
        parse_pipeline(dedup_config(tmp_path, bands=64, rows=4))


@register_step
class _Unstable(Step):
    """Test step: drops a different row on each pass (a non-deterministic step before a global one)."""

    name = "test_unstable"

    def process(self, batch):
        type(self)._passes = getattr(type(self), "_passes", 0) + 1
        keep = [i != type(self)._passes % batch.num_rows for i in range(batch.num_rows)]
        import pyarrow as pa

        dropped = batch.filter(pa.array([not k for k in keep]))
        self.ctx.drop(self.name, dropped, pa.array(["unstable"] * dropped.num_rows))
        return batch.filter(pa.array(keep))


def test_steps_before_a_global_step_run_once(tmp_path):
    """The input is read and transformed once: a step that would drop another row on every pass drops one
    row in all, and the accounting holds (the old engine re-ran it for the index and the filter pass)."""
    import pyarrow.parquet as pq

    write_jsonl(tmp_path / "in.jsonl", base_docs(20))
    config = {"inputs": [{"path": str(tmp_path / "in.jsonl")}], "steps": ["test_unstable", "exact_dedup"]}
    _Unstable._passes = 0
    summary = run_pipeline(parse_pipeline(config), tmp_path / "run", workers=1, quiet=True)
    assert _Unstable._passes == 1  # one batch, one pass
    docs = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()
    assert len(docs) == 20 and summary.records == 20
    assert sum(d["drop_reason"] == "unstable" for d in docs) == 1
    assert summary.kept + summary.dropped == 20
    assert not (tmp_path / "run" / "state" / "01-exact_dedup" / "input").exists()  # stage files removed


def test_a_changed_stage_file_is_caught(tmp_path):
    """The filter pass checks the documents it reads against the index pass (count and id digest)."""
    import pyarrow as pa

    write_jsonl(tmp_path / "in.jsonl", base_docs(20))
    config = {
        "inputs": [{"path": str(tmp_path / "in.jsonl")}],
        "steps": ["exact_dedup"],
        "executor": {"keep_stage_files": True},
    }
    run_pipeline(parse_pipeline(config), tmp_path / "run", workers=1, quiet=True)
    stage = tmp_path / "run" / "state" / "00-exact_dedup" / "input" / "task-00000-0000.arrow"
    with pa.OSFile(str(stage)) as fh:
        table = pa.ipc.open_file(fh).read_all()
    table = table.take(pa.array(range(table.num_rows - 1, -1, -1)))  # same documents, another order
    with pa.OSFile(str(stage), "wb") as fh, pa.ipc.new_file(fh, table.schema) as writer:
        writer.write_table(table)
    (tmp_path / "run" / "completions" / "task-00000.json").unlink()
    with pytest.raises(RunError, match="state/ folder changed since the index pass"):
        run_pipeline(parse_pipeline(config), tmp_path / "run", workers=1, quiet=True)


def test_signatures_of_another_scheme_are_refused(tmp_path):
    """E.g. a resume under a Python with other Unicode data: old and new signatures must not mix."""
    import json

    write_jsonl(tmp_path / "in.jsonl", base_docs(10))
    config = parse_pipeline(dedup_config(tmp_path / "in.jsonl"))
    run_pipeline(config, tmp_path / "run", quiet=True)
    scheme = tmp_path / "run" / "state" / "02-minhash_dedup" / "scheme.json"
    scheme.write_text(json.dumps({**json.loads(scheme.read_text()), "unicode": "0.0"}))
    for marker in (tmp_path / "run" / "completions").glob("*.json"):
        marker.unlink()
    with pytest.raises(RunError, match="another MinHash scheme"):
        run_pipeline(config, tmp_path / "run", quiet=True)
