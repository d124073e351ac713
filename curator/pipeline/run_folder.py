"""The run folder: resolved config, plan, outputs, stats, rejects, completion markers and logs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from curator.errors import ConfigError, RunError
from curator.io.atomic import TMP_PREFIX, write_text_atomic
from curator.io.run_marker import RUN_MARKER, is_run_folder
from curator.pipeline.config import DEFAULT_BYTES_PER_TASK
from curator.pipeline.run_lock import LOCK_NAME, RunLock

# What curator itself creates at the top of a run folder, besides the steps' side outputs (run_entries()).
RUN_ENTRIES = (
    "config.yaml",
    "plan.json",
    "output",
    "stats",
    "rejects",
    "completions",
    "logs",
    "state",
    "reports",  # curator stats --report
    "compare",  # curator stats --compare
    "contamination",  # curator contamination
    "checkpoints",  # training runs (curator train)
    RUN_MARKER,
)

# Settings added after run folders existed, and the value an older config.yaml without them is compared as;
# whether such a run can resume is then for its plan.json to say (a large JSONL file is now cut into tasks).
ADDED_SETTINGS = {"reader": {"bytes_per_task": DEFAULT_BYTES_PER_TASK}}


def run_entries() -> tuple[str, ...]:
    """Every top-level name curator may create in a run folder: RUN_ENTRIES plus the steps' `side_outputs`
    (built-in ones and those of the steps loaded). `--overwrite` removes these and nothing else."""
    from curator.pipeline.registry import side_outputs

    return RUN_ENTRIES + tuple(n for n in side_outputs() if n not in RUN_ENTRIES)


def _foreign_entries(path: Path) -> list[str]:
    """Names in `path` that curator did not create."""
    own = set(run_entries()) | {LOCK_NAME}
    return sorted(p.name for p in path.iterdir() if p.name not in own and not p.name.startswith(TMP_PREFIX))


def write_atomic(path: Path, text: str) -> None:
    """Write text under a temporary name, then rename: readers never see a half-written file."""
    write_text_atomic(path, text)


def _pipeline_of(config: dict) -> dict:
    """What makes two runs the same run: everything but where and how they execute (`executor`), which never
    changes the output, so a run started on one executor may be resumed on another. Settings an older
    config.yaml lacks count as their defaults (ADDED_SETTINGS)."""
    pipeline = {k: v for k, v in (config or {}).items() if k != "executor"}
    for section, defaults in ADDED_SETTINGS.items():
        if isinstance(pipeline.get(section), dict):
            pipeline[section] = {**defaults, **pipeline[section]}
    return pipeline


def _first_difference(then, now, where: str = "") -> str:
    """The first setting that differs between two resolved configs, as 'key.path: old then, new now'."""
    if isinstance(then, dict) and isinstance(now, dict):
        for key in [*then, *(k for k in now if k not in then)]:
            if then.get(key, _ABSENT) != now.get(key, _ABSENT):
                return _first_difference(then.get(key, _ABSENT), now.get(key, _ABSENT), f"{where}.{key}".lstrip("."))
    if isinstance(then, list) and isinstance(now, list) and len(then) == len(now):
        for i, (a, b) in enumerate(zip(then, now, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")

    def show(value) -> str:
        return "absent" if value is _ABSENT else json.dumps(value, default=str)[:80]

    return f"{where or 'the config'}: {show(then)} then, {show(now)} now"


_ABSENT = object()


def _plan_change(old: list[dict], new: list[dict]) -> str:
    """The first task that differs between two plans, in words."""
    for was, now in zip(old, new, strict=False):
        if was != now:
            return (
                f"task {now.get('task')} was {was.get('shard')} ({was.get('bytes')} bytes), "
                f"now {now.get('shard')} ({now.get('bytes')} bytes)"
            )
    return f"{len(old)} task(s) then, {len(new)} now"


def require_run_folder(path: str | Path) -> Path:
    """`path` as a Path when it is a run folder (holds config.yaml); else a ConfigError saying what to give."""
    path = Path(path)
    if not (path / "config.yaml").is_file():
        why = "does not exist" if not path.exists() else "is not a run folder (no config.yaml)"
        raise ConfigError(f"'{path}' {why}; give the folder passed to `curator run --out`")
    return path


class RunFolder:
    """Paths of one run and the resume rules: a re-run skips tasks with markers, redoes the others."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.config = self.root / "config.yaml"
        self.plan = self.root / "plan.json"
        self.output = self.root / "output"
        self.stats = self.root / "stats"
        self.parts = self.stats / "parts"
        self.rejects = self.root / "rejects"
        self.completions = self.root / "completions"
        self.logs = self.root / "logs"
        self.state = self.root / "state"
        self.docs_table = self.stats / "docs.parquet"
        self.steps_table = self.stats / "steps.parquet"
        self.rejects_table = self.rejects / "rejects.parquet"
        self.summary = self.stats / "summary.json"

    # -- per-task paths -------------------------------------------------------------------------------

    def output_prefix(self, task: int) -> str:
        return f"part-{task:05d}"

    def docs_part(self, task: int) -> Path:
        return self.parts / f"docs-{task:05d}.parquet"

    def steps_part(self, task: int) -> Path:
        return self.parts / f"steps-{task:05d}.parquet"

    def rejects_part(self, task: int) -> Path:
        return self.parts / f"rejects-{task:05d}.parquet"

    def marker(self, task: int) -> Path:
        return self.completions / f"task-{task:05d}.json"

    def task_log(self, task: int) -> Path:
        return self.logs / f"task-{task:05d}.log"

    def stage_dir(self, position: int, name: str) -> Path:
        """On-disk state of the global step at `position` in the pipeline (dedup signatures, buckets...)."""
        return self.state / f"{position:02d}-{name}"

    def is_done(self, task: int) -> bool:
        return self.marker(task).exists()

    def read_marker(self, task: int) -> dict:
        return json.loads(self.marker(task).read_text())

    def clean_task(self, task: int, steps=()) -> None:
        """Remove whatever an interrupted attempt of `task` left (in output/, the stats parts and the `steps`'
        side outputs), so a redo cannot duplicate rows."""
        prefix = self.output_prefix(task)
        if self.output.exists():
            for p in self.output.iterdir():
                if p.name.startswith((prefix + "-", TMP_PREFIX + prefix + "-")):
                    p.unlink()
        for part in (self.docs_part(task), self.steps_part(task), self.rejects_part(task)):
            part.unlink(missing_ok=True)
            part.with_name(TMP_PREFIX + part.name).unlink(missing_ok=True)
        for step in steps:
            step.clean_task_outputs(self.root, task)

    # -- run-level ------------------------------------------------------------------------------------

    def claim(self, overwrite: bool = False) -> RunLock:
        """Lock the folder for this process and make sure it is ours to write: new, empty, or a run folder.

        A folder that holds anything else is refused (never written into, never deleted). `overwrite` removes
        only what curator creates in a run folder (RUN_ENTRIES); files a user put there stay. Returns the
        held lock; release it when the command ends (the kernel drops it if the process dies).
        """
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"--out {self.root} is a file, not a folder; choose a folder for the run")
        shown = _foreign_entries(self.root) if self.root.is_dir() else []
        if shown and not is_run_folder(self.root):
            listing = ", ".join(shown[:5]) + (f", ... ({len(shown)} entries)" if len(shown) > 5 else "")
            raise ConfigError(
                f"--out {self.root} is not empty and is not a curator run folder (it holds {listing}); "
                "curator writes only into a new or empty folder or one of its own runs, and never deletes "
                "other files: choose another --out"
            )
        lock = RunLock(self.root).acquire()
        try:
            if overwrite:
                for name in run_entries():
                    path = self.root / name
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path)
                    elif path.exists() or path.is_symlink():
                        path.unlink()
                for path in self.root.glob(TMP_PREFIX + "*"):
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
            if not (self.root / RUN_MARKER).exists():
                write_atomic(self.root / RUN_MARKER, json.dumps({"curator_run": 1}) + "\n")
        except BaseException:
            lock.release()
            raise
        return lock

    def begin(self, resolved_config: dict, plan: list[dict]) -> bool:
        """Check that a claimed folder belongs to this pipeline and plan, and lay it out. True when resuming."""
        resuming = self.config.exists()
        if resuming:
            previous = yaml.safe_load(self.config.read_text())
            if _pipeline_of(previous) != _pipeline_of(resolved_config):
                change = _first_difference(_pipeline_of(previous), _pipeline_of(resolved_config))
                raise RunError(
                    f"{self.root} holds a run of a different pipeline (config.yaml differs: {change}); "
                    "use a new --out, or --overwrite to start it again"
                )
            old_plan = json.loads(self.plan.read_text()) if self.plan.exists() else plan
            if old_plan != plan:
                change = _plan_change(old_plan, plan)
                raise RunError(
                    f"{self.root}: the tasks planned from the inputs differ from plan.json ({change}): "
                    "the input files changed since this run started, or this curator version cuts them into tasks "
                    "differently (large Parquet files by row groups, large uncompressed JSONL files by byte range); "
                    "use a new --out, or --overwrite to start it again"
                )
        for d in (self.output, self.stats, self.parts, self.rejects, self.completions, self.logs):
            d.mkdir(parents=True, exist_ok=True)
        write_atomic(self.config, yaml.safe_dump(resolved_config, sort_keys=False))
        write_atomic(self.plan, json.dumps(plan, indent=1))
        return resuming

    def finished_tables_exist(self) -> bool:
        return all(p.exists() for p in (self.docs_table, self.steps_table, self.rejects_table, self.summary))

    def output_files(self) -> list[Path]:
        return sorted(p for p in self.output.glob("part-*.parquet"))
