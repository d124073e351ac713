"""MixtureScheduler: global sample k -> (domain, window) by counter-based randomness; weights change exactly.

Sample k's domain is the inverse CDF of the weights active at k applied to a uniform draw hashed from
(seed, k); its window is the domain's next position through a keyed permutation of the domain's windows for
that epoch (`permutation.py`). So the stream depends only on (seed, weight log, domain sizes, global batch),
never on workers, threads, ranks or timing. State is O(domains + weight changes): the next step, per-domain
cursors and the weight log. A change made at optimizer step t applies from step t + horizon, i.e. from global
sample (t + horizon) x global_batch, and is refused if that step was already handed out (then the horizon is
shorter than the loader's prefetch depth and the message says which horizon is needed).
A domain with `max_epochs` stops being drawn once it has given max_epochs x its windows; its weight goes to
the others in proportion; when every domain is spent the stream ends (at a whole global batch).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from curator.errors import ConfigError
from curator.loader.permutation import fmix64_np, permutation_key, permute

DOMAIN_SHIFT = 40  # sample_id = domain << 40 | window


def uniform_draws(seed: int, start: int, n: int) -> np.ndarray:
    """u_k in [0, 1) for k = start..start+n-1, from (seed, k) alone."""
    base = fmix64_np(np.array([(seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64], np.uint64))[0]
    keys = np.arange(start, start + n, dtype=np.uint64) ^ base
    return (fmix64_np(keys) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def assign_domains(u: np.ndarray, weights: np.ndarray, remaining: np.ndarray) -> np.ndarray:
    """Domain of each draw by the inverse CDF of the weights of domains that still have windows; `remaining`
    (-1 = unlimited) is decremented in place. Shorter than `u` when every domain is spent."""
    live = remaining != 0
    w = np.where(live, weights, 0.0)
    total = w.sum()
    if total <= 0:
        return np.empty(0, np.int64)
    cdf = np.cumsum(w)
    domains = np.minimum(np.searchsorted(cdf, u * total, side="right"), len(w) - 1)
    while not live[domains].all():  # float edge: the top of the CDF maps to the last live domain
        domains = np.where(live[domains], domains, np.flatnonzero(live)[-1])
    counts = np.bincount(domains, minlength=len(w))
    capped = remaining >= 0
    if not np.any(capped & (counts > remaining)):  # the usual case: no cap is reached inside this batch
        remaining[capped] -= counts[capped]
        return domains
    for i in range(len(u)):  # a cap is reached: redraw from where it is, with that domain gone
        d = domains[i]
        if remaining[d] == 0:
            rest = assign_domains(u[i:], weights, remaining)
            return np.concatenate([domains[:i], rest])
        if remaining[d] > 0:
            remaining[d] -= 1
    return domains


def rank_within(groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """For each element, how many earlier elements share its group (stable, vectorised)."""
    order = np.argsort(groups, kind="stable")
    rank = np.empty(len(groups), np.int64)
    rank[order] = np.arange(len(groups)) - np.repeat(np.cumsum(counts) - counts, counts)
    return rank


@dataclass
class GlobalBatch:
    """One optimizer step's samples over all ranks, in global order."""

    step: int
    domains: np.ndarray  # int32
    windows: np.ndarray  # int64: window index within the domain
    sample_ids: np.ndarray  # int64: domain << 40 | window
    bucket: int = -1  # buckets packing: every sample is a 2^bucket-token sequence (windows = document numbers)

    def for_rank(self, rank: int, world_size: int) -> GlobalBatch:
        per = len(self.domains) // world_size
        sl = slice(rank * per, (rank + 1) * per)
        return GlobalBatch(self.step, self.domains[sl], self.windows[sl], self.sample_ids[sl], self.bucket)


