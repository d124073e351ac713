"""Training progress: a tqdm bar on a terminal, a throttled line in CI or when piped, nothing when quiet."""

from __future__ import annotations

import sys
import time

from curator.pipeline.progress import interactive


class TrainProgress:
    """Shows step, loss and tokens/s (of this session); a line at most every `every` seconds when not a tty."""

    def __init__(self, total: int, start: int = 0, quiet: bool = False, every: float = 10.0):
        self.total, self.start = total, start
        self.mode = "silent" if quiet else ("bar" if interactive() else "lines")
        self.every = every
        self._t0 = self._last = time.perf_counter()
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=start, unit="step", desc="train", file=sys.stderr, leave=True)

    def update(self, step: int, loss: float, tokens: int) -> None:
        """`tokens`: tokens trained on in this session so far."""
        now = time.perf_counter()
        rate = tokens / max(now - self._t0, 1e-9)
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{rate:,.0f}", refresh=False)
        elif self.mode == "lines" and (now - self._last >= self.every or step == self.total):
            self._last = now
            print(
                f"[curator] train: step {step}/{self.total}, loss {loss:.4f}, {rate:,.0f} tokens/s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
