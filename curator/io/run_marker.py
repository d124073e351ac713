"""How a folder is recognised as a curator run folder (so inputs skip it and --overwrite may clear it)."""

from __future__ import annotations

from pathlib import Path

RUN_MARKER = ".curator-run.json"


def is_run_folder(path: str | Path) -> bool:
    """A folder curator wrote: it has the run marker (or, for runs made before the marker, config + plan)."""
    path = Path(path)
    return (path / RUN_MARKER).is_file() or ((path / "config.yaml").is_file() and (path / "plan.json").is_file())
