"""Domain policies: training feedback (per-domain mean losses and counts) -> new mixture weights, resumable.

`policy.observe(domain_losses, domain_counts, step)` takes numpy (K,) vectors (a domain with count 0 was not
in the step: its loss is ignored and may be NaN) and returns new weights on the simplex, or None for no
change. `apply(policy, loader, losses, counts)` observes at the loader's last received step and hands the
weights to `loader.set_weights`, which applies them from step + horizon (exact on resume, logged with the
losses). `state_dict()` / `load_state_dict()` make a restored policy continue identically.

Policies (formulas in the design notes, section 6):
- `static`: never changes.
- `schedule`: piecewise-constant weights `[(step, {domain: w}), ...]`, emitted at each phase's first step.
- `odm` (Albalak et al., EXP3): eps_t = min(1/K, sqrt(ln K / (K t))), R_i = loss_i / 10,
  R_hat_i += R_i / pi_{t-1}(i) for domains seen, pi_t = (1 - K eps_t) softmax(eps_{t-1} R_hat) + eps_t.
- `doremi` (Xie et al., Group DRO): lambda = max(loss - ref, 0) (absent domains keep theirs),
  alpha' = softmax(log alpha + eta lambda), alpha = (1 - c) alpha' + c / K; `average_weights()` = mean alpha.

Over 300 lines on purpose: four small policies on one base class whose validation, state_dict and
config parsing (`policy_from_config`) they share; each policy is under 80 lines.
"""

from __future__ import annotations

import bisect
import inspect
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from curator.errors import ConfigError, RunError
from curator.loader.domain_losses import allreduce_domain_sums, domain_means, domain_sums, means_from_sums

__all__ = [
    "DoReMi",
    "ODM",
    "Policy",
    "Schedule",
    "Static",
    "allreduce_domain_sums",
    "apply",
    "domain_means",
    "domain_sums",
    "means_from_sums",
    "policy_from_config",
]

SUM_TOLERANCE = 1e-6  # the scheduler's tolerance for weights summing to 1


