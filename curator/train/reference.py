"""DoReMi's reference model in the training loop: a frozen checkpoint whose per-token losses give the excess."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from curator.errors import ConfigError
from curator.train.checkpoint import load_model


class ReferenceModel:
    """A frozen reference GPT; `excess(logits, input_ids, labels)` is each sample's mean over its label tokens
    of max(loss - reference loss, 0) (DoReMi's clipped excess, per token). One extra forward pass per batch."""

    def __init__(self, path: str | Path, vocab_size: int, seq_len: int):
        self.model, info = load_model(path)
        self.file, self.step = info.path, info.step
        got = self.model.config
        if got.vocab_size != vocab_size:
            raise ConfigError(
                f"doremi: the reference checkpoint {self.file} has a vocabulary of {got.vocab_size}, this run's "
                f"model {vocab_size}; train the reference on the same tokenizer and model.vocab_size"
            )
        if got.seq_len < seq_len:
            raise ConfigError(
                f"doremi: the reference checkpoint {self.file} handles {got.seq_len} tokens, the mixture's samples "
                f"are {seq_len}"
            )
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def excess(self, logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(B,) mean clipped excess loss per sample (0 for a sample without label tokens)."""
        ref = self.model(input_ids)
        flat = labels.flatten()
        mine = F.cross_entropy(logits.detach().flatten(0, 1).float(), flat, ignore_index=-100, reduction="none")
        theirs = F.cross_entropy(ref.flatten(0, 1).float(), flat, ignore_index=-100, reduction="none")
        mask = (labels != -100).to(mine.dtype)
        clipped = (mine - theirs).clamp(min=0).view_as(mask) * mask
        return clipped.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
