"""The train log: per-step train and validation losses (overall and per domain), read as the `train_log` view.

A long table, one row per (step, split, domain); domain is null for the all-domain row. Rows are buffered and
written as whole parts (`<run>/stats/train_log/part-NNNNN.parquet`, temp name then rename) at each checkpoint,
so the log never runs ahead of the newest checkpoint once flushed; a resume drops rows after its step.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.io.atomic import AtomicParquetWriter

TRAIN_LOG_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),  # optimizer step (1-based)
        pa.field("split", pa.string(), nullable=False),  # train | eval
        pa.field("domain", pa.string()),  # null: all domains together
        pa.field("loss", pa.float64()),  # mean per-sample cross-entropy (nats per token); null: no samples
        pa.field("samples", pa.int64(), nullable=False),  # samples the loss is over
        pa.field("lr", pa.float64(), nullable=False),  # learning rate of the step
        pa.field("tokens", pa.int64(), nullable=False),  # input tokens trained on up to and including the step
    ],
    metadata={"curator.table": "train_log", "curator.schema_version": "1"},
)

TRAIN_LOG_DIR = "stats/train_log"


class TrainLogWriter:
    """Buffers rows; `flush()` writes them as the next part; `drop_after(step)` undoes a crashed attempt."""

    def __init__(self, run_dir: str | Path):
        self.folder = Path(run_dir) / TRAIN_LOG_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self._rows: list[dict] = []

    def _parts(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet"))

    def log(self, step: int, split: str, losses: dict[str | None, tuple[float, int]], lr: float, tokens: int) -> None:
        """One row per entry of {domain or None: (loss, samples)}; a NaN loss is stored as null."""
        for domain, (loss, samples) in losses.items():
            value = None if loss != loss else float(loss)
            self._rows.append(
                {
                    "step": step,
                    "split": split,
                    "domain": domain,
                    "loss": value,
                    "samples": int(samples),
                    "lr": float(lr),
                    "tokens": int(tokens),
                }
            )

    def flush(self) -> Path | None:
        if not self._rows:
            return None
        parts = self._parts()
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        path = self.folder / f"part-{number:05d}.parquet"
        writer = AtomicParquetWriter(path, TRAIN_LOG_SCHEMA)
        writer.write(pa.Table.from_pylist(self._rows, schema=TRAIN_LOG_SCHEMA))
        writer.close()
        self._rows = []
        return path

    def drop_after(self, step: int) -> int:
        """Remove rows of steps after `step` (rewriting or removing parts atomically); returns how many."""
        from curator.io.parquet import drop_rows_after

        self._rows = []
        return drop_rows_after(list(self._parts()), step, TRAIN_LOG_SCHEMA)


def read_train_log(run_dir: str | Path) -> pa.Table:
    """The whole train log of a run, sorted by step, split and domain."""
    import pyarrow.parquet as pq

    parts = sorted((Path(run_dir) / TRAIN_LOG_DIR).glob("part-*.parquet"))
    if not parts:
        return TRAIN_LOG_SCHEMA.empty_table()
    table = pa.concat_tables([pq.read_table(p).cast(TRAIN_LOG_SCHEMA) for p in parts])
    return table.sort_by([("step", "ascending"), ("split", "ascending"), ("domain", "ascending")])
