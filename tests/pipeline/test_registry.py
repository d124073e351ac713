"""The built-in step table: each YAML name maps to the module that defines it, and a pipeline imports only its own."""

import importlib
import subprocess
import sys

from curator.pipeline.registry import BUILTIN_SIDE_OUTPUTS, BUILTIN_STEP_MODULES, BUILTIN_STEPS, registered_steps


def test_the_table_matches_the_registered_classes():
    registry = registered_steps()
    builtin = {name: cls.__module__ for name, cls in registry.items() if cls.__module__ in BUILTIN_STEP_MODULES}
    assert builtin == BUILTIN_STEPS
    sides = {name: cls.side_outputs for name, cls in registry.items() if name in builtin and cls.side_outputs}
    assert sides == BUILTIN_SIDE_OUTPUTS
    for module in BUILTIN_STEP_MODULES:
        importlib.import_module(module)  # every listed module imports


def test_a_light_pipeline_imports_no_heavy_step_module(tmp_path):
    """Neither loading nor running a pipeline of light steps imports the heavy step modules (torch...)."""
    (tmp_path / "x.jsonl").write_text('{"text": "a few words of text here"}\n')
    code = (
        "import sys\n"
        "from curator.pipeline.config import parse_pipeline\n"
        "from curator.pipeline.executor import run_pipeline\n"
        f"cfg = parse_pipeline({{'inputs': [{{'path': {str(tmp_path / 'x.jsonl')!r}}}], 'steps': ['normalize_text', "
        "'length_filter', 'gopher_quality', 'c4_quality']})\n"
        f"run_pipeline(cfg, {str(tmp_path / 'run')!r}, workers=1, quiet=True)\n"
        f"run_pipeline(cfg, {str(tmp_path / 'run')!r}, workers=1, quiet=True, overwrite=True)\n"
        "print(sorted(m for m in ('torch', 'tokenizers', 'fasttext', 'curator.score.model_loss', "
        "'curator.select.dsir', 'curator.dedup.near') if m in sys.modules))\n"
        "from curator.pipeline.step import Step, register_step\n"
        "try:\n"
        "    register_step(type('Impostor', (Step,), {'name': 'model_loss', '__module__': 'mine'}))\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, refused = out.stdout.splitlines()
    assert imported == "[]", out.stderr
    # a plugin cannot take a built-in name, even when the built-in's module was never imported
    assert refused == "step name 'model_loss' is taken by the built-in step of curator.score.model_loss"
