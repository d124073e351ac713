"""MixtureScheduler: counter-based determinism, exact weight changes, caps, realised frequencies, bad weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.errors import ConfigError
from curator.loader.permutation import permutation_key, permute
from curator.loader.scheduler import DOMAIN_SHIFT, MixtureScheduler


def _take(s: MixtureScheduler, n: int):
    out = []
    for _ in range(n):
        b = s.next_batch()
        if b is None:
            break
        out.append(b)
    return out


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        x.step == y.step and np.array_equal(x.sample_ids, y.sample_ids) and np.array_equal(x.domains, y.domains)
        for x, y in zip(a, b, strict=True)
    )


@given(n=st.integers(1, 3000), key=st.integers(0, 2**64 - 1))
@settings(max_examples=60)
def test_permutation_is_a_bijection_for_every_key(n, key):
    image = permute(np.arange(n), n, key)
    assert np.array_equal(np.sort(image), np.arange(n))


def test_epochs_of_a_domain_get_different_orders():
    a = permute(np.arange(500), 500, permutation_key(3, 1, 0))
    b = permute(np.arange(500), 500, permutation_key(3, 1, 1))
    c = permute(np.arange(500), 500, permutation_key(3, 2, 0))
    assert not np.array_equal(a, b) and not np.array_equal(a, c)


sizes = st.lists(st.integers(1, 400), min_size=1, max_size=5)


@given(windows=sizes, seed=st.integers(0, 2**32), batch=st.integers(1, 17), cut=st.integers(0, 30), data=st.data())
@settings(max_examples=40)
def test_same_inputs_same_stream_and_any_resume_continues_it(windows, seed, batch, cut, data):
    raw = data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(windows), max_size=len(windows)))
    weights = (np.array(raw) / sum(raw)).tolist()
    full = _take(MixtureScheduler(windows, weights, batch, seed=seed), 40)
    assert _same(full, _take(MixtureScheduler(windows, weights, batch, seed=seed), 40))
    first = MixtureScheduler(windows, weights, batch, seed=seed)
    head = _take(first, cut)
    resumed = MixtureScheduler(windows, weights, batch, seed=seed)
    resumed.load_state_dict(first.state_dict())
    assert _same(head + _take(resumed, 40 - cut), full)
    for b in full:  # sample ids say domain and window; windows are inside the domain
        assert np.array_equal(b.sample_ids >> DOMAIN_SHIFT, b.domains)
        assert np.all(b.windows < np.asarray(windows)[b.domains])


def test_every_window_once_per_epoch():
    s = MixtureScheduler([37], [1.0], global_batch=37, seed=5)
    e0, e1 = s.next_batch(), s.next_batch()
    assert sorted(e0.windows) == list(range(37)) == sorted(e1.windows)
    assert not np.array_equal(e0.windows, e1.windows)


@pytest.mark.parametrize("horizon", [1, 2, 5])
def test_a_change_is_visible_at_exactly_step_t_plus_horizon(horizon):
    base = MixtureScheduler([500, 500, 500], [0.4, 0.3, 0.3], global_batch=16, seed=3, horizon=horizon)
    changed = MixtureScheduler([500, 500, 500], [0.4, 0.3, 0.3], global_batch=16, seed=3, horizon=horizon)
    t = 4
    before = _take(changed, t + 1)  # the trainer has received steps 0..t
    assert changed.set_weights([0.0, 0.0, 1.0], step=t) == t + horizon
    after = _take(changed, 10)
    reference = _take(base, t + 1 + 10)
    stream = before + after
    differs = [b.step for b, r in zip(stream, reference, strict=True) if not np.array_equal(b.domains, r.domains)]
    first_changed = differs[0]
    assert first_changed == t + horizon
    assert all(np.all(b.domains == 2) for b in stream if b.step >= t + horizon)
    assert changed.weights_at(t + horizon - 1) == [0.4, 0.3, 0.3]


def test_a_change_for_a_step_already_handed_out_names_the_horizon_needed():
    s = MixtureScheduler([100, 100], [0.5, 0.5], global_batch=4, horizon=2)
    _take(s, 6)  # steps 0..5 handed out; the trainer is at step 1 (the loader ran 4 ahead)
    with pytest.raises(ConfigError, match="use horizon >= 5"):
        s.set_weights([1.0, 0.0], step=1)


def test_max_epochs_caps_a_domain_and_gives_its_share_to_the_others():
    s = MixtureScheduler([100, 40, 100], [0.3, 0.4, 0.3], global_batch=10, seed=1, max_epochs=[None, 1.5, 3])
    batches = _take(s, 200)
    counts = np.bincount(np.concatenate([b.domains for b in batches]), minlength=3)
    assert counts[1] == 60 and counts[2] <= 300
    assert s.finished is False or counts.sum() == 10 * len(batches)
    capped = MixtureScheduler([10, 10], [0.5, 0.5], global_batch=4, max_epochs=[1, 1])
    got = _take(capped, 100)
    assert len(got) == 5 and capped.next_batch() is None  # 20 windows = 5 whole batches, then the end


def test_realised_frequencies_follow_the_weight_log():
    """Chi-square of realised domain counts against the logged weights, per weight regime (seeded)."""
    s = MixtureScheduler([10**6] * 3, [0.6, 0.3, 0.1], global_batch=64, seed=11, horizon=1)
    first = _take(s, 150)
    s.set_weights([0.1, 0.2, 0.7], step=149)
    second = _take(s, 150)
    for batches, w in ((first, [0.6, 0.3, 0.1]), (second, [0.1, 0.2, 0.7])):
        counts = np.bincount(np.concatenate([b.domains for b in batches]), minlength=3)
        expected = np.array(w) * counts.sum()
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 13.82, (counts, expected)  # df = 2, p = 0.001


@pytest.mark.parametrize(
    "weights, message",
    [([0.5, -0.1, 0.6], "finite and >= 0"), ([0.5, float("nan"), 0.5], "finite"), ([0.5, 0.2, 0.2], "sum to 1"),
     ([0.5, 0.5], "expected 3 weights")],
)  # fmt: skip
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(ConfigError, match=message):
        MixtureScheduler([10, 10, 10], weights, 4)
    s = MixtureScheduler([10, 10, 10], [0.2, 0.3, 0.5], 4)
    with pytest.raises(ConfigError, match=message):
        s.set_weights(weights, step=0)


def test_an_empty_domain_is_named():
    with pytest.raises(ConfigError, match="tiny"):
        MixtureScheduler([10, 0], [0.5, 0.5], 4, names=["big", "tiny"])


@settings(max_examples=40)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=30), st.integers(0, 40), st.integers(1, 4))
def test_compact_never_changes_the_weights_from_its_step_on(gaps, cut, horizon):
    sched = MixtureScheduler([50, 60, 70], [0.2, 0.3, 0.5], 4, 1, horizon)
    rng = np.random.default_rng(len(gaps))
    step = 0
    for gap in gaps:
        step += gap
        sched.set_weights(rng.dirichlet(np.ones(3)).tolist(), step)
    before = [sched.weights_at(s) for s in range(cut, step + horizon + 3)]
    sched.compact(cut)
    assert [sched.weights_at(s) for s in range(cut, step + horizon + 3)] == before
    assert sum(1 for start, _ in sched.weight_log if start <= cut) <= 1
