"""One worker pool per run: tasks run in this process or in fork-server/spawn workers that die with the driver."""

from __future__ import annotations

import ast
import importlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

PARENT_POLL_SECONDS = 0.5
# Imported once, in the fork server, so forked workers start with them. pyarrow imports pandas (0.2 s) the
# first time pa.array() gets a numpy array, so `curator.pipeline.preload` triggers that too.
WORKER_PRELOAD = ("curator.pipeline.task", "curator.pipeline.preload")


def _watch_driver() -> None:
    """Block until the driver is gone, then exit at once (kill -9, SIGTERM: leave no half-published file).

    multiprocessing hands every spawn or fork-server child a sentinel whose other end only the driver holds;
    it reads as closed the moment the driver dies, whoever reaps it."""
    driver = mp.parent_process()
    if driver is not None:
        driver.join()
    else:  # not started by multiprocessing: fall back to watching the parent pid
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _worker_init(environ: dict[str, str]) -> None:
    """In each worker: the driver's environment as it is now (the fork server kept the one it started with),
    exit when the driver dies, and leave Ctrl-C to it (no traceback per worker)."""
    os.environ.clear()
    os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_driver, daemon=True, name="curator-driver-watch").start()


def _context():
    """Fork server where there is one (workers fork from a process that imported curator once), else spawn."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(list(WORKER_PRELOAD))
        return ctx
    return mp.get_context("spawn")


def _is_main_guard(test: ast.expr) -> bool:
    """`__name__ == "__main__"` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    consts = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return bool(names and consts)


def unguarded_main_call() -> tuple[str, int] | None:
    """(script, line) when the running script calls curator from module level outside
    `if __name__ == "__main__":`. Spawn workers re-run such a script on start-up, so the pool cannot start."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path or not str(path).endswith(".py") or not os.path.isfile(path):
        return None
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if spec_name == "__main__" or spec_name.endswith(".__main__"):
        return None  # `python -m pkg`: multiprocessing does not re-run a package's __main__ in its workers
    frame = sys._getframe()
    while frame is not None and not (frame.f_globals is main.__dict__ and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None:
        return None
    line = frame.f_lineno
    try:
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read())
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        guarded = isinstance(node, ast.If) and _is_main_guard(node.test)
        if guarded and node.body[0].lineno <= line <= (node.body[-1].end_lineno or line):
            return None
    return str(path), line


class WorkerPool:
    """A process pool (fork server, else spawn) started once per run and reused by every pass.

    Workers import curator once, exit when the driver dies, and ignore SIGINT: Ctrl-C or SIGTERM in the
    driver cancels queued tasks and terminates the workers. One worker (or one task) runs in this process.
    """

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._pool: ProcessPoolExecutor | None = None
        if self.workers > 1:
            site = unguarded_main_call()
            if site is not None:
                warnings.warn_explicit(
                    f"curator runs in this process only (1 worker): {site[0]} line {site[1]} calls it at module "
                    'level; put that code under `if __name__ == "__main__":` to use '
                    f"{self.workers} worker processes (spawned workers re-run the script's module-level code)",
                    RuntimeWarning,
                    site[0],
                    site[1],
                )
                self.workers = 1

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # the driver waits while workers index: load what its global passes will need meanwhile
            threading.Thread(target=importlib.import_module, args=("curator.pipeline.preload",), daemon=True).start()
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=_context(), initializer=_worker_init, initargs=(dict(os.environ),)
            )
        return self._pool

    def warm(self, fn: Callable, *args) -> None:
        """Start the workers now and run `fn(*args)` once in each (imports, models), without waiting, so their
        start-up overlaps with what the driver does before the first pass. Errors are left to the tasks."""
        if self.workers > 1:
            pool = self._executor()
            for _ in range(self.workers):
                pool.submit(fn, *args)

    def outcomes(self, fn: Callable, pending: list[int], args_of: Callable[[int], tuple]) -> Iterator:
        """(task, fn(*args_of(task)) or the exception it raised) for each pending task, as they finish."""
        if self.workers == 1 or len(pending) <= 1:
            for i in pending:
                try:
                    yield i, fn(*args_of(i))
                except Exception as exc:  # reported with the others by the caller
                    yield i, exc
            return
        pool = self._executor()
        futures = {pool.submit(fn, *args_of(i)): i for i in pending}
        try:
            for fut in as_completed(futures):
                try:
                    yield futures[fut], fut.result()
                except BrokenProcessPool as exc:
                    self._pool = None  # a worker died (killed, out of memory): a later pass starts a new pool
                    yield futures[fut], exc
                except Exception as exc:
                    yield futures[fut], exc
        except BaseException:
            self.terminate()
            raise

    def terminate(self) -> None:
        """Cancel queued tasks and stop the workers now (interrupt, or an error in the driver)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.terminate()
        for p in processes:
            p.join(timeout=5)

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.terminate()  # every task has finished or failed by now: idle workers need no orderly shutdown
