"""Progress: a bar on a terminal, a quiet throttled status line in CI or when output is piped."""

from __future__ import annotations

import os
import sys
import time


def interactive() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


class Progress:
    """A tqdm bar on a terminal, a line at most every `every` seconds otherwise (and at the end), or nothing
    when quiet; subclasses say what a unit of progress carries."""

    def __init__(self, total: int, initial: int = 0, quiet: bool = False, every: float = 10.0, unit="task", desc=""):
        self.total = total
        self.mode = "silent" if quiet else ("bar" if interactive() else "lines")
        self.every = every
        self._start = time.perf_counter()
        self._last = 0.0
        self._bar = None
        if self.mode == "bar":
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr, leave=True)

    def hold_first(self) -> None:
        """Print the first status line only once `every` seconds have passed (not at the first unit)."""
        self._last = time.perf_counter()

    def elapsed(self) -> float:
        return max(time.perf_counter() - self._start, 1e-9)

    def advance(self, done: int, postfix: dict[str, str], line) -> None:
        """One unit done (`done` so far): the bar's postfix, or `line()` printed when a line is due."""
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(postfix, refresh=False)
        elif self.mode == "lines":
            now = time.perf_counter()
            if now - self._last >= self.every or done == self.total:
                self._last = now
                print(f"[curator] {line()}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


class TaskProgress(Progress):
    """Counts finished tasks and documents."""

    def __init__(
        self, total: int, done: int = 0, quiet: bool = False, every: float = 10.0, label="tasks", indexed=False
    ):
        super().__init__(total, done, quiet, every, unit="task", desc=label)
        self.done, self.label = done, label
        self.docs = self.kept = 0
        self.indexed = indexed  # an index pass: its documents are those reaching the global step, all kept

    def update(self, records: int, kept: int) -> None:
        self.done += 1
        self.docs += records
        self.kept += kept
        self.advance(
            self.done,
            {"docs": f"{self.docs:,}", "kept": f"{self.kept:,}"},
            lambda: (
                f"{self.label}: {self.done}/{self.total} tasks, {self.docs:,} docs indexed this session, "
                f"{self.docs / self.elapsed():,.0f} docs/s"
                if self.indexed
                else f"{self.label}: {self.done}/{self.total} tasks, {self.docs:,} docs read this session, "
                f"{self.kept:,} kept, {self.docs / self.elapsed():,.0f} docs/s"
            ),
        )
