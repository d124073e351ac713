"""Checkpoints: checkpoints/step-NNNNNN.pt written atomically (temp name, fsync, rename); the newest wins.

Reading one for another use (continual pre-training, a DoReMi reference, offline scoring): `checkpoint_file`
resolves a .pt or a run folder's newest, `load_state` the whole saved state, `read_checkpoint` the model
weights with the sizes, `load_model` a ready GPT. Anything that is not a curator checkpoint is a ConfigError.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from curator.errors import ConfigError, RunError
from curator.io.atomic import atomic_file
from curator.train.model import GPT, GPTConfig

CHECKPOINT_DIR = "checkpoints"
HOW_TO_GET = (
    "train one with `curator train pipelines/train.yaml --out runs/train` (after `make demo`) and pass the run "
    "folder or one of its checkpoints/step-NNNNNN.pt files"
)
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
    with atomic_file(path) as fh:
        torch.save(state, fh)
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


def load_state(path: str | Path) -> tuple[dict, Path]:
    """(the whole saved state, its file) of a checkpoint .pt or a training run folder's newest checkpoint;
    anything that is not a readable curator checkpoint is a ConfigError saying how to get one."""
    file = checkpoint_file(path)
    try:
        state = torch.load(file, map_location="cpu", weights_only=False, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling problem is the same user error
        raise ConfigError(f"checkpoint '{file}' cannot be read ({type(exc).__name__}: {exc}); {HOW_TO_GET}") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise ConfigError(
            f"'{file}' is not a `curator train` checkpoint (a dict with 'model' and 'config'); {HOW_TO_GET}"
        )
    return state, file


@dataclass(frozen=True)
class CheckpointInfo:
    """Where a checkpoint is and what it holds: the resolved .pt file, its step, model sizes, training config."""

    path: Path
    step: int | None
    model: GPTConfig
    config: dict

    def store_tokenizer(self) -> dict | None:
        """The tokenizer record (path, sha256, vocab_size) of the store the model trained on, when still found."""
        mixture = self.config.get("mixture")
        if not mixture or not Path(mixture).is_file():
            return None
        try:
            from curator.loader.mixture import load_mixture

            store = Path(load_mixture(mixture).store) / "store.json"
            return json.loads(store.read_text()).get("tokenizer") if store.is_file() else None
        except Exception:  # noqa: BLE001 - an unreadable mixture only skips the extra check
            return None


def checkpoint_file(path: str | Path) -> Path:
    """The .pt file a path names: itself, or a training run folder's newest checkpoint. ConfigError if none."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise ConfigError(f"checkpoint folder '{path}' has no checkpoints/step-NNNNNN.pt; {HOW_TO_GET}")
        return found[-1][1]
    if not path.is_file():
        raise ConfigError(f"checkpoint '{path}' not found; {HOW_TO_GET}")
    return path


def read_checkpoint(path: str | Path) -> tuple[dict, CheckpointInfo]:
    """(state dict of the model, what the checkpoint holds); a file that is not a curator checkpoint is refused."""
    state, file = load_state(path)
    m = (state["config"] or {}).get("model") or {}
    try:
        sizes = GPTConfig(
            int(m["vocab_size"]), int(m["d_model"]), int(m["n_layers"]), int(m["n_heads"]), int(m["seq_len"]),
            int(m.get("mlp_ratio", 4)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"checkpoint '{file}': its config has no usable model sizes ({exc})") from None
    return state["model"], CheckpointInfo(file, state.get("step"), sizes, state["config"])


def pick_device(device: str) -> torch.device:
    """auto: cuda when torch sees a GPU, else cpu; cuda without a GPU is a ConfigError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: cuda, but torch sees no GPU here; use device: auto or cpu")
    return torch.device(device)


def load_model(path: str | Path, device: str = "cpu") -> tuple[GPT, CheckpointInfo]:
    """The checkpoint's GPT in eval mode on `device`."""
    weights, info = read_checkpoint(path)
    model = GPT(info.model)
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        raise ConfigError(f"checkpoint '{info.path}': weights do not fit its model sizes: {exc}") from None
    return model.to(pick_device(device)).eval(), info
