"""Fixtures of the renderer tests: renderer parameters as a run gets them (schema defaults)."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from cbir.config import SCHEMA_PATH
from cbir.synth import RenderParams

REPO = Path(__file__).resolve().parents[2]


def schema_defaults() -> dict:
    """The defaults of config `dataset.synthetic` (seed included), read from the schema."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    properties = schema["properties"]["dataset"]["properties"]["synthetic"]["properties"]
    return {name: spec["default"] for name, spec in properties.items()}


@pytest.fixture(scope="session")
def params() -> RenderParams:
    """The default renderer parameters."""
    return RenderParams(**{k: v for k, v in schema_defaults().items() if k != "seed"})


@pytest.fixture(scope="session")
def plain(params) -> RenderParams:
    """The defaults without noise and blur: exact background values."""
    return dataclasses.replace(params, noise=0.0, blur=0.0)
