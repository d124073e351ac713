"""Domain policies: hand-computed ODM and DoReMi steps, simplex properties, schedules, exact resume, bad input,
and a real MixtureLoader steered through `apply`."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import curator
from curator.errors import ConfigError, RunError
from curator.loader.dataset import MixtureLoader
from curator.loader.policies import (
    ODM,
    DoReMi,
    Schedule,
    Static,
    allreduce_domain_sums,
    apply,
    domain_means,
    policy_from_config,
)
from tests.loader.conftest import mixture_file

NAMES = ["a", "b", "c"]
NAN = float("nan")


def _softmax(z):
    e = [math.exp(x - max(z)) for x in z]
    return [x / sum(e) for x in e]


# -- ODM -----------------------------------------------------------------------------------------------------


def test_odm_exp3_steps_by_hand():
    """K = 3, warm-up 0, start [0.5, 0.3, 0.2]. eps_t = min(1/3, sqrt(ln 3 / (3t))) is 1/3 for t <= 3 (so
    pi_1..pi_3 are uniform), then sqrt(ln 3 / 12) = 0.302574 and sqrt(ln 3 / 15) = 0.270630."""
    odm = ODM(NAMES, [0.5, 0.3, 0.2], warmup=0)
    third = [1 / 3] * 3
    # t=1: R_hat = [2/10/0.5, 3/10/0.3, 4/10/0.2] = [0.4, 1.0, 2.0]; pi_1 = (1 - 3/3) softmax + 1/3
    assert np.allclose(odm.observe([2.0, 3.0, 4.0], [4, 2, 2], 0), third)
    assert np.allclose(odm.reward_sums, [0.4, 1.0, 2.0])
    # t=2: b unseen (its NaN ignored); R_hat += [0.2 * 3, -, 0.4 * 3] = [1.0, 1.0, 3.2]
    assert np.allclose(odm.observe([2.0, NAN, 4.0], [4, 0, 4], 1), third)
    assert np.allclose(odm.reward_sums, [1.0, 1.0, 3.2])
    # t=3: R_hat += [0.3, 1.5, 0.9] = [1.3, 2.5, 4.1]
    assert np.allclose(odm.observe([1.0, 5.0, 3.0], [1, 1, 6], 2), third)
    assert np.allclose(odm.reward_sums, [1.3, 2.5, 4.1])
    # t=4: R_hat += [0.6, 0.9, 0.3] = [1.9, 3.4, 4.4]; pi_4 = (1 - 3 e4) softmax(R_hat / 3) + e4
    e4 = math.sqrt(math.log(3) / 12)
    hand4 = [(1 - 3 * e4) * p + e4 for p in _softmax([1.9 / 3, 3.4 / 3, 4.4 / 3])]
    w4 = odm.observe([2.0, 3.0, 1.0], [3, 3, 2], 3)
    assert np.allclose(w4, hand4, rtol=0, atol=1e-12)
    assert np.allclose(w4, [0.321217159856315, 0.33331137573076297, 0.3454714644129221], rtol=0, atol=1e-12)
    # t=5: c unseen; R_hat += [0.4 / pi_4(a), 0.1 / pi_4(b), -]; pi_5 = (1 - 3 e5) softmax(e4 R_hat) + e5
    r5 = [1.9 + 0.4 / hand4[0], 3.4 + 0.1 / hand4[1], 4.4]
    e5 = math.sqrt(math.log(3) / 15)
    hand5 = [(1 - 3 * e5) * p + e5 for p in _softmax([e4 * r for r in r5])]
    w5 = odm.observe([4.0, 1.0, NAN], [5, 3, 0], 4)
    assert np.allclose(odm.reward_sums, r5, rtol=0, atol=1e-12)
    assert np.allclose(w5, hand5, rtol=0, atol=1e-12)
    assert np.allclose(w5, [0.3222442864036464, 0.3316774907010953, 0.3460782228952584], rtol=0, atol=1e-12)


def test_odm_warmup_and_sampling_weights():
    odm = ODM(NAMES, [0.5, 0.3, 0.2], warmup=3)
    for step in range(3):  # feedback before the warm-up ends is ignored
        assert odm.observe([9.0, 9.0, 9.0], [1, 1, 1], step) is None
    assert odm.t == 0 and np.all(odm.reward_sums == 0)
    odm.observe([1.0, 1.0, NAN], [1, 1, 0], 3, sampled_with=[0.25, 0.5, 0.25])  # importance weights = 1 / these
    assert np.allclose(odm.reward_sums, [0.1 / 0.25, 0.1 / 0.5, 0.0])
    assert odm.observe([1.0, 1.0, 1.0], [0, 0, 0], 4) is None  # nothing seen: no round
    assert odm.t == 1
    odm.observe([1.0, 1.0, 1.0], [1, 0, 0], 5, sampled_with=[0.0, 0.5, 0.5])  # a zero counts as min_prob
    assert odm.reward_sums[0] == pytest.approx(0.1 / 0.25 + 0.1 / 1e-6)


# -- DoReMi ----------------------------------------------------------------------------------------------------


def test_doremi_steps_by_hand():
    """Uniform start, ref = [2, 3, 1], eta = 1, c = 1e-3: alpha = 0.999 softmax(log alpha + lambda) + 0.001/3."""
    dr = DoReMi(NAMES, [1 / 3] * 3, {"a": 2.0, "b": 3.0, "c": 1.0})
    c = 1e-3
    # step 0: lambda = [max(2.5-2, 0), max(2-3, 0), max(1.5-1, 0)] = [0.5, 0, 0.5]
    a1 = [(1 - c) * p + c / 3 for p in _softmax([math.log(1 / 3) + x for x in [0.5, 0.0, 0.5]])]
    assert np.allclose(dr.observe([2.5, 2.0, 1.5], [1, 1, 1], 0), a1, rtol=0, atol=1e-15)
    assert np.allclose(a1, [0.38360141279269355, 0.23279717441461306, 0.38360141279269355])
    # step 1: a absent keeps lambda 0.5; b: 4 - 3 = 1; c: 1 - 1 = 0
    a2 = [(1 - c) * p + c / 3 for p in _softmax([math.log(a) + x for a, x in zip(a1, [0.5, 1.0, 0.0], strict=True)])]
    assert np.allclose(dr.observe([NAN, 4.0, 1.0], [0, 2, 3], 1), a2, rtol=0, atol=1e-15)
    assert np.allclose(a2, [0.3835185417918459, 0.3837345475963561, 0.23274691061179792])
    # step 2: lambda = [1, 0.5, max(0.5 - 1, 0) = 0]
    a3 = [(1 - c) * p + c / 3 for p in _softmax([math.log(a) + x for a, x in zip(a2, [1.0, 0.5, 0.0], strict=True)])]
    assert np.allclose(dr.observe([3.0, 3.5, 0.5], [2, 2, 2], 2), a3, rtol=0, atol=1e-15)
    assert np.allclose(a3, [0.546196720781145, 0.3316026867592, 0.12220059245965507])
    assert np.allclose(dr.average_weights(), np.mean([a1, a2, a3], axis=0), rtol=0, atol=1e-15)


def test_doremi_proxy_equal_to_reference_keeps_the_weights():
    ref = {"a": 2.0, "b": 3.0, "c": 1.0}
    uniform = DoReMi(NAMES, [1 / 3] * 3, ref)  # the paper's start; smoothing toward uniform is then a no-op
    skewed = DoReMi(NAMES, [0.6, 0.3, 0.1], ref, smoothing=0.0)
    for step in range(20):
        below = [2.0, 2.5, 1.0]  # proxy at or below the reference: lambda = 0
        assert np.allclose(uniform.observe(below, [1, 1, 1], step), [1 / 3] * 3, rtol=0, atol=1e-15)
        assert np.allclose(skewed.observe(below, [1, 1, 1], step), [0.6, 0.3, 0.1], rtol=0, atol=1e-15)
    assert np.allclose(uniform.average_weights(), [1 / 3] * 3)


def test_doremi_smoothing_guards_against_one_hot_collapse():
    k, c = 3, 1e-2
    dr = DoReMi(NAMES, [1 / 3] * 3, {"a": 0.0, "b": 0.0, "c": 0.0}, smoothing=c)
    for step in range(200):
        w = dr.observe([50.0, 0.0, 0.0], [1, 1, 1], step)  # a's excess drives everything to a
    assert w[0] > 0.99 and np.all(w >= c / k - 1e-15)
    collapsing = DoReMi(NAMES, [1 / 3] * 3, {"a": 0.0, "b": 0.0, "c": 0.0}, smoothing=0.0)
    for step in range(200):
        w = collapsing.observe([50.0, 0.0, 0.0], [1, 1, 1], step)
    assert w[1] < 1e-300  # without c it collapses to one-hot


def test_doremi_reference_table(tmp_path):
    pq.write_table(pa.table({"domain": ["c", "a", "b", "x"], "ref_loss": [1.0, 2.0, 3.0, 9.0]}), tmp_path / "r.parquet")
    (tmp_path / "r.csv").write_text("domain,ref_loss\na,2.0\nb,3.0\nc,1.0\n")
    for path in (tmp_path / "r.parquet", tmp_path / "r.csv"):
        dr = DoReMi.from_table(path, NAMES)
        assert dr.reference.tolist() == [2.0, 3.0, 1.0] and np.allclose(dr.weights, 1 / 3)
    (tmp_path / "missing.csv").write_text("domain,ref_loss\na,2.0\nb,3.0\n")
    with pytest.raises(ConfigError, match="no reference loss for domain.* c"):
        DoReMi.from_table(tmp_path / "missing.csv", NAMES)
    (tmp_path / "nan.csv").write_text("domain,ref_loss\na,2.0\nb,nan\nc,1\n")
    with pytest.raises(ConfigError, match="must be finite: b=nan"):
        DoReMi.from_table(tmp_path / "nan.csv", NAMES)
    (tmp_path / "cols.csv").write_text("name,loss\na,2.0\n")
    with pytest.raises(ConfigError, match="needs columns domain, ref_loss"):
        DoReMi.from_table(tmp_path / "cols.csv", NAMES)
    with pytest.raises(ConfigError, match="does not exist"):
        DoReMi.from_table(tmp_path / "nope.parquet", NAMES)
    via_config = policy_from_config("doremi", NAMES, [0.2, 0.3, 0.5], reference=str(tmp_path / "r.csv"), eta=0.5)
    assert isinstance(via_config, DoReMi) and via_config.eta == 0.5


# -- simplex properties ------------------------------------------------------------------------------------------

STEP = st.tuples(
    st.lists(st.floats(0.0, 30.0), min_size=4, max_size=4),
    st.lists(st.sampled_from([0, 0, 1, 7]), min_size=4, max_size=4),
)


def _policies(start):
    names = ["w", "x", "y", "z"]
    ref = {"w": 1.0, "x": 2.0, "y": 0.5, "z": 3.0}
    return [
        ODM(names, start, warmup=2),
        DoReMi(names, start, ref),
        DoReMi(names, start, ref, eta=5.0, smoothing=0.0),
        Schedule(names, start, [(1, [0.25] * 4), (4, [0.0, 0.0, 1.0, 0.0])]),
        Static(names, start),
    ]


@settings(max_examples=60, deadline=None)
@given(
    start=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda w: sum(w) > 1e-3),
    steps=st.lists(STEP, min_size=1, max_size=25),
    all_equal=st.booleans(),
)
def test_weights_stay_on_the_simplex(start, steps, all_equal):
    start = np.asarray(start) / sum(start)
    for policy in _policies(start):
        for step, (losses, counts) in enumerate(steps):
            losses = np.asarray([losses[0]] * 4 if all_equal else losses)
            losses = np.where(np.asarray(counts) > 0, losses, np.nan)  # unseen domains carry NaN
            w = policy.observe(losses, counts, step)
            if w is None:
                continue
            assert w.shape == (4,) and np.all(np.isfinite(w)) and np.all(w >= 0)
            assert abs(w.sum() - 1.0) < 1e-12
            if isinstance(policy, DoReMi) and policy.smoothing > 0:
                assert np.all(w >= policy.smoothing / 4 - 1e-15)
            if isinstance(policy, ODM):
                assert np.all(w >= policy.epsilon(policy.t) - 1e-15)


# -- schedule ----------------------------------------------------------------------------------------------------


def test_schedule_emits_each_phase_at_its_step():
    sched = Schedule(NAMES, [0.5, 0.3, 0.2], [(0, {"a": 1, "b": 0, "c": 0}), (3, {"a": 0.2, "b": 0.2, "c": 0.6})])
    out = {step: sched.observe(None, None, step) for step in range(6)}
    assert out[0].tolist() == [1.0, 0.0, 0.0] and out[3].tolist() == [0.2, 0.2, 0.6]
    assert all(out[s] is None for s in (1, 2, 4, 5))
    late = Schedule(NAMES, [0.5, 0.3, 0.2], [{"step": 2, "weights": [0.0, 1.0, 0.0]}])
    assert late.observe(None, None, 0) is None and late.observe(None, None, 5).tolist() == [0.0, 1.0, 0.0]


@pytest.mark.parametrize(
    "phases, match",
    [
        ([(0, {"a": 0.5, "b": 0.5, "d": 0.0})], "unknown domain.* d; the domains are a, b, c"),
        ([(0, {"a": 0.5, "b": 0.5})], "missing: c"),
        ([(0, {"a": 0.5, "b": 0.4, "c": 0.2})], "sum to 1"),
        ([(3, [0.2, 0.3, 0.5]), (3, [0.3, 0.3, 0.4])], "steps must increase"),
        ([(-1, [0.2, 0.3, 0.5])], "integer >= 0"),
        ([(0, [0.2, -0.3, 1.1])], "finite and >= 0"),
        ([], "at least one phase"),
        (["oops"], "expected \\(step"),
    ],
)
def test_schedule_bad_phases(phases, match):
    with pytest.raises(ConfigError, match=match):
        Schedule(NAMES, [0.5, 0.3, 0.2], phases)


# -- resume --------------------------------------------------------------------------------------------------


def _feedback(n, k=3, seed=3):
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 3, (n, k))
    losses = np.where(counts > 0, rng.uniform(0.5, 8.0, (n, k)), np.nan)
    return losses, counts


@pytest.mark.parametrize(
    "make",
    [
        lambda: ODM(NAMES, [0.5, 0.3, 0.2], warmup=4),
        lambda: DoReMi(NAMES, [0.5, 0.3, 0.2], {"a": 2.0, "b": 3.0, "c": 1.0}),
        lambda: Schedule(NAMES, [0.5, 0.3, 0.2], [(5, [0.1, 0.1, 0.8]), (12, [0.3, 0.3, 0.4])]),
    ],
)
def test_state_dict_round_trip_continues_identically(make):
    losses, counts = _feedback(30)
    whole = make()
    expected = [whole.observe(losses[s], counts[s], s) for s in range(30)]
    first = make()
    for s in range(10):
        first.observe(losses[s], counts[s], s)
    state = json.loads(json.dumps(first.state_dict()))  # survives JSON (and so torch.save)
    resumed = make()
    resumed.load_state_dict(state)
    for s in range(10, 30):
        got = resumed.observe(losses[s], counts[s], s)
        assert (got is None and expected[s] is None) or np.array_equal(got, expected[s])
    assert resumed.state_dict() == whole.state_dict()
    with pytest.raises(ConfigError, match="observe each step once"):
        resumed.observe(losses[0], counts[0], 29)


def test_a_state_of_another_policy_is_refused():
    with pytest.raises(ConfigError, match="belongs to policy 'odm'"):
        Static(NAMES, [0.5, 0.3, 0.2]).load_state_dict(ODM(NAMES, [0.5, 0.3, 0.2]).state_dict())


# -- bad input ---------------------------------------------------------------------------------------------------


def test_bad_observations():
    odm = ODM(NAMES, [0.5, 0.3, 0.2], warmup=0)
    with pytest.raises(ConfigError, match=r"shape \(3,\) \(a, b, c\); got losses \(2,\)"):
        odm.observe([1.0, 2.0], [1, 1, 1], 0)
    with pytest.raises(ConfigError, match="counts must be finite and >= 0"):
        odm.observe([1.0, 2.0, 3.0], [1, -1, 1], 0)
    with pytest.raises(RunError, match=r"non-finite loss in domain.*\(b=nan\)"):
        odm.observe([1.0, NAN, 3.0], [1, 2, 1], 0)
    with pytest.raises(RunError, match="c=inf"):
        DoReMi(NAMES, [0.5, 0.3, 0.2], {"a": 1, "b": 1, "c": 1}).observe([1.0, 1.0, np.inf], [1, 1, 1], 0)
    assert odm.observe([1.0, NAN, 3.0], [1, 0, 1], 0) is not None  # NaN of an unseen domain is fine


def test_bad_construction():
    with pytest.raises(ConfigError, match="sum to 1"):
        ODM(NAMES, [0.5, 0.5, 0.5])
    with pytest.raises(ConfigError, match="missing: c"):
        Static(NAMES, {"a": 0.5, "b": 0.5})
    with pytest.raises(ConfigError, match="names repeat"):
        Static(["a", "a"], [0.5, 0.5])
    with pytest.raises(ConfigError, match="no reference loss for domain.* b, c"):
        DoReMi(NAMES, [0.5, 0.3, 0.2], {"a": 1.0})
    with pytest.raises(ConfigError, match="unknown policy 'dorem'; choose one of static, schedule, odm, doremi"):
        policy_from_config("dorem", NAMES, [0.5, 0.3, 0.2])
    with pytest.raises(ConfigError, match="unknown parameter.* warmpu; it takes warmup, reward_scale, min_prob"):
        policy_from_config("odm", NAMES, [0.5, 0.3, 0.2], warmpu=10)
    with pytest.raises(ConfigError, match="it takes phases"):
        policy_from_config("schedule", NAMES, [0.5, 0.3, 0.2])
    assert policy_from_config("ODM", NAMES, [0.5, 0.3, 0.2], warmup=5).warmup == 5


# -- per-domain means --------------------------------------------------------------------------------------------


def test_domain_means_numpy_and_torch_agree_and_skip_nan():
    losses = [1.0, 3.0, NAN, 2.0, 5.0, np.inf]
    ids = [0, 0, 1, 2, 2, 2]
    means, counts = domain_means(np.asarray(losses), np.asarray(ids), 4)
    assert np.allclose(means[[0, 2]], [2.0, 3.5]) and np.isnan(means[1]) and np.isnan(means[3])
    assert counts.tolist() == [2, 0, 2, 0]
    t_means, t_counts = domain_means(torch.tensor(losses, dtype=torch.float32), torch.tensor(ids), 4)
    assert np.allclose(t_means, means, equal_nan=True) and np.array_equal(t_counts, counts)
    assert allreduce_domain_sums(np.ones(2), np.ones(2))[0].tolist() == [1.0, 1.0]  # no process group: no-op
    with pytest.raises(ConfigError, match="6 losses but 5 domain ids"):
        domain_means(np.asarray(losses), np.asarray(ids[:5]), 4)
    with pytest.raises(ConfigError, match="domain ids must lie in 0..2"):
        domain_means(np.asarray(losses), np.asarray(ids) + 1, 3)


def test_allreduce_in_a_one_rank_gloo_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0, world_size=1)
    try:
        sums, counts = allreduce_domain_sums(torch.tensor([2.0, 0.0]), torch.tensor([1.0, 0.0]))
        assert sums.tolist() == [2.0, 0.0] and counts.tolist() == [1.0, 0.0]
        n_sums, n_counts = allreduce_domain_sums(np.array([2.0, 4.0]), np.array([1.0, 2.0]))
        assert isinstance(n_sums, np.ndarray) and n_sums.tolist() == [2.0, 4.0] and n_counts.tolist() == [1.0, 2.0]
        means, _ = domain_means(torch.tensor([1.0, 3.0]), torch.tensor([1, 1]), 2, all_reduce=True)
        assert np.isnan(means[0]) and means[1] == 2.0
    finally:
        dist.destroy_process_group()


RANK_WORKER = textwrap.dedent(
    """
    import json, sys
    import numpy as np, torch
    import torch.distributed as dist
    from curator.loader.policies import ODM, domain_means

    init_file, rank, out = sys.argv[1:4]
    rank = int(rank)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    rng = np.random.default_rng(rank)  # each rank sees other samples
    odm = ODM(["a", "b", "c"], [0.5, 0.3, 0.2], warmup=0)
    feedback, weights = [], []
    for step in range(8):
        ids = rng.integers(0, 3 if rank == 0 else 2, 6)  # c only ever on rank 0
        losses = rng.uniform(1.0, 5.0, 6)
        feedback.append([losses.tolist(), ids.tolist()])
        weights.append(odm.observe(*domain_means(torch.tensor(losses), torch.tensor(ids), 3, all_reduce=True), step))
    json.dump({"feedback": feedback, "weights": [w.tolist() for w in weights]}, open(out, "w"))
    dist.destroy_process_group()
    """
)


def test_two_gloo_ranks_observe_the_same_reduced_means(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(RANK_WORKER)
    root = os.path.dirname(os.path.dirname(curator.__file__))  # the workers import this checkout's curator
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "init"), str(r), str(tmp_path / f"rank{r}.json")],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert ranks[0]["weights"] == ranks[1]["weights"]  # every rank computes the same weights
    single = ODM(NAMES, [0.5, 0.3, 0.2], warmup=0)  # one process over both ranks' samples
    for step, (f0, f1) in enumerate(zip(ranks[0]["feedback"], ranks[1]["feedback"], strict=True)):
        w = single.observe(*domain_means(np.array(f0[0] + f1[0]), np.array(f0[1] + f1[1]), 3), step)
        assert np.allclose(w, ranks[0]["weights"][step], rtol=0, atol=1e-12)


# -- through a real MixtureLoader --------------------------------------------------------------------------------


def test_schedule_through_apply_changes_the_domains_from_step_plus_horizon(tmp_path, store):
    loader = MixtureLoader(mixture_file(tmp_path, store), log_dir=tmp_path / "run", policy="schedule")
    sched = Schedule(loader.config.names, loader.config.weights, [(6, {"code": 0.0, "prose": 1.0, "docs": 0.0})])
    horizon, domains = loader.config.horizon, []
    for batch in loader:
        domains.append(batch["domain_id"].numpy())
        means, counts = domain_means(torch.ones(8), batch["domain_id"], 3)
        start = apply(sched, loader, means, counts)
        assert start == (6 + horizon if batch["step"] == 6 else None)
        if len(domains) == 20:
            break
    before, after = np.concatenate(domains[: 6 + horizon]), np.concatenate(domains[6 + horizon :])
    assert np.all(after == 1)  # only prose from step 9
    assert len(np.unique(before)) == 3 and np.mean(before == 1) < 0.6  # the file's 0.5 / 0.3 / 0.2 before
    loader.close()
    log = pq.read_table(tmp_path / "run" / "stats" / "mixture_log").to_pandas()
    change = log[log["sample_index"] == (6 + horizon) * 8]
    assert dict(zip(change["domain"], change["weight"], strict=True)) == {"code": 0.0, "prose": 1.0, "docs": 0.0}
    seen_at_6 = {loader.config.names[d] for d in np.unique(domains[6])}
    logged = dict(zip(change["domain"], change["domain_loss"], strict=True))
    assert {n for n, v in logged.items() if v == 1.0} == seen_at_6  # the losses that caused the change
    assert all(np.isnan(v) for n, v in logged.items() if n not in seen_at_6)


def _odm_run(mixture, steps, stop=None, state=None):
    """ODM through apply on a real loader; losses depend on the samples (prose lossy). Returns ids, the weight
    changes (start step, weights) and, when `stop` is given, the (loader, policy) states after that step."""
    loader = MixtureLoader(mixture)
    policy = ODM(loader.config.names, loader.config.weights, warmup=2)
    if state is not None:
        loader.load_state_dict(state[0])
        policy.load_state_dict(state[1])
    ids, saved, changes = [], None, []
    for batch in loader:
        dom = batch["domain_id"]
        per_sample = 1.0 + 4.0 * (dom == 1).double() + (batch["sample_id"] % 7).double() / 10
        means, counts = domain_means(per_sample, dom, 3)
        start = apply(policy, loader, means, counts)
        if start is not None:
            changes.append((start, loader.scheduler.weights_at(start)))
        ids.append(batch["sample_id"].tolist())
        if batch["step"] == stop:
            saved = (json.loads(json.dumps(loader.state_dict())), json.loads(json.dumps(policy.state_dict())))
        if batch["step"] == steps - 1:
            break
    return ids, changes, saved


def test_odm_through_apply_resumes_identically(tmp_path, store):
    domains = [{"name": n, "weight": w} for n, w in [("code", 0.5), ("prose", 0.3), ("docs", 0.2)]]
    mixture = mixture_file(tmp_path, store, domains=domains)  # no caps: the stream outlasts the test
    ids, weight_log, state = _odm_run(mixture, 40, stop=15)
    horizon = 3
    assert [s for s, _ in weight_log] == list(range(2 + horizon, 40 + horizon))  # one change per step >= 2
    assert weight_log[-1][1][1] > max(weight_log[-1][1][0], weight_log[-1][1][2])  # the lossy domain gains
    tail, tail_log, _ = _odm_run(mixture, 40, state=state)
    assert tail == ids[16:] and tail_log == weight_log[16 - 2 :]  # the changes made at steps 16..39 again
