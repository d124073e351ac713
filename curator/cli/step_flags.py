"""Command-line flags made from step models' fields (name, type, default, description), for the shortcut commands
(`curator dedup`, `curator dsir`): a step's parameters cannot drift from its flags, and a bad value is reported
by the flag the user typed (`--threshold: ...`), not by a pipeline path (`steps[1].minhash_dedup.threshold`)."""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic.fields import FieldInfo

from curator.errors import ConfigError

_LOWER = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"))
_UPPER = ((annotated_types.Le, "le", "<="), (annotated_types.Lt, "lt", "<"))


@dataclass(frozen=True)
class FlagSpec:
    """Which step models a shortcut command takes flags from, and the few flags it names its own way."""

    models: tuple[type[BaseModel], ...]
    names: dict[str, str] = field(default_factory=dict)  # field -> flag, where not --field-name (older names)
    short: dict[str, str] = field(default_factory=dict)  # field -> short alias, e.g. "-b"
    help: dict[str, str] = field(default_factory=dict)  # field -> help, where the command reads the value its way
    given: dict[str, str] = field(default_factory=dict)  # field the command sets from its own option -> that option

    def flag(self, name: str) -> str:
        """The flag that sets field `name` (or the command's own option for a `given` field)."""
        return self.given.get(name) or self.names.get(name) or "--" + name.replace("_", "-")

    def fields(self) -> dict[str, list[tuple[type[BaseModel], FieldInfo]]]:
        """Each flag-made field with the models that have it, in the models' order (given fields left out)."""
        out: dict[str, list[tuple[type[BaseModel], FieldInfo]]] = {}
        for model in self.models:
            for name, info in model.model_fields.items():
                if name not in self.given:
                    out.setdefault(name, []).append((model, info))
        return out


class StepFlags:
    """The values of a command's generated flags, by field name; they become validated pipeline step entries."""

    def __init__(self, spec: FlagSpec, values: dict[str, Any], origin: str):
        self.spec, self.values, self.origin = spec, values, origin

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def steps(self, *entries: tuple[type[BaseModel], dict[str, Any]]) -> list[dict[str, dict[str, Any]]]:
        """Pipeline step entries [{step name: params}] of (model, given values) pairs: each model's fields from
        the flags, overridden by `given`, validated by the model; a ConfigError lists every problem once, by flag."""
        out, problems = [], []
        for model, given in entries:
            params = {name: self.values[name] for name in model.model_fields if name in self.values} | given
            try:
                model(**params)
            except ValidationError as exc:
                problems += [self._problem(err, model) for err in exc.errors()]
            out.append({model.name: params})
        if problems:
            raise ConfigError(f"{self.origin}: invalid options\n  " + "\n  ".join(dict.fromkeys(problems)))
        return out

    def explain(self, exc: ConfigError) -> ConfigError:
        """A pipeline-level ConfigError (the checks across steps) with its `steps[i].name.field:` paths turned into
        the flags, and each problem once: the user typed flags, not a pipeline."""
        pattern = re.compile(r"^(\s*)steps\[\d+\]\.\w+(?:\.(\w+))?: ")
        lines = [
            pattern.sub(lambda m: m.group(1) + (f"{self.spec.flag(m.group(2))}: " if m.group(2) else ""), line)
            for line in str(exc)
            .replace(f"{self.origin}: invalid pipeline", f"{self.origin}: invalid options")
            .splitlines()
        ]
        return ConfigError("\n".join(dict.fromkeys(lines)))

    def _problem(self, err: dict, model: type[BaseModel]) -> str:
        """One pydantic error as `--flag: message (got value)`; a check across fields names its fields' flags."""
        msg = str(err["msg"]).removeprefix("Value error, ")
        if not err["loc"]:  # a check across fields: name them by their flags too
            names = "|".join(sorted(model.model_fields, key=len, reverse=True))
            return re.sub(rf"(?<![\w`-])({names})\b", lambda m: self.spec.flag(m.group(1)), msg)
        got = err.get("input")
        shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
        return f"{self.spec.flag(str(err['loc'][0]))}: {msg}{shown}"


