"""TrainConfig (train.yaml): the mixture, model sizes, optimizer and schedule, eval, checkpoints, feedback."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from curator.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Strict):
    """Model sizes; vocab_size and seq_len default to the store's tokenizer and the mixture's seq_len."""

    d_model: int = Field(64, ge=2)
    n_layers: int = Field(2, ge=1)
    n_heads: int = Field(4, ge=1)
    mlp_ratio: int = Field(4, ge=1)
    vocab_size: int | None = Field(None, ge=1, description="default: the store's tokenizer vocab_size")
    seq_len: int | None = Field(None, ge=1, description="default: the mixture's seq_len")


class ReweightSection(_Strict):
    """SampleReweighter: the backpropagated loss as a loss-weighted mean of per-sample losses."""

    strategy: str = "linupper"
    temperature: float = 1.0
    warmup_steps: int = Field(0, ge=0)


class PolicySection(_Strict):
    """A domain policy (static, schedule, odm, doremi) fed the per-domain train losses every step."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)


class LoaderSection(_Strict):
    """How the MixtureLoader reads batches (never changes what is sampled)."""

    num_workers: int = Field(0, ge=0)
    backend: Literal["thread", "process"] = "thread"


class TrainConfig(_Strict):
    """One training run: what `curator train` and `curator.train.train()` take."""

    mixture: str = Field(description="mixture YAML whose store was built (relative paths: the current directory)")
    model: ModelSection = Field(default_factory=ModelSection)
    steps: int = Field(200, ge=1, description="optimizer steps")
    lr: float = Field(3e-3, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="cosine: the final lr as a fraction of lr")
    schedule: Literal["cosine", "constant"] = "cosine"
    warmup_steps: int = Field(10, ge=0, description="linear lr warmup")
    weight_decay: float = Field(0.1, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    grad_clip: float | None = Field(1.0, gt=0)
    grad_accum: int = Field(1, ge=1, description="micro-batches (loader batches) per optimizer step")
    seed: int = Field(0, ge=0, description="model initialisation seed (the mixture's seed drives sampling)")
    eval_every: int = Field(50, ge=0, description="0: no validation")
    eval_samples: int = Field(
        32, ge=1, description="validation windows per domain, cut from its held-out documents (fewer if short)"
    )
    checkpoint_every: int = Field(50, ge=1)
    keep_checkpoints: int | None = Field(3, ge=1, description="newest checkpoints kept; null keeps all")
    log_every: int = Field(1, ge=1, description="train_log rows every this many steps")
    init_from: str | None = Field(
        None,
        description="start from this checkpoint (.pt or a training run folder: its newest) instead of a random "
        "model: its weights and AdamW moments; continual pre-training (steps and tokens count from 0)",
    )
    reweight: ReweightSection | None = None
    policy: PolicySection | None = None
    loader: LoaderSection = Field(default_factory=LoaderSection)
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's)")
    deterministic: bool = Field(True, description="torch.use_deterministic_algorithms during the run")

    @model_validator(mode="after")
    def _finite(self):
        for name in ("lr", "weight_decay"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite")
        if self.warmup_steps > self.steps:
            raise ValueError(
                f"warmup_steps {self.warmup_steps} exceeds steps {self.steps}; lower it (--set warmup_steps=N)"
            )
        return self

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step `step` (1-based): linear warmup, then cosine or constant."""
        if self.warmup_steps and step <= self.warmup_steps:
            return self.lr * step / self.warmup_steps
        if self.schedule == "constant":
            return self.lr
        span = max(1, self.steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def parse_train_config(data: Any, origin: str = "<train config>") -> TrainConfig:
    """Validate a mapping; every problem in one ConfigError, unknown keys with a did-you-mean."""
    from curator.pipeline.config import _explain

    if isinstance(data, TrainConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a training config is a YAML mapping with at least `mixture:`")
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        problems = _explain(exc, TrainConfig, "")
        raise ConfigError(f"{origin}: invalid training config\n  " + "\n  ".join(dict.fromkeys(problems))) from None


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read train.yaml, apply `--set key=value` overrides, validate."""
    from curator.pipeline.config import apply_overrides, read_yaml_file

    data = read_yaml_file(path, "training config")
    if isinstance(data, dict) and overrides:
        data = apply_overrides(data, overrides)
    return parse_train_config(data, str(path))
