"""Star clustering: every dropped document is similar to the one it names; transitive stays an option."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from curator.cli import app
from curator.dedup.minhash import MinHashScheme, estimated_jaccard
from curator.dedup.star import star_clusters
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.text.unicode import reference_words
from tests.conftest import write_jsonl

THRESHOLD = 0.35
SCHEME = MinHashScheme(128, 5, 1, 42, 3)  # minhash_dedup's defaults


def word_grams(text: str, n: int = 5) -> set[tuple[str, ...]]:
    w = reference_words(text)
    return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def true_jaccard(a: str, b: str) -> float:
    ga, gb = word_grams(a), word_grams(b)
    return len(ga & gb) / len(ga | gb)


def est_jaccard(a: str, b: str) -> float:
    sig, _ = SCHEME.signatures(pa.array([a, b]))
    return float(estimated_jaccard(sig[0], sig[1]))


# -- the algorithm on its own ----------------------------------------------------------------------------------


def _sim_matrix(rng: random.Random, n: int) -> np.ndarray:
    s = np.array([[rng.random() for _ in range(n)] for _ in range(n)])
    s = (s + s.T) / 2
    np.fill_diagonal(s, 1.0)
    return s


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 40), st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_every_member_passes_against_its_representative(n, seed, keep_share):
    """Edges: a random share of the pairs at or above the threshold (LSH misses some). Members are similar to
    their representative, the representative is the cluster's best, and edge order does not matter."""
    rng = random.Random(seed)
    sim = _sim_matrix(rng, n)
    ii, jj = np.triu_indices(n, 1)
    passing = sim[ii, jj] >= 0.6
    kept = np.array([rng.random() < keep_share for _ in range(len(ii))], dtype=bool)
    a, b = ii[passing & kept], jj[passing & kept]
    rank = np.array(rng.sample(range(n), n))

    def jaccard(x, r):
        return sim[x, r]

    label, _ = star_clusters(a, b, rank, jaccard, 0.6)
    assert np.array_equal(label[label], label), "representatives represent themselves"
    for u in range(n):
        assert sim[u, label[u]] >= 0.6
        assert rank[label[u]] <= rank[u], "the representative is the best of its cluster"
    for x, y in zip(a, b, strict=True):  # no two representatives joined by an edge stay apart
        assert not (label[x] == x and label[y] == y)
    flip = rng.sample(range(len(a)), len(a))
    again, _ = star_clusters(b[flip], a[flip], rank, jaccard, 0.6)
    assert np.array_equal(label, again)


def test_a_chain_is_cut_where_the_ends_differ():
    """A~B, B~C, J(A,C) low: star keeps A and C and drops B; the second hop (C vs A) is checked and fails."""
    sim = np.array([[1, 0.5, 0.1], [0.5, 1, 0.5], [0.1, 0.5, 1]])
    label, facts = star_clusters(np.array([0, 1]), np.array([1, 2]), np.arange(3), lambda x, r: sim[x, r], 0.35)
    assert label.tolist() == [0, 0, 2]
    assert facts == {"second_hop_rounds": 1, "second_hop_pairs": 1, "second_hop_edges": 0}


def test_the_second_hop_finds_a_representative_seen_only_through_a_hub():
    """Bucket hub 0 links 1 and 2; the best document is 1 (e.g. keep: longest); 2 is similar to 1."""
    sim = np.full((3, 3), 0.9)
    label, facts = star_clusters(np.array([0, 0]), np.array([1, 2]), np.array([1, 0, 2]), lambda x, r: sim[x, r], 0.35)
    assert label.tolist() == [1, 1, 1]
    assert facts["second_hop_edges"] == 1


# -- through the pipeline --------------------------------------------------------------------------------------


def _segments(rng: random.Random, k: int, length: int = 40) -> list[str]:
    return [" ".join(f"w{rng.getrandbits(40):x}" for _ in range(length)) for _ in range(k)]


def chain_texts(rng: random.Random) -> tuple[str, str, str]:
    """A = s1 s2 s3, B = s2 s3 s4, C = s3 s4 s5: J(A,B) = J(B,C) ~ 0.49, J(A,C) ~ 0.18 (word 5-grams)."""
    s = _segments(rng, 5)
    return " ".join(s[0:3]), " ".join(s[1:4]), " ".join(s[2:5])


def _stats(run: Path) -> dict[str, dict]:
    return {r["id"]: r for r in pq.read_table(run / "stats" / "docs.parquet").to_pylist()}


def _minhash_only(path: Path, out: Path, workers: int = 1, **params) -> None:
    config = {"inputs": [{"path": str(path)}], "steps": [{"minhash_dedup": params}]}
    run_pipeline(parse_pipeline(config), out, workers=workers, quiet=True)


