"""The run folder's log files: one logger per file, appended to by every pass (run.log, task-TTTTT.log)."""

from __future__ import annotations

import logging
from pathlib import Path


def file_logger(name: str, path: Path) -> logging.Logger:
    """The logger `name`, writing only to `path` (appended), with time and level; not propagated."""
    logger = logging.getLogger(name)
    for handler in logger.handlers:
        handler.close()
    logger.handlers.clear()
    logger.propagate = False
    handler = logging.FileHandler(path, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return logger


def close_logger(logger: logging.Logger) -> None:
    """Close the logger's files (a worker runs many tasks: no descriptor may leak)."""
    for handler in logger.handlers:
        handler.close()
