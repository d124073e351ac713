"""Score token sequences with a `curator train` checkpoint: mean token loss per document, batched by length.

A document of n tokens has n - 1 predicted tokens (each token given the ones before it). Documents longer than
the model's seq_len are scored in consecutive windows of seq_len predictions (window j predicts tokens
j*seq_len+1 .. (j+1)*seq_len from the tokens before them in that window: the context restarts at each window
edge, as in training on seq_len windows); every token after the first is predicted exactly once.
Windows are sorted by length (longest first, ties by document and position) and cut into micro-batches of at
most `batch_tokens` padded tokens whose rows fill at least 80 % of the batch's width, so padding is small;
padding positions are masked out of the loss, and with causal attention they never change the real positions'
outputs.
Memory: one micro-batch's logits, batch_tokens x vocab x 4 B, about three times over (logits, log-softmax, the
per-token losses), plus the windows of the documents given (views into their token arrays).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from curator.errors import RunError
from curator.train.checkpoint import (  # noqa: F401 - re-exported: the scorer's checkpoint API
    HOW_TO_GET,
    CheckpointInfo,
    checkpoint_file,
    load_model,
    pick_device,
    read_checkpoint,
)
from curator.train.model import GPT


@dataclass
class ScoreResult:
    """Per document: summed token loss (nats) and tokens scored; plus padding accounting for the batches run."""

    loss_sum: np.ndarray
    tokens: np.ndarray
    padded_tokens: int = 0  # positions computed, real and padding
    real_tokens: int = 0
    batches: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def mean_loss(self) -> np.ndarray:
        """Mean token loss per document; NaN where nothing was scored."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.tokens > 0, self.loss_sum / np.maximum(self.tokens, 1), np.nan)


def windows(docs: list[np.ndarray], seq_len: int, max_tokens: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(document, start, predictions) of every scoring window; a document of < 2 tokens has none."""
    doc_idx, starts, lengths = [], [], []
    for d, ids in enumerate(docs):
        n = len(ids) if max_tokens is None else min(len(ids), max_tokens)
        for a in range(0, n - 1, seq_len):
            doc_idx.append(d)
            starts.append(a)
            lengths.append(min(seq_len, n - 1 - a))
    return np.array(doc_idx, np.int64), np.array(starts, np.int64), np.array(lengths, np.int64)


def micro_batches(lengths: np.ndarray, batch_tokens: int, sort: bool = True, min_fill: float = 0.8) -> list[np.ndarray]:
    """Window indices per micro-batch. sort: longest first, and a new batch starts when rows x the batch's longest
    window would pass batch_tokens or a window is shorter than min_fill x that longest (so padding stays under
    1 - min_fill of any row). Unsorted (the naive baseline): input order, cut at batch_tokens only. A window
    longer than batch_tokens is a batch of its own."""
    order = np.lexsort((np.arange(len(lengths)), -lengths)) if sort else np.arange(len(lengths))
    out, current, longest = [], [], 0
    for i in order.tolist():
        n = int(lengths[i])
        new_longest = max(longest, n)
        if current and (new_longest * (len(current) + 1) > batch_tokens or (sort and n < min_fill * longest)):
            out.append(np.array(current, np.int64))
            current, new_longest = [], n
        current.append(i)
        longest = new_longest
    if current:
        out.append(np.array(current, np.int64))
    return out


def first_out_of_vocab(docs: list[np.ndarray], vocab: int) -> int | None:
    """Index of the first document holding a token id >= vocab, or None."""
    for d, ids in enumerate(docs):
        if len(ids) and int(ids.max()) >= vocab:
            return d
    return None


@torch.inference_mode()
def score_tokens(
    model: GPT,
    docs: list[np.ndarray],
    batch_tokens: int = 1024,
    max_tokens: int | None = None,
    sort: bool = True,
) -> ScoreResult:
    """Summed loss and tokens scored of each document (token id arrays); see the module docstring."""
    device = next(model.parameters()).device
    seq_len, vocab = model.config.seq_len, model.config.vocab_size
    bad = first_out_of_vocab(docs, vocab)
    if bad is not None:
        raise RunError(
            f"document {bad} holds token id {int(docs[bad].max())}, outside the model's vocabulary ({vocab}); "
            "score with the tokenizer the checkpoint was trained with"
        )
    doc_idx, starts, lengths = windows(docs, seq_len, max_tokens)
    result = ScoreResult(np.zeros(len(docs), np.float64), np.zeros(len(docs), np.int64))
    for rows in micro_batches(lengths, batch_tokens, sort):
        width = int(lengths[rows].max())
        inputs = np.zeros((len(rows), width), np.int64)
        labels = np.full((len(rows), width), -100, np.int64)
        for r, w in enumerate(rows.tolist()):
            ids, a, n = docs[doc_idx[w]], int(starts[w]), int(lengths[w])
            inputs[r, :n] = ids[a : a + n]
            labels[r, :n] = ids[a + 1 : a + n + 1]
        logits = model(torch.from_numpy(inputs).to(device))
        target = torch.from_numpy(labels).to(device)
        token = F.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=-100, reduction="none")
        per_row = token.view(len(rows), width).sum(dim=1).double().cpu().numpy()
        np.add.at(result.loss_sum, doc_idx[rows], per_row)
        np.add.at(result.tokens, doc_idx[rows], lengths[rows])
        result.padded_tokens += len(rows) * width
        result.real_tokens += int(lengths[rows].sum())
        result.batches += 1
    return result
