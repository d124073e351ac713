"""Executors: where a pipeline's task passes run (this machine's worker processes; Ray in a later release)."""

from curator.pipeline.executors.base import Executor, PassSpec
from curator.pipeline.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "PassSpec"]
