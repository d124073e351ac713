"""Mixing laws: runs tables, law fits, predictions, CMR and optimised mixtures (`curator mix`).

The functions load lazily (scipy, matplotlib), so importing the CLI stays fast.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "append_runs": "curator.mix.runs_table",
    "read_runs": "curator.mix.runs_table",
    "fit_runs": "curator.mix.fit",
    "read_fit": "curator.mix.fit_file",
    "predict_mixtures": "curator.mix.predict",
    "critical_ratio": "curator.mix.critical",
    "optimize_fit": "curator.mix.optimize",
    "design_mixtures": "curator.mix.design",
    "write_report": "curator.mix.report",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'curator.mix' has no attribute {name!r}")
