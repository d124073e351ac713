"""Pipeline YAML: pydantic models, `--set` overrides, and errors that name the key and suggest a fix.

Over 300 lines on purpose: the models, the step-list validation and the error rewriting are one user-facing
contract (an error must name the YAML key the user wrote), and they change together.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from curator.errors import ConfigError
from curator.io.sources import FieldMap, ReadLimits
from curator.pipeline.contracts import column_conflicts, missing_columns, missing_packages
from curator.pipeline.registry import registered_steps, step_classes, suggest
from curator.pipeline.step import Step

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_bytes(value: Any) -> int:
    """16MiB, 10MB, 512kb or an integer number of bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 16MiB")
    if isinstance(value, (int, float)):
        return int(value)
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"'{value}' is not a size; write e.g. 16MiB, 10MB or 1048576")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


ByteSize = Annotated[int, BeforeValidator(parse_bytes), Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    """One input: a file, a directory, a glob, or a Hugging Face save_to_disk folder."""

    path: str
    format: Literal["auto", "jsonl", "parquet", "hf"] = "auto"
    name: str | None = Field(None, description="input name; the default source label")
    source: str | None = Field(None, description="constant source label for every document (overrides fields)")
    text_field: str = "text"
    id_field: str = "id"
    source_field: str = "source"
    url_field: str = "url"
    created_field: str = "created"
    split: str | None = Field(None, description="DatasetDict split for Hugging Face folders")
    rows_per_task: int = Field(
        200_000,
        gt=0,
        description="Hugging Face datasets are split into tasks of this many rows, Parquet files with more rows "
        "into tasks of whole row groups of at least this many (JSONL: see reader.bytes_per_task)",
    )

    def field_map(self) -> FieldMap:
        return FieldMap(self.text_field, self.id_field, self.source_field, self.url_field, self.created_field)


DEFAULT_BYTES_PER_TASK = 256 << 20


class ReaderConfig(_Strict):
    batch_rows: int = Field(8192, gt=0)
    batch_bytes: ByteSize = 16 << 20
    max_doc_bytes: ByteSize = 10 << 20
    bytes_per_task: ByteSize = Field(
        DEFAULT_BYTES_PER_TASK,
        description="only uncompressed JSONL files are cut by it: one larger than this is cut into tasks of about "
        "this many bytes, each ending at a line end (row numbers stay file-relative); a compressed JSONL file is "
        "one task, Parquet files and HF datasets are cut by the input's rows_per_task",
    )

    def limits(self) -> ReadLimits:
        return ReadLimits(self.batch_rows, self.batch_bytes, self.max_doc_bytes)


class OutputConfig(_Strict):
    max_shard_bytes: ByteSize = 256 << 20
    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    compression_level: int | None = 3


AUTO_BYTES_PER_WORKER = 8 << 20  # input file bytes below which one more worker process does not pay for its start


class ExecutorConfig(_Strict):
    """Where tasks run (`kind`: this machine's processes, or a Ray cluster), how many workers (a number, or
    `auto`: locally one per 8 MB of input files, at most one per core; on Ray one per CPU the cluster
    offers), and whether the stage files between global steps stay after the run. None of it changes the
    output: a run may be resumed on another executor."""

    kind: Literal["local", "ray"] = "local"
    workers: int | Literal["auto"] = "auto"
    address: str | None = Field(
        None,
        description="ray: the cluster to join ('auto': the one `ray start --head` runs here, or ray://HOST:10001); "
        "unset: start a private one on this machine for the run",
    )
    cpus_per_worker: float | None = Field(
        None,
        gt=0,
        description="ray: CPUs each worker actor reserves (fractions allowed); default: the most any step declares",
    )
    mode: Literal["data", "tasks"] = Field(
        "data",
        description="ray: 'data' streams each pass's per-batch steps as Ray Data map_batches stages (models in "
        "actor pools) and finishes each task from their output; 'tasks' runs whole tasks on worker actors "
        "(less overhead for a few large files on one machine)",
    )
    max_task_retries: int = Field(
        2, ge=0, description="ray: times a task whose worker died (node lost, killed) is retried on a new worker"
    )
    keep_stage_files: bool = Field(
        False,
        description="keep state/NN-step/input/ (the documents entering each global step, as Arrow IPC) after "
        "the run has finished; they are removed by default, and a later redo of a task rebuilds them",
    )

    @field_validator("kind")
    @classmethod
    def _ray_installed(cls, v):
        import importlib.util

        if v == "ray" and importlib.util.find_spec("ray") is None:
            raise ValueError("kind: ray needs Ray, which is not installed; pip install 'curator[ray]'")
        return v

    @model_validator(mode="after")
    def _ray_settings_need_ray(self):
        given = [k for k in ("address", "cpus_per_worker") if getattr(self, k) is not None]
        given += ["mode"] if self.mode != "data" else []  # the default is harmless in a local run's config.yaml
        if self.kind != "ray" and given:
            raise ValueError(
                f"{' and '.join(given)} {'apply' if len(given) > 1 else 'applies'} only to kind: ray, and this "
                "run would execute locally; "
                "add `kind: ray` (or --executor ray), or remove them"
            )
        return self

    @field_validator("workers")
    @classmethod
    def _positive(cls, v):
        if v != "auto" and v < 1:
            raise ValueError("workers must be >= 1 or 'auto'")
        return v

    def resolved_workers(self, input_bytes: int | None = None) -> int:
        """The worker count; `auto` sizes it by the input: a worker costs ~0.5 CPU-s to start, and on the
        sample corpus (4.4 MB of .zst) one process beats two, while at 17 MB two are 1.3x faster."""
        if self.workers != "auto":
            return int(self.workers)
        cores = os.cpu_count() or 1
        if input_bytes is None:
            return cores
        return max(1, min(cores, -(-input_bytes // AUTO_BYTES_PER_WORKER)))


class PipelineConfig(_Strict):
    """A whole pipeline: inputs, reader limits, steps in order, output and executor settings."""

    name: str = "pipeline"
    description: str = ""
    seed: int = 0
    plugins: list[str] = Field(
        default_factory=list, description="importable modules whose @register_step steps the pipeline uses"
    )
    inputs: list[InputConfig] = Field(min_length=1)
    reader: ReaderConfig = ReaderConfig()
    steps: list[dict[str, Any]] = Field(default_factory=list)
    output: OutputConfig = OutputConfig()
    executor: ExecutorConfig = ExecutorConfig()

    @field_validator("steps", mode="before")
    @classmethod
    def _normalise_steps(cls, steps):
        return [_step_entry(s, i) for i, s in enumerate(steps or [])]

    def build_steps(self) -> list[Step]:
        """Instantiate the steps (fresh objects each call: one set per task); imports the plugins first, which
        is what makes a plugin's steps known in a spawn worker that only unpickled this config."""
        registry = step_classes(_names(self.steps), self.plugins)
        return [registry[name](**params) for entry in self.steps for name, params in entry.items()]

    def resolved(self) -> dict:
        """The config with every default filled in, as written to the run folder's config.yaml (an empty
        `plugins` list is left out, so run folders written before plugins existed still resume)."""
        data = self.model_dump(mode="json")
        if not data["plugins"]:
            del data["plugins"]
        data["steps"] = [{s.name: s.model_dump(mode="json")} for s in self.build_steps()]
        return data


def _step_entry(entry: Any, index: int) -> dict[str, dict]:
    if isinstance(entry, str):
        return {entry: {}}
    if isinstance(entry, dict) and len(entry) == 1:
        ((name, params),) = entry.items()
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise ValueError(f"steps[{index}].{name}: parameters must be a mapping, got {type(params).__name__}")
        return {str(name): params}
    raise ValueError(f"steps[{index}]: write a step as `- name` or `- name: {{param: value}}`, got {entry!r}")


def _names(steps: list[dict]) -> list[str]:
    return [name for entry in steps for name in entry]


def _validate_steps(steps: list[dict], where: str) -> list[str]:
    problems = []
    registry = step_classes(_names(steps))
    if len(registry) < len(set(_names(steps))):  # an unknown step: the message lists every known one
        registry = registered_steps()
    for i, entry in enumerate(steps):
        for name, params in entry.items():
            if name not in registry:
                problems.append(
                    f"{where}steps[{i}]: unknown step '{name}'{suggest(name, registry)}; "
                    f"known steps: {', '.join(registry)}"
                )
                continue
            cls = registry[name]
            try:
                cls(**params)
            except ValidationError as exc:
                problems += _explain(exc, cls, f"{where}steps[{i}].{name}")
    return problems


def _check_order(steps: list[dict]) -> list[str]:
    """Steps that need others before or after them (dataset_decomposition needs tokenize, and goes last), and
    stats columns two steps would both write with different meanings."""
    names = _names(steps)
    registry = step_classes(names)
    problems = []
    for i, name in enumerate(names):
        why = registry[name].position_problem(i, names) or registry[name].pipeline_problem(i, steps)
        if why:
            problems.append(f"steps[{i}].{name}: {why}")
    classes = [registry[name] for name in names]
    return problems + column_conflicts(classes) + missing_packages(classes)


def _explain(exc: ValidationError, model: type[BaseModel], where: str) -> list[str]:
    """One readable line per pydantic error, with 'did you mean' for unknown keys."""
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        path = ".".join([where] + loc if where else loc)
        if err["type"] == "extra_forbidden":
            fields = _fields_at(model, err["loc"][:-1])
            key = str(err["loc"][-1])
            lines.append(f"{path}: unknown key '{key}'{suggest(key, fields)}; valid keys: {', '.join(fields)}")
        elif err["type"] == "missing":
            lines.append(f"{path}: required key is missing")
        else:
            got = err.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{path}: {msg}{shown}" if path else f"{msg}{shown}")  # a model-level check has no path
    return lines


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) else None
        if field is None:
            return []
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            current = ann
        elif inner and isinstance(inner[0], type) and issubclass(inner[0], BaseModel):
            current = inner[0]
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) else []


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply `key.sub.0.name=value` overrides (value parsed as YAML) to a raw config mapping."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: write key=value, e.g. --set executor.workers=2")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw != "" else ""
        parts = key.strip().split(".")
        node: Any = data
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: '{part}' is not an index of a list of {len(node)} items")
                i = int(part)
                if last:
                    node[i] = value
                    continue
                if isinstance(node[i], str):  # a short-form step (`- exact_dedup`): expand it to a mapping
                    if parts[j + 1] != node[i]:
                        where = ".".join(parts[: j + 1])
                        raise ConfigError(
                            f"--set {key}: {where} is the step '{node[i]}'; write {where}.{node[i]}.KEY=VALUE"
                        )
                    node[i] = {node[i]: {}}
                node = node[i]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    if node.get(part) is None:  # absent, or a step written `name:` with no settings
                        node[part] = {}
                    node = node[part]
            else:
                raise ConfigError(f"--set {key}: '{'.'.join(parts[:j])}' is not a mapping or list")
    return data


def parse_pipeline(data: Any, origin: str = "<config>") -> PipelineConfig:
    """Validate a raw mapping; raise ConfigError listing every problem before any work starts."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a pipeline is a YAML mapping with at least `inputs:`")
    plugins = data.get("plugins")
    if isinstance(plugins, list) and all(isinstance(m, str) for m in plugins):  # else validation says why
        try:
            step_classes([], plugins)  # the entry points and plugins, so their import errors show first
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from None
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = _explain(exc, PipelineConfig, "")
        if isinstance(data.get("steps"), list):
            with contextlib.suppress(ValueError):
                problems += _validate_steps([_step_entry(s, i) for i, s in enumerate(data["steps"])], "")
        raise ConfigError(f"{origin}: invalid pipeline\n  " + "\n  ".join(dict.fromkeys(problems))) from None
    problems = _validate_steps(config.steps, "") or _check_order(config.steps)
    if not problems:
        from curator.schema import DOCUMENT_SCHEMA

        problems = missing_columns(config.build_steps(), DOCUMENT_SCHEMA.names)
    if problems:
        raise ConfigError(f"{origin}: invalid pipeline\n  " + "\n  ".join(problems))
    return config


def read_yaml_file(path: str | Path, what: str) -> Any:
    """The parsed YAML of `path`; a missing file or bad YAML is a ConfigError naming the `what` (pipeline file...)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' not found")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def load_pipeline(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    """Read, override and validate a pipeline YAML file."""
    data = read_yaml_file(path, "pipeline file")
    if overrides:
        data = apply_overrides(data if isinstance(data, dict) else {}, overrides)
    return parse_pipeline(data, str(path))
