"""The step registry: built-in steps, `curator.steps` entry points and `plugins:` modules, by YAML name."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from curator.errors import ConfigError

if TYPE_CHECKING:
    from curator.pipeline.step import Step

_REGISTRY: dict[str, type[Step]] = {}
# where each built-in step is defined, so a pipeline imports only the modules of its own steps (a pipeline
# of light steps never imports torch, tokenizers or fastText); tests/pipeline/test_registry.py checks it
BUILTIN_STEPS: dict[str, str] = {
    "normalize_text": "curator.text.normalize",
    "length_filter": "curator.filters.length",
    "gopher_quality": "curator.filters.gopher",
    "gopher_repetition": "curator.filters.gopher",
    "fineweb_quality": "curator.filters.fineweb",
    "c4_quality": "curator.filters.c4",
    "fasttext_quality": "curator.filters.quality_classifier",
    "language_id": "curator.filters.language_id",
    "drop_listed": "curator.filters.listed",
    "keep_listed": "curator.filters.listed",
    "exact_dedup": "curator.dedup.exact",
    "unique_ids": "curator.dedup.unique_ids",
    "minhash_dedup": "curator.dedup.near",
    "dsir_fit": "curator.select.dsir",
    "dsir_select": "curator.select.dsir",
    "tokenize": "curator.buckets.tokenize",
    "dataset_decomposition": "curator.buckets.dd_step",
    "token_store": "curator.loader.token_step",
    "model_loss": "curator.score.model_loss",
    "loss_filter": "curator.score.loss_select",
    "loss_reweight": "curator.score.loss_select",
}
BUILTIN_STEP_MODULES: tuple[str, ...] = tuple(dict.fromkeys(BUILTIN_STEPS.values()))
# the built-in steps' `side_outputs` (run-folder folders they write), known without importing them, so
# `--overwrite` removes them even when the new pipeline does not use those steps (checked by the same test)
BUILTIN_SIDE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "dataset_decomposition": ("buckets",),
    "token_store": ("tokens",),
}


def side_outputs() -> list[str]:
    """Every run-folder folder a step may write: the built-in steps' and those of the steps loaded so far
    (plugins), without importing any step module."""
    names = [n for outs in BUILTIN_SIDE_OUTPUTS.values() for n in outs]
    names += [n for cls in _REGISTRY.values() for n in cls.side_outputs]
    return sorted(set(names))


def register_step(cls: type[Step]) -> type[Step]:
    """Class decorator: make a step available in YAML under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"step name '{cls.name}' is taken by {other.__module__}.{other.__qualname__}")
    builtin = BUILTIN_STEPS.get(cls.name)
    if builtin is not None and cls.__module__ != builtin:  # taken even when its module is not imported yet
        raise ValueError(f"step name '{cls.name}' is taken by the built-in step of {builtin}")
    _REGISTRY[cls.name] = cls
    return cls


ENTRY_POINT_GROUP = "curator.steps"  # installed packages' step modules (or classes), found automatically
_entry_points_loaded = False


def registered_steps(plugins: Iterable[str] = ()) -> dict[str, type[Step]]:
    """Every step by name: the built-in ones, those of the `curator.steps` entry points and of `plugins`."""
    for module in BUILTIN_STEP_MODULES:
        importlib.import_module(module)
    load_entry_points()
    load_plugins(plugins)
    return dict(sorted(_REGISTRY.items()))


def step_classes(names: Iterable[str], plugins: Iterable[str] = ()) -> dict[str, type[Step]]:
    """The classes of the named steps (unknown names left out). Imports only the built-in modules that
    define them, then the entry points and `plugins`, so a pipeline of light steps never imports torch."""
    names = list(names)
    for name in names:
        if name in BUILTIN_STEPS:
            importlib.import_module(BUILTIN_STEPS[name])
    load_entry_points()
    load_plugins(plugins)
    return {name: _REGISTRY[name] for name in names if name in _REGISTRY}


def load_plugins(modules: Iterable[str]) -> None:
    """Import each named module so its `@register_step` classes register; a failure is a ConfigError."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # any error while importing a user's module is reported, not raised raw
            raise ConfigError(
                f"plugin '{module}' could not be imported: {type(exc).__name__}: {exc}; "
                "check the module name and that its folder is on PYTHONPATH (or the package is installed)"
            ) from None


def load_entry_points() -> None:
    """Load the `curator.steps` entry points once per process; a Step class they name is registered."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    from importlib.metadata import entry_points

    from curator.pipeline.step import Step

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as exc:  # an installed package's broken plugin: name it and say what to do
            dist = f" of package '{ep.dist.name}'" if ep.dist else ""
            raise ConfigError(
                f"entry point '{ep.name} = {ep.value}'{dist} in group '{ENTRY_POINT_GROUP}' could not be loaded: "
                f"{type(exc).__name__}: {exc}; fix or uninstall that package"
            ) from None
        if isinstance(obj, type) and issubclass(obj, Step) and obj.name:
            register_step(obj)
    _entry_points_loaded = True


def suggest(word: str, options) -> str:
    """' (did you mean 'x'?)' when something close exists, else ''."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""
