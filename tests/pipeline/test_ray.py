"""The Ray executor on a local 2-CPU cluster: the same output and stats as the local executor, a killed worker
retried with every document accounted for, and a resume after the driver is killed."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.step import Step, register_step
from tests.conftest import synthetic_docs, write_jsonl

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parents[2]
STEPS = [
    {"normalize_text": {}},
    {"die_once_for_test": {}},
    {"length_filter": {"min_words": 5}},
    "exact_dedup",
    {"minhash_dedup": {"bands": 16, "rows": 8}},
    "language_id",
    {"gopher_quality": {"score_only": True}},
    {"pause_for_test": {}},
]


@register_step
class DieOnce(Step):
    """Test step: the worker process running task `task` exits abruptly once, while the file `flag` exists
    (with `raise_`: raises ValueError instead, as long as the file exists)."""

    name = "die_once_for_test"
    flag: str = ""
    task: int = -1
    raise_: bool = False

    def process(self, batch):
        if self.ctx.task == self.task and self.flag and os.path.exists(self.flag):
            if self.raise_:
                raise ValueError("broken")
            os.unlink(self.flag)
            os._exit(1)  # a killed worker: no exception, no cleanup
        return batch


@register_step
class PauseForTest(Step):
    """Test step: sleeps `seconds` per batch (gives a test time to kill the driver mid-run)."""

    name = "pause_for_test"
    seconds: float = 0.0

    def process(self, batch):
        time.sleep(self.seconds)
        return batch


@pytest.fixture(scope="module")
def cluster():
    """One local Ray session for the module: 2 CPUs, tests importable by the workers."""
    env = {"PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    context = ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": env},
    )
    yield context.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray") / "in"
    for k in range(3):
        docs = synthetic_docs(150, seed=k, source=f"src{k % 2}")
        write_jsonl(root / f"part-{k}.jsonl", docs + [{**d, "id": d["id"] + "-copy"} for d in docs[:15]])
    (root / "part-2.jsonl").open("a").write("{broken\n")  # one reject
    return root


def _config(corpus: Path, executor: dict, die: dict | None = None, pause: float = 0.0) -> dict:
    steps = list(STEPS)
    steps[1] = {"die_once_for_test": die or {}}
    steps[-1] = {"pause_for_test": {"seconds": pause}}
    return {
        "name": "ray-test",
        "inputs": [{"path": str(corpus)}],
        "steps": steps,
        "plugins": ["tests.pipeline.test_ray"],
        "executor": executor,
    }


def _files(run: Path) -> dict[str, str]:
    files = sorted((run / "output").glob("*.parquet")) + [run / "stats" / "docs.parquet"]
    files.append(run / "rejects" / "rejects.parquet")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _steps_table(run: Path) -> list[dict]:
    rows = pq.read_table(run / "stats" / "steps.parquet").drop_columns(["seconds"]).to_pylist()
    return sorted(rows, key=lambda r: (r["task"], r["step_index"]))


@pytest.fixture(scope="module")
def local_run(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("local") / "run"
    run_pipeline(parse_pipeline(_config(corpus, {"kind": "local"})), run, workers=1, quiet=True)
    return run


@pytest.mark.parametrize("mode", ["data", "tasks"])
def test_same_output_and_stats_as_the_local_executor(cluster, corpus, local_run, tmp_path, mode):
    config = parse_pipeline(_config(corpus, {"kind": "ray", "mode": mode}))
    summary = run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    assert summary.records == 496 and summary.rejected_docs == 1
    assert summary.records == summary.kept + summary.dropped + summary.rejected_docs
    assert _files(tmp_path / "run") == _files(local_run)  # output, docs and rejects byte-identical
    assert _steps_table(tmp_path / "run") == _steps_table(local_run)
    log = (tmp_path / "run" / "logs" / "task-00000.log").read_text()
    # mode data: the first pass streams normalize_text, die_once and length_filter, the last one language_id,
    # gopher_quality and pause (minhash_dedup's pass has no per-batch step: it runs as a task)
    streamed = [line.split("INFO ")[1] for line in log.splitlines() if "streamed" in line]
    expected = ["pass 0: streamed (3 step(s) on the engine)", "pass 2: streamed (3 step(s) on the engine)"]
    assert streamed == (expected if mode == "data" else [])
    assert not (tmp_path / "run" / "state" / "stream").exists()


def test_a_step_that_raises_in_the_stream_fails_its_task_and_the_rerun_resumes(cluster, corpus, local_run, tmp_path):
    flag = tmp_path / "break"
    flag.touch()
    config = parse_pipeline(_config(corpus, {"kind": "ray"}, die={"flag": str(flag), "task": 1, "raise_": True}))
    from curator.errors import RunError

    with pytest.raises(RunError, match=r"task 1 .*step 2 'die_once_for_test' failed: ValueError: broken"):
        run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    # the other tasks went on: their index pass of exact_dedup finished
    assert sorted(p.name for p in (tmp_path / "run" / "state").glob("*exact_dedup/index/task-*.json")) == [
        "task-00000.json",
        "task-00002.json",
    ]
    flag.unlink()
    summary = run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    assert summary.records == 496 and _files(tmp_path / "run") == _files(local_run)


def test_a_killed_worker_is_retried_and_every_document_is_accounted_for(cluster, corpus, local_run, tmp_path):
    flag = tmp_path / "die"
    flag.touch()
    config = _config(corpus, {"kind": "ray", "max_task_retries": 2}, die={"flag": str(flag), "task": 1})
    summary = run_pipeline(parse_pipeline(config), tmp_path / "run", workers=2, quiet=True)
    assert not flag.exists()  # the worker of task 1 did die
    assert summary.records == summary.kept + summary.dropped + summary.rejected_docs == 496
    assert _files(tmp_path / "run") == _files(local_run)


def test_a_killed_worker_without_retries_fails_its_task_and_the_rerun_resumes(cluster, corpus, local_run, tmp_path):
    flag = tmp_path / "die"
    flag.touch()
    config = parse_pipeline(_config(corpus, {"kind": "ray", "max_task_retries": 0}, die={"flag": str(flag), "task": 0}))
    from curator.errors import RunError

    with pytest.raises(RunError, match=r"task 0 .*Ray worker died 1 time"):  # its stream, or its task in mode tasks
        run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    summary = run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    assert summary.records == 496 and _files(tmp_path / "run") == _files(local_run)


def _kill_driver_when(config_file: Path, run: Path, pattern: str) -> None:
    """Start `curator run` on the config, SIGKILL it once a file matching `pattern` appears in the run folder."""
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "curator", "run", str(config_file), "--out", str(run), "--quiet", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while not list(run.glob(pattern)):
        assert driver.poll() is None and time.time() < deadline, f"the driver ended before {pattern} appeared"
        time.sleep(0.1)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()


@pytest.mark.parametrize("mode", ["tasks", "data"])
def test_resume_after_the_driver_is_killed(cluster, corpus, local_run, tmp_path, mode):
    """A driver on the shared cluster is killed (-9) in its final pass (mode tasks: after a task finished;
    mode data: while Ray Data streams, spill files written); the run resumes, here on the local executor
    (where a run executes is not part of the run), the output equals the local run's and no spill file is
    left. A resume on Ray is tested above (a task whose worker died without retries)."""
    config_file = tmp_path / "pipeline.yaml"
    executor = {"kind": "ray", "address": cluster, "mode": mode}
    config_file.write_text(yaml.safe_dump(_config(corpus, executor, pause=1.0)))
    run = tmp_path / "run"
    _kill_driver_when(config_file, run, "completions/*.json" if mode == "tasks" else "state/stream/s02/*/block-*")
    done = len(list((run / "completions").glob("*.json")))
    assert 1 <= done < 3 if mode == "tasks" else done == 0
    data = yaml.safe_load(config_file.read_text())
    data["executor"] = {"kind": "local"}  # resumed on this machine's processes: the same run
    summary = run_pipeline(parse_pipeline(data), run, workers=2, quiet=True)
    assert summary.tasks_run == 3 - done
    assert _files(run) == _files(local_run)
    assert not (run / "state" / "stream").exists()


def test_import_curator_does_not_import_ray():
    code = "import sys, curator, curator.pipeline.executor; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_stops_a_ray_run_with_one_line_and_it_resumes(cluster, corpus, local_run, tmp_path, signum, code):
    """Ctrl-C or SIGTERM (ray.init replaces the SIGTERM handler; curator puts its own back)."""
    config_file = tmp_path / "pipeline.yaml"
    config_file.write_text(yaml.safe_dump(_config(corpus, {"kind": "ray", "address": cluster}, pause=1.0)))
    run = tmp_path / "run"
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen(
        [sys.executable, "-m", "curator", "run", str(config_file), "--out", str(run), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not list(run.glob("state/*/index/task-*.json")):  # inside the first index pass
        assert driver.poll() is None and time.time() < deadline, "the driver ended before any task finished"
        time.sleep(0.2)
    driver.send_signal(signum)
    _, err = driver.communicate(timeout=60)
    assert driver.returncode == code, err
    assert "interrupted; re-run the same command to resume" in err and "Traceback" not in err
    summary = run_pipeline(parse_pipeline(yaml.safe_load(config_file.read_text())), run, workers=2, quiet=True)
    assert summary.records == 496 and _files(run) == _files(local_run)


def test_an_address_where_nothing_answers_fails_fast(tmp_path, corpus):
    from curator.errors import ConfigError

    config = parse_pipeline(_config(corpus, {"kind": "ray", "address": "127.0.0.1:1"}))
    started = time.time()
    with pytest.raises(ConfigError, match="nothing answers at 127.0.0.1:1"):
        run_pipeline(config, tmp_path / "run", quiet=True)
    assert time.time() - started < 30 and not (tmp_path / "run").exists()


def test_address_auto_naming_a_stopped_cluster_fails_fast(tmp_path, corpus, monkeypatch):
    """`--address auto` resolves like Ray (RAY_ADDRESS, else the cluster `ray start` last started here) and is
    checked like HOST:PORT: a stopped cluster fails in seconds instead of Ray retrying forever."""
    from curator.errors import ConfigError

    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    config = parse_pipeline(_config(corpus, {"kind": "ray", "address": "auto"}))
    started = time.time()
    with pytest.raises(ConfigError, match="nothing answers at 127.0.0.1:1"):
        run_pipeline(config, tmp_path / "run", quiet=True)
    assert time.time() - started < 30 and not (tmp_path / "run").exists()


def test_a_worker_larger_than_the_cluster_is_refused_before_any_task(cluster, corpus, tmp_path):
    from curator.errors import ConfigError

    config = parse_pipeline(_config(corpus, {"kind": "ray", "cpus_per_worker": 64}))
    with pytest.raises(ConfigError, match=r"needs 64 CPUs \(executor.cpus_per_worker\) but the Ray cluster offers 2"):
        run_pipeline(config, tmp_path / "run", quiet=True)
    assert not list((tmp_path / "run").glob("state/*/index/task-*.json"))


def test_ray_starts_only_when_a_pass_needs_it(cluster, corpus, local_run, tmp_path):
    """A finished run re-run, or a folder that holds another pipeline, never starts the executor's workers."""
    from curator.errors import RunError

    config = parse_pipeline(_config(corpus, {"kind": "ray", "mode": "tasks"}))
    run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    summary = run_pipeline(config, tmp_path / "run", workers=2, quiet=True)
    assert summary.tasks_run == 0 and _files(tmp_path / "run") == _files(local_run)
    other = _config(corpus, {"kind": "ray"})
    other["seed"] = 7
    with pytest.raises(RunError, match=r"different pipeline \(config.yaml differs: seed: 0 then, 7 now\)"):
        run_pipeline(parse_pipeline(other), tmp_path / "run", workers=2, quiet=True)
    assert (tmp_path / "run" / "logs" / "run.log").read_text().count("executor started") == 1
