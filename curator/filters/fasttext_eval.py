"""The held-out report of a fastText classifier: accuracy, per-label precision, recall and F1, and AUC."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curator.filters.fasttext_model import label_probabilities
from curator.filters.fasttext_split import LABEL_PREFIX


def _auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); None without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model, valid_file: Path, labels: list[str], positive: str | None, chunk: int = 20_000) -> dict:
    """Held-out accuracy, per-label precision/recall/F1, and AUC of `positive` (binary) or one-vs-rest mean."""
    truth: list[int] = []
    probs: list[np.ndarray] = []
    index = {label: j for j, label in enumerate(labels)}
    with open(valid_file, encoding="utf-8") as f:
        while True:
            block = [line for _, line in zip(range(chunk), f, strict=False)]
            if not block:
                break
            names, texts = zip(*(line.split(" ", 1) for line in block), strict=True)
            truth.extend(index[n.removeprefix(LABEL_PREFIX)] for n in names)
            probs.append(label_probabilities(model, list(texts), [LABEL_PREFIX + label for label in labels]))
    if not truth:
        return {"docs": 0}
    y = np.array(truth)
    p = np.concatenate(probs)
    pred = p.argmax(axis=1)
    per_label = {}
    for j, label in enumerate(labels):
        tp = int(((pred == j) & (y == j)).sum())
        predicted, actual = int((pred == j).sum()), int((y == j).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        auc = _auc(p[:, j], y == j)
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "auc": auc, "docs": actual}
    aucs = [v["auc"] for v in per_label.values() if v["auc"] is not None]
    return {
        "docs": len(y),
        "accuracy": float((pred == y).mean()),
        "auc": per_label[positive]["auc"] if positive else (float(np.mean(aucs)) if aucs else None),
        "positive": positive,
        "per_label": per_label,
    }
