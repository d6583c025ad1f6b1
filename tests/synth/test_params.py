"""cbir.synth.params: the factor grid, and renderer parameters whose defaults and ranges are the schema's."""

import dataclasses

import pytest
import yaml
from conftest import REPO

from cbir.config import SCHEMA_PATH, ConfigError, validate_config
from cbir.synth import params as synth_params
from cbir.synth.params import RenderParams


def _schema_section() -> dict:
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    return schema["properties"]["dataset"]["properties"]["synthetic"]["properties"]


def _default_config() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_full_grid_factor_values():
    assert synth_params.ELEVATIONS_DEG == tuple(range(30, 71, 5))
    assert synth_params.AZIMUTHS_DEG == tuple(range(0, 341, 20))
    assert len(synth_params.LIGHTINGS) == 6
    assert synth_params.IMAGE_SIZE == 96


def test_schema_config_and_renderer_parameters_match():
    """Every renderer parameter is a documented schema key with a default; the default config
    states the same values; the schema's defaults build the parameters."""
    properties = _schema_section()
    names = {field.name for field in dataclasses.fields(RenderParams)}
    assert set(properties) == {"seed"} | names
    config = _default_config()["dataset"]["synthetic"]
    for name, spec in properties.items():
        assert spec["description"], name
        assert config[name] == pytest.approx(spec["default"]), name
    RenderParams(**{name: properties[name]["default"] for name in names})


def test_unknown_parameter_is_named():
    with pytest.raises(TypeError, match="colour"):
        RenderParams(colour=1.0, **{f.name: 0.1 for f in dataclasses.fields(RenderParams)})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("colour", 1, "'dataset.synthetic.colour': unknown key"),
        ("blur", 0.5, "'dataset.synthetic.blur': 0.5 is greater than the maximum"),
        ("camera_distance", 1.0, "'dataset.synthetic.camera_distance': 1.0 is less than or equal to the minimum"),
        ("size_variation", 0.5, "'dataset.synthetic.size_variation': 0.5 is greater than or equal to the maximum"),
    ],
)
def test_out_of_range_parameters_are_rejected_by_the_schema(key, value, message):
    """The renderer trusts its parameters: the config schema holds their ranges."""
    config = _default_config()
    config["dataset"]["synthetic"][key] = value
    with pytest.raises(ConfigError, match=message):
        validate_config(config)
