"""Step contracts checked when a pipeline is loaded: columns required and provided, stats columns written by
two steps, optional packages not installed."""

from __future__ import annotations

from collections.abc import Iterable

from curator.pipeline.registry import BUILTIN_STEPS, registered_steps
from curator.pipeline.step import Step


def column_conflicts(steps: list[type[Step]]) -> list[str]:
    """Stats columns that two different step classes of one pipeline both declare without sharing them by
    design (`shared_stats_columns` on both) or with different types: one would silently overwrite the other."""
    first: dict[str, tuple[int, type[Step]]] = {}
    problems = []
    for i, cls in enumerate(steps):
        for column, dtype in cls.stats_columns.items():
            if column not in first:
                first[column] = (i, cls)
                continue
            j, other = first[column]
            if other is cls:
                continue
            shared = column in cls.shared_stats_columns and column in other.shared_stats_columns
            if not shared or other.stats_columns[column] != dtype:
                problems.append(
                    f"steps[{i}].{cls.name}: writes stats column '{column}', which steps[{j}].{other.name} also "
                    "writes with another meaning; one would overwrite the other (rename the column in one step)"
                )
    return problems


def missing_packages(steps: list[type[Step]]) -> list[str]:
    """Each step's `packages` that cannot be imported here, with the `pip install` that provides them."""
    import importlib.util

    problems = []
    for i, cls in enumerate(steps):
        for module, requirement in cls.packages.items():
            if importlib.util.find_spec(module) is None:
                problems.append(
                    f"steps[{i}].{cls.name}: needs the package '{module}', which is not installed; "
                    f"pip install '{requirement}'"
                )
    return problems


def missing_columns(steps: list[Step], document_columns: Iterable[str]) -> list[str]:
    """Columns a step requires that neither the documents nor an earlier step provide, naming a step that does."""
    available = set(document_columns)
    missing = []
    for i, step in enumerate(steps):
        missing += [(i, step.name, column) for column in sorted(step.required_columns() - available)]
        available |= set(step.stats_columns) | set(step.provides_columns)
    if not missing:
        return []
    registry = registered_steps()  # every step, for the hint
    providers: dict[str, str] = {}
    for name in [*BUILTIN_STEPS, *registry]:  # a built-in provider first, in a fixed order
        for column in (*registry[name].stats_columns, *registry[name].provides_columns):
            providers.setdefault(column, name)
    problems = []
    for i, name, column in missing:
        hint = f" (`{providers[column]}` provides it)" if column in providers else ""
        problems.append(f"steps[{i}].{name}: needs column '{column}', which no earlier step provides{hint}")
    return problems
