"""Training progress: step, loss and tokens/s on the shared bar / throttled line / quiet display."""

from __future__ import annotations

from curator.pipeline.progress import Progress


class TrainProgress(Progress):
    """Shows step, loss and tokens/s (of this session)."""

    def __init__(self, total: int, start: int = 0, quiet: bool = False, every: float = 10.0):
        super().__init__(total, start, quiet, every, unit="step", desc="train")
        self.start = start

    def update(self, step: int, loss: float, tokens: int) -> None:
        """`tokens`: tokens trained on in this session so far."""
        rate = tokens / self.elapsed()
        self.advance(
            step,
            {"loss": f"{loss:.4f}", "tok_s": f"{rate:,.0f}"},
            lambda: f"train: step {step}/{self.total}, loss {loss:.4f}, {rate:,.0f} tokens/s",
        )
