"""Checkpoints: checkpoints/step-NNNNNN.pt written atomically (temp name, fsync, rename); the newest wins."""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from curator.errors import RunError
from curator.io.atomic import TMP_PREFIX

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{6,})\.pt$")


def checkpoint_path(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINT_DIR / f"step-{step:06d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every published checkpoint, oldest first."""
    folder = Path(run_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return sorted(found)


def save_checkpoint(run_dir: str | Path, step: int, state: dict, keep: int | None = None) -> Path:
    """Write `state` as the checkpoint of `step`; then keep only the newest `keep` (None: all)."""
    path = checkpoint_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(TMP_PREFIX + path.name)
    with open(tmp, "wb") as fh:
        torch.save(state, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    if keep is not None:
        for _, old in list_checkpoints(run_dir)[:-keep]:
            old.unlink()
    return path


def load_latest(run_dir: str | Path) -> dict | None:
    """The newest checkpoint's state, or None when the run has none."""
    found = list_checkpoints(run_dir)
    if not found:
        return None
    step, path = found[-1]
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is reported the same way
        raise RunError(f"checkpoint {path} cannot be read ({exc}); remove it to resume from an earlier one") from None


def read_checkpoint(path: str | Path) -> tuple[dict, Path]:
    """(state, file) of a checkpoint .pt file, or of the newest checkpoint of a training run folder."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise RunError(f"{path} has no checkpoints/step-NNNNNN.pt; train it first (curator train)")
        path = found[-1][1]
    elif not path.is_file():
        raise RunError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is reported the same way
        raise RunError(f"checkpoint {path} cannot be read ({exc})") from None
    if not isinstance(state, dict) or "model" not in state or "model" not in (state.get("config") or {}):
        raise RunError(f"{path} is not a curator training checkpoint (no model state and model config)")
    return state, path


def load_model(path: str | Path):
    """(GPT in eval mode, checkpoint file, step) from a checkpoint .pt or a training run folder (its newest)."""
    from curator.train.model import GPT, GPTConfig

    state, file = read_checkpoint(path)
    m = state["config"]["model"]
    model = GPT(GPTConfig(m["vocab_size"], m["d_model"], m["n_layers"], m["n_heads"], m["seq_len"], m["mlp_ratio"]))
    model.load_state_dict(state["model"])
    model.eval()
    return model, file, int(state.get("step", 0))
