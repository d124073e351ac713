"""curator: data curation and mixing for language-model training data."""

from curator.pipeline.config import PipelineConfig, load_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.step import Filter, Step, register_step

__all__ = ["Filter", "PipelineConfig", "Step", "load_pipeline", "register_step", "run_pipeline"]
__version__ = "0.1.0"
