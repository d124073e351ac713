"""language_id: fastText lid.176 language identification, offline, with the model shipped inside curator."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr, field_validator

from curator.filters.fasttext_model import (
    ModelMissing,
    fasttext_lines,
    load_model,
    predict,
    validated_model_path,
)
from curator.pipeline.step import Filter, Resources, first_reason, register_step

LID_MD5 = "340156704bb8c8e50c4abf35a7ec2569"  # lid.176.ftz as published by fastText
BUNDLED_LID = Path(__file__).parent / "models" / "lid.176.ftz"  # CC BY-SA 3.0, see models/NOTICE.md
HOW_TO_INSTALL = "the default lid.176.ftz ships with curator: reinstall it (pip install --force-reinstall curator)"
UNDETERMINED = "und"  # ISO 639-2 'undetermined': text with no letters or digits


def bundled_lid_model() -> Path:
    """Path of the lid.176.ftz that ships inside the curator package (checked to exist)."""
    if not BUNDLED_LID.is_file():
        raise ModelMissing(f"no language-id model at {BUNDLED_LID}; {HOW_TO_INSTALL}")
    return BUNDLED_LID


@register_step
class LanguageId(Filter):
    """Write the most likely language (`lang`, ISO 639 code as lid.176 names it) and its probability
    (`lang_score`); drop documents outside `languages` or below `min_score`. Text without a letter or digit
    gets `und` and score 0. Memory: one batch, its lines as Python strings, and the 0.9 MB model.
    """

    _loaded = PrivateAttr(default=None)  # the model (and label), loaded in setup() once per task

    name = "language_id"
    resources: ClassVar[Resources] = Resources(cpus=1.0, memory_mb=200)  # lid.176.ftz + fastText buffers
    packages: ClassVar[dict[str, str]] = {"fasttext": "fasttext-numpy2"}
    stats_columns: ClassVar[dict[str, pa.DataType]] = {"lang": pa.string(), "lang_score": pa.float32()}

    model: str | None = Field(None, description="a fastText language-id model; default: bundled lid.176.ftz")
    languages: list[str] | None = Field(None, description="keep only these languages (default: keep all)")
    min_score: float = Field(0.0, ge=0.0, le=1.0)
    max_chars: int | None = Field(None, ge=1, description="identify from the first chars of long documents")

    @field_validator("model")
    @classmethod
    def _exists(cls, path: str | None) -> str | None:
        if path is not None:
            validated_model_path(path, HOW_TO_INSTALL)
        return path

    def model_path(self) -> Path:
        return Path(self.model) if self.model else bundled_lid_model()

    def setup(self, ctx) -> None:
        super().setup(ctx)
        self._loaded = load_model(self.model_path())  # once per task, not per batch

    def teardown(self) -> None:
        self._loaded = None

    def preflight(self) -> None:
        """A missing or unreadable model fails here, in --dry-run and before any pass."""
        path = self.model_path()
        try:
            load_model(path)
        except (ValueError, OSError, RuntimeError) as exc:
            raise ModelMissing(f"language_id: cannot load the model {path}: {exc}") from None

    def describe(self) -> str:
        keep = f"keep {', '.join(self.languages)}" if self.languages else "keep every language"
        return f"{keep} with lang_score >= {self.min_score:g}" if self.min_score else keep

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = batch.column("text")
        lines = fasttext_lines(texts, " ", self.max_chars)
        if self._loaded is None:  # used outside a pipeline (no setup)
            self._loaded = load_model(self.model_path())
        labels, probs = predict(self._loaded, lines, 1)
        lang = pa.array([names[0].removeprefix("__label__") if names else UNDETERMINED for names in labels])
        score = np.array([p[0] if len(p) else 0.0 for p in probs], np.float32).clip(0.0, 1.0)
        blank = pc.invert(pc.match_substring_regex(texts, r"[\p{L}\p{N}]"))  # RE2: \w is ASCII-only
        lang = pc.if_else(blank, pa.scalar(UNDETERMINED), lang)
        score = pc.if_else(blank, pa.scalar(0.0, pa.float32()), pa.array(score, pa.float32()))
        return {"lang": lang, "lang_score": score}

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        rules = []
        if self.languages:
            rules.append((pc.invert(pc.is_in(batch.column("lang"), pa.array(self.languages))), "language"))
        if self.min_score > 0:
            rules.append((pc.less(batch.column("lang_score"), self.min_score), "language_score"))
        return first_reason(batch.num_rows, rules)
