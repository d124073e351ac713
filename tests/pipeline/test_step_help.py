"""`curator steps` text: readable types, defaults (required, factories), whole descriptions and purposes."""

from typing import Annotated, Literal

from pydantic import Field

from curator.pipeline.step import Step
from curator.pipeline.step_help import default_text, purpose, step_help, type_name


class _Example(Step):
    """First paragraph, which runs
    over two lines.

    Second paragraph.
    """

    name = "example"
    path: str = Field(description="where " + "very " * 30 + "far")
    mode: Literal["a", "b"] = "a"
    limit: Annotated[int | None, Field(ge=0)] = None
    pairs: dict[str, tuple[int, ...]] = Field(default_factory=lambda: {"x": (1, 2)})
    needs_data: list[int] = Field(default_factory=lambda data: [data["limit"]])


class _Undocumented(_Example):
    name = "undocumented"


def test_type_names():
    fields = _Example.model_fields
    assert type_name(fields["path"].annotation) == "str"
    assert type_name(fields["mode"].annotation) == "'a' | 'b'"
    assert type_name(fields["limit"].annotation) == "int | None"
    assert type_name(fields["pairs"].annotation) == "dict[str, tuple[int, ...]]"


def test_defaults():
    fields = _Example.model_fields
    assert default_text(fields["path"]) == "required"
    assert default_text(fields["limit"]) == "None"
    assert default_text(fields["pairs"]) == "{'x': (1, 2)}"
    assert default_text(fields["needs_data"]) == "<from <lambda>()>"  # a factory needing other fields' values


def test_step_help_wraps_and_keeps_everything():
    lines = step_help("example", _Example, width=60)
    assert all(len(line) <= 60 for line in lines)
    text = " ".join(" ".join(lines).split())
    assert text.startswith("example: First paragraph, which runs over two lines. path: str = required")
    assert "where " + "very " * 30 + "far" in text and "Second paragraph" not in text
    assert purpose(_Undocumented) == ""
    assert step_help("undocumented", _Undocumented)[0] == "undocumented: (no description)"
