"""curator: data curation and mixing for language-model training data."""

from curator.pipeline.config import PipelineConfig, load_pipeline, parse_pipeline
from curator.pipeline.executor import RunSummary, run_pipeline
from curator.pipeline.step import Filter, Step, register_step
from curator.stats.views import open_runs as connect

__all__ = [
    "Filter",
    "PipelineConfig",
    "RunSummary",
    "Step",
    "connect",
    "load_pipeline",
    "parse_pipeline",
    "register_step",
    "run_pipeline",
]
__version__ = "0.1.0"