def _simplex(weights: Mapping[str, float] | Sequence[float] | np.ndarray, names: list[str], what: str) -> np.ndarray:
    """Weights (a {domain: w} dict naming every domain, or K numbers) as a float64 vector on the simplex."""
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ConfigError(
                f"{what}: unknown domain(s) {', '.join(map(str, unknown))}; the domains are {', '.join(names)}"
            )
        missing = [n for n in names if n not in weights]
        if missing:
            raise ConfigError(f"{what}: give every domain a weight (0 to stop one); missing: {', '.join(missing)}")
        weights = [weights[n] for n in names]
    try:
        w = np.asarray(weights, np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what}: weights must be numbers, got {weights!r}") from err
    if w.shape != (len(names),):
        raise ConfigError(f"{what}: expected {len(names)} weights ({', '.join(names)}), got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ConfigError(f"{what}: weights must be finite and >= 0, got {w.tolist()}")
    if abs(w.sum() - 1.0) > SUM_TOLERANCE:
        raise ConfigError(f"{what}: weights must sum to 1 (they sum to {w.sum():.6g}): {w.tolist()}")
    return w / w.sum()


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


class Policy:
    """Common base: domain names, current weights, input checks, the steps seen, state for exact resume."""

    name: ClassVar[str] = "policy"

    def __init__(self, names: Sequence[str], weights: Mapping[str, float] | Sequence[float] | np.ndarray):
        self.names = [str(n) for n in names]
        if not self.names:
            raise ConfigError(f"{self.name}: needs at least one domain")
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"{self.name}: domain names repeat: {self.names}")
        self.weights = _simplex(weights, self.names, f"{self.name} initial weights")
        self.last_step = -1  # the last step observed; steps must increase

    @property
    def num_domains(self) -> int:
        return len(self.names)

    def observe(
        self,
        domain_losses: Any,
        domain_counts: Any,
        step: int,
        sampled_with: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Feedback of optimizer `step`: new weights (a fresh (K,) array on the simplex) or None.

        `sampled_with`: the weights the step's batch was drawn with (`apply` passes the loader's); policies
        that importance-weight (ODM) use them, else their own last weights."""
        step = int(step)
        if step <= self.last_step:
            raise ConfigError(
                f"{self.name}: observe(step={step}) after step {self.last_step}; observe each step once, in order "
                "(reduce micro-batches and ranks first; after a resume continue from the loader's next step)"
            )
        losses, counts = self._checked(domain_losses, domain_counts, step)
        sampled = None if sampled_with is None else self._sampling(sampled_with)
        out = self._update(losses, counts, step, sampled)
        self.last_step = step
        if out is None:
            return None
        self.weights = out
        return out.copy()

    def _checked(self, domain_losses: Any, domain_counts: Any, step: int) -> tuple[np.ndarray, np.ndarray]:
        k = self.num_domains
        losses = np.full(k, np.nan) if domain_losses is None else np.asarray(domain_losses, np.float64)
        counts = np.zeros(k) if domain_counts is None else np.asarray(domain_counts, np.float64)
        if losses.shape != (k,) or counts.shape != (k,):
            raise ConfigError(
                f"{self.name}: expected one loss and one count per domain, shape ({k},) ({', '.join(self.names)}); "
                f"got losses {losses.shape}, counts {counts.shape}"
            )
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ConfigError(f"{self.name}: counts must be finite and >= 0, got {counts.tolist()}")
        bad = (counts > 0) & ~np.isfinite(losses)
        if bad.any():
            shown = ", ".join(f"{self.names[i]}={losses[i]}" for i in np.flatnonzero(bad))
            raise RunError(
                f"{self.name}: step {step}: non-finite loss in domain(s) seen this step ({shown}); a diverged "
                "step must not steer the mixture (skip it, or give those domains count 0)"
            )
        return losses, counts

    def _sampling(self, sampled_with: Sequence[float] | np.ndarray) -> np.ndarray:
        w = np.asarray(sampled_with, np.float64)
        if w.shape != (self.num_domains,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ConfigError(f"{self.name}: sampled_with must be {self.num_domains} finite weights >= 0, got {w}")
        return w

    def _update(
        self, losses: np.ndarray, counts: np.ndarray, step: int, sampled: np.ndarray | None
    ) -> np.ndarray | None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    # -- state -------------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything `observe` depends on, as plain lists and numbers (JSON- and torch.save-friendly)."""
        return {
            "policy": self.name,
            "names": list(self.names),
            "weights": self.weights.tolist(),
            "last_step": self.last_step,
            **self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("policy") != self.name or list(state.get("names", [])) != self.names:
            raise ConfigError(
                f"this state belongs to policy {state.get('policy')!r} over domains {state.get('names')}; "
                f"this is {self.name!r} over {self.names}"
            )
        self.weights = np.asarray(state["weights"], np.float64)
        self.last_step = int(state["last_step"])
        self._load_extra(state)

    def _extra_state(self) -> dict:
        return {}

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        pass


class Static(Policy):
    """Never changes the weights."""

    name = "static"

    def _update(self, losses, counts, step, sampled):
        return None


class Schedule(Policy):
    """Piecewise-constant weights by step; each phase's weights are returned at its first step (or at the
    first observed step after it, if that step was not observed)."""

    name = "schedule"

    def __init__(self, names, weights, phases: Iterable[Any]):
        super().__init__(names, weights)
        self.starts: list[int] = []
        self.phase_weights: list[np.ndarray] = []
        for i, phase in enumerate(phases):
            if isinstance(phase, Mapping) and set(phase) == {"step", "weights"}:
                start, w = phase["step"], phase["weights"]
            elif isinstance(phase, Sequence) and not isinstance(phase, str) and len(phase) == 2:
                start, w = phase
            else:
                raise ConfigError(
                    f"schedule phase {i}: expected (step, {{domain: weight}}) or {{step, weights}}, got {phase!r}"
                )
            if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
                raise ConfigError(f"schedule phase {i}: step must be an integer >= 0, got {start!r}")
            if self.starts and start <= self.starts[-1]:
                raise ConfigError(f"schedule phase {i}: steps must increase; step {start} after {self.starts[-1]}")
            self.starts.append(int(start))
            self.phase_weights.append(_simplex(w, self.names, f"schedule phase {i} (step {start})"))
        if not self.starts:
            raise ConfigError("schedule: give at least one phase [(step, {domain: weight}), ...]")
        self.next_phase = 0  # phases before it were returned

    def _update(self, losses, counts, step, sampled):
        current = bisect.bisect_right(self.starts, step) - 1
        if current < self.next_phase:
            return None
        self.next_phase = current + 1
        return self.phase_weights[current].copy()

    def _extra_state(self) -> dict:
        return {"next_phase": self.next_phase, "starts": list(self.starts)}

    def _load_extra(self, state) -> None:
        if list(state["starts"]) != self.starts:
            raise ConfigError(
                f"schedule: the state's phases start at {state['starts']}, this schedule's at {self.starts}"
            )
        self.next_phase = int(state["next_phase"])


class ODM(Policy):
    """Online Data Mixing (EXP3 bandit over domains; reward = scaled mean training loss). Weights are not
    changed (and feedback is ignored) for steps < `warmup`; update t = 1, 2, ... counts the steps after it
    in which some domain was seen."""

    name = "odm"

    def __init__(self, names, weights, warmup: int = 2000, reward_scale: float = 10.0, min_prob: float = 1e-6):
        super().__init__(names, weights)
        if warmup < 0 or not (math.isfinite(reward_scale) and reward_scale > 0) or not 0 < min_prob <= 1:
            raise ConfigError(
                f"odm: need warmup >= 0, a finite reward_scale > 0 and 0 < min_prob <= 1; got warmup={warmup}, "
                f"reward_scale={reward_scale}, min_prob={min_prob}"
            )
        self.warmup, self.reward_scale, self.min_prob = int(warmup), float(reward_scale), float(min_prob)
        self.reward_sums = np.zeros(self.num_domains)  # R_hat
        self.t = 0

    def epsilon(self, t: int) -> float:
        """eps_t = min(1/K, sqrt(ln K / (K t))); eps_0 = 1/K."""
        k = self.num_domains
        return 1.0 / k if t <= 0 else min(1.0 / k, math.sqrt(math.log(k) / (k * t)))

    def _update(self, losses, counts, step, sampled):
        seen = counts > 0
        if step < self.warmup or not seen.any():
            return None
        # EXP3's own probabilities are >= eps_t; only start weights can be ~0: min_prob keeps 1/pi finite
        pi_prev = np.maximum(self.weights if sampled is None else sampled, self.min_prob)
        self.reward_sums[seen] += losses[seen] / self.reward_scale / pi_prev[seen]
        if not np.all(np.isfinite(self.reward_sums)):
            raise RunError(f"odm: step {step}: reward sums overflowed ({self.reward_sums.tolist()}); losses too large")
        self.t += 1
        eps, eps_prev = self.epsilon(self.t), self.epsilon(self.t - 1)
        pi = (1.0 - self.num_domains * eps) * _softmax(eps_prev * self.reward_sums) + eps
        return pi / pi.sum()

    def _extra_state(self) -> dict:
        return {"reward_sums": self.reward_sums.tolist(), "t": self.t}

    def _load_extra(self, state) -> None:
        self.reward_sums = np.asarray(state["reward_sums"], np.float64)
        self.t = int(state["t"])


class DoReMi(Policy):
    """Group DRO on clipped excess loss over a reference model; the live weights are alpha, the mixture
    DoReMi reports is `average_weights()` (the mean alpha over updates)."""

    name = "doremi"

    reference_checkpoint: str | None = None  # set when the trainer computes the excess from a reference model

    def __init__(self, names, weights, reference: Mapping[str, float], eta: float = 1.0, smoothing: float = 1e-3):
        super().__init__(names, weights)
        if not (math.isfinite(eta) and eta > 0) or not (0.0 <= smoothing <= 1.0):
            raise ConfigError(f"doremi: need eta > 0 and 0 <= smoothing <= 1, got eta={eta}, smoothing={smoothing}")
        self.eta, self.smoothing = float(eta), float(smoothing)
        self.reference = self._reference(reference)
        self.excess = np.zeros(self.num_domains)  # lambda: the last clipped excess loss of each domain
        self.alpha_sum = np.zeros(self.num_domains)
        self.updates = 0

    def _reference(self, reference: Mapping[str, float]) -> np.ndarray:
        if not isinstance(reference, Mapping):
            raise ConfigError(f"doremi: reference must map domain -> reference loss, got {type(reference).__name__}")
        missing = [n for n in self.names if n not in reference]
        if missing:
            raise ConfigError(
                f"doremi: no reference loss for domain(s) {', '.join(missing)}; the reference has "
                f"{', '.join(map(str, reference)) or 'no domains'}"
            )
        ref = np.array([float(reference[n]) for n in self.names])
        bad = [f"{n}={v}" for n, v in zip(self.names, ref, strict=True) if not math.isfinite(v)]
        if bad:
            raise ConfigError(f"doremi: reference losses must be finite: {', '.join(bad)}")
        return ref

    @classmethod
    def from_table(cls, path: str | Path, names: Sequence[str], weights=None, **params) -> DoReMi:
        """Reference losses from a Parquet or CSV table with columns domain, ref_loss (uniform start weights
        unless given, as in DoReMi)."""
        table = read_reference_table(path)
        if weights is None:
            weights = np.full(len(names), 1.0 / len(names))
        return cls(names, weights, table, **params)

    def _update(self, losses, counts, step, sampled):
        seen = counts > 0
        if not seen.any():
            return None
        self.excess[seen] = np.maximum(losses[seen] - self.reference[seen], 0.0)
        with np.errstate(divide="ignore"):  # a start weight of 0 is log 0 = -inf: it stays 0 before smoothing
            alpha = _softmax(np.log(self.weights) + self.eta * self.excess)
        alpha = (1.0 - self.smoothing) * alpha + self.smoothing / self.num_domains
        alpha /= alpha.sum()
        self.alpha_sum += alpha
        self.updates += 1
        return alpha

    def average_weights(self) -> np.ndarray:
        """The time average of alpha over updates (the start weights before any update)."""
        if self.updates == 0:
            return self.weights.copy()
        avg = self.alpha_sum / self.updates
        return avg / avg.sum()

    def _extra_state(self) -> dict:
        return {
            "excess": self.excess.tolist(),
            "alpha_sum": self.alpha_sum.tolist(),
            "updates": self.updates,
            "reference": self.reference.tolist(),
        }

    def _load_extra(self, state) -> None:
        if not np.array_equal(np.asarray(state["reference"], np.float64), self.reference):
            raise ConfigError("doremi: the state was made with other reference losses")
        self.excess = np.asarray(state["excess"], np.float64)
        self.alpha_sum = np.asarray(state["alpha_sum"], np.float64)
        self.updates = int(state["updates"])


def read_reference_table(path: str | Path) -> dict[str, float]:
    """{domain: ref_loss} from a Parquet or CSV file with columns domain and ref_loss (one row per domain)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"reference table {path} does not exist")
    try:
        if path.suffix.lower() in (".csv", ".tsv"):
            import pyarrow.csv as pcsv

            opts = pcsv.ParseOptions(delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            table = pcsv.read_csv(path, parse_options=opts)
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except Exception as err:  # any reader failure is a bad file for the user
        raise ConfigError(f"reference table {path}: cannot read it as {path.suffix or 'Parquet'}: {err}") from err
    missing = {"domain", "ref_loss"} - set(table.column_names)
    if missing:
        raise ConfigError(
            f"reference table {path}: needs columns domain, ref_loss; missing {', '.join(sorted(missing))} "
            f"(it has {', '.join(table.column_names)})"
        )
    domains = [str(d) for d in table.column("domain").to_pylist()]
    values = table.column("ref_loss").to_pylist()
    repeated = sorted({d for d in domains if domains.count(d) > 1})
    if repeated:
        raise ConfigError(f"reference table {path}: domain(s) {', '.join(repeated)} appear more than once")
    return {d: float("nan") if v is None else float(v) for d, v in zip(domains, values, strict=True)}


POLICIES: dict[str, type[Policy]] = {p.name: p for p in (Static, Schedule, ODM, DoReMi)}


def policy_from_config(name: str, names: Sequence[str], weights, **params) -> Policy:
    """A policy by name (static, schedule, odm, doremi) with its parameters; doremi's `reference` may be a
    {domain: loss} dict, a Parquet/CSV table path, or a reference model (a checkpoint .pt or a training run
    folder): then `policy.reference_checkpoint` is set, the reference losses are 0 and the caller passes the
    per-domain mean clipped excess loss (curator.train.reference) as the losses."""
    cls = POLICIES.get(str(name).lower())
    if cls is None:
        raise ConfigError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "names", "weights")]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ConfigError(
            f"policy {cls.name}: unknown parameter(s) {', '.join(unknown)}; it takes {', '.join(accepted) or 'none'}"
        )
    checkpoint = None
    if cls is DoReMi and params.get("reference") is None:
        raise ConfigError(
            "policy doremi needs a reference: a training run folder or checkpoint .pt (e.g. --set "
            "policy.params.reference=runs/train), a Parquet/CSV table of domain, ref_loss (curator mix reference), "
            "or a {domain: loss} mapping"
        )
    if cls is DoReMi and isinstance(params.get("reference"), (str, Path)):
        if is_checkpoint_reference(params["reference"]):
            checkpoint = str(params["reference"])
            params["reference"] = dict.fromkeys(names, 0.0)  # the trainer feeds the excess loss itself
        else:
            params["reference"] = read_reference_table(params["reference"])
    try:
        policy = cls(names, weights, **params)
    except TypeError as err:  # a required parameter left out
        raise ConfigError(f"policy {cls.name}: {err}; it takes {', '.join(accepted)}") from err
    if checkpoint is not None:
        policy.reference_checkpoint = checkpoint
    return policy


def is_checkpoint_reference(reference: str | Path) -> bool:
    """A doremi `reference` naming a model (a .pt checkpoint or a training run folder), not a loss table; a
    missing path or a folder without checkpoints is an error."""
    path = Path(reference)
    if path.suffix.lower() in (".parquet", ".csv", ".tsv"):
        return False
    if path.suffix.lower() == ".pt":
        if not path.is_file():
            raise ConfigError(f"doremi: reference checkpoint {path} does not exist")
        return True
    if path.is_dir():
        if not (path / "checkpoints").is_dir():
            raise ConfigError(
                f"doremi: reference {path} is a folder without checkpoints/; give a training run folder, a "
                "checkpoint .pt file, or a Parquet/CSV table of domain, ref_loss"
            )
        return True
    what = "is not a training run folder, a checkpoint .pt file or a table" if path.exists() else "does not exist"
    raise ConfigError(
        f"doremi: reference {path} {what}; give a training run folder, a checkpoint .pt file, or a "
        "Parquet/CSV table of domain, ref_loss"
    )


def apply(policy: Policy, loader: Any, domain_losses: Any, domain_counts: Any) -> int | None:
    """Observe the loader's last received step; on new weights call `loader.set_weights` (from step + horizon,
    logged with the seen domains' losses). Returns the step the weights apply from, or None."""
    names = list(loader.config.names)
    if names != policy.names:
        raise ConfigError(f"policy domains {policy.names} differ from the loader's {names}")
    step = loader.consumed_step
    if step < 0:
        raise ConfigError("apply: the loader has not handed out a batch yet; call it after the loop gets one")
    sampled = loader.scheduler.weights_at(step)
    weights = policy.observe(domain_losses, domain_counts, step, sampled_with=sampled)
    if weights is None:
        return None
    seen = {}
    if domain_losses is not None and domain_counts is not None:
        losses, counts = np.asarray(domain_losses, np.float64), np.asarray(domain_counts, np.float64)
        seen = {n: float(loss) for n, loss, c in zip(names, losses, counts, strict=True) if c > 0}
    return loader.set_weights(dict(zip(names, weights.tolist(), strict=True)), step=step, losses=seen)
