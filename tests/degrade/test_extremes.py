"""Every value the schema admits computes without overflow: the bounds of the degradations'
and the Wiener filter's parameters, read from the schema itself, give finite images that keep
their content (the trial's T 1e39 / 1e200 turned every image black with exit status 0)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import yaml
from degrade.conftest import make_smooth_images

from cbir.classical import wiener
from cbir.config import SCHEMA_PATH
from cbir.degrade import degrade
from cbir.imagemath import blanked

SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def _bounds(properties: dict, name: str) -> list[float]:
    """The extremes a number property admits: its maximum, and just above an exclusive minimum."""
    spec = properties[name]
    spec = next((s for s in spec.get("anyOf", [spec]) if s.get("type") == "number"), spec)
    low = spec["minimum"] if "minimum" in spec else spec["exclusiveMinimum"] + 1e-6
    return [low, spec["maximum"]]


def _degradation_properties(name: str) -> dict:
    for branch in SCHEMA["$defs"]["degradation"]["allOf"]:
        if branch["if"]["properties"]["name"]["const"] == name:
            return branch["then"]["properties"]
    raise KeyError(name)


def _extreme_specs():
    for name in ("gaussian", "salt_pepper", "speckle", "motion_blur"):
        props = _degradation_properties(name)
        numbers = [p for p, s in props.items() if p != "name" and "default" in s and s.get("type") == "number"]
        for p in numbers:
            for value in _bounds(props, p):
                spec = {q: s["default"] for q, s in props.items() if q != "name"} | {"name": name, p: value}
                yield pytest.param(spec, id=f"{name}-{p}={value:g}")


def test_the_schema_bounds_t_and_lr():
    assert _bounds(_degradation_properties("motion_blur"), "T")[1] == 100
    assert SCHEMA["$defs"]["recipe"]["properties"]["lr"]["maximum"] == 1


@pytest.mark.parametrize("spec", list(_extreme_specs()))
def test_degradations_at_the_schema_bounds_stay_finite_and_keep_the_images(spec):
    images = make_smooth_images(n=16, size=32)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out = degrade(images, [spec], seed=0, stream="extremes", rescale="minmax", threads=1)
    assert out.dtype == np.uint8 and not blanked(images, out).any()


@pytest.mark.parametrize("T", [1e-6, 1.0, 100.0])
@pytest.mark.parametrize("nsr", [1e-9, 10.0])
def test_wiener_at_the_schema_bounds_stays_finite(T, nsr):
    images = make_smooth_images(n=8, size=32)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise"):
        warnings.simplefilter("error")
        out = wiener(images, sigma=1.0, T=T, zero_centre=True, nsr=nsr)
    assert out.dtype == np.uint8 and not blanked(images, out).any()
