"""Loss-based sample reweighting: the paper's test vectors, properties, guards, warm-up, and real gloo ranks."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from curator.loader.reweight import SampleReweighter, per_sample_loss
from curator.loader.reweight_formula import STRATEGIES, sample_weights

LOSSES = [2.0, 2.5, 3.0, 3.5, 4.0]
VECTORS = [  # N * w from ALGORITHMS.md section 5
    ("linupper", 1.0, [0.46, 0.76, 1.26, 1.26, 1.26]),
    ("quadratic", 1.0, [0.56, 1.18, 1.52, 1.18, 0.56]),
    ("extremes", 1.0, [1.40, 0.85, 0.51, 0.85, 1.40]),
    ("linupper", 0.4, [0.12, 0.43, 1.48, 1.48, 1.48]),
    ("uniform", 1.0, [1.0] * 5),
]


@pytest.mark.parametrize("strategy, r, expected", VECTORS)
def test_the_papers_test_vectors_in_numpy_and_torch(strategy, r, expected):
    np.testing.assert_allclose(5 * sample_weights(np.array(LOSSES), strategy, r), expected, atol=0.006)
    got = 5 * sample_weights(torch.tensor(LOSSES, dtype=torch.float32), strategy, r)
    np.testing.assert_allclose(got.numpy(), expected, atol=0.006)


finite_losses = arrays(np.float64, st.integers(1, 64), elements=st.floats(0.0, 20.0))


@given(losses=finite_losses, strategy=st.sampled_from(STRATEGIES), r=st.floats(0.2, 5.0), seed=st.integers(0, 99))
@settings(max_examples=150)
def test_simplex_bounded_ratio_and_permutation_equivariance(losses, strategy, r, seed):
    w = sample_weights(losses, strategy, r)
    assert np.all(w >= 0) and math.isclose(w.sum(), 1.0, rel_tol=1e-9)
    assert w.max() / w.min() <= math.exp(1.0 / r) * (1 + 1e-9)
    perm = np.random.default_rng(seed).permutation(len(losses))
    np.testing.assert_allclose(sample_weights(losses[perm], strategy, r), w[perm], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sample_weights(torch.tensor(losses), strategy, r).numpy(), w, rtol=1e-9, atol=1e-12)


def test_all_equal_and_non_finite_losses_are_guarded():
    np.testing.assert_allclose(sample_weights(np.full(4, 3.0)), 0.25)
    np.testing.assert_allclose(
        sample_weights(np.array([2.0, np.nan, 4.0, np.inf])), [1 / (1 + math.e), 0, math.e / (1 + math.e), 0]
    )
    np.testing.assert_allclose(sample_weights(np.array([np.nan, np.nan])), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        sample_weights(np.ones((2, 2)))
    with pytest.raises(ValueError, match="unknown reweighting strategy 'upper'"):
        sample_weights(np.ones(2), "upper")
    with pytest.raises(ValueError, match="temperature"):
        SampleReweighter(temperature=0)


def test_per_sample_loss_and_the_weighted_loss_backpropagates():
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 11, requires_grad=True)
    labels = torch.randint(0, 11, (4, 6))
    labels[1, 3:] = -100
    losses, counts = per_sample_loss(logits, labels)
    assert counts.tolist() == [6, 3, 6, 6]
    ref = torch.nn.functional.cross_entropy(logits[1, :3], labels[1, :3])
    assert torch.allclose(losses[1], ref)
    rw = SampleReweighter("quadratic", warmup_steps=2)
    warm, w0 = rw(losses, step=1)
    assert torch.allclose(warm, losses.mean()) and torch.allclose(w0, torch.full((4,), 0.25))
    loss, w = rw(losses, step=2)
    assert torch.allclose(loss, (w * losses).sum()) and not w.requires_grad
    loss.backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()
    with pytest.raises(ValueError, match="per-sample"):
        rw(losses.view(2, 2), step=3)


WORKER = textwrap.dedent(
    """
    import json, sys
    import torch, torch.distributed as dist
    from curator.loader.reweight import SampleReweighter

    init_file, rank, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    losses = torch.tensor([[2.0, 3.1, 0.7], [4.2, 2.5, 1.9]][rank], requires_grad=True)
    loss, weights = SampleReweighter("linupper", temperature=0.5)(losses, step=10)
    total = loss.detach().clone()
    dist.all_reduce(total)
    json.dump({"weights": weights.tolist(), "mean_of_rank_losses": total.item() / 2}, open(out, "w"))
    dist.destroy_process_group()
    """
)


def test_two_gloo_ranks_weigh_the_global_batch_like_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "init"), str(r), str(tmp_path / f"{r}.json")],
                         stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    results = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    everything = torch.tensor([2.0, 3.1, 0.7, 4.2, 2.5, 1.9])
    loss, weights = SampleReweighter("linupper", temperature=0.5)(everything, step=10)
    np.testing.assert_allclose(results[0]["weights"] + results[1]["weights"], weights.numpy(), rtol=1e-6)
    assert math.isclose(results[0]["mean_of_rank_losses"], loss.item(), rel_tol=1e-6)  # what DDP's average gives
