"""The Ray executor: the same passes, task functions and run folder as the local executor, on a Ray cluster.

Each pass's tasks run on a pool of worker actors, one task at a time per actor, so a worker keeps what its
steps loaded (fastText and language-id models, tokenizers) from one task to the next, like a local worker
process. Each actor reserves the CPUs, memory and GPUs the pipeline's steps declare (`Step.resources`; the
most any step needs, fractions allowed), so Ray places them and a 2-core machine never deadlocks. A task
whose actor dies (killed, node lost) is retried on a restarted actor `max_task_retries` times; its partial
files are removed by the retry like a local redo. Every task writes into the run folder, so on more than one
machine the run folder and the input must be on a filesystem every node sees at the same path.

Ray is imported only when this executor is used (`pip install 'curator[ray]'`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from curator.errors import ConfigError, CuratorError
from curator.pipeline.executors.base import Executor, PassSpec
from curator.pipeline.step import Resources

RAY_HINT = "pip install 'curator[ray]'"
NAMESPACE = "curator"


def import_ray():
    """The ray module, or a ConfigError with the install line."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"executor kind 'ray' needs Ray, which is not installed; {RAY_HINT}") from None
    return ray


class TaskRunner:
    """A worker actor: runs task functions one at a time in a process that lives for the whole run."""

    def __init__(self, warm: Callable[..., None] | None, args: tuple):
        if warm is not None:
            warm(*args)

    def run(self, fn: Callable[..., Any], args: tuple) -> Any:
        return fn(*args)


def _signal_safe(call: Callable, *args, **kwargs):
    """`call(*args)` (a blocking Ray call), re-raising an interrupt (Ctrl-C, SIGTERM) that arrived while Ray's
    C++ code was waiting: Ray reports it as a SystemError wrapping the signal handler's exception."""
    try:
        return call(*args, **kwargs)
    except SystemError as exc:
        inner = exc.__cause__ or exc.__context__
        if isinstance(inner, BaseException) and not isinstance(inner, Exception):
            raise inner from None
        raise


def _task_exception(error: Exception) -> Exception:
    """The exception a task function raised, from Ray's RayTaskError wrapping it (the wrapper if none)."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, Exception) else error


def _resolve_auto(ray) -> str:
    """The HOST:PORT that --address auto means (RAY_ADDRESS, else the cluster `ray start` last started here)."""
    try:
        from ray._private.services import get_ray_address_from_environment

        return get_ray_address_from_environment("auto", None)
    except ConnectionError:
        raise ConnectionError("no Ray cluster was started on this machine (`ray start --head`)") from None
    except Exception:  # a Ray version without this helper: let ray.init find it
        return "auto"


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT cluster address must accept a connection within `timeout` s (Ray itself retries forever);
    'auto' and ray:// addresses fail on their own with a message."""
    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc})") from None


def pipeline_resources(steps) -> Resources:
    """What one worker needs to run any step of the pipeline: the most CPUs, memory and GPUs a step declares."""
    return Resources(
        cpus=max((s.resources.cpus for s in steps), default=1.0),
        memory_mb=max((s.resources.memory_mb for s in steps), default=0),
        gpus=max((s.resources.gpus for s in steps), default=0.0),
    )


class _Fixed:
    """A feed of a fixed task list for `RayExecutor._run_tasks`: all of it at the first poll."""

    def __init__(self, tasks: list[int]):
        self.tasks, self.done = list(tasks), False

    def poll(self, wait: float = 0.0) -> list[tuple[int, None]]:
        self.done, tasks, self.tasks = True, self.tasks, []
        return [(t, None) for t in tasks]


