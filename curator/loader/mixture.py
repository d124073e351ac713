"""The mixture file (mixture.yaml): domains with their sources and weights, the store, packing and the seed."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from curator.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RunSource(_Strict):
    """Documents of one or more run folders chosen by a SQL predicate over their `docs` view (kept ones only:
    only kept documents have text in output/)."""

    run: str | list[str] = Field(description="run folder(s) of `curator run`")
    where: str = Field("TRUE", description="SQL predicate over the docs view, e.g. \"source = 'code'\"")

    def runs(self) -> list[str]:
        return [self.run] if isinstance(self.run, str) else list(self.run)


class PathSource(_Strict):
    """Documents of JSONL/Parquet files, folders or globs."""

    paths: list[str] = Field(min_length=1)
    text_field: str = "text"
    id_field: str = "id"


class BucketsSource(_Strict):
    """The sequences of a Dataset Decomposition run (its buckets/)."""

    buckets: str = Field(description="a run folder whose pipeline ended with dataset_decomposition")


def _source_kind(value: Any) -> str | None:
    """Which source a `from:` mapping is, by its key: run (+ where), paths, or buckets."""
    if isinstance(value, BaseModel):
        return {RunSource: "run", PathSource: "paths", BucketsSource: "buckets"}.get(type(value))
    if isinstance(value, dict):
        for key in ("run", "paths", "buckets"):
            if key in value:
                return key
    return None


SourceUnion = (
    Annotated[RunSource, Tag("run")] | Annotated[PathSource, Tag("paths")] | Annotated[BucketsSource, Tag("buckets")]
)
SOURCES = {"run": RunSource, "paths": PathSource, "buckets": BucketsSource}


class DomainConfig(_Strict):
    """One domain of the mixture."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="letters, digits, _ . -")
    weight: float = Field(description="initial sampling weight (the weights sum to 1)")
    max_epochs: float | None = Field(None, gt=0, description="stop sampling the domain after this many passes")
    source: Annotated[SourceUnion, Discriminator(_source_kind)] | None = Field(
        None, alias="from", description="where `curator mixture build` takes the documents from"
    )

    @field_validator("weight")
    @classmethod
    def _finite(cls, w: float) -> float:
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"a weight must be a finite number >= 0, got {w}")
        return w


class MixtureConfig(_Strict):
    """A whole mixture: what `curator mixture build` builds and what `MixtureDataset` samples from."""

    name: str = "mixture"
    store: str = Field(description="token store folder (built by `curator mixture build`)")
    tokenizer: str | None = Field(None, description="tokenizer.json; the store is checked against it")
    seq_len: int = Field(2048, ge=1, description="tokens per sample (labels are the next tokens)")
    packing: Literal["packed", "buckets"] = Field(
        "packed",
        description="packed: documents concatenated, cut into seq_len windows; buckets: Dataset Decomposition "
        "sequences, one length 2^i per step, global_batch x seq_len / 2^i of them (seq_len = the longest)",
    )
    global_batch: int = Field(8, ge=1, description="samples per optimizer step over all ranks")
    horizon: int = Field(3, ge=1, description="a weight change at step t applies from step t + horizon")
    seed: int = Field(0, ge=0)
    normalize_weights: bool = Field(False, description="scale the weights to sum 1 instead of refusing them")
    holdout: float = Field(
        0.02,
        ge=0,
        lt=0.5,
        description="share of each domain's documents kept out of training for validation (chosen by a hash "
        "of the document id; 0: none)",
    )
    domains: list[DomainConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights(self):
        names = [d.name for d in self.domains]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"domain names must be unique; repeated: {', '.join(dupes)}")
        total = sum(d.weight for d in self.domains)
        if total <= 0:
            raise ValueError("the domain weights are all 0; give at least one domain a positive weight")
        if abs(total - 1.0) > 1e-6:
            if not self.normalize_weights:
                raise ValueError(f"the domain weights sum to {total:g}, not 1; fix them or set normalize_weights: true")
            for d in self.domains:
                d.weight = d.weight / total
        return self

    @property
    def weights(self) -> list[float]:
        return [d.weight for d in self.domains]

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.domains]


def parse_mixture(data: Any, origin: str = "<mixture>", base: Path | None = None) -> MixtureConfig:
    """Validate a mapping; every problem in one ConfigError, unknown keys with a did-you-mean."""
    from curator.pipeline.config import _explain

    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: a mixture is a YAML mapping with `store:` and `domains:`")
    try:
        return MixtureConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_tidy(p) for p in _explain(exc, MixtureConfig, "")]
        raise ConfigError(f"{origin}: invalid mixture\n  " + "\n  ".join(dict.fromkeys(problems))) from None


def _tidy(problem: str) -> str:
    from curator.pipeline.step import suggest

    m = re.search(r"from\.(run|paths|buckets)\.\w+: unknown key '(\w+)'; valid keys: $", problem)
    if m:
        fields = list(SOURCES[m.group(1)].model_fields)
        problem = problem[: m.end(2) + 1] + f"{suggest(m.group(2), fields)}; valid keys: {', '.join(fields)}"
    if "valid keys: name, weight, max_epochs, source" in problem:  # the YAML key is `from`
        problem = problem.replace("max_epochs, source", "max_epochs, from")
    problem = problem.replace("Unable to extract tag using discriminator _source_kind()", SOURCE_HELP)
    return problem


SOURCE_HELP = "give one of: {run: RUN_DIR, where: SQL}, {paths: [GLOB, ...]}, {buckets: RUN_DIR}"


def load_mixture(path: str | Path) -> MixtureConfig:
    """Read and validate a mixture YAML file."""
    from curator.pipeline.config import read_yaml_file

    return parse_mixture(read_yaml_file(path, "mixture file"), str(path))