def test_star_keeps_both_ends_of_a_chain_transitive_drops_them(tmp_path):
    a, b, c = chain_texts(random.Random(5))
    assert est_jaccard(a, b) >= THRESHOLD and est_jaccard(b, c) >= THRESHOLD and est_jaccard(a, c) < THRESHOLD
    filler = [{"id": f"f{i}", "text": t} for i, t in enumerate(_segments(random.Random(6), 5, 100))]
    write_jsonl(
        tmp_path / "in" / "docs.jsonl",
        [{"id": "A", "text": a}, {"id": "B", "text": b}, *filler, {"id": "C", "text": c}],
    )
    _minhash_only(tmp_path / "in", tmp_path / "star")
    star = _stats(tmp_path / "star")
    assert star["A"]["kept"] and star["C"]["kept"] and not star["B"]["kept"]
    assert star["B"]["dup_of"] == "A" and star["A"]["dup_cluster_size"] == 2 and star["C"]["dup_of"] is None
    res = CliRunner().invoke(
        app, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path / "trans"), "-w", "1", "--clustering", "transitive"]
    )
    assert res.exit_code == 0, res.output
    trans = _stats(tmp_path / "trans")
    assert [trans[i]["dup_of"] for i in "ABC"] == [None, "A", "A"] and trans["A"]["dup_cluster_size"] == 3
    assert "star clusters keep" not in res.output
    res = CliRunner().invoke(app, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path / "cli-star"), "-w", "1"])
    assert "star clusters keep 1 that transitive clustering would drop" in res.output


def _chain_corpus(rng: random.Random, chains: int, length: int, edit: float, singles: int) -> list[dict]:
    """Chains where each document edits `edit` of its predecessor's words: neighbours are near-duplicates,
    documents further apart along a chain less and less so."""
    docs = []
    for c in range(chains):
        words = [f"c{c}w{rng.getrandbits(32):x}" for _ in range(rng.randint(60, 140))]
        for k in range(length):
            docs.append({"id": f"c{c:02d}-{k}", "text": " ".join(words)})
            for _ in range(max(1, int(edit * len(words)))):
                words[rng.randrange(len(words))] = f"e{rng.getrandbits(32):x}"
    docs += [{"id": f"s{i:03d}", "text": t} for i, t in enumerate(_segments(rng, singles, 80))]
    rng.shuffle(docs)
    return docs


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["first", "longest"]), st.floats(0.02, 0.08))
def test_every_near_dup_drop_is_similar_to_its_dup_of(tmp_path_factory, seed, keep, edit):
    """A real run over chains of near-duplicates: the estimated Jaccard of each dropped document with the
    document it names is >= the threshold (the promise), its true word-5-gram Jaccard is not far below, and
    that document is kept."""
    rng = random.Random(seed)
    docs = _chain_corpus(rng, chains=6, length=rng.randint(3, 8), edit=edit, singles=20)
    tmp = tmp_path_factory.mktemp("chains")
    for k in range(2):
        write_jsonl(tmp / "in" / f"part-{k}.jsonl", docs[k::2])
    _minhash_only(tmp / "in", tmp / "run", keep=keep)
    text = {d["id"]: d["text"] for d in docs}
    stats = _stats(tmp / "run")
    dropped = [r for r in stats.values() if not r["kept"]]
    assert dropped, "the chains hold near-duplicates"
    for r in dropped:
        assert r["drop_reason"] == "near_dup" and stats[r["dup_of"]]["kept"]
        assert est_jaccard(text[r["id"]], text[r["dup_of"]]) >= THRESHOLD
        assert true_jaccard(text[r["id"]], text[r["dup_of"]]) >= THRESHOLD - 0.15
        assert stats[r["dup_of"]]["dup_cluster_size"] == sum(d["dup_of"] == r["dup_of"] for d in dropped) + 1


def test_star_output_is_the_same_with_two_workers(tmp_path):
    docs = _chain_corpus(random.Random(11), chains=8, length=6, edit=0.05, singles=30)
    for k in range(3):
        write_jsonl(tmp_path / "in" / f"part-{k}.jsonl", docs[k::3])
    _minhash_only(tmp_path / "in", tmp_path / "w1", workers=1)
    _minhash_only(tmp_path / "in", tmp_path / "w2", workers=2)
    for name in ("stats/docs.parquet", "state/00-minhash_dedup/clusters.json"):
        assert (tmp_path / "w1" / name).read_bytes() == (tmp_path / "w2" / name).read_bytes()
    out = sorted(p.name for p in (tmp_path / "w1" / "output").glob("*.parquet"))
    for name in out:
        assert (tmp_path / "w1" / "output" / name).read_bytes() == (tmp_path / "w2" / "output" / name).read_bytes()
