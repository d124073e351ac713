"""Run tasks in this process or a spawn process pool, yielding each outcome; a failure never stops the rest."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed


def run_tasks(fn: Callable, pending: list[int], args_of, workers: int, describe, on_result, log) -> list[str]:
    """Run every pending task; call `on_result(result)` for each success and return one line per failure
    (the traceback goes to `log`). A RunError's own message is the line."""
    from curator.errors import RunError

    failures = []
    for i, outcome in task_outcomes(fn, pending, args_of, workers):
        if isinstance(outcome, RunError):
            failures.append(str(outcome))
            log.error("%s", outcome)
        elif isinstance(outcome, Exception):
            failures.append(f"task {i} ({describe(i)}) failed: {type(outcome).__name__}: {outcome}")
            log.error("task %d failed", i, exc_info=outcome)
        else:
            on_result(outcome)
    return failures


def task_outcomes(fn: Callable, pending: list[int], args_of: Callable[[int], tuple], workers: int) -> Iterator:
    """(task, fn(*args_of(task)) or the exception it raised) for each pending task, as they finish.

    One worker (or one task) runs in this process; more run in a spawn pool. KeyboardInterrupt still stops.
    """
    if workers == 1 or len(pending) <= 1:
        for i in pending:
            try:
                yield i, fn(*args_of(i))
            except Exception as exc:  # reported with the others by the caller
                yield i, exc
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(fn, *args_of(i)): i for i in pending}
        for fut in as_completed(futures):
            try:
                yield futures[fut], fut.result()
            except Exception as exc:
                yield futures[fut], exc
