"""The built-in step table: each YAML name maps to the module that defines it, and a pipeline imports only its own."""

import importlib
import subprocess
import sys

from curator.pipeline.registry import BUILTIN_STEP_MODULES, BUILTIN_STEPS, registered_steps


def test_the_table_matches_the_registered_classes():
    registry = registered_steps()
    builtin = {name: cls.__module__ for name, cls in registry.items() if cls.__module__ in BUILTIN_STEP_MODULES}
    assert builtin == BUILTIN_STEPS
    for module in BUILTIN_STEP_MODULES:
        importlib.import_module(module)  # every listed module imports


def test_a_light_pipeline_imports_no_heavy_step_module():
    code = (
        "import sys\n"
        "from curator.pipeline.config import parse_pipeline\n"
        "cfg = parse_pipeline({'inputs': [{'path': 'x.jsonl'}], 'steps': ['normalize_text', 'length_filter', "
        "'gopher_quality', 'c4_quality']})\n"
        "cfg.build_steps()\n"
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
