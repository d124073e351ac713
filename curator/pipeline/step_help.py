"""`curator steps`: each step's purpose and each parameter's type, default and description, wrapped."""

from __future__ import annotations

import inspect
import textwrap
import types
import typing
from typing import Any

from pydantic.fields import FieldInfo


def type_name(annotation: Any) -> str:
    """A short readable type: `int | None`, `list[str]`, `'a' | 'b'` for a Literal, a class by its name."""
    if annotation is None or annotation is type(None):
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join('...' if a is Ellipsis else type_name(a) for a in args)}]" if args else name
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def default_text(field: FieldInfo) -> str:
    """`required`, or the default's repr (a default_factory is called to show its value)."""
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        try:
            return repr(field.get_default(call_default_factory=True, validated_data={}))
        except Exception:  # a factory that needs other fields' values: name it rather than guess
            return f"<from {getattr(field.default_factory, '__name__', 'a factory')}()>"
    return repr(field.default)


def purpose(cls: type) -> str:
    """The class's own docstring's first paragraph on one line ('' when it has none)."""
    doc = cls.__dict__.get("__doc__") or ""
    return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())


def step_help(name: str, cls: type, width: int = 100) -> list[str]:
    """The lines `curator steps` prints for one step: purpose, parameters, stats columns."""
    lines = textwrap.wrap(f"{name}: {purpose(cls) or '(no description)'}", width, subsequent_indent="    ")
    for fname, field in cls.model_fields.items():
        head = f"    {fname}: {type_name(field.annotation)} = {default_text(field)}"
        lines += textwrap.wrap(head, width, subsequent_indent="        ")
        if field.description:
            lines += textwrap.wrap(field.description, width, initial_indent="        ", subsequent_indent="        ")
    columns = getattr(cls, "stats_columns", {})
    notes = []
    if columns:
        notes.append("stats columns: " + ", ".join(f"{c} ({t})" for c, t in columns.items()))
    try:  # with default settings (a setting may change it, e.g. keep: score)
        needs = sorted(cls.model_construct().required_columns())
    except Exception:  # a step whose defaults cannot be built alone: say nothing rather than guess
        needs = []
    if needs:
        notes.append("needs columns: " + ", ".join(needs))
    if getattr(cls, "provides_columns", None):
        notes.append("adds columns: " + ", ".join(sorted(cls.provides_columns)))
    if getattr(cls, "side_outputs", None):
        notes.append("writes into the run folder: " + ", ".join(f"{name}/" for name in cls.side_outputs))
    if getattr(cls, "packages", None):
        notes.append("packages: " + ", ".join(cls.packages.values()))
    res = getattr(cls, "resources", None)
    if res is not None:
        notes.append(
            f"resources per copy: {res.cpus:g} CPU, {res.memory_mb} MB" + (f", {res.gpus:g} GPU" if res.gpus else "")
        )
    from curator.pipeline.step import Step
    from curator.pipeline.streamed import ray_data_role

    if isinstance(cls, type) and issubclass(cls, Step):
        notes.append("on Ray (mode data): " + ray_data_role(cls))
    for text in notes:
        lines += textwrap.wrap(text, width, initial_indent="    ", subsequent_indent="        ")
    return lines
