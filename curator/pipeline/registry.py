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
BUILTIN_STEP_MODULES = (
    "curator.text.normalize",
    "curator.filters.length",
    "curator.filters.gopher",
    "curator.filters.fineweb",
    "curator.filters.c4",
    "curator.filters.quality_classifier",
    "curator.filters.language_id",
    "curator.filters.listed",
    "curator.dedup.exact",
    "curator.dedup.unique_ids",
    "curator.dedup.near",
    "curator.select.dsir",
    "curator.buckets.tokenize",
    "curator.buckets.dd_step",
    "curator.loader.token_step",
    "curator.score.model_loss",
    "curator.score.loss_select",
)


def register_step(cls: type[Step]) -> type[Step]:
    """Class decorator: make a step available in YAML under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a class attribute `name`")
    other = _REGISTRY.get(cls.name)
    if other is not None and other is not cls and other.__qualname__ != cls.__qualname__:
        raise ValueError(f"step name '{cls.name}' is taken by {other.__module__}.{other.__qualname__}")
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
