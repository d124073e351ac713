"""fasttext_quality: score documents with a fastText classifier; keep by threshold or by the Pareto rule."""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, field_validator

from curator.filters.fasttext_model import label_probability, model_with_label, validated_model_path
from curator.pipeline.step import Filter, Resources, register_step
from curator.text.hashing import seeded_uniform

HOW_TO_TRAIN = "train one with: curator quality train --positive HQ_DATA --negative LQ_DATA --out model.bin"


def pareto_draws(ids: pa.Array, alpha: float, seed: int) -> np.ndarray:
    """`np.random.pareto(alpha)` draws (Lomax: (1 - u)^(-1/alpha) - 1), one per document id, seeded."""
    return np.power(1.0 - seeded_uniform(ids, seed), -1.0 / alpha) - 1.0


@register_step
class FastTextQuality(Filter):
    """Write P(`label`) of a fastText classifier to `quality_score`; keep by threshold or the GPT-3 Pareto rule.

    keep: "threshold" keeps score >= threshold; "pareto" keeps draw > 1 - score with draw ~ Pareto(alpha)
    seeded per document id (so any number of workers makes the same choice; the draw goes to
    `quality_draw`); "none" only scores. The model loads in setup(), once per task (the process keeps one copy
    per model file, so language_id and fasttext_quality in one pipeline never evict each other).
    Memory: one batch, its lines as Python strings, and the model.
    """

    _loaded = PrivateAttr(default=None)  # the model (and label), loaded in setup() once per task

    name = "fasttext_quality"
    resources: ClassVar[Resources] = Resources(cpus=1.0, memory_mb=1000)  # up to a ~1 GB unquantised model
    packages: ClassVar[dict[str, str]] = {"fasttext": "fasttext-numpy2"}
    stats_columns: ClassVar[dict[str, pa.DataType]] = {"quality_score": pa.float32(), "quality_draw": pa.float32()}

    model: str
    label: str = "hq"
    keep: Literal["threshold", "pareto", "none"] = "threshold"
    threshold: float = Field(0.5, ge=0.0, le=1.0)
    pareto_alpha: float = Field(9.0, gt=0.0)
    seed: int = 0
    newline: str = " "
    max_chars: int | None = Field(None, ge=1, description="score only the first chars of long documents")

    @field_validator("model")
    @classmethod
    def _exists(cls, path: str) -> str:
        validated_model_path(path, HOW_TO_TRAIN)
        return path

    def describe(self) -> str:
        rule = {
            "threshold": f"keep quality_score >= {self.threshold:g}",
            "pareto": f"keep Pareto({self.pareto_alpha:g}) draw > 1 - quality_score (seed {self.seed})",
            "none": "score only",
        }[self.keep]
        return f"P({self.label}) from {self.model}; {rule}"

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self._loaded = model_with_label(self.model, self.label)  # once per task, not per batch

    def teardown(self) -> None:
        self._loaded = None

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        if self._loaded is None:  # used outside a pipeline (no setup)
            self._loaded = model_with_label(self.model, self.label)
        model, target = self._loaded
        scores = label_probability(model, batch.column("text"), target, self.newline, self.max_chars)
        columns = {"quality_score": pa.array(scores, pa.float32())}
        if self.keep == "pareto":
            draws = pareto_draws(batch.column("id"), self.pareto_alpha, self.seed + self.ctx.seed)
            columns["quality_draw"] = pa.array(draws.astype(np.float32), pa.float32())
        return columns

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        score = batch.column("quality_score")
        if self.keep == "none":
            return pa.nulls(batch.num_rows, pa.string())
        if self.keep == "threshold":
            low = pc.less(score, pa.scalar(self.threshold, pa.float32()))
        else:
            low = pc.less_equal(batch.column("quality_draw"), pc.subtract(pa.scalar(1.0, pa.float32()), score))
        return pc.if_else(low, pa.scalar("low_quality"), pa.scalar(None, pa.string()))
