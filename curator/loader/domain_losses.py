"""Per-domain loss sums, counts and means from per-sample losses (numpy or torch), all-reduced over ranks.

A trainer turns a batch's per-sample losses and `domain_id`s into one (K,) loss mean and count vector for
`policy.observe`. With torch tensors the reduction stays on their device (index_add, no `.item()`); the only
host transfer is the final 2K numbers. Under torch.distributed every rank must observe the same numbers, so
reduce the per-domain (sum, count) over ranks before dividing:

    sums, counts = domain_sums(per_sample_loss.detach(), batch["domain_id"], K)
    sums, counts = allreduce_domain_sums(sums, counts)  # no-op without an initialised process group
    means, counts = means_from_sums(sums, counts)       # numpy (K,), (K,): the same on every rank

(`domain_means(..., all_reduce=True)` does the three calls.) A sample whose loss is not finite (a fully
masked sample's 0/0) counts for nothing; a domain without samples gets mean NaN and count 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from curator.errors import ConfigError


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def domain_sums(losses: Any, domain_ids: Any, num_domains: int) -> tuple[Any, Any]:
    """Per-domain sum of finite losses and their count, as float64 arrays of the input's kind and device."""
    k = int(num_domains)
    if k < 1:
        raise ConfigError(f"num_domains must be >= 1, got {num_domains}")
    if _is_torch(losses) or _is_torch(domain_ids):
        import torch

        loss = torch.as_tensor(losses).detach().reshape(-1).to(torch.float64)
        ids = torch.as_tensor(domain_ids, device=loss.device).reshape(-1).to(torch.int64)
        _check_lengths(loss.shape[0], ids.shape[0])
        ok = torch.isfinite(loss)
        # an id outside 0..K-1 would make index_add_ raise a device-side error; clamp and drop it instead
        ok = ok & (ids >= 0) & (ids < k)
        idx = ids.clamp(0, k - 1)
        sums = torch.zeros(k, dtype=torch.float64, device=loss.device).index_add_(0, idx, torch.where(ok, loss, 0.0))
        counts = torch.zeros(k, dtype=torch.float64, device=loss.device).index_add_(0, idx, ok.to(torch.float64))
        return sums, counts
    loss = np.asarray(losses, np.float64).reshape(-1)
    ids = np.asarray(domain_ids).reshape(-1)
    _check_lengths(len(loss), len(ids))
    if ids.size and (ids.min() < 0 or ids.max() >= k):
        raise ConfigError(f"domain ids must lie in 0..{k - 1}; got {int(ids.min())}..{int(ids.max())}")
    ok = np.isfinite(loss)
    sums = np.bincount(ids[ok].astype(np.int64), weights=loss[ok], minlength=k).astype(np.float64)
    counts = np.bincount(ids[ok].astype(np.int64), minlength=k).astype(np.float64)
    return sums, counts


def _check_lengths(n_losses: int, n_ids: int) -> None:
    if n_losses != n_ids:
        raise ConfigError(f"{n_losses} losses but {n_ids} domain ids; give one domain id per loss")


def allreduce_domain_sums(sums: Any, counts: Any) -> tuple[Any, Any]:
    """Sum (sums, counts) over all ranks in one collective; returns them unchanged when torch.distributed is
    not initialised. numpy inputs go through a CPU tensor (needs a gloo group); torch ones stay on device."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is a dependency of the loader
        return sums, counts
    if not (dist.is_available() and dist.is_initialized()):
        return sums, counts
    as_numpy = not _is_torch(sums)
    packed = torch.stack([torch.as_tensor(sums, dtype=torch.float64), torch.as_tensor(counts, dtype=torch.float64)])
    if not as_numpy:
        packed = packed.to(sums.device)
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    if as_numpy:
        out = packed.numpy()
        return out[0].copy(), out[1].copy()
    return packed[0], packed[1]


def means_from_sums(sums: Any, counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """numpy (means, counts) on the host: one transfer for torch inputs; NaN mean where the count is 0."""
    if _is_torch(sums):
        import torch

        both = torch.stack([sums.detach().to(torch.float64), counts.detach().to(torch.float64)]).cpu().numpy()
        sums, counts = both[0], both[1]
    sums = np.asarray(sums, np.float64)
    counts = np.asarray(counts, np.float64)
    means = np.full(sums.shape, np.nan)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means, counts


def domain_means(
    losses: Any, domain_ids: Any, num_domains: int, all_reduce: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """numpy (K,) per-domain mean loss and sample count; `all_reduce=True` sums over ranks first (every rank
    must call it then)."""
    sums, counts = domain_sums(losses, domain_ids, num_domains)
    if all_reduce:
        sums, counts = allreduce_domain_sums(sums, counts)
    return means_from_sums(sums, counts)
