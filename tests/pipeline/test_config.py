"""Pipeline YAML validation: every mistake is named, with a suggestion, before any work starts."""

import pytest
import yaml

from curator.errors import ConfigError
from curator.pipeline.config import apply_overrides, load_pipeline, parse_bytes, parse_pipeline

BASE = {"inputs": [{"path": "x.jsonl"}]}


def test_minimal_config_and_defaults():
    cfg = parse_pipeline(dict(BASE, steps=["normalize_text", {"length_filter": {"min_words": 5}}]))
    steps = cfg.build_steps()
    assert [s.name for s in steps] == ["normalize_text", "length_filter"] and steps[1].min_words == 5
    resolved = cfg.resolved()
    assert resolved["steps"][0]["normalize_text"]["form"] == "NFC"
    assert resolved["reader"]["max_doc_bytes"] == 10 << 20


def test_unknown_step_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"unknown step 'lenght_filter' \(did you mean 'length_filter'\?\)"):
        parse_pipeline(dict(BASE, steps=[{"lenght_filter": {}}]))


def test_unknown_step_key_suggests_the_closest():
    with pytest.raises(
        ConfigError,
        match=r"steps\[0\]\.length_filter\.min_word: unknown key 'min_word' "
        r"\(did you mean 'min_words'\?\)",
    ):
        parse_pipeline(dict(BASE, steps=[{"length_filter": {"min_word": 3}}]))


def test_unknown_top_level_and_nested_keys():
    with pytest.raises(ConfigError) as exc:
        parse_pipeline(dict(BASE, stepz=[], reader={"batch_row": 3}))
    msg = str(exc.value)
    assert "unknown key 'stepz' (did you mean 'steps'?)" in msg
    assert "reader.batch_row: unknown key 'batch_row' (did you mean 'batch_rows'?)" in msg


def test_wrong_types_and_missing_inputs():
    with pytest.raises(ConfigError, match=r"steps\[0\]\.length_filter\.min_words: .*integer.*\(got 'many'\)"):
        parse_pipeline(dict(BASE, steps=[{"length_filter": {"min_words": "many"}}]))
    with pytest.raises(ConfigError, match="inputs: required key is missing"):
        parse_pipeline({"steps": []})
    with pytest.raises(ConfigError, match="write a step as"):
        parse_pipeline(dict(BASE, steps=[{"a": {}, "b": {}}]))


def test_sizes():
    assert parse_bytes("16MiB") == 16 << 20 and parse_bytes("10MB") == 10_000_000 and parse_bytes(42) == 42
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes("lots")
    with pytest.raises(ConfigError, match="not a size"):
        parse_pipeline(dict(BASE, reader={"max_doc_bytes": "lots"}))


def test_overrides():
    data = {"inputs": [{"path": "a"}], "steps": [{"length_filter": {"min_words": 1}}]}
    apply_overrides(data, ["steps.0.length_filter.min_words=7", "executor.workers=2", "inputs.0.path=b"])
    cfg = parse_pipeline(data)
    assert cfg.build_steps()[0].min_words == 7 and cfg.executor.workers == 2 and cfg.inputs[0].path == "b"
    with pytest.raises(ConfigError, match="key=value"):
        apply_overrides(data, ["novalue"])
    with pytest.raises(ConfigError, match="not an index"):
        apply_overrides(data, ["inputs.5.path=x"])


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inputs: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(bad)
    bad.write_text("- just a list")
    with pytest.raises(ConfigError, match="YAML mapping"):
        load_pipeline(bad)


def test_shipped_pipelines_are_valid():
    from pathlib import Path

    from curator.loader.mixture import load_mixture
    from curator.train.config import load_train_config

    for path in sorted(Path(__file__).resolve().parents[2].joinpath("pipelines").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        if "domains" in data:  # a mixture file (curator mixture build)
            load_mixture(path)
        elif "mixture" in data:  # a training config (curator train)
            load_train_config(path)
        else:
            load_pipeline(path)


def test_overrides_reach_short_form_steps():
    data = {"inputs": [{"path": "a"}], "steps": ["exact_dedup", {"language_id": None}]}
    apply_overrides(data, ["steps.0.exact_dedup.lowercase=false", "steps.1.language_id.min_score=0.5"])
    steps = parse_pipeline(data).build_steps()
    assert steps[0].lowercase is False and steps[1].min_score == 0.5
    with pytest.raises(ConfigError, match=r"steps.0 is the step 'exact_dedup'; write steps.0.exact_dedup.KEY=VALUE"):
        apply_overrides({"steps": ["exact_dedup"]}, ["steps.0.minhash_dedup.bands=4"])


def test_two_steps_writing_one_stats_column_with_different_meanings_is_an_error():
    import pyarrow as pa

    from curator.pipeline.contracts import column_conflicts
    from curator.pipeline.step import Step, register_step, registered_steps

    @register_step
    class CountsWords(Step):
        name = "test_counts_words"
        stats_columns = {"content_words": pa.int64()}

    with pytest.raises(ConfigError, match=r"steps\[1\].test_counts_words: writes stats column 'content_words', "
                                          r"which steps\[0\].gopher_quality also writes"):  # fmt: skip
        parse_pipeline({"inputs": [{"path": "a"}], "steps": ["gopher_quality", "test_counts_words"]})
    # the built-in steps only share columns by design (dedup clusters, DSIR weights): all of them in one list
    assert column_conflicts([c for n, c in registered_steps().items() if not n.startswith("test_")]) == []
    parse_pipeline({"inputs": [{"path": "a"}], "steps": ["exact_dedup", "minhash_dedup", "unique_ids",
                                                         "gopher_repetition", "fineweb_quality"]})  # fmt: skip


def test_a_step_whose_package_is_missing_says_what_to_install():
    from curator.pipeline.step import Step, register_step

    @register_step
    class NeedsPackage(Step):
        name = "test_needs_package"
        packages = {"curator_no_such_module": "curator-no-such-package>=1"}

    message = r"test_needs_package: needs the package 'curator_no_such_module', .*'curator-no-such-package>=1'"
    with pytest.raises(ConfigError, match=message):
        parse_pipeline({"inputs": [{"path": "a"}], "steps": ["test_needs_package"]})


def test_ray_settings_without_kind_ray_are_refused():
    for executor in ({"address": "auto"}, {"cpus_per_worker": 0.5}, {"mode": "tasks"}):
        with pytest.raises(ConfigError, match="only to kind: ray"):
            parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": [], "executor": executor})
    # the default mode, as a local run's resolved config.yaml holds it, is not an error
    parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": [], "executor": {"kind": "local", "mode": "data"}})


def test_kind_ray_without_ray_installed_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # what Python sees when the ray extra is not installed
    with pytest.raises(ConfigError, match=r"pip install 'curator\[ray\]'"):
        parse_pipeline({"inputs": [{"path": "x.jsonl"}], "steps": [], "executor": {"kind": "ray"}})
