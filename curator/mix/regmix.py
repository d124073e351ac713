"""RegMix-style regression (Liu et al. 2024): LightGBM on the mixture weights, one model per target (extra `mix`)."""

from __future__ import annotations

import numpy as np

from curator.errors import ConfigError

INSTALL_HINT = "the lightgbm law needs LightGBM: pip install 'curator[mix]' (or pip install lightgbm)"


def _lgb():
    try:
        import lightgbm
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return lightgbm


def fit(w: np.ndarray, y: np.ndarray, seed: int = 0, what: str = "lightgbm") -> dict:
    """1,000 boosting rounds at learning rate 0.01 (the paper's), no early stopping (that would peek at test data)."""
    lgb = _lgb()
    n = len(y)
    params = {
        "objective": "regression",
        "learning_rate": 0.01,
        "num_leaves": 31,
        "min_data_in_leaf": max(2, min(20, n // 10)),
        "min_data_in_bin": 1,
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "verbose": -1,
    }
    booster = lgb.train(params, lgb.Dataset(w, y, params={"verbose": -1}), num_boost_round=1000)
    return {"model": booster.model_to_string()}


def predict(params: dict, w: np.ndarray) -> np.ndarray:
    """Predicted loss for mixtures w (n, k)."""
    lgb = _lgb()
    return lgb.Booster(model_str=params["model"]).predict(np.asarray(w, float), num_threads=1)