class MixtureScheduler:
    """Decides every global sample in the main process; see the module docstring for the rules."""

    def __init__(
        self,
        windows: list[int],
        weights: list[float],
        global_batch: int,
        seed: int = 0,
        horizon: int = 2,
        max_epochs: list[float | None] | None = None,
        names: list[str] | None = None,
    ):
        self.names = list(names) if names else [f"domain{i}" for i in range(len(windows))]
        self.windows = np.asarray(windows, np.int64)
        if len(self.windows) != len(self.names):
            raise ConfigError(f"{len(self.windows)} domain sizes but {len(self.names)} names")
        empty = [n for n, w in zip(self.names, self.windows, strict=True) if w < 1]
        if empty:
            raise ConfigError(f"domain(s) {', '.join(empty)} hold no full sample; add data or lower seq_len")
        if global_batch < 1 or horizon < 1:
            raise ConfigError(f"need global_batch >= 1 and horizon >= 1; got {global_batch}, {horizon}")
        self.global_batch, self.seed, self.horizon = int(global_batch), int(seed), int(horizon)
        epochs = max_epochs or [None] * len(self.windows)
        self.caps = np.array(
            [-1 if e is None else max(1, math.floor(e * n)) for e, n in zip(epochs, self.windows, strict=True)],
            np.int64,
        )
        self.step = 0  # the next global step to hand out
        self.cursors = np.zeros(len(self.windows), np.int64)  # windows drawn so far per domain (all epochs)
        self.weight_log: list[tuple[int, list[float]]] = [(0, self._checked(weights))]
        self._starts = [0]  # the weight_log's start steps, for bisect
        self.finished = False

    # -- weights ---------------------------------------------------------------------------------------

    def _checked(self, weights) -> list[float]:
        w = np.asarray(weights, np.float64)
        if w.shape != self.windows.shape:
            raise ConfigError(f"expected {len(self.windows)} weights ({', '.join(self.names)}), got {len(w)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"weights must be finite and >= 0: {w.tolist()}")
        if abs(w.sum() - 1.0) > 1e-6:
            raise ConfigError(f"weights must sum to 1 (they sum to {w.sum():g}): {w.tolist()}")
        return w.tolist()

    def set_weights(self, weights, step: int) -> int:
        """New weights from optimizer step `step`'s feedback; they apply from step + horizon. Returns that step."""
        start = int(step) + self.horizon
        if start < self.step:
            raise ConfigError(
                f"a weight change at step {step} applies from step {start}, but steps up to {self.step - 1} were "
                f"already handed to the loader; use horizon >= {self.step - int(step)} (the loader prefetches "
                "that far ahead)"
            )
        if start < self.weight_log[-1][0]:
            last = self.weight_log[-1][0]
            raise ConfigError(f"weight changes must come in step order: one already applies from step {last}")
        w = self._checked(weights)
        if start == self.weight_log[-1][0]:
            self.weight_log[-1] = (start, w)
        else:
            self.weight_log.append((start, w))
            self._starts.append(start)
        return start

    def weights_at(self, step: int) -> list[float]:
        """The weights active at `step` (>= the step `compact` was last given)."""
        return self.weight_log[max(0, bisect.bisect_right(self._starts, step) - 1)][1]

    def compact(self, step: int) -> None:
        """Forget weight changes superseded at or before `step`: no step from `step` on samples differently, and
        the weight log (kept in every state) stays O(changes ahead) instead of O(all changes)."""
        drop = bisect.bisect_right(self._starts, step) - 1
        if drop > 0:
            del self.weight_log[:drop]
            del self._starts[:drop]

    # -- sampling --------------------------------------------------------------------------------------

    def next_batch(self) -> GlobalBatch | None:
        """The next global batch, or None once every domain is spent (the stream then ends for every rank)."""
        if self.finished:
            return None
        b = self.global_batch
        u = uniform_draws(self.seed, self.step * b, b)
        remaining = np.where(self.caps < 0, -1, self.caps - self.cursors)
        domains = assign_domains(u, np.asarray(self.weights_at(self.step)), remaining)
        if len(domains) < b:
            self.finished = True
            return None
        counts = np.bincount(domains, minlength=len(self.windows))
        drawn = self.cursors[domains] + rank_within(domains, counts)  # the j-th window each domain gives
        n = self.windows[domains]
        windows = permute(drawn % n, n, permutation_key(self.seed, domains, drawn // n))
        self.cursors += counts
        batch = GlobalBatch(self.step, domains.astype(np.int32), windows, (domains << DOMAIN_SHIFT) | windows)
        self.step += 1
        return batch

    def epochs(self) -> dict[str, float]:
        """Passes over each domain so far."""
        return {n: float(c) / float(w) for n, c, w in zip(self.names, self.cursors, self.windows, strict=True)}

    # -- state -----------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "step": int(self.step),
            "cursors": self.cursors.tolist(),
            "weight_log": [[s, list(w)] for s, w in self.weight_log],
            "finished": bool(self.finished),
        }

    def load_state_dict(self, state: dict) -> None:
        cursors = np.asarray(state["cursors"], np.int64)
        if cursors.shape != self.cursors.shape:
            raise ConfigError(f"the state has {len(cursors)} domains, this mixture {len(self.cursors)}")
        self.step = int(state["step"])
        self.cursors = cursors
        self.weight_log = [(int(s), [float(x) for x in w]) for s, w in state["weight_log"]]
        self._starts = [s for s, _ in self.weight_log]
        self.finished = bool(state.get("finished", False))
