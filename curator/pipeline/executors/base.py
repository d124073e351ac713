"""The executor seam: the driver decides which passes a run needs; an executor runs each pass's tasks.

A pass is one function applied to each pending task (an index pass of a global step, or the final pass);
the functions are plain, picklable and write everything they produce into the run folder, so an executor
only has to run them somewhere, report each outcome, and keep its workers alive across passes. Failures are
collected per pass and raised together as one RunError that says how to resume.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from curator.errors import RunError
from curator.pipeline.progress import TaskProgress


@dataclass
class PassSpec:
    """One pass: `fn(*args_of(task))` for each pending task of `total`; `label` names it in progress and
    errors, `describe(task)` names a task's input, `counts(result)` gives (documents read, kept)."""

    label: str
    fn: Callable[..., Any]
    pending: list[int]
    total: int
    args_of: Callable[[int], tuple]
    describe: Callable[[int], str]
    counts: Callable[[Any], tuple[int, int]]
    resume_hint: str = "fix the cause and re-run the same command to resume"
    # (config, run folder, the global step fed or None, shards, owner): lets an executor stream the pass's
    # per-batch steps (Ray Data) before running `fn(*args_of(task), True)` to finish each task from them
    stream: tuple | None = None
    indexes: bool = False  # an index pass (progress counts documents reaching the global step)


class Executor(ABC):
    """Runs the task passes of one pipeline run; one instance (and one set of workers) per run."""

    kind: ClassVar[str] = ""
    quiet: bool = False
    log: logging.Logger | None = None  # the run's log, set by the driver once it holds the run folder

    @abstractmethod
    def start(self, warm: Callable[..., None] | None = None, *args) -> None:
        """Start workers before the first pass; `warm(*args)` runs once in each (imports, models)."""

    def describe(self) -> str:
        """Where the tasks run, for the run log."""
        return self.kind

    def claimed(self, run_root: Path) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Called once this driver holds the run folder's lock, before the first pass."""

    @abstractmethod
    def outcomes(self, spec: PassSpec) -> Iterator[tuple[int, Any]]:
        """(task, result or the exception it raised) for each pending task, as they finish."""

    def run_one(self, fn: Callable[..., Any], args: tuple) -> Any:
        """Run one function (a global step's `resolve`) where this executor runs work; its exception propagates."""
        return fn(*args)

    def failure_line(self, task: int, where: str, exc: BaseException, log: logging.Logger) -> str:
        """One line for a failed task (a RunError's own message); the traceback goes to `log`."""
        if isinstance(exc, RunError):
            log.error("%s", exc)
            return str(exc)
        log.error("task %d failed", task, exc_info=exc)
        return f"task {task} ({where}) failed: {type(exc).__name__}: {exc}"

    def run_pass(self, spec: PassSpec, log: logging.Logger, quiet: bool = False) -> list[Any]:
        """Run every pending task of `spec`; the results, or one RunError listing every failure."""
        self.quiet = quiet  # for an executor's own progress (Ray Data's streaming)
        progress = TaskProgress(
            spec.total, done=spec.total - len(spec.pending), quiet=quiet, label=spec.label, indexed=spec.indexes
        )
        results, failures = [], []
        try:
            for task, outcome in self.outcomes(spec):
                if isinstance(outcome, BaseException):
                    failures.append(self.failure_line(task, spec.describe(task), outcome, log))
                else:
                    results.append(outcome)
                    progress.update(*spec.counts(outcome))
        finally:
            progress.close()
        if failures:
            raise RunError(
                f"{spec.label}: {len(failures)} task(s) failed; {spec.resume_hint}:\n  " + "\n  ".join(failures[:10])
            )
        return results

    @abstractmethod
    def close(self) -> None:
        """Stop the workers (every task has finished or failed)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
