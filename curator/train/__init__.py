"""`curator train`: a small GPT trained on CPU from a mixture, with the loader's reweighting and policies.

`train` and `TrainConfig` are imported lazily so that `curator.train.train_log` (read by `curator sql` and
`curator schemas`) does not import torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "TrainSummary", "load_train_config", "train"]


def __getattr__(name: str) -> Any:
    if name in ("TrainConfig", "load_train_config"):
        from curator.train import config

        return getattr(config, name)
    if name in ("TrainSummary", "train"):
        from curator.train import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'curator.train' has no attribute {name!r}")
