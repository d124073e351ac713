"""SampleReweighter: the training loss as a loss-weighted mean of per-sample losses (Sow et al. 2025).

Each step (each micro-batch under gradient accumulation: weights are per micro-batch) the detached per-sample
losses of every rank are all-gathered, so the weights are computed over the whole global batch on every rank
alike (ranks are the process group's global ranks, not local ones), and each rank returns
W x sum(w_i l_i) over its own samples: DDP's mean over the W ranks is then the global weighted mean. During
`warmup_steps` the loss is the plain mean. Nothing calls `.item()`: no host sync on the hot path.
Formula: `curator.loader.reweight_formula` (shared with the offline steps, numpy there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from curator.loader.reweight_formula import check_strategy, sample_weights


def per_sample_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> tuple:
    """(mean cross-entropy over each sample's label tokens (B,), label tokens per sample (B,)).
    A sample without a label token gets loss 0 and count 0."""
    if logits.ndim != 3 or labels.shape != logits.shape[:2]:
        raise ValueError(
            f"expected logits (B, T, V) and labels (B, T); got {tuple(logits.shape)}, {tuple(labels.shape)}"
        )
    token = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=ignore_index, reduction="none")
    mask = (labels != ignore_index).to(token.dtype)
    counts = mask.sum(dim=1)
    return (token.view_as(mask) * mask).sum(dim=1) / counts.clamp(min=1), counts


class SampleReweighter:
    """Turns per-sample losses into the loss to backpropagate; see the module docstring."""

    def __init__(
        self,
        strategy: str = "linupper",
        temperature: float = 1.0,
        warmup_steps: int = 0,
        delta: float = 1.0,
        group=None,
    ):
        check_strategy(strategy, temperature)
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.strategy, self.temperature, self.delta = strategy, float(temperature), float(delta)
        self.warmup_steps = int(warmup_steps)
        self.group = group

    def _world(self) -> tuple[int, int]:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(self.group), dist.get_world_size(self.group)  # global ranks in the group
        return 0, 1

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        """This rank's sample weights (detached), normalised over the samples of every rank."""
        if losses.ndim != 1:
            raise ValueError(f"losses must be per-sample, shape (B,); got {tuple(losses.shape)}")
        rank, world = self._world()
        detached = losses.detach()
        if world > 1:
            gathered = [torch.empty_like(detached) for _ in range(world)]
            torch.distributed.all_gather(gathered, detached, group=self.group)  # equal B on every rank
            detached = torch.cat(gathered)
        w = sample_weights(detached, self.strategy, self.temperature, self.delta)
        b = losses.shape[0]
        return w[rank * b : (rank + 1) * b]

    def __call__(self, losses: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to backpropagate, this rank's weights). Before `warmup_steps`: the plain mean (weights 1/N)."""
        if losses.ndim != 1:
            raise ValueError(f"losses must be per-sample, shape (B,); got {tuple(losses.shape)}")
        rank, world = self._world()
        if step < self.warmup_steps or self.strategy == "uniform":
            weights = torch.full_like(losses.detach(), 1.0 / (losses.shape[0] * world))
        else:
            weights = self.weights(losses)
        return world * (weights * losses).sum(), weights

    def state_dict(self) -> dict:
        return {"strategy": self.strategy, "temperature": self.temperature, "warmup_steps": self.warmup_steps}
