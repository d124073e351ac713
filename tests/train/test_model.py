"""The GPT: output shapes, causality, tied embedding and head, config checks."""

from __future__ import annotations

import pytest
import torch

from curator.train.model import GPT, GPTConfig


def _model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=97, d_model=32, n_layers=2, n_heads=4, seq_len=16, **kw))


def test_shapes_and_size():
    model = _model()
    logits = model(torch.randint(0, 97, (3, 16)))
    assert logits.shape == (3, 16, 97)
    assert model(torch.randint(0, 97, (2, 5))).shape == (2, 5, 97)  # shorter than seq_len
    assert 10_000 < model.num_parameters() < 100_000


def test_causal():
    model = _model().eval()
    x = torch.randint(0, 97, (2, 16))
    y = x.clone()
    y[:, 9] = (y[:, 9] + 1) % 97
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.equal(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_tied_weights():
    model = _model()
    assert model.head.weight is model.embed.weight
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())
    model(torch.randint(0, 97, (2, 8))).sum().backward()
    assert model.embed.weight.grad is not None


def test_bad_config():
    with pytest.raises(ValueError, match="even size"):
        GPTConfig(vocab_size=10, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="longer than"):
        _model()(torch.zeros((1, 17), dtype=torch.long))


def test_token_ids_outside_the_vocabulary_are_named():
    model = GPT(GPTConfig(vocab_size=50, d_model=16, n_layers=1, n_heads=2, seq_len=8))
    with pytest.raises(ValueError, match=r"token ids 0\.\.50 are outside the model's vocabulary 0\.\.49"):
        model(torch.tensor([[0, 1, 50]]))