class RayExecutor(Executor):
    """Runs each pass's tasks on Ray worker actors with the pipeline's declared resources."""

    kind: ClassVar[str] = "ray"

    def __init__(
        self,
        workers: int | None,
        resources: Resources,
        address: str | None = None,
        max_task_retries: int = 2,
        local_cpus: int | None = None,
        run_key: str | None = None,
        cpus_from: str = "the most a step declares",
        mode: str = "data",
        cpus_per_worker: float | None = None,
        asked: int | None = None,
    ):
        self.asked = asked  # workers the user asked for (None: auto)
        self.mode = mode
        self.cpus_per_worker = cpus_per_worker
        self.ray = import_ray()
        self.requested = workers
        self.resources = resources
        self.address = address
        self.max_task_retries = max_task_retries
        self.local_cpus = local_cpus
        self.cpus_from = cpus_from
        self.workers = 0
        self.offered = 0.0
        self._warm: tuple = (None, ())
        self._run_root = None
        self._owns_cluster = False
        self._actors: list = []
        # worker actors are named curator-<run folder hash>-<driver pid>-<i>, so a driver that takes over a run
        # folder can stop the workers a killed driver of the same run may have left writing into it
        digest = hashlib.sha256((run_key or "").encode()).hexdigest()[:12]
        self._prefix = f"curator-{digest}-"

    def _connect(self, check_only: bool = False) -> None:
        ray = self.ray
        where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray cluster"
        hint = "start one with `ray start --head` and pass --address auto, or leave the address unset to start a "
        hint += "private one"
        if self.address:
            try:
                _check_reachable(_resolve_auto(ray) if self.address == "auto" else self.address)
            except ConnectionError as exc:
                raise ConfigError(f"could not start or join {where}: {exc}; {hint}") from None
        if check_only:
            return
        if ray.is_initialized():
            return  # a session the caller opened (a notebook, a test): used as it is, and left open
        # Ray's C++ core logs advice and retries to the driver's stderr (actor restarts, Ray Data's actor pools);
        # curator reports what failed itself. RAY_BACKEND_LOG_LEVEL set by the user wins.
        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
        options = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
        on_term = signal.getsignal(signal.SIGTERM)
        try:
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(num_cpus=self.local_cpus or os.cpu_count() or 1, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            text = str(exc)
            if "uthentication" in text or "auth token" in text.lower():
                hint = (
                    "the cluster uses Ray's token authentication: run curator on one of its nodes with --address auto, "
                    "or set RAY_AUTH_TOKEN to what `ray get-auth-token` prints on the head node"
                )
            raise ConfigError(f"could not start or join {where}: {text.splitlines()[0]}; {hint}") from None
        finally:  # ray.init replaces the SIGTERM handler: keep curator's (one line, exit 143, workers stopped)
            if callable(on_term) and threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGTERM, on_term)
        self._owns_cluster = True

    def start(self, warm: Callable[..., None] | None = None, *args) -> None:
        """Remember how to warm the workers: Ray starts when the first pass needs it (`_ensure_started`), so a
        run folder that refuses the run, or a finished run, never starts a cluster."""
        self._warm = (warm, args)
        if self.address:  # an address where nothing answers fails now, before the run folder is made
            self._connect(check_only=True)

    def _ensure_started(self) -> None:
        if self._actors:
            return
        warm, args = self._warm
        self._connect()
        ray = self.ray
        cpus = self.resources.cpus
        offered = ray.cluster_resources().get("CPU", 1.0)
        if cpus > offered:
            raise ConfigError(
                f"a worker needs {cpus:g} CPUs ({self.cpus_from}) but the Ray cluster offers {offered:g}; "
                "set executor.cpus_per_worker lower or add nodes"
            )
        fit = max(1, int(offered // cpus))
        self.workers = max(1, min(self.requested or fit, fit))
        self.offered = offered
        if self.asked and self.asked > fit:
            cut = (
                f"{self.asked} workers asked, but the Ray cluster's {offered:g} CPUs fit {fit} of {cpus:g} CPU each: "
                f"running {fit}"
            )
            if not self.quiet:
                print(f"[curator] note: {cut}", file=sys.stderr, flush=True)
            if self.log is not None:
                self.log.info("note: %s", cut)
        # in data mode the pass actors idle while Ray Data streams a pass, so they reserve no CPU (else they
        # would hold every CPU the stream needs); Ray spreads them over the nodes instead
        reserve = 0 if self.mode == "data" else cpus
        options: dict[str, Any] = dict(num_cpus=reserve, max_restarts=-1, max_task_retries=self.max_task_retries)
        if self.mode == "data":
            options["scheduling_strategy"] = "SPREAD"
        if self.resources.gpus:
            options["num_gpus"] = self.resources.gpus
        if self.resources.memory_mb:
            options["memory"] = self.resources.memory_mb * 1024 * 1024
        runner = ray.remote(TaskRunner)
        self._actors = [
            runner.options(name=f"{self._prefix}{os.getpid()}-{i}", namespace=NAMESPACE, **options).remote(warm, args)
            for i in range(self.workers)
        ]
        if self._run_root is not None:
            self._stop_stale_actors()
        if self.log is not None:
            self.log.info("executor started: %s", self.describe())

    def describe(self) -> str:
        r = self.resources
        need = (
            f"{r.cpus:g} CPU" + (f", {r.memory_mb} MB" if r.memory_mb else "") + (f", {r.gpus:g} GPU" if r.gpus else "")
        )
        where = f"the cluster at {self.address}" if self.address else "a private local cluster"
        if not self._actors:
            return f"ray ({self.mode}) on {where}, started when a pass needs it"
        if self.mode == "data":
            return (
                f"ray (data): per-batch steps as Ray Data map_batches, then {self.workers} worker actor(s) x "
                f"({need}) finish each task, on {where}, {self.max_task_retries} retries per task"
            )
        return f"ray: {self.workers} worker actor(s) x ({need}) on {where}, {self.max_task_retries} retries per task"

    def claimed(self, run_root) -> None:
        self._run_root = run_root

    def _stop_stale_actors(self) -> None:
        """Stop worker actors an earlier, killed driver of this run folder left behind (Ray stops a dead
        driver's actors, but not always before a new driver starts redoing their tasks)."""
        ray = self.ray
        mine = f"{self._prefix}{os.getpid()}-"
        for entry in ray.util.list_named_actors(all_namespaces=True):
            name = entry["name"]  # with all_namespaces: {"name", "namespace"}
            if entry["namespace"] == NAMESPACE and name.startswith(self._prefix) and not name.startswith(mine):
                with contextlib.suppress(Exception):  # it may be dying already
                    ray.kill(ray.get_actor(name, namespace=NAMESPACE))

    def outcomes(self, spec: PassSpec) -> Iterator[tuple[int, Any]]:
        if not spec.pending:
            return
        self._ensure_started()
        if self.mode != "data" or spec.stream is None:
            yield from self._run_tasks(spec, _Fixed(spec.pending), spec.args_of)
            return
        from curator.pipeline.executors.ray_data import StreamSpec, StreamWatch
        from curator.pipeline.streamed import segment_of, split_segment

        config, root, feeds, shards, owner = spec.stream
        steps = config.build_steps()
        if split_segment(steps, segment_of(steps, feeds))[1] == 0:  # no per-batch step to stream in this pass
            yield from self._run_tasks(spec, _Fixed(spec.pending), spec.args_of)
            return
        key = hashlib.sha256(config.model_dump_json().encode()).hexdigest()
        watch = StreamWatch(
            self.ray,
            StreamSpec(config, root, feeds, shards, owner, key=key),
            spec.pending,
            self.offered,
            self.cpus_per_worker,
            self.max_task_retries,
            self.workers,
            self.quiet,
            spec.label,
        )
        try:  # each task finishes (and frees its spill files) as soon as its blocks are spilled
            yield from self._run_tasks(spec, watch, lambda task: (*spec.args_of(task), True))
        finally:
            watch.close()

    def _run_tasks(self, spec: PassSpec, feed, args_of) -> Iterator[tuple[int, Any]]:
        """Run `spec.fn` on the worker actors for each task `feed.poll()` gives (a fixed list, or the tasks a
        stream has finished spilling), yielding outcomes as they come and the feed's own failures."""
        ray = self.ray
        queue: list[int] = []
        idle = list(self._actors)
        running: dict = {}  # object ref -> (task, actor)
        try:
            while True:
                for task, error in feed.poll(wait=0.0 if (running or queue) else 0.2):
                    if error is not None:
                        yield task, error
                    else:
                        queue.append(task)
                while idle and queue:
                    actor, task = idle.pop(), queue.pop(0)
                    running[actor.run.remote(spec.fn, args_of(task))] = (task, actor)
                if not running:
                    if feed.done and not queue:
                        return
                    continue
                timeout = None if feed.done else 0.2  # else: back to the feed for newly spilled tasks
                finished, _ = _signal_safe(ray.wait, list(running), num_returns=1, timeout=timeout)
                for ref in finished:
                    task, actor = running.pop(ref)
                    idle.append(actor)
                    try:
                        yield task, ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:  # the task raised: report its own exception
                        yield task, _task_exception(exc)
                    except ray.exceptions.RayError as exc:  # its worker died and the retries ran out
                        yield task, exc
        except BaseException:  # interrupted (Ctrl-C, SIGTERM) or the driver failed: stop the running tasks
            for _, actor in running.values():
                with contextlib.suppress(Exception):  # actor tasks cannot be force-cancelled: stop the actor
                    ray.kill(actor, no_restart=True)
            raise

    def run_one(self, fn: Callable[..., Any], args: tuple) -> Any:
        """On one worker actor (the driver only waits), so a global step's passes run on the cluster."""
        self._ensure_started()
        ray = self.ray
        try:
            return _signal_safe(ray.get, self._actors[0].run.remote(fn, args))
        except ray.exceptions.RayTaskError as exc:
            raise _task_exception(exc) from None

    def failure_line(self, task: int, where: str, exc: BaseException, log) -> str:
        if isinstance(exc, self.ray.exceptions.RayError) and not isinstance(exc, CuratorError):
            log.error("task %d: Ray worker lost", task, exc_info=exc)
            return (
                f"task {task} ({where}): its Ray worker died {self.max_task_retries + 1} times ({type(exc).__name__})"
            )
        return super().failure_line(task, where, exc, log)

    def close(self) -> None:
        ray = self.ray
        for actor in self._actors:
            with contextlib.suppress(Exception):  # already gone with its node
                ray.kill(actor)
        self._actors = []
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
        self._owns_cluster = False
