"""The notebooks in notebooks/ (jupytext percent scripts) execute top to bottom in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    # the `notebooks` extra (make test installs it); without it the test is skipped, not an import error
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")  # the python3 kernel nbclient starts

    monkeypatch.setenv("CURATOR_WALKTHROUGH_DIR", str(tmp_path / "work"))
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert (tmp_path / "work" / "walkthrough.png").exists()
    jupytext.write(notebook, tmp_path / f"{path.stem}.ipynb")  # the executed notebook, as a user would open it


def test_there_is_a_walkthrough():
    assert any(p.name == "walkthrough.py" for p in NOTEBOOKS)
