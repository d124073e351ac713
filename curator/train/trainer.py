"""train(config, out_dir): a GPT trained on a MixtureLoader, with checkpoints that resume exactly.

Each optimizer step takes `grad_accum` loader batches (micro-batches). The loss to backpropagate is the
SampleReweighter's weighted mean of per-sample losses when `reweight` is set, else their mean; the step's
per-domain mean losses feed the domain policy (`apply`), which changes the loader's weights. Validation is
the per-domain mean loss on `eval_samples` fixed windows per domain cut from the documents the store held
out of training (the mixture's `holdout`; curator.train.validation).

A run folder holds config.yaml, the run marker and lock, stats/train_log/ (train_log view),
stats/mixture_log/ (the loader's weights), and checkpoints/step-NNNNNN.pt with the model, optimizer, step,
tokens, loader, policy and RNG state. Rerunning on the folder resumes from the newest checkpoint; the logs
drop what an interrupted attempt wrote after it, so the resumed curve equals an uninterrupted one.
Over 300 lines on purpose: the step loop, checkpointing and resume are one state machine; the model,
validation, reference model and checkpoint reading live in their own modules.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from curator.errors import ConfigError, RunError
from curator.loader.dataset import MixtureLoader
from curator.loader.mixture import MixtureConfig, load_mixture
from curator.loader.policies import apply, policy_from_config
from curator.loader.reweight import SampleReweighter, per_sample_loss
from curator.loader.store import TokenStore
from curator.pipeline.run_folder import RunFolder, write_atomic
from curator.stats.mixture_log import MIXTURE_LOG_DIR
from curator.train.checkpoint import list_checkpoints, load_latest, load_state, save_checkpoint
from curator.train.config import TrainConfig, load_train_config, parse_train_config
from curator.train.model import GPT, GPTConfig
from curator.train.progress import TrainProgress
from curator.train.reference import ReferenceModel
from curator.train.train_log import TRAIN_LOG_DIR, TrainLogWriter
from curator.train.validation import evaluate, heldout_batches, loss_rows

RESUMABLE_CHANGES = ("steps",)  # config keys a resumed run may change


@dataclass
class TrainSummary:
    """What a run did: steps, tokens, losses, speed (of this session), and why it stopped early, if it did."""

    out_dir: str
    steps: int
    start_step: int
    tokens: int
    parameters: int
    train_loss: float | None
    eval_loss: float | None
    eval_domain_loss: dict[str, float] = field(default_factory=dict)
    tokens_per_s: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_config(config: TrainConfig | dict | str | Path, overrides: list[str] | None = None) -> tuple:
    """(TrainConfig with model vocab_size and seq_len filled in, MixtureConfig); checks them against the store."""
    if isinstance(config, (str, Path)):
        cfg = load_train_config(config, overrides)
    else:
        if overrides:
            from curator.pipeline.config import apply_overrides

            raw = config.model_dump(mode="json") if isinstance(config, TrainConfig) else dict(config)
            config = apply_overrides(raw, overrides)
        cfg = parse_train_config(config)
    if not Path(cfg.mixture).is_file():
        raise ConfigError(f"mixture file '{cfg.mixture}' not found (relative paths are read from {Path.cwd()})")
    mixture = load_mixture(cfg.mixture)
    store = TokenStore(mixture.store)
    store_vocab = store.tokenizer.get("vocab_size")
    if store_vocab is None:
        raise ConfigError(f"token store '{mixture.store}' records no tokenizer vocab_size; rebuild it")
    vocab = cfg.model.vocab_size or int(store_vocab)
    if vocab < int(store_vocab):
        raise ConfigError(
            f"model.vocab_size {vocab} is smaller than the store's tokenizer vocabulary ({store_vocab}); "
            f"set model.vocab_size >= {store_vocab} or leave it out"
        )
    seq_len = cfg.model.seq_len or mixture.seq_len
    if seq_len < mixture.seq_len:
        raise ConfigError(f"model.seq_len {seq_len} is shorter than the mixture's seq_len {mixture.seq_len}")
    model = cfg.model.model_copy(update={"vocab_size": vocab, "seq_len": seq_len})
    cfg = cfg.model_copy(update={"model": model})
    try:
        GPTConfig(vocab, model.d_model, model.n_layers, model.n_heads, seq_len, model.mlp_ratio)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
    MixtureLoader(mixture, rank=0, world_size=1, num_workers=cfg.loader.num_workers, backend=cfg.loader.backend)
    if cfg.init_from:
        try:
            state, file = load_state(cfg.init_from)
        except ConfigError as exc:
            raise ConfigError(f"init_from: {exc}") from None
        _check_same_model(file, dict(state["config"]["model"]), cfg.model.model_dump())
        cfg = cfg.model_copy(update={"init_from": str(file)})  # pinned: a later checkpoint there is another run
    if cfg.eval_every:
        heldout_batches(store, mixture, 1, 1)  # every domain has held-out documents (checked before any work)
    if cfg.policy is not None:
        policy = policy_from_config(cfg.policy.name, mixture.names, mixture.weights, **cfg.policy.params)
        if getattr(policy, "reference_checkpoint", None):
            ref = ReferenceModel(policy.reference_checkpoint, vocab, mixture.seq_len)  # readable, same vocabulary
            params = {**cfg.policy.params, "reference": str(ref.file)}  # pinned to the file: exact on resume
            cfg = cfg.model_copy(update={"policy": cfg.policy.model_copy(update={"params": params})})
    if cfg.reweight is not None:
        try:
            SampleReweighter(cfg.reweight.strategy, cfg.reweight.temperature, cfg.reweight.warmup_steps)
        except ValueError as exc:
            raise ConfigError(f"reweight: {exc}") from None
    return cfg, mixture


def _check_same_model(file: Path, theirs: dict, ours: dict) -> None:
    """init_from needs a checkpoint of the same model sizes."""
    if theirs != ours:
        changed = ", ".join(f"{k} {theirs.get(k)} vs {ours[k]}" for k in ours if theirs.get(k) != ours[k])
        raise ConfigError(f"init_from {file}: its model differs from this run's ({changed}); use the same sizes")


@contextlib.contextmanager
def _torch_settings(cfg: TrainConfig):
    """Deterministic algorithms and the thread count for the run; the caller's settings come back after."""
    was_det, was_threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    torch.use_deterministic_algorithms(cfg.deterministic)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_det)
        torch.set_num_threads(was_threads)


