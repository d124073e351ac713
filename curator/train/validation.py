"""Validation on held-out documents: per domain, fixed windows cut from the documents the store kept out."""

from __future__ import annotations

import numpy as np
import torch

from curator.errors import ConfigError
from curator.loader.domain_losses import domain_means
from curator.loader.mixture import MixtureConfig
from curator.loader.reweight import per_sample_loss
from curator.loader.store import TokenStore


def heldout_batches(store: TokenStore, mixture: MixtureConfig, samples: int, batch_size: int) -> list[dict]:
    """Batches of {input_ids, labels, domain_id}: per domain, the first `samples` windows of seq_len + 1 tokens
    cut back to back from its held-out token stream (fewer when the stream is shorter; a stream shorter than
    one window is one shorter window). The same windows on every call and resume. Memory: the windows."""
    seq_len, batches, missing = mixture.seq_len, [], []
    for d, name in enumerate(mixture.names):
        held = store.heldout(name)
        if held is None or held.tokens < 2:
            missing.append(name)
            continue
        n = min(samples, max(1, (held.tokens - 1) // seq_len))
        length = min(seq_len + 1, held.tokens)
        tokens = np.empty((n, length), np.int64)
        held.gather(np.arange(n, dtype=np.int64) * seq_len, length, tokens, np.arange(n))
        for lo in range(0, n, batch_size):
            part = tokens[lo : lo + batch_size]
            batches.append(
                {
                    "input_ids": torch.from_numpy(part[:, :-1]),
                    "labels": torch.from_numpy(part[:, 1:]),
                    "domain_id": torch.full((len(part),), d, dtype=torch.int64),
                }
            )
    if missing:
        built = any(store.meta["domains"][n].get("heldout") is not None for n in mixture.names)
        why = (
            f"the mixture's holdout share ({mixture.holdout:g}) gave them no held-out documents; raise `holdout:`"
            if built
            else "the store was built without held-out documents (older store or `holdout: 0`); set `holdout:`"
        )
        raise ConfigError(
            f"validation: domain(s) {', '.join(missing)} of store '{store.root}' have no held-out documents: {why} "
            "in the mixture and rebuild the store (curator mixture build --overwrite), or set eval_every: 0"
        )
    return batches


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list[dict], names: list[str]) -> dict[str | None, tuple[float, int]]:
    """{None: (mean loss over all windows, windows), domain: (mean loss, windows)} on the validation batches."""
    was_training = model.training
    model.eval()
    losses, ids = [], []
    for batch in batches:
        per, _ = per_sample_loss(model(batch["input_ids"]), batch["labels"])
        losses.append(per)
        ids.append(batch["domain_id"])
    model.train(was_training)
    return loss_rows(torch.cat(losses), torch.cat(ids), names)


def loss_rows(losses: torch.Tensor, ids: torch.Tensor, names: list[str]) -> dict[str | None, tuple[float, int]]:
    """{None: (mean, n), domain: (mean, n)} of per-sample losses by domain id (NaN mean for an absent domain)."""
    means, counts = domain_means(losses, ids, len(names))
    rows: dict[str | None, tuple[float, int]] = {None: (float(losses.double().mean()), int(losses.numel()))}
    rows.update({n: (float(m), int(c)) for n, m, c in zip(names, means, counts, strict=True)})
    return rows
