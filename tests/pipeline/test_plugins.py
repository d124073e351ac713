"""A user's own steps: `plugins:` modules in the YAML (spawn workers too), `curator.steps` entry points, errors."""

from __future__ import annotations

import os
import sys
import textwrap

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from curator.cli import app
from curator.errors import ConfigError
from curator.pipeline import registry as step_module
from curator.pipeline.config import parse_pipeline
from tests.conftest import synthetic_docs, write_jsonl

runner = CliRunner()

PLUGIN = '''
"""A plugin: drops documents containing a marker word; each process that runs it leaves its pid in PIDS_DIR."""
import os
from pathlib import Path

import pyarrow.compute as pc
from pydantic import Field

from curator import Filter, register_step
from curator.pipeline.step import first_reason


@register_step
class MarkerDrop(Filter):
    """Drop documents that contain the marker word.

    This second paragraph is not shown by `curator steps`.
    """

    name = "marker_drop"
    marker: str = Field(description="documents whose text contains this word are dropped " + "(long) " * 12 + "END")
    reason: str = "has_marker"

    def setup(self, ctx):
        super().setup(ctx)
        Path(os.environ["PIDS_DIR"], str(os.getpid())).touch()

    def decide(self, batch):
        hit = pc.match_substring(batch.column("text"), self.marker)
        return first_reason(batch.num_rows, [(hit, self.reason)])
'''


@pytest.fixture()
def plugin_path(tmp_path, monkeypatch):
    """A folder on sys.path and PYTHONPATH (spawn workers) for plugin modules; the step registry is restored."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("PIDS_DIR", str(tmp_path / "pids"))
    (tmp_path / "pids").mkdir()
    registry = step_module.registered_steps()  # the built-in steps (their modules import only once)
    monkeypatch.setattr(step_module, "_entry_points_loaded", False)
    before = set(sys.modules)
    yield folder
    step_module._REGISTRY.clear()
    step_module._REGISTRY.update(registry)
    for name in set(sys.modules) - before:
        if name.startswith(("my_steps", "broken_steps", "ep_steps")):
            del sys.modules[name]


def _write_plugin(folder, name="my_steps", body=PLUGIN):
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


def test_plugin_steps_run_in_spawn_workers(plugin_path, tmp_path):
    _write_plugin(plugin_path)
    for part in range(3):  # three files: three tasks for two spawn workers
        docs = synthetic_docs(20, seed=part, source=f"s{part}")
        docs[0]["text"] += " zebra"
        write_jsonl(tmp_path / "in" / f"{part}.jsonl", docs)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"plugins: [my_steps]\ninputs:\n  - path: {tmp_path}/in\nsteps:\n  - marker_drop: {{marker: zebra}}\n"
    )
    res = runner.invoke(app, ["run", str(pipeline), "--out", str(tmp_path / "run"), "--workers", "2", "-q"])
    assert res.exit_code == 0, res.output
    docs = pq.read_table(tmp_path / "run" / "stats" / "docs.parquet").to_pylist()
    dropped = sorted(d["id"] for d in docs if not d["kept"])
    assert dropped == ["s0-0", "s1-0", "s2-0"] and {d["drop_reason"] for d in docs if not d["kept"]} == {"has_marker"}
    pids = {int(p.name) for p in (tmp_path / "pids").iterdir()}
    assert pids and os.getpid() not in pids  # the step ran in the spawn workers, which imported the plugin
    assert "plugins:\n- my_steps" in (tmp_path / "run" / "config.yaml").read_text()
    stats = runner.invoke(app, ["stats", str(tmp_path / "run"), "--no-plot"])  # re-reads config.yaml: imports it
    assert stats.exit_code == 0, stats.output


def test_a_plugin_that_fails_to_import_is_a_config_error(plugin_path):
    with pytest.raises(ConfigError, match=r"plugin 'no_such_steps' could not be imported: ModuleNotFoundError"):
        parse_pipeline({"plugins": ["no_such_steps"], "inputs": [{"path": "x.jsonl"}]})
    _write_plugin(plugin_path, "broken_steps", "import os\nraise RuntimeError('needs a GPU')\n")
    with pytest.raises(ConfigError, match=r"<p>: plugin 'broken_steps' could not be imported: RuntimeError: needs"):
        parse_pipeline({"plugins": ["broken_steps"], "inputs": [{"path": "x.jsonl"}]}, "<p>")
    with pytest.raises(ConfigError, match=r"plugins: Input should be a valid list"):
        parse_pipeline({"plugins": "my_steps", "inputs": [{"path": "x.jsonl"}]})


def test_without_the_plugin_the_step_is_unknown(plugin_path):
    _write_plugin(plugin_path)
    with pytest.raises(ConfigError, match="unknown step 'marker_drop'"):
        parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": [{"marker_drop": {"marker": "x"}}]})
    cfg = parse_pipeline({"plugins": ["my_steps"], "inputs": [{"path": "x.jsonl"}], "steps": ["normalize_text"]})
    assert cfg.resolved()["plugins"] == ["my_steps"]
    assert "plugins" not in parse_pipeline({"inputs": [{"path": "x.jsonl"}]}).resolved()


def test_steps_lists_a_plugins_steps(plugin_path):
    _write_plugin(plugin_path)
    res = runner.invoke(app, ["steps", "--plugin", "my_steps"])
    assert res.exit_code == 0, res.output
    block = res.output[res.output.index("marker_drop:") :].split("\n\n")[0]
    text = " ".join(block.split())
    assert text.startswith("marker_drop: Drop documents that contain the marker word. marker: str = required")
    assert "(long) " * 12 + "END" in text and "second paragraph" not in text
    assert "reason: str = 'has_marker'" in text
    missing = runner.invoke(app, ["steps", "--plugin", "no_such_steps"])
    assert missing.exit_code == 2 and "plugin 'no_such_steps' could not be imported" in missing.output


def _write_dist(folder, entry: str) -> None:
    """An installed distribution (a .dist-info on sys.path) with one `curator.steps` entry point."""
    info = folder / "curator_ep_test-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: curator-ep-test\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[curator.steps]\n{entry}\n")


def test_entry_point_steps_are_found_without_plugins(plugin_path):
    _write_plugin(
        plugin_path,
        "ep_steps",
        '''
        from curator import Step


        class Shout(Step):  # not decorated: the entry point naming the class registers it
            """Upper-case every document."""

            name = "ep_shout"
        ''',
    )
    _write_dist(plugin_path, "shout = ep_steps:Shout")
    cfg = parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": ["ep_shout"]})
    assert [s.name for s in cfg.build_steps()] == ["ep_shout"]


def test_a_broken_entry_point_names_its_package(plugin_path):
    _write_dist(plugin_path, "gone = no_such_ep_module")
    with pytest.raises(ConfigError, match=r"entry point 'gone = no_such_ep_module' of package 'curator-ep-test'"):
        parse_pipeline({"inputs": [{"path": "x.jsonl"}]})
