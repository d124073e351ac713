"""Progress: a bar on a terminal, a quiet throttled status line in CI or when output is piped."""

from __future__ import annotations

import os
import sys
import time


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class TaskProgress:
    """Counts finished tasks and documents; draws a tqdm bar or prints a line at most every `every` s."""

    def __init__(self, total: int, done: int = 0, quiet: bool = False, every: float = 10.0, label="tasks"):
        self.total, self.done, self.label = total, done, label
        self.docs = self.kept = 0
        self.mode = "silent" if quiet else ("bar" if interactive() else "lines")
        self.every = every
        self._last = 0.0
        self._start = time.perf_counter()
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=done, unit="task", desc=label, file=sys.stderr, leave=True)

    def update(self, records: int, kept: int) -> None:
        self.done += 1
        self.docs += records
        self.kept += kept
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(docs=f"{self.docs:,}", kept=f"{self.kept:,}", refresh=False)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self._last >= self.every or self.done == self.total:
                self._last = now
                rate = self.docs / max(now - self._start, 1e-9)
                print(
                    f"[curator] {self.label}: {self.done}/{self.total} tasks, {self.docs:,} docs read "
                    f"this session, {self.kept:,} kept, {rate:,.0f} docs/s",
                    file=sys.stderr,
                    flush=True,
                )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
