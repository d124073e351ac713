"""The local executor: this machine's worker processes (one pool per run), or this process for one worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from typing import Any, ClassVar

from curator.pipeline.executors.base import Executor, PassSpec
from curator.pipeline.pool import WorkerPool


class LocalExecutor(Executor):
    """Runs each pass's tasks on a fork-server (else spawn) process pool started once per run; a worker that
    dies (killed, out of memory) fails its task, and the next pass starts a fresh pool."""

    kind: ClassVar[str] = "local"

    def __init__(self, workers: int):
        self.pool = WorkerPool(workers)

    @property
    def workers(self) -> int:
        return self.pool.workers

    def describe(self) -> str:
        return f"local: {self.workers} worker process(es)"

    def start(self, warm: Callable[..., None] | None = None, *args) -> None:
        if warm is not None:
            self.pool.warm(warm, *args)

    def outcomes(self, spec: PassSpec) -> Iterator[tuple[int, Any]]:
        return self.pool.outcomes(spec.fn, spec.pending, spec.args_of)

    def failure_line(self, task: int, where: str, exc: BaseException, log: logging.Logger) -> str:
        if isinstance(exc, BrokenProcessPool):
            log.error("task %d: worker died", task, exc_info=exc)
            return f"task {task} ({where}): its worker process died (killed or out of memory)"
        return super().failure_line(task, where, exc, log)

    def close(self) -> None:
        self.pool.terminate()
