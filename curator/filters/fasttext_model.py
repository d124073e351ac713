"""fastText models for the pipeline: loaded once per worker process, fed whole batches of newline-free text.

Binding: `fasttext-numpy2` (module `fasttext`). The official `fasttext` 0.9.3 and `fasttext-wheel` builds fail on
numpy 2 (`predict` raises "Unable to avoid copy"); this build is the same C++ code with that fixed, trains and
reads the usual `.bin`/`.ftz` files, and installs from a wheel on Python 3.10-3.13.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import ConfigError

_MODELS: dict[tuple[str, int, int], object] = {}


class ModelMissing(ConfigError):
    """A model file named in a pipeline does not exist."""


def quiet_fasttext():
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silences the load_model deprecation warning
    return fasttext


def check_model_file(path: str | os.PathLike, how_to_get: str) -> Path:
    """The path if it is a readable file, else ModelMissing naming the path and how to make or get one."""
    p = Path(path)
    if not p.is_file():
        raise ModelMissing(f"fastText model '{p}' not found (relative paths are read from {os.getcwd()}); {how_to_get}")
    return p


def validated_model_path(path: str, how_to_get: str) -> str:
    """For pydantic validators: the path, or a ValueError (so the config error names the step and field)."""
    try:
        check_model_file(path, how_to_get)
    except ModelMissing as exc:
        raise ValueError(str(exc)) from None
    return path


def load_model(path: str | os.PathLike):
    """The fastText model at `path`, loaded at most once per process and path (reloaded when the file
    changes). Several models (language id + quality, say) stay loaded side by side: one per path."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    model = _MODELS.get(key)
    if model is None:
        model = quiet_fasttext().load_model(str(p))
        for old in [k for k in _MODELS if k[0] == key[0]]:  # an older version of the same file
            del _MODELS[old]
        _MODELS[key] = model
    return model


def fasttext_text(texts: pa.Array, newline: str = " ", max_chars: int | None = None) -> pa.Array:
    """Texts as fastText input lines, each ending in '\\n': '\\r' and '\\n' inside replaced by `newline`
    (fastText reads one line per example; DCLM joins lines with a space), optionally cut to `max_chars` chars."""
    if max_chars is not None:
        texts = pc.utf8_slice_codeunits(texts, 0, max_chars)
    flat = pc.replace_substring_regex(texts, r"\r\n|\r|\n", newline)
    return pc.binary_join_element_wise(flat, pa.scalar("\n"), "")


def fasttext_lines(texts: pa.Array, newline: str = " ", max_chars: int | None = None) -> list[str]:
    """`fasttext_text` as the Python strings fastText's predict takes."""
    return fasttext_text(texts, newline, max_chars).to_pylist()


def predict(model, lines: list[str], k: int) -> tuple[list[list[str]], list[np.ndarray]]:
    """Top-k labels and probabilities of each line (from `fasttext_lines`), in one C++ call for the batch."""
    return model.f.multilinePredict(lines, k, 0.0, "strict")


def label_probabilities(model, lines: list[str], labels: list[str]) -> np.ndarray:
    """float32 [rows, len(labels)]: P(label | line) for the given labels (0 where fastText gave none),
    clipped to [0, 1] (fastText's softmax can return 1.0000075)."""
    all_labels = list(model.get_labels())
    index = {label: j for j, label in enumerate(labels)}
    out = np.zeros((len(lines), len(labels)), np.float32)
    if not lines:
        return out
    got_labels, got_probs = predict(model, lines, len(all_labels))
    for i, (names, probs) in enumerate(zip(got_labels, got_probs, strict=True)):
        for name, p in zip(names, probs, strict=True):
            j = index.get(name)
            if j is not None:
                out[i, j] = p
    return np.clip(out, 0.0, 1.0, out=out)


def model_with_label(path: str | os.PathLike, label: str):
    """(model, '__label__' + label) for a model file that has `label`; otherwise a ConfigError listing its labels."""
    model = load_model(path)
    target = "__label__" + label.removeprefix("__label__")
    if target not in model.get_labels():
        names = ", ".join(name.removeprefix("__label__") for name in model.get_labels())
        raise ConfigError(f"label '{label}' is not one of the model's labels: {names} (model {path})")
    return model, target


def label_probability(
    path: str | os.PathLike, texts: pa.Array, label: str, newline: str = " ", max_chars: int | None = None
) -> np.ndarray:
    """float32 P(`label`) of each text under the model at `path` (loaded once per process), or under an
    already loaded model when `path` is one."""
    model, target = model_with_label(path, label) if isinstance(path, (str, os.PathLike)) else (path, label)
    return label_probabilities(model, fasttext_lines(texts, newline, max_chars), [target])[:, 0]
