"""Threshold rules over score columns: the shared decide() of the heuristic quality filters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.pipeline.step import Filter, first_reason
from curator.text import kernel_cache


@dataclass(frozen=True)
class Rule:
    """Drop a document when `column` breaks the threshold held in the step's field `field`.

    kind "min": drop when column < threshold; "max": drop when column > threshold; "flag": drop when the
    (boolean) column is true and the field is true. A threshold of None (or False for a flag) turns it off.
    """

    field: str
    column: str
    kind: Literal["min", "max", "flag"]
    reason: str

    def describe(self, value) -> str:
        if self.kind == "flag":
            return f"not {self.column}"
        return f"{self.column} {'>=' if self.kind == 'min' else '<='} {value:g}"

    def mask(self, batch: pa.RecordBatch, value) -> pa.Array:
        column = batch.column(self.column)
        if self.kind == "flag":
            return column
        return pc.less(column, value) if self.kind == "min" else pc.greater(column, value)


class RuleFilter(Filter):
    """A filter whose decisions are threshold rules over its score columns; the first broken rule names the
    drop reason. Every score is written to the stats table, so other thresholds are a SQL query away:
    `SELECT count(*) FROM docs WHERE <column> > <new threshold>`."""

    rules: ClassVar[tuple[Rule, ...]] = ()
    score_only: bool = False  # write the scores, drop nothing (choose thresholds later, by SQL)

    def active_rules(self) -> list[tuple[Rule, object]]:
        """(rule, threshold) for every rule that is on, in decision order."""
        return [(rule, getattr(self, rule.field)) for rule in self.rules if not _is_off(getattr(self, rule.field))]

    def describe(self) -> str:
        if self.score_only:
            return "score only (drops nothing)"
        active = self.active_rules()
        off = [rule.field for rule in self.rules if _is_off(getattr(self, rule.field))]
        text = "keep if " + ", ".join(rule.describe(value) for rule, value in active) if active else "no rule on"
        return text + (f" (off: {', '.join(off)})" if off else "")

    def teardown(self) -> None:
        """Forget the text-kernel results cached for the task's last batch (shared by the rules)."""
        kernel_cache.clear()

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        if self.score_only:
            return pa.nulls(batch.num_rows, pa.string())
        return first_reason(
            batch.num_rows, [(rule.mask(batch, value), rule.reason) for rule, value in self.active_rules()]
        )


def _is_off(value) -> bool:
    return value is None or value is False


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> pa.Array:
    """numerator / denominator as float64, 0 where the denominator is 0 (an empty document has no ratio)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)
    return pa.array(out, pa.float64())
