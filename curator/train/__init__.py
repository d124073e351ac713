"""`curator train`: a small GPT trained on CPU from a mixture, with the loader's reweighting and policies."""

from curator.train.config import TrainConfig, load_train_config
from curator.train.trainer import TrainSummary, train

__all__ = ["TrainConfig", "TrainSummary", "load_train_config", "train"]
