"""DSIR's selection, in the dsir_select step's resolve pass: k documents by Gumbel top-k, top-k or draws with
replacement over the log importance weights, with the KL report of the selection and of its variants; and the
streaming summary of the weights (ESS). Memory: one task's per-document arrays and the top-k candidates (16 B x k)."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np

from curator.dedup.state import save_npy, task_file
from curator.errors import RunError
from curator.select.estimator import HeldoutTarget, distribution, logsumexp
from curator.select.features import bucket_counts
from curator.select.resample import TopK, multinomial_by_task, selected_by_threshold
from curator.text.ngrams import token_lengths

if TYPE_CHECKING:
    from curator.select.dsir import DsirSelect


def task_keys(step: DsirSelect, t: int, numbering_offset: int) -> dict[str, np.ndarray]:
    """One task's ranking keys by variant (gumbel, top_k, random, fasttext), eligibility and document numbers."""
    stream_offsets = np.load(task_file(step.state, "grams", t, ".offsets.npy"))
    log_w = np.load(task_file(step.state, "weights", t, ".npy"))
    noise = np.load(task_file(step.state, "noise", t, ".npy"))
    keys = {
        "gumbel": log_w / step.temperature + noise,
        "top_k": log_w / step.temperature,
        "random": noise,
    }
    if step.compare_model is not None:
        keys["fasttext"] = np.load(task_file(step.state, "fasttext", t, ".npy")).astype(np.float64)
    eligible = token_lengths(stream_offsets, step.ngrams) >= step.min_length
    numbers = np.arange(numbering_offset, numbering_offset + len(log_w), dtype=np.int64)
    return {"keys": keys, "eligible": eligible, "numbers": numbers, "log_w": log_w}


def select_documents(
    step: DsirSelect,
    markers: list[dict],
    summary: WeightSummary,
    heldout: dict[str, HeldoutTarget],
    raw_all: np.ndarray,
    log: logging.Logger,
) -> dict:
    """Keep k documents (step.method) over all tasks; each task's selection and keys to state/; the facts
    and the KL report of the selection and its variants (top_k, random, fasttext)."""
    docs, eligible = summary.docs, summary.eligible
    k = step.k if step.k is not None else int(math.floor(step.fraction * docs))
    if eligible == 0:
        raise RunError(
            f"{step.name}: no eligible document: all {docs:,} are shorter than min_length={step.min_length} "
            f"tokens (the longest has {summary.longest:,}); lower min_length"
        )
    if k == 0:
        raise RunError(f"{step.name}: fraction={step.fraction} of {docs:,} documents selects none")
    note = None
    if k > eligible:
        if not step.allow_fewer:
            raise RunError(
                f"{step.name}: k={k:,} but only {eligible:,} of {docs:,} documents are eligible "
                f"(min_length={step.min_length} tokens); lower k, lower min_length, or set allow_fewer: true "
                "(`curator dsir`: --allow-fewer)"
            )
        note = f"k={k:,} exceeds the {eligible:,} eligible documents: all of them are selected"
        log.warning("%s: %s", step.name, note)
        k = eligible
    offsets = np.concatenate([[0], np.cumsum([mk["docs"] for mk in markers])])
    n_tasks = len(markers)
    variants = ["top_k", "random"] + (["fasttext"] if step.compare_model is not None else [])
    if step.method != "replacement":
        variants = [step.method] + [v for v in variants if v != step.method]
    tops = {v: TopK(k) for v in variants}
    for t in range(n_tasks):
        a = task_keys(step, t, offsets[t])
        for v, top in tops.items():
            top.add(a["keys"][v][a["eligible"]], a["numbers"][a["eligible"]])
    thresholds = {v: top.threshold() for v, top in tops.items()}
    drawn = None
    if step.method == "replacement":
        rng = np.random.default_rng([step.full_seed(), 0x5D51])
        masked = []
        for t in range(n_tasks):
            a = task_keys(step, t, offsets[t])
            masked.append(np.where(a["eligible"], a["log_w"] / step.temperature, -np.inf))
        drawn = multinomial_by_task(masked, k, rng)
    q_counts = {v: np.zeros(step.num_buckets) for v in [step.method, *thresholds]}
    selected_docs, copies_total = 0, 0
    for t in range(n_tasks):
        a = task_keys(step, t, offsets[t])
        masks = {
            v: selected_by_threshold(a["keys"][v], a["numbers"], a["eligible"], thr).astype(np.int32)
            for v, thr in thresholds.items()
        }
        copies = drawn[t] if drawn is not None else masks[step.method]
        masks[step.method] = copies
        key = a["keys"]["top_k" if step.method == "replacement" else step.method]
        save_npy(task_file(step.state, "selection", t, ".npy"), copies.astype(np.int32))
        save_npy(task_file(step.state, "keys", t, ".npy"), np.where(a["eligible"], key, np.nan))
        selected_docs += int((copies > 0).sum())
        copies_total += int(copies.sum())
        if heldout["document"].docs:
            for d, e, b, o in step.stream(t).chunks():
                for v, c in masks.items():
                    q_counts[v] += bucket_counts(b, o, c[d:e], step.num_buckets)
    facts = {
        "k": k,
        "method": step.method,
        "temperature": step.temperature,
        "seed": step.full_seed(),
        "selected_docs": selected_docs,
        "selected_copies": copies_total,
        "ess_at_temperature": summary.ess(step.temperature),
    }
    if note:
        facts["note"] = note
    if heldout["document"].docs:
        q = {v: distribution(c) for v, c in q_counts.items()}
        kl_raw = heldout["document"].mean_kl(distribution(raw_all))
        kl = {v: heldout["document"].mean_kl(x) for v, x in q.items()}
        p_bar = heldout["document"].mean_distribution()
        kl_raw_c = heldout["chunk"].mean_kl(distribution(raw_all))
        kl_c = {v: heldout["chunk"].mean_kl(x) for v, x in q.items()}
        facts["kl_selection"] = {
            "target_from_selected": kl[step.method],
            "reduction": kl_raw - kl[step.method],
            "reduction_by": {v: kl_raw - x for v, x in kl.items()},
            # held-out target mass in buckets the selection never hits: each costs log(1e-8) in KL,
            # so a small selection (or a small pool) reads worse than it is
            "target_mass_unseen": float(p_bar[q_counts[step.method] == 0].sum()),
            # the same with each held-out chunk_words-token chunk as one unit (the paper's unit)
            "per_chunk": {
                "target_from_selected": kl_c[step.method],
                "reduction": kl_raw_c - kl_c[step.method],
                "reduction_by": {v: kl_raw_c - x for v, x in kl_c.items()},
            },
        }
    return facts


