"""cbir.calibration: grid specs and the strength read off a drop curve, by hand."""

from __future__ import annotations

import pytest

from cbir.calibration import (
    ABOVE_GRID,
    BELOW_GRID,
    INTERPOLATED,
    CalibrationError,
    crossing,
    grid_specs,
    grids,
    rounded,
)

NOISY = [{"name": "gaussian", "sigma": 0.1}, {"name": "salt_pepper", "amount": 0.1}, {"name": "speckle", "amount": 0.1}]


def test_grid_specs_set_the_varied_parameters_and_keep_the_rest():
    specs = grid_specs(NOISY, {"gaussian": "sigma", "speckle": "amount"}, 0.25)
    assert specs == [
        {"name": "gaussian", "sigma": 0.25},
        {"name": "salt_pepper", "amount": 0.1},
        {"name": "speckle", "amount": 0.25},
    ]
    assert NOISY[0]["sigma"] == 0.1  # the config is not edited in place
    with pytest.raises(CalibrationError, match=r"'calibration.noisy.vary'.*motion_blur"):
        grid_specs(NOISY, {"motion_blur": "sigma"}, 0.2, where="calibration.noisy")


def test_grids_skip_sets_measured_at_their_configured_strength():
    calibration = {"noisy": {"drop": 49.5, "vary": {"gaussian": "sigma"}, "values": [0.1, 0.2]}, "lowres": {"drop": 10}}
    out = grids({"noisy": NOISY, "lowres": [{"name": "lowres", "level": 1}]}, calibration)
    assert list(out) == ["noisy"]
    assert [specs[0]["sigma"] for specs in out["noisy"]] == [0.1, 0.2]


def test_crossing_interpolates_at_the_first_crossing():
    # drops 0, 10, 30, 25, 60: the target 20 is crossed first between 0.2 and 0.3 (halfway)
    assert crossing([0.1, 0.2, 0.3, 0.4, 0.5], [0, 10, 30, 25, 60], 20) == (pytest.approx(0.25), INTERPOLATED)
    assert crossing([1, 2], [5, 15], 15) == (2.0, INTERPOLATED)  # reached exactly at a grid value


def test_crossing_outside_the_grid_says_so():
    assert crossing([0.1, 0.2], [30, 40], 20) == (0.1, BELOW_GRID)
    assert crossing([0.1, 0.2], [5, 10], 20) == (0.2, ABOVE_GRID)


@pytest.mark.parametrize(
    ("values", "drops", "match"),
    [
        ([0.1], [1.0], "at least two"),
        ([0.2, 0.1], [1, 2], "increase strictly"),
        ([0.1, 0.2], [1, float("nan")], "finite"),
    ],
)
def test_crossing_rejects_bad_curves(values, drops, match):
    with pytest.raises(CalibrationError, match=match):
        crossing(values, drops, 5)


def test_rounded_keeps_two_significant_digits():
    assert rounded(0.14237) == 0.14
    assert rounded(0.2561) == 0.26
    assert rounded(1.96) == 2.0
    assert rounded(0.0) == 0.0
