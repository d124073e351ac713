"""A killed or interrupted driver: its workers stop at once, Ctrl-C prints one line, a re-run resumes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import synthetic_docs, write_jsonl

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _start(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    corpus = tmp_path / "in"
    for k in range(40):
        write_jsonl(corpus / f"part-{k:02d}.jsonl", synthetic_docs(3000, seed=k))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"name: t\ninputs: [{{path: {corpus}}}]\n"
        "steps: [normalize_text: {}, gopher_repetition: {}, length_filter: {min_words: 3}]\n"
    )
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(run), "-w", "2", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    return proc, run


def _descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        kids = [c for p in frontier for c in _children(p)]
        found += kids
        frontier = kids
    return found


def _wait_for_work(proc: subprocess.Popen, run: Path) -> list[int]:
    """Every process under the driver (fork server, workers, resource tracker) once two workers run and at
    least one task finished. Workers are the driver's grandchildren (fork server) or children (spawn)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        tree = _descendants(proc.pid)
        workers = [p for p in tree if p not in _children(proc.pid)] or tree
        if len(workers) >= 2 and any((run / "completions").glob("task-*.json")):
            return tree
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the run did not start its workers in time")


def _markers(run: Path) -> int:
    return len(list((run / "completions").glob("task-*.json")))


def _resume(run: Path) -> dict:
    pipeline = run.parent / "p.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(run), "-w", "1", "-q"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads((run / "stats" / "summary.json").read_text())


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_driver_and_the_run_resumes(tmp_path, sig):
    proc, run = _start(tmp_path)
    workers = _wait_for_work(proc, run)
    os.kill(proc.pid, sig)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 5
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(w) for w in workers), "workers outlived the driver"
    settled = _markers(run)
    assert settled < 40, "the run finished before it was killed: make the test corpus larger"
    time.sleep(1.0)
    assert _markers(run) == settled  # nobody finishes queued tasks any more
    if sig == signal.SIGTERM:
        assert proc.returncode == 143
        assert proc.stderr.read().strip() == "interrupted; re-run the same command to resume"
    assert _resume(run)["records"] == 120_000


def test_ctrl_c_prints_one_line_and_no_traceback(tmp_path):
    proc, run = _start(tmp_path)
    workers = _wait_for_work(proc, run)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends: the whole foreground process group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip() == "interrupted; re-run the same command to resume"
    assert not any(_alive(w) for w in workers)
    assert _resume(run)["records"] == 120_000
