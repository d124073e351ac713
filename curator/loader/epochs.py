"""`curator mixture show`: per domain its size, natural and chosen weight, and the epochs a token budget needs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from curator.errors import ConfigError
from curator.loader.mixture import MixtureConfig
from curator.loader.store import TokenStore


@dataclass
class DomainRow:
    """One domain at a token budget: epochs = budget x weight / tokens (inf for an empty domain with weight)."""

    name: str
    docs: int
    tokens: int
    natural: float  # the domain's share of the store's tokens
    weight: float
    epochs: float
    max_epochs: float | None
    heldout_docs: int = 0  # validation documents kept out of `docs` and `tokens`
    heldout_tokens: int = 0

    @property
    def over(self) -> bool:
        return self.max_epochs is not None and self.epochs > self.max_epochs


def epochs_table(mixture: MixtureConfig, store: TokenStore, budget: int | None = None) -> tuple[int, list[DomainRow]]:
    """(budget, rows) for the mixture's domains; the budget defaults to the store's tokens over those domains."""
    missing = [d.name for d in mixture.domains if d.name not in store.meta["domains"]]
    if missing:
        raise ConfigError(
            f"token store '{store.root}' has no domain(s) {', '.join(missing)}; rebuild it with "
            "`curator mixture build MIXTURE.yaml`"
        )
    if budget is not None and budget <= 0:
        raise ConfigError(f"--tokens {budget}: give a positive token budget")
    info = {d.name: store.meta["domains"][d.name] for d in mixture.domains}
    total = sum(int(i["tokens"]) for i in info.values())
    budget = total if budget is None else budget
    rows = []
    for d in mixture.domains:
        tokens = int(info[d.name]["tokens"])
        want = budget * d.weight
        epochs = want / tokens if tokens else (math.inf if want else 0.0)
        natural = tokens / total if total else 0.0
        held = info[d.name].get("heldout") or {}
        rows.append(
            DomainRow(
                d.name,
                int(info[d.name]["docs"]),
                tokens,
                natural,
                d.weight,
                epochs,
                d.max_epochs,
                int(held.get("docs", 0)),
                int(held.get("tokens", 0)),
            )  # fmt: skip
        )
    return budget, rows
