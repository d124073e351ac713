"""The mixture file: every bad-input path gives one clear ConfigError naming the key."""

import pytest

from curator.errors import ConfigError
from curator.loader.mixture import load_mixture, parse_mixture


def _mix(**over):
    data = {"store": "s", "domains": [{"name": "a", "weight": 0.6}, {"name": "b", "weight": 0.4}]}
    data.update(over)
    return data


@pytest.mark.parametrize(
    "data, message",
    [
        (_mix(seq_lenn=4), "unknown key 'seq_lenn' \\(did you mean 'seq_len'\\?\\)"),
        (_mix(domains=[{"name": "a", "weight": -0.1}, {"name": "b", "weight": 1.1}]), "finite number >= 0"),
        (_mix(domains=[{"name": "a", "weight": float("nan")}]), "finite number >= 0, got nan"),
        (_mix(domains=[{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.6}]), "sum to 1.1, not 1"),
        (_mix(domains=[{"name": "a", "weight": 0.0}]), "all 0"),
        (_mix(domains=[]), "domains"),
        (_mix(domains=[{"name": "a", "weight": 0.5}, {"name": "a", "weight": 0.5}]), "repeated: a"),
        (_mix(domains=[{"name": "a b", "weight": 1.0}]), "domains.0.name"),
        (_mix(domains=[{"name": "a", "weight": 1.0, "from": {"runn": "r"}}]), "give one of: \\{run"),
        (_mix(domains=[{"name": "a", "weight": 1.0, "from": {"run": "r", "wher": "x"}}]), "did you mean 'where'"),
        (_mix(packing="bucket"), "packing"),
        (_mix(horizon=0), "horizon"),
    ],
)
def test_bad_mixtures_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        parse_mixture(data, "m.yaml")


def test_weights_are_normalised_only_when_asked():
    m = parse_mixture(_mix(normalize_weights=True, domains=[{"name": "a", "weight": 3}, {"name": "b", "weight": 1}]))
    assert m.weights == [0.75, 0.25]


def test_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_mixture(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("store: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_mixture(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="a mixture is a YAML mapping"):
        load_mixture(bad)
