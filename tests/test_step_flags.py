"""The shortcut commands' flags come from the step models: one per field, with its default and description, and
a bad value is reported by its flag (once), not by a pipeline path."""

from typing import ClassVar

import pytest
import typer
import yaml
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from curator.cli import app
from curator.cli.dedup import DEDUP_FLAGS
from curator.cli.dsir import DSIR_FLAGS
from curator.cli.step_flags import FlagSpec, with_step_flags
from tests.conftest import synthetic_docs, write_jsonl

runner = CliRunner()
SHORTCUTS = [("dedup", DEDUP_FLAGS), ("dsir", DSIR_FLAGS)]


@pytest.mark.parametrize(("command", "spec"), SHORTCUTS, ids=[c for c, _ in SHORTCUTS])
def test_every_field_of_the_step_models_has_a_flag_with_the_models_default(command, spec):
    params = {opt: p for p in typer.main.get_command(app).commands[command].params for opt in p.opts}
    for model in spec.models:
        for name, info in model.model_fields.items():
            flag = spec.flag(name)
            assert flag in params, f"{model.name}.{name} has no flag {flag}"
            if name not in spec.given and not info.is_required():
                default = params[flag].default
                assert default == info.default or default == str(info.default), (name, default, info.default)


@pytest.mark.parametrize(("command", "spec"), SHORTCUTS, ids=[c for c, _ in SHORTCUTS])
def test_help_lists_each_fields_description(command, spec):
    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "2000"})
    assert res.exit_code == 0, res.output
    for model in spec.models:
        for name, info in model.model_fields.items():
            if name not in spec.given:
                text = spec.help.get(name, info.description or "")
                assert text in res.output, f"--help lacks the description of {model.name}.{name}: {text!r}"
    assert f"{spec.models[0].name} step" in res.output  # the step's flags are grouped under its name


def test_dedup_flags_reach_the_step(tmp_path):
    write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(20))
    args = ["dedup", str(tmp_path / "in"), "-o", str(tmp_path / "run"), "-w", "1", "-q", "--no-exact"]
    res = runner.invoke(app, [*args, "-b", "20", "--rows", "5", "--seed", "3", "--memory-budget", "1MiB"])
    assert res.exit_code == 0, res.output
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    [step] = config["steps"]
    params = step["minhash_dedup"]
    assert (params["bands"], params["rows"], params["seed"], params["memory_budget"]) == (20, 5, 3, 1 << 20)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["dedup", "{t}", "-o", "{t}/r", "--threshold", "2"], "--threshold: Input should be less than or equal to 1"),
        (["dedup", "{t}", "-o", "{t}/r", "--keep", "bogus"], "--keep: Input should be 'first', 'longest' or 'score'"),
        (["dedup", "{t}", "-o", "{t}/r", "--memory-budget", "3XB"], "--memory-budget: '3XB' is not a size"),
        (["dedup", "{t}", "-o", "{t}/r", "-b", "64", "-r", "4"], "--bands x --rows = 64 x 4 = 256 exceeds --num-perm"),
        (["dedup", "{t}", "-o", "{t}/r", "--keep", "score"], "--keep: score needs --score-column"),
        (["dedup", "{t}", "-o", "{t}/r", "--keep", "score", "--score-column", "q"], "needs column 'q'"),
        (["dsir", "-i", "{t}", "-t", "{t}", "-o", "{t}/r", "-k", "2", "--ngrams", "9"], "--ngrams: Input should be"),
        (["dsir", "-i", "{t}", "-t", "{t}", "-o", "{t}/r", "-k", "2", "--heldout", "1"], "--heldout: Input should be"),
        (["dsir", "-i", "{t}", "-t", "{t}", "-o", "{t}/r"], "give exactly one of --k (documents) or --fraction"),
        (
            ["dsir", "-i", "{t}", "-t", "{t}", "-o", "{t}/r", "-k", "2", "--compare-fasttext", "{t}/no.bin"],
            "--compare-fasttext: fastText model",
        ),
    ],
    ids=lambda x: x[-2] if isinstance(x, list) else None,
)
def test_a_bad_value_is_reported_once_by_the_flag_the_user_typed(tmp_path, args, expected):
    res = runner.invoke(app, [a.format(t=tmp_path) for a in args])
    assert res.exit_code == 2, res.output
    assert "invalid options" in res.output and expected in res.output
    assert res.output.count(expected) == 1  # not once per step that has the field
    assert "steps[" not in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # refused before any work


class _Toy(BaseModel):
    name: ClassVar[str] = "toy"
    size: int = Field(3, ge=1, description="how many")
    shape: tuple[int, int] = (1, 2)


def test_a_field_without_a_command_line_form_fails_when_the_command_is_made():
    with pytest.raises(TypeError, match=r"_Toy.shape: no command-line form"):
        with_step_flags(FlagSpec(models=(_Toy,)), "toy")(lambda flags=None: None)
    made = with_step_flags(FlagSpec(models=(_Toy,), given={"shape": "--shape"}), "toy")(lambda flags=None: flags)
    assert made(size=5).steps((_Toy, {"shape": (2, 3)})) == [{"toy": {"size": 5, "shape": (2, 3)}}]