def _check_folder(out: Path, resolved: dict, resume: bool) -> None:
    """Refuse a folder of another run or of a different training config; start clean when nothing to resume."""
    config_file = out / "config.yaml"
    if config_file.exists():
        previous = yaml.safe_load(config_file.read_text()) or {}
        if "mixture" not in previous or "model" not in previous:
            raise RunError(f"{out} holds a curator run that is not a training run; choose another --out")
        changed = sorted(
            k
            for k in set(previous) | set(resolved)
            if k not in RESUMABLE_CHANGES and previous.get(k) != resolved.get(k)
        )
        if changed:
            raise RunError(
                f"{out} holds a training run of a different config (changed: {', '.join(changed)}); "
                "use a new --out, or --overwrite (overwrite=True) to start it again (only steps may change on resume)"
            )
    if list_checkpoints(out) and not resume:
        raise RunError(f"{out} already holds checkpoints; resume it (resume=True), start again (overwrite=True) "
                       "or choose a new --out")  # fmt: skip
    if not list_checkpoints(out):  # an attempt that died before its first checkpoint: start over
        for sub in (TRAIN_LOG_DIR, MIXTURE_LOG_DIR):
            shutil.rmtree(out / sub, ignore_errors=True)


def _optimizer(model: GPT, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (the tied embedding included), none on norms."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    other = [p for p in model.parameters() if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, foreach=False)


def train(
    config: TrainConfig | dict | str | Path,
    out_dir: str | Path,
    resume: bool = True,
    quiet: bool = True,
    stop_at: int | None = None,
    overrides: list[str] | None = None,
    overwrite: bool = False,
) -> TrainSummary:
    """Train (or resume) a run into `out_dir`; `stop_at` ends it after that step with a checkpoint, as an
    interruption would (a later call resumes); `overwrite` removes the folder's run entries (checkpoints, logs,
    config; never other files) and starts again. Returns the summary (also in stats/train_summary.json)."""
    cfg, mixture = resolve_config(config, overrides)
    out = Path(out_dir)
    lock = RunFolder(out).claim(overwrite=overwrite)
    try:
        resolved = cfg.model_dump(mode="json")
        _check_folder(out, resolved, resume)
        done = _finished(out, cfg.steps)
        if done is not None:
            return done
        write_atomic(out / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
        with _torch_settings(cfg):
            summary = _Run(cfg, mixture, out, quiet).run(stop_at)
        write_atomic(out / "stats" / "train_summary.json", json.dumps(summary.to_dict(), indent=1) + "\n")
        return summary
    finally:
        lock.release()


def _finished(out: Path, steps: int) -> TrainSummary | None:
    """The stored summary of a run whose newest checkpoint is already at or past `steps` (nothing to do: no
    file is rewritten), else None."""
    found = list_checkpoints(out)
    summary_file = out / "stats" / "train_summary.json"
    if not found or found[-1][0] < steps or not summary_file.is_file():
        return None
    summary = TrainSummary(**json.loads(summary_file.read_text()))
    summary.start_step = summary.steps
    summary.stopped = f"already at step {found[-1][0]} (>= steps {steps}): nothing to do; raise --steps to go on"
    return summary


class _Run:
    """The state of one training session: model, optimizer, loader, policy, logs."""

    def __init__(self, cfg: TrainConfig, mixture: MixtureConfig, out: Path, quiet: bool):
        self.cfg, self.mixture, self.out, self.quiet = cfg, mixture, out, quiet
        self.names = mixture.names
        m = cfg.model
        torch.manual_seed(cfg.seed)
        self.model = GPT(GPTConfig(m.vocab_size, m.d_model, m.n_layers, m.n_heads, m.seq_len, m.mlp_ratio))
        self.optimizer = _optimizer(self.model, cfg)
        self.policy = (
            policy_from_config(cfg.policy.name, self.names, mixture.weights, **cfg.policy.params)
            if cfg.policy is not None
            else None
        )
        ref = getattr(self.policy, "reference_checkpoint", None)
        self.reference = ReferenceModel(ref, m.vocab_size, mixture.seq_len) if ref else None
        r = cfg.reweight
        self.reweighter = SampleReweighter(r.strategy, r.temperature, r.warmup_steps) if r is not None else None
        self.loader = MixtureLoader(
            mixture,
            rank=0,
            world_size=1,
            num_workers=cfg.loader.num_workers,
            backend=cfg.loader.backend,
            log_dir=out,
            log_every=cfg.log_every * cfg.grad_accum,
            policy=self.policy.name if self.policy else "static",
        )
        self.log = TrainLogWriter(out)
        self.step, self.tokens = 0, 0
        self.last_eval: dict[str | None, tuple[float, int]] = {}

    def eval_set(self) -> list[dict]:
        """The validation batches (held-out documents), or none when eval_every is 0."""
        if not self.cfg.eval_every:
            return []
        store = TokenStore(self.mixture.store)
        return heldout_batches(store, self.mixture, self.cfg.eval_samples, self.mixture.global_batch)

    def _restore(self) -> None:
        state = load_latest(self.out)
        if state is None:
            if self.cfg.init_from:
                self._init_from(self.cfg.init_from)
            return
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.loader.load_state_dict(state["loader"])  # also drops mixture-log rows after its step
        if self.policy is not None:
            self.policy.load_state_dict(state["policy"])
        torch.set_rng_state(state["torch_rng"])
        self.step, self.tokens = int(state["step"]), int(state["tokens"])
        self.last_eval = {k if k != "" else None: tuple(v) for k, v in state.get("last_eval", {}).items()}
        self.log.drop_after(self.step)

    def _init_from(self, path: str) -> None:
        """Continual pre-training: the weights and AdamW moments of another run's checkpoint (same sizes)."""
        state, file = load_state(path)
        _check_same_model(file, dict(state["config"]["model"]), self.cfg.model.model_dump())
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:  # this run's betas and weight decay (lr: set every step)
            group["weight_decay"] = self.cfg.weight_decay if group["params"][0].ndim >= 2 else 0.0
            group["betas"] = tuple(self.cfg.betas)

    def _checkpoint(self) -> None:
        self.log.flush()
        state = {
            "step": self.step,
            "tokens": self.tokens,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "loader": self.loader.state_dict(),  # flushes the mixture log
            "policy": self.policy.state_dict() if self.policy is not None else None,
            "torch_rng": torch.get_rng_state(),
            "last_eval": {("" if k is None else k): list(v) for k, v in self.last_eval.items()},
            "config": self.cfg.model_dump(mode="json"),
        }
        save_checkpoint(self.out, self.step, state, self.cfg.keep_checkpoints)

    def _micro_step(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Forward and backward of one loader batch; returns its detached per-sample losses, domain ids, and
        the per-sample signal for the domain policy (the losses, or DoReMi's excess over the reference model)."""
        logits = self.model(batch["input_ids"])
        per, _ = per_sample_loss(logits, batch["labels"])
        loss = self.reweighter(per, self.step - 1)[0] if self.reweighter is not None else per.mean()
        (loss / self.cfg.grad_accum).backward()
        self.tokens += int(batch["n_tokens"].sum())
        per = per.detach()
        signal = self.reference.excess(logits, batch["input_ids"], batch["labels"]) if self.reference else per
        return per, batch["domain_id"], signal

    def run(self, stop_at: int | None) -> TrainSummary:
        cfg = self.cfg
        eval_set = self.eval_set()
        self._restore()
        start_step, start_tokens = self.step, self.tokens
        end = cfg.steps if stop_at is None else min(cfg.steps, stop_at)
        progress = TrainProgress(cfg.steps, start_step, self.quiet)
        batches = iter(self.loader)
        stopped, train_loss, t0 = None, None, time.perf_counter()
        try:
            while self.step < end:
                micro = [b for b in (next(batches, None) for _ in range(cfg.grad_accum)) if b is not None]
                if len(micro) < cfg.grad_accum:
                    stopped = f"the mixture ran out of samples (max_epochs) after step {self.step}"
                    break
                self.step += 1
                lr = cfg.lr_at(self.step)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.zero_grad(set_to_none=True)
                parts = [self._micro_step(b) for b in micro]
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.optimizer.step()
                losses, ids = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
                rows = loss_rows(losses, ids, self.names)
                train_loss = rows[None][0]
                if self.policy is not None:
                    signal = (
                        rows if self.reference is None else loss_rows(torch.cat([p[2] for p in parts]), ids, self.names)
                    )
                    means = np.array([signal[n][0] for n in self.names])
                    apply(self.policy, self.loader, means, np.array([rows[n][1] for n in self.names], np.float64))
                last = self.step == end
                if self.step % cfg.log_every == 0 or last:
                    self.log.log(self.step, "train", rows, lr, self.tokens)
                if eval_set and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    self.last_eval = evaluate(self.model, eval_set, self.names)
                    self.log.log(self.step, "eval", self.last_eval, lr, self.tokens)
                if self.step % cfg.checkpoint_every == 0 or last:
                    self._checkpoint()
                progress.update(self.step, train_loss, self.tokens - start_tokens)
            if stopped is not None and self.step > start_step:
                self._checkpoint()
        finally:
            batches.close()
            progress.close()
        if stop_at is not None and self.step < cfg.steps and stopped is None:
            stopped = f"stopped at step {self.step} (stop_at); run again to resume"
        elapsed = time.perf_counter() - t0
        ev = self.last_eval
        return TrainSummary(
            out_dir=str(self.out),
            steps=self.step,
            start_step=start_step,
            tokens=self.tokens,
            parameters=self.model.num_parameters(),
            train_loss=train_loss,
            eval_loss=ev[None][0] if ev else None,
            eval_domain_loss={k: v[0] for k, v in ev.items() if k is not None},
            tokens_per_s=(self.tokens - start_tokens) / elapsed if elapsed > 0 else 0.0,
            elapsed_s=elapsed,
            stopped=stopped,
        )


def summary_line(summary: TrainSummary) -> str:
    """One line: steps, tokens, losses, speed."""
    ev = f", eval loss {summary.eval_loss:.4f}" if summary.eval_loss is not None else ""
    tl = f", train loss {summary.train_loss:.4f}" if summary.train_loss is not None else ""
    return (
        f"{summary.out_dir}: step {summary.steps} ({summary.steps - summary.start_step} this session), "
        f"{summary.tokens:,} tokens{tl}{ev}, {summary.tokens_per_s:,.0f} tokens/s, "
        f"{summary.parameters:,} parameters"
    )
