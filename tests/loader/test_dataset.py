"""MixtureLoader through real readers: the same stream for every backend, exact resume, ranks, bad input."""

import numpy as np
import pytest
import torch

from curator.errors import ConfigError, RunError
from curator.loader.dataset import MixtureLoader
from curator.loader.mixture import load_mixture
from curator.loader.store import TokenStore
from tests.loader.conftest import EOS, mixture_file, take, write_store

BACKENDS = [
    dict(num_workers=0),
    dict(num_workers=1, backend="thread", prefetch=2),
    dict(num_workers=2, backend="thread", prefetch=2),
    dict(num_workers=2, backend="process", prefetch=1),
]


def _ids(batches) -> list[list[int]]:
    return [b["sample_id"].tolist() for b in batches]


@pytest.fixture
def mixture(tmp_path, store):
    return mixture_file(tmp_path, store)


def test_batches_hold_the_windows_the_ids_name(mixture, store):
    loader = MixtureLoader(mixture)
    tokens = TokenStore(store)
    names = load_mixture(mixture).names
    for batch in take(loader, 5):
        assert batch["input_ids"].shape == (8, 32) and batch["input_ids"].dtype == torch.int64
        for row in range(8):
            sid = int(batch["sample_id"][row])
            domain, window = sid >> 40, sid & ((1 << 40) - 1)
            assert domain == int(batch["domain_id"][row])
            expected = tokens.domain(names[domain]).read(window * 32, 33)
            assert np.array_equal(batch["input_ids"][row].numpy(), expected[:-1])
            assert np.array_equal(batch["labels"][row].numpy(), expected[1:])
            eos_before = np.concatenate([[0], np.cumsum(expected[:-1] == EOS)[:-1]])
            assert np.array_equal(batch["segment_ids"][row].numpy(), eos_before)
        assert batch["n_tokens"].tolist() == [32] * 8


def test_the_same_stream_for_every_backend_and_worker_count(mixture):
    streams = [_ids(take(MixtureLoader(mixture, **kw), 30)) for kw in BACKENDS]
    assert all(s == streams[0] for s in streams[1:])


@pytest.mark.parametrize("resume_kw", BACKENDS)
def test_resume_with_a_weight_change_in_flight_gives_the_identical_remaining_stream(mixture, resume_kw):
    """Change at step 6 (applies at 9, horizon 3), checkpoint at step 7: the resumed stream is the rest."""
    reference = MixtureLoader(mixture, num_workers=2, backend="thread")
    ref = []
    for batch in reference:
        ref.append(batch)
        if batch["step"] == 6:
            assert reference.set_weights({"code": 0.0, "prose": 0.0, "docs": 1.0}) == 9
        if len(ref) == 25:
            break
    first = MixtureLoader(mixture, num_workers=2, backend="thread")
    head = []
    for batch in first:
        head.append(batch)
        if batch["step"] == 6:
            first.set_weights({"code": 0.0, "prose": 0.0, "docs": 1.0})
        if batch["step"] == 7:
            break  # the thread pool has read ahead; those batches are not consumed
    state = first.state_dict()
    assert state["consumed_step"] == 7
    resumed = MixtureLoader(mixture, **resume_kw)
    resumed.load_state_dict(state)
    tail = take(resumed, 25 - len(head))
    assert [b["step"] for b in tail][:1] == [8]
    assert _ids(head + tail) == _ids(ref)
    assert all(set(b["domain_id"].tolist()) == {2} for b in ref if b["step"] >= 9)
    assert not all(set(b["domain_id"].tolist()) == {2} for b in ref if b["step"] < 9)


def test_iterating_again_continues_after_the_last_consumed_batch(mixture):
    loader = MixtureLoader(mixture, num_workers=2, backend="thread", prefetch=2)
    head = take(loader, 4)
    rest = take(loader, 6)  # a new `for` loop: prefetched batches come again, none is skipped
    assert [b["step"] for b in head + rest] == list(range(10))
    assert _ids(head + rest) == _ids(take(MixtureLoader(mixture), 10))


