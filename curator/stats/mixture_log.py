"""The mixture log: domain weights per training step, as a trainer-side mixing policy sets them.

Written by whatever changes the sampling mixture during training (DoReMi/ODM-style policies) and read by
`curator sql` as the `mixture_log` view. Rows are buffered and flushed as whole Parquet parts
(`<run>/stats/mixture_log/part-NNNNN.parquet`, written under a temporary name, then renamed), so a crash
loses at most the unflushed rows and never leaves a half-written part. Memory: the buffered rows.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.io.atomic import AtomicParquetWriter

MIXTURE_LOG_SCHEMA = pa.schema(
    [
        pa.field("step", pa.int64(), nullable=False),  # optimizer step at which the policy chose the weights
        pa.field("sample_index", pa.int64(), nullable=False),  # global sample index from which they apply
        pa.field("domain", pa.string(), nullable=False),
        pa.field("weight", pa.float64(), nullable=False),  # sampling probability; sums to 1 over a step
        pa.field("policy", pa.string(), nullable=False),  # e.g. static, doremi, odm
        pa.field("domain_loss", pa.float64()),  # the loss the policy observed for the domain, if any
        pa.field("tokens_seen", pa.int64()),  # tokens of the domain served up to this step, if known
    ],
    metadata={"curator.table": "mixture_log", "curator.schema_version": "1"},
)

MIXTURE_LOG_DIR = "stats/mixture_log"


class MixtureLogWriter:
    """Appends one row per (step, domain); `flush()` writes the buffered rows as the next part file."""

    def __init__(self, run_dir: str | Path, policy: str, flush_every: int = 1000):
        self.folder = Path(run_dir) / MIXTURE_LOG_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.policy = policy
        self.flush_every = flush_every
        self._rows: dict[str, list] = {f.name: [] for f in MIXTURE_LOG_SCHEMA}
        existing = [int(p.stem.split("-")[1]) for p in self.folder.glob("part-*.parquet")]
        self._part = max(existing, default=-1) + 1  # appends after an earlier writer's parts

    def log(
        self,
        step: int,
        sample_index: int,
        weights: dict[str, float],
        losses: dict[str, float] | None = None,
        tokens: dict[str, int] | None = None,
    ) -> None:
        total = sum(weights.values())
        if not weights or any(w < 0 for w in weights.values()) or abs(total - 1.0) > 1e-6:
            raise ValueError(f"mixture weights at step {step} must be >= 0 and sum to 1 (sum {total:.6g})")
        for domain, weight in weights.items():
            row = {
                "step": step,
                "sample_index": sample_index,
                "domain": domain,
                "weight": float(weight),
                "policy": self.policy,
                "domain_loss": (losses or {}).get(domain),
                "tokens_seen": (tokens or {}).get(domain),
            }
            for name, value in row.items():
                self._rows[name].append(value)
        if len(self._rows["step"]) >= self.flush_every:
            self.flush()

    def flush(self) -> Path | None:
        if not self._rows["step"]:
            return None
        path = self.folder / f"part-{self._part:05d}.parquet"
        writer = AtomicParquetWriter(path, MIXTURE_LOG_SCHEMA)
        writer.write(pa.table(self._rows, schema=MIXTURE_LOG_SCHEMA))
        writer.close()
        self._part += 1
        self._rows = {f.name: [] for f in MIXTURE_LOG_SCHEMA}
        return path

    def drop_after(self, step: int) -> int:
        """Remove logged rows of steps after `step` (a resume from that step replays them); returns how many.
        Each part file is rewritten atomically (or removed when nothing of it is left). Memory: one part."""
        from curator.io.parquet import drop_rows_after

        self._rows = {f.name: [] for f in MIXTURE_LOG_SCHEMA}
        return drop_rows_after(sorted(self.folder.glob("part-*.parquet")), step, MIXTURE_LOG_SCHEMA)

    def close(self) -> None:
        self.flush()