def with_step_flags(spec: FlagSpec, origin: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a Typer command whose parameter `flags: StepFlags` stands for one option per field of the spec's
    models: the command's signature gets those options in its place, and the command gets a StepFlags."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(func, eval_str=True).parameters.values())
        names = [p.name for p in own]
        generated = [_parameter(name, spec, infos) for name, infos in spec.fields().items()]
        clash = {p.name for p in generated} & set(names)
        if clash:
            raise TypeError(f"{func.__name__}: its own options and the step flags both have {sorted(clash)}")
        at = names.index("flags")

        def command(**kwargs: Any) -> Any:
            values = {p.name: kwargs.pop(p.name) for p in generated}
            return func(**kwargs, flags=StepFlags(spec, values, origin))

        params = own[:at] + generated + own[at + 1 :]
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(command, attr, getattr(func, attr))
        return command

    return decorate


def _parameter(name: str, spec: FlagSpec, infos: list[tuple[type[BaseModel], FieldInfo]]) -> inspect.Parameter:
    """The Typer option of one field (shared by `infos`' models: one type and default, each description)."""
    model, info = infos[0]
    kinds = {(str(i.annotation), repr(i.default)) for _, i in infos}
    if len(kinds) > 1:
        raise TypeError(f"--{name}: the steps' fields differ in type or default ({sorted(kinds)}); one flag cannot")
    cli_type, choices = _cli_type(model, name, info)
    flag = spec.flag(name)
    decls = [f"{flag}/--no-{flag[2:]}" if cli_type is bool and info.default is True else flag]
    decls += [spec.short[name]] if name in spec.short else []
    described = [(m.name, i.description) for m, i in infos if i.description]
    if len({d for _, d in described}) > 1:
        text = "; ".join(f"{step}: {d}" for step, d in described)
    else:
        text = described[0][1] if described else ""
    text = spec.help.get(name, text)
    bounds = _bounds(info)
    help_ = " ".join(x for x in (text, f"({bounds})" if bounds else "") if x)  # [] would be rich markup
    default = None if info.is_required() else info.get_default(call_default_factory=True)
    if cli_type is str and default is not None and not isinstance(default, str):
        default = str(default)  # a size such as 268435456, parsed by the model
    option = typer.Option(
        default,
        *decls,
        help=help_,
        metavar="|".join(choices) if choices else None,
        rich_help_panel=" + ".join(m.name for m, _ in infos) + " step" + ("s" if len(infos) > 1 else ""),
    )
    annotation = cli_type if default is not None or cli_type is bool else cli_type | None
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=option, annotation=annotation)


def _cli_type(model: type[BaseModel], name: str, info: FieldInfo) -> tuple[Any, tuple[str, ...]]:
    """(the type the command line parses, the choices of a Literal); the model validates the rest."""
    ann = info.annotation
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        ann = args[0] if len(args) == 1 else ann
    if get_origin(ann) is Literal and all(isinstance(v, str) for v in get_args(ann)):
        return str, get_args(ann)  # checked by the model, so a wrong choice reads like any other bad value
    if any(isinstance(m, BeforeValidator) for m in info.metadata):
        return str, ()  # the model parses it (a size such as 16MiB)
    if ann in (bool, int, float, str):
        return ann, ()
    if ann == list[str]:
        return list[str], ()
    raise TypeError(f"{model.__name__}.{name}: no command-line form for {ann}; list it in FlagSpec.given")


def _bounds(info: FieldInfo) -> str:
    """A field's numeric bounds as Typer shows its own ranges: `x>=1`, `0.0<=x<1.0` (empty without any)."""
    lower = upper = None
    for m in info.metadata:
        lower = next(((getattr(m, a), sign) for cls, a, sign in _LOWER if isinstance(m, cls)), lower)
        upper = next(((getattr(m, a), sign) for cls, a, sign in _UPPER if isinstance(m, cls)), upper)
    if lower and upper:
        return f"{lower[0]}{lower[1].replace('>', '<')}x{upper[1]}{upper[0]}"
    if lower or upper:
        value, sign = lower or upper
        return f"x{sign}{value}"
    return ""