def test_ranks_split_each_global_batch_and_resume_elastically(mixture):
    single = _ids(take(MixtureLoader(mixture, rank=0, world_size=1), 12))
    ranks = [_ids(take(MixtureLoader(mixture, rank=r, world_size=2), 12)) for r in range(2)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == single
    one = MixtureLoader(mixture, rank=0, world_size=1)
    take(one, 5)
    state = one.state_dict()
    two = []
    for r in range(2):
        loader = MixtureLoader(mixture, rank=r, world_size=2)
        loader.load_state_dict(state)
        two.append(_ids(take(loader, 7)))
    assert [a + b for a, b in zip(*two, strict=True)] == single[5:]
    with pytest.raises(ConfigError, match="does not split over 3 ranks"):
        MixtureLoader(mixture, rank=0, world_size=3)


def test_a_horizon_shorter_than_the_prefetch_is_refused_with_the_one_needed(tmp_path, store):
    short = mixture_file(tmp_path, store, horizon=2)
    with pytest.raises(ConfigError, match="set horizon >= 5"):
        MixtureLoader(short, num_workers=2, backend="process", prefetch=2)
    MixtureLoader(short, num_workers=1, backend="thread", prefetch=1)  # 1 in flight: horizon 2 is enough


def test_a_state_from_another_mixture_is_refused_naming_the_difference(tmp_path, store, mixture):
    state = MixtureLoader(mixture).state_dict()
    other = MixtureLoader(mixture_file(tmp_path, store, seed=8))
    with pytest.raises(ConfigError, match="seed: state 7, loader 8"):
        other.load_state_dict(state)
    edited = [{"name": "code", "weight": 0.6}, {"name": "prose", "weight": 0.2}, {"name": "docs", "weight": 0.2}]
    with pytest.raises(ConfigError, match="weights: state .*call set_weights"):  # edited YAML weights are not lost
        MixtureLoader(mixture_file(tmp_path, store, domains=edited)).load_state_dict(state)


def test_bad_weights_and_domains(mixture):
    loader = MixtureLoader(mixture)
    take(loader, 1)
    with pytest.raises(ConfigError, match="unknown domain.*cod\\b"):
        loader.set_weights({"cod": 1.0})
    with pytest.raises(ConfigError, match="sum to 1"):
        loader.set_weights({"code": 0.5, "prose": 0.1, "docs": 0.1})
    with pytest.raises(ConfigError, match="missing: prose, docs"):
        loader.set_weights({"code": 1.0})
    with pytest.raises(ConfigError, match="already received step 0"):
        loader.set_weights({"code": 1.0, "prose": 0.0, "docs": 0.0}, step=-1)


def test_max_epochs_ends_the_domain(tmp_path, store):
    capped = mixture_file(
        tmp_path,
        store,
        domains=[{"name": "docs", "weight": 1.0, "max_epochs": 1}],
    )
    loader = MixtureLoader(capped)
    windows = loader.dataset.windows()[0]
    batches = list(loader)
    assert len(batches) == windows // 8
    seen = np.concatenate([b["sample_id"].numpy() for b in batches])
    assert len(set(seen.tolist())) == len(seen)  # one epoch: no window twice


def test_truncated_shard_and_foreign_tokenizer_are_named(tmp_path):
    root = write_store(tmp_path / "s", {"a": [50, 50]})
    shard = root / "domains" / "a" / "tokens" / "task-00001.u16"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(RunError, match="task-00001.u16.*truncated"):
        TokenStore(root).domain("a")
    ok = write_store(tmp_path / "ok", {"a": [50]})
    tok = tmp_path / "tokenizer.json"
    tok.write_text("{}")
    with pytest.raises(ConfigError, match="was built with tokenizer"):
        MixtureLoader(mixture_file(tmp_path, ok, tokenizer=str(tok), domains=[{"name": "a", "weight": 1.0}]))
    with pytest.raises(ConfigError, match="has no domain 'b'"):
        MixtureLoader(mixture_file(tmp_path, ok, domains=[{"name": "b", "weight": 1.0}]))
    with pytest.raises(ConfigError, match="mixture build"):
        MixtureLoader(mixture_file(tmp_path, tmp_path / "nowhere"))


def test_weight_changes_and_realised_tokens_go_to_the_mixture_log(tmp_path, mixture):
    import duckdb

    run = tmp_path / "train"
    loader = MixtureLoader(mixture, log_dir=run, log_every=5, policy="schedule")
    for batch in loader:
        if batch["step"] == 6:
            loader.set_weights({"code": 0.2, "prose": 0.2, "docs": 0.6}, losses={"code": 2.5})
        if batch["step"] == 20:
            break
    loader.state_dict()  # a checkpoint flushes the log
    rows = duckdb.sql(
        f"SELECT step, sample_index, domain, weight, policy, domain_loss, tokens_seen "
        f"FROM read_parquet('{run}/stats/mixture_log/*.parquet') ORDER BY step, sample_index, domain"
    ).fetchall()
    change = [r for r in rows if r[0] == 6 and r[1] == 9 * 8]
    assert {r[2]: r[3] for r in change} == {"code": 0.2, "prose": 0.2, "docs": 0.6}
    assert {r[2]: r[5] for r in change}["code"] == 2.5 and {r[4] for r in rows} == {"schedule"}
    periodic = {r[0] for r in rows if r[1] == r[0] * 8}
    assert periodic == {0, 5, 10, 15, 20}
    at20 = {r[2]: r[6] for r in rows if r[0] == 20 and r[1] == 160}
    assert sum(at20.values()) == 21 * 8 * 32  # steps 0..20 consumed, 8 samples of 32 tokens each
    assert {r[2]: r[3] for r in rows if r[0] == 10 and r[1] == 80} == {"code": 0.2, "prose": 0.2, "docs": 0.6}


@pytest.fixture
def dd_mixture(tmp_path, dd_store):
    return mixture_file(tmp_path, dd_store, packing="buckets", seq_len=64, global_batch=4)


def test_buckets_packing_serves_one_length_per_step_with_constant_tokens(dd_mixture, dd_store):
    loader = MixtureLoader(dd_mixture)
    tokens = TokenStore(dd_store)
    names = load_mixture(dd_mixture).names
    lengths = set()
    for batch in take(loader, 40):
        rows, length = batch["input_ids"].shape
        lengths.add(length)
        assert rows * length == 4 * 64
        for row in range(rows):
            sid = int(batch["sample_id"][row])
            dom = tokens.domain(names[sid >> 40])
            doc = sid & ((1 << 40) - 1)
            ends = dom.doc_ends()
            start = int(ends[doc - 1]) if doc else 0
            assert int(ends[doc]) - start == length
            assert np.array_equal(batch["input_ids"][row].numpy(), dom.read(start, length))
        assert batch["labels"][:, -1].tolist() == [-100] * rows
    assert lengths == {8, 16, 32, 64}


def test_buckets_packing_same_stream_resume_and_ranks(dd_mixture):
    streams = [_ids(take(MixtureLoader(dd_mixture, **kw), 20)) for kw in BACKENDS]
    assert all(s == streams[0] for s in streams[1:])
    first = MixtureLoader(dd_mixture, num_workers=2, backend="thread")
    head = []
    for batch in first:
        head.append(batch)
        if batch["step"] == 5:
            first.set_weights({"code": 0.0, "prose": 1.0, "docs": 0.0})
        if batch["step"] == 6:
            break
    state = first.state_dict()
    ranks = []
    for r in range(2):
        loader = MixtureLoader(dd_mixture, rank=r, world_size=2)
        loader.load_state_dict(state)
        ranks.append(_ids(take(loader, 10)))
    reference = MixtureLoader(dd_mixture)
    ref = []
    for batch in reference:
        ref.append(batch)
        if batch["step"] == 5:
            reference.set_weights({"code": 0.0, "prose": 1.0, "docs": 0.0})
        if len(ref) == 17:
            break
    assert _ids(head) + [a + b for a, b in zip(*ranks, strict=True)] == _ids(ref)
    assert all(set(b["domain_id"].tolist()) == {1} for b in ref if b["step"] >= 8)


def test_buckets_packing_needs_2_to_the_i_sequences(tmp_path, store):
    with pytest.raises(ConfigError, match="domain 'code': document 0 has .* tokens; buckets packing needs"):
        MixtureLoader(mixture_file(tmp_path, store, packing="buckets", seq_len=64))


def test_the_log_keeps_a_broken_loop_and_has_no_duplicates_after_a_resume(tmp_path, mixture):
    import duckdb

    run = tmp_path / "train"
    first = MixtureLoader(mixture, log_dir=run, log_every=1)
    for batch in first:
        if batch["step"] == 10:
            state = first.state_dict()
        if batch["step"] == 20:
            break  # no state_dict or close: the rows up to step 20 must still be on disk
    query = f"SELECT step, count(*) FROM read_parquet('{run}/stats/mixture_log/*.parquet') GROUP BY step ORDER BY step"
    assert [s for s, _ in duckdb.sql(query).fetchall()] == list(range(21))
    resumed = MixtureLoader(mixture, log_dir=run, log_every=1)
    resumed.load_state_dict(state)  # a crash after step 10: steps 11..20 are replayed, so their rows go
    for batch in resumed:
        if batch["step"] == 25:
            break
    assert duckdb.sql(query).fetchall() == [(s, 3) for s in range(26)]  # one row per domain and step


def test_curator_sql_reads_a_training_folders_mixture_log(tmp_path, mixture):
    from typer.testing import CliRunner

    from curator.cli import app

    run = tmp_path / "train"
    loader = MixtureLoader(mixture, log_dir=run, log_every=2)
    take(loader, 5)
    query = "SELECT count(DISTINCT step) AS n FROM mixture_log"
    result = CliRunner().invoke(app, ["sql", str(run), query, "-f", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["n", "3"]


@pytest.mark.parametrize("resume_kw", BACKENDS[:2])
def test_a_change_every_step_keeps_the_state_small_and_resumes_exactly(mixture, resume_kw):
    """A policy that moves the weights at every step: the weight log in the state holds only the changes
    still ahead (not one per step ever made), and a resume mid-run continues the identical stream."""
    rng = np.random.default_rng(3)
    changes = [rng.dirichlet(np.ones(3)).tolist() for _ in range(60)]

    def run(loader, stop=None):
        got = []
        for batch in loader:
            got.append(batch)
            loader.set_weights(changes[batch["step"]])
            if batch["step"] == stop or len(got) == 60:
                break
        return got

    ref = run(MixtureLoader(mixture))
    first = MixtureLoader(mixture, num_workers=2, backend="thread")
    head = run(first, stop=40)
    state = first.state_dict()
    assert len(state["scheduler"]["weight_log"]) <= mixture_horizon(mixture) + 1  # not 41 entries
    resumed = MixtureLoader(mixture, **resume_kw)
    resumed.load_state_dict(state)
    tail = []
    for batch in resumed:
        tail.append(batch)
        resumed.set_weights(changes[batch["step"]])
        if batch["step"] == 59:
            break
    assert _ids(head + tail) == _ids(ref)


def mixture_horizon(path) -> int:
    from curator.loader.mixture import load_mixture

    return load_mixture(path).horizon