class WeightSummary:
    """Streaming statistics of the eligible documents' log weights (for the report). Memory: O(1)."""

    def __init__(self, temperature: float = 1.0):
        self.docs = 0
        self.eligible = 0
        self.longest = 0
        self._temperatures = sorted({1.0, float(temperature)})
        self._lse = {t: [float("-inf"), float("-inf")] for t in self._temperatures}  # LSE of x/T and 2x/T
        self._sums = np.zeros(5)  # x, x^2, y, y^2, xy with x = log w, y = length
        self._min, self._max = float("inf"), float("-inf")

    def add(self, log_w: np.ndarray, lengths: np.ndarray, min_length: int) -> None:
        self.docs += len(log_w)
        if len(lengths):
            self.longest = max(self.longest, int(lengths.max()))
        ok = lengths >= min_length
        x, y = log_w[ok], lengths[ok].astype(np.float64)
        self.eligible += len(x)
        if not len(x):
            return
        self._sums += [x.sum(), (x * x).sum(), y.sum(), (y * y).sum(), (x * y).sum()]
        self._min, self._max = min(self._min, float(x.min())), max(self._max, float(x.max()))
        for t, acc in self._lse.items():
            acc[0] = float(np.logaddexp(acc[0], logsumexp(x / t)))
            acc[1] = float(np.logaddexp(acc[1], logsumexp(2 * x / t)))

    def ess(self, temperature: float = 1.0) -> float:
        """(sum w)^2 / sum w^2 of w = exp(log_w / temperature) over the eligible documents."""
        lse1, lse2 = self._lse[float(temperature)]
        return float(np.exp(2 * lse1 - lse2)) if self.eligible else 0.0

    def facts(self) -> dict:
        n = max(self.eligible, 1)
        sx, sxx, sy, syy, sxy = self._sums
        var_x, var_y = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
        cov = sxy / n - sx * sy / n**2
        corr = cov / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else None
        return {
            "mean": sx / n if self.eligible else None,
            "std": math.sqrt(max(var_x, 0.0)) if self.eligible else None,
            "min": self._min if self.eligible else None,
            "max": self._max if self.eligible else None,
            "corr_with_length": corr,
            "ess": self.ess(),
            "ess_fraction": self.ess() / self.eligible if self.eligible else None,
        }
