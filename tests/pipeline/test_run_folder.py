"""Run folders: only curator's own folders are written into or cleared, one run at a time, inputs skip runs."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import ConfigError, RunError
from curator.io.run_marker import RUN_MARKER, is_run_folder
from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.run_lock import RunLock
from curator.sample import build_sample
from tests.conftest import synthetic_docs, write_jsonl


def _config(path, **extra):
    return parse_pipeline({"name": "t", "inputs": [{"path": str(path)}], "steps": [{"normalize_text": {}}], **extra})


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "in"
    for k in range(3):
        write_jsonl(root / f"part-{k}.jsonl", synthetic_docs(50, seed=k, source=f"s{k}"))
    return root


def test_overwrite_refuses_a_folder_that_is_not_a_run_and_deletes_nothing(tmp_path, corpus):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("four years of work")
    for overwrite in (True, False):
        with pytest.raises(ConfigError, match="not a curator run folder.*thesis.txt"):
            run_pipeline(_config(corpus), foreign, workers=1, overwrite=overwrite, quiet=True)
    assert (foreign / "thesis.txt").read_text() == "four years of work"
    assert sorted(p.name for p in foreign.iterdir()) == ["thesis.txt"]


def test_cli_overwrite_on_a_foreign_folder_exits_2_and_keeps_it(tmp_path, corpus):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: t\ninputs: [{{path: {corpus}}}]\nsteps: [normalize_text: {{}}]\n")
    foreign = tmp_path / "notes"
    foreign.mkdir()
    (foreign / "a.txt").write_text("x")
    result = CliRunner().invoke(app, ["run", str(pipeline), "--out", str(foreign), "--overwrite", "-q"])
    assert result.exit_code == 2
    assert "not a curator run folder" in result.output and "Traceback" not in result.output
    assert (foreign / "a.txt").exists()


def test_overwrite_clears_only_what_the_run_wrote(tmp_path, corpus):
    run = tmp_path / "run"
    first = run_pipeline(_config(corpus), run, workers=1, quiet=True)
    assert is_run_folder(run) and (run / RUN_MARKER).exists()
    (run / "my-notes.md").write_text("keep me")
    (run / "output" / "stale.parquet").write_bytes(b"junk")  # inside curator's own folder: cleared
    again = run_pipeline(_config(corpus), run, workers=1, overwrite=True, quiet=True)
    assert (run / "my-notes.md").read_text() == "keep me"
    assert not (run / "output" / "stale.parquet").exists()
    assert again.records == first.records == 150 and again.tasks_run == 3


def test_an_empty_existing_folder_is_fine(tmp_path, corpus):
    (tmp_path / "empty").mkdir()
    assert run_pipeline(_config(corpus), tmp_path / "empty", workers=1, quiet=True).kept == 150


def test_out_inside_the_input_folder_is_never_read_as_input(tmp_path, corpus):
    first = run_pipeline(_config(corpus), corpus / "run1", workers=1, quiet=True)
    resumed = run_pipeline(_config(corpus), corpus / "run1", workers=1, quiet=True)  # same plan: a resume
    second = run_pipeline(_config(corpus), corpus / "nested" / "run2", workers=1, quiet=True)
    globbed = run_pipeline(_config(str(corpus / "**" / "*")), tmp_path / "run3", workers=1, quiet=True)
    assert first.records == resumed.records == second.records == globbed.records == 150
    assert resumed.tasks_run == 0 and second.tasks == 3 and globbed.tasks == 3


def test_a_run_folder_as_input_says_to_read_its_output(tmp_path, corpus):
    run_pipeline(_config(corpus), tmp_path / "run", workers=1, quiet=True)
    with pytest.raises(ConfigError, match="is a curator run folder.*output"):
        run_pipeline(_config(tmp_path / "run"), tmp_path / "run2", workers=1, quiet=True)
    with pytest.raises(ConfigError, match="run folder's own tables.*output"):
        run_pipeline(_config(str(tmp_path / "run" / "**" / "*.parquet")), tmp_path / "run2", workers=1, quiet=True)
    chained = run_pipeline(_config(tmp_path / "run" / "output"), tmp_path / "run2", workers=1, quiet=True)
    assert chained.records == 150


def test_a_second_run_into_a_locked_folder_names_the_holder(tmp_path, corpus):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from curator.pipeline.run_lock import RunLock; import sys, time\n"
         f"RunLock({str(run)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunError, match=f"in use by pid {holder.pid}"):
            run_pipeline(_config(corpus), run, workers=1, quiet=True)
        assert not (run / "config.yaml").exists()
    finally:
        holder.kill()
        holder.wait()
    assert run_pipeline(_config(corpus), run, workers=1, quiet=True).kept == 150  # the kernel dropped the lock


def test_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with RunLock(tmp_path / "r"), RunLock(tmp_path / "r"):
        pass
    with RunLock(tmp_path / "r"):  # free again
        pass


def test_sample_refuses_a_folder_with_other_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "part-0000.jsonl.zst").write_bytes(b"not the sample's")
    with pytest.raises(ConfigError, match="not empty"):
        build_sample(folder, max_docs=20, max_mb=0.05)
    assert (folder / "part-0000.jsonl.zst").read_bytes() == b"not the sample's"
    built = build_sample(tmp_path / "s", max_docs=20, max_mb=0.05)
    (tmp_path / "s" / "notes.txt").write_text("mine")
    rebuilt = build_sample(tmp_path / "s", max_docs=20, max_mb=0.05, force=True)
    assert rebuilt["files"] == built["files"] and (tmp_path / "s" / "notes.txt").exists()


def _script(tmp_path, corpus, guarded: bool):
    body = textwrap.dedent(
        f"""
        from curator.pipeline.config import parse_pipeline
        from curator.pipeline.executor import run_pipeline

        config = parse_pipeline({{"name": "t", "inputs": [{{"path": {str(corpus)!r}}}], "steps": []}})
        """
    )
    call = f"summary = run_pipeline(config, {str(tmp_path / ('g' if guarded else 'u'))!r}, workers=2, quiet=True)\n"
    call += "print('kept', summary.kept)\n"
    if guarded:
        body += 'if __name__ == "__main__":\n' + textwrap.indent(call, "    ")
    else:
        body += call
    path = tmp_path / ("guarded.py" if guarded else "plain.py")
    path.write_text(body)
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=120)


def test_a_plain_script_without_a_main_guard_works_and_says_what_to_add(tmp_path, corpus):
    plain = _script(tmp_path, corpus, guarded=False)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.count("kept 150") == 1
    assert 'if __name__ == "__main__":' in plain.stderr and "plain.py line 6" in plain.stderr
    guarded = _script(tmp_path, corpus, guarded=True)
    assert guarded.returncode == 0, guarded.stderr
    assert guarded.stdout.strip() == "kept 150" and "RuntimeWarning" not in guarded.stderr


def test_side_outputs_come_from_the_steps(tmp_path, corpus):
    """RunFolder knows no step's folder by name: each step declares its side outputs, writes them through
    ctx.output_dir, clears a redone task's part, and --overwrite removes them (a user's own file stays)."""
    from curator.pipeline.run_folder import run_entries
    from curator.pipeline.step import Step, register_step

    @register_step
    class SideWriter(Step):
        """Test step: writes one file per task into the run folder's `side_for_test/`."""

        name = "side_writer_for_test"
        side_outputs = ("side_for_test",)

        def process(self, batch):
            with open(self.ctx.output_dir("side_for_test") / f"task-{self.ctx.task}.txt", "a") as fh:
                fh.write(f"{batch.num_rows}\n")  # appends: a redo without clean_task_outputs would add a line
            return batch

        def clean_task_outputs(self, run_dir, task):
            (Path(run_dir) / "side_for_test" / f"task-{task}.txt").unlink(missing_ok=True)

    assert {"buckets", "tokens", "side_for_test"} <= set(run_entries())
    config = parse_pipeline({"inputs": [{"path": str(corpus)}], "steps": ["side_writer_for_test"]})
    run = tmp_path / "run"
    summary = run_pipeline(config, run, workers=1, quiet=True)
    assert len(list((run / "side_for_test").iterdir())) == summary.tasks
    (run / "completions" / "task-00000.json").unlink()
    (run / "side_for_test" / "task-0.txt").write_text("half-written")
    run_pipeline(config, run, workers=1, quiet=True)  # the redo cleared and rewrote task 0's file
    assert (run / "side_for_test" / "task-0.txt").read_text() == "50\n"
    (run / "side_for_test" / "stale.txt").write_text("from an old run")
    (run / "notes.md").write_text("mine")
    run_pipeline(config, run, workers=1, overwrite=True, quiet=True)
    assert (run / "notes.md").read_text() == "mine" and not (run / "side_for_test" / "stale.txt").exists()
