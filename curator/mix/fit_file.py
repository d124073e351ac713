"""FIT.json: a fitted law with its version, data summary, quality and held-out errors (written atomically)."""

from __future__ import annotations

import json
from pathlib import Path

from curator.errors import ConfigError
from curator.io.atomic import write_text_atomic

FORMAT = "curator-mix-fit"
LAW_VERSIONS = {"cmr": 1, "dml": 1, "linear": 1, "lightgbm": 1}
MIXTURE_LAWS = ("dml", "linear", "lightgbm")


def write_fit(path: str | Path, fit: dict) -> Path:
    """Write `fit` (with law and law_version) as JSON: temp file, then rename."""
    return write_text_atomic(path, json.dumps({"format": FORMAT, **fit}, indent=1) + "\n")


def read_fit(path: str | Path, laws: tuple[str, ...] | None = None) -> dict:
    """Read a FIT.json; another format, law version or a law not in `laws` is a ConfigError saying what to do."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"fit file '{path}' not found; write one with `curator mix fit RUNS --out {path}`")
    try:
        fit = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON fit file ({exc})") from None
    if not isinstance(fit, dict) or fit.get("format") != FORMAT:
        raise ConfigError(f'{path}: not a `curator mix fit` file (no "format": "{FORMAT}")')
    law, version = fit.get("law"), fit.get("law_version")
    if law not in LAW_VERSIONS:
        raise ConfigError(f"{path}: unknown law {law!r}; this curator knows {', '.join(LAW_VERSIONS)}")
    if version != LAW_VERSIONS[law]:
        raise ConfigError(
            f"{path}: law '{law}' version {version}, but this curator reads version {LAW_VERSIONS[law]}; "
            "refit it with `curator mix fit`"
        )
    if laws is not None and law not in laws:
        want = " or ".join(laws)
        hint = "use `curator mix cmr FIT.json`" if law == "cmr" else "fit with --law cmr"
        raise ConfigError(f"{path}: holds a '{law}' fit; this command needs {want} ({hint})")
    return fit
