"""cbir.tuning and the config's `auto` parameters: grid points, the choice, the resolved parameters."""

from __future__ import annotations

import copy
import re

import pytest

from cbir.config import ConfigError, check_tuning, validate_config
from cbir.tuning import auto_params, choose, grid_points, resolve

MEDIAN = {"method": "median", "size": "auto", "grid": {"size": [3, 5, 7]}}
NLMEANS = {"method": "nlmeans", "h": "auto", "template_size": 5, "search_size": 11, "grid": {"h": [10, 15, 25, 35]}}
WIENER = {
    "method": "wiener",
    "sigma": 0.05,
    "T": 1.0,
    "zero_centre": True,
    "nsr": "auto",
    "grid": {"nsr": [0.03, 0.1, 0.3, 1.0]},
}


def test_auto_params_in_the_enhancers_order():
    assert auto_params(MEDIAN) == ["size"]
    assert auto_params({"method": "nlmeans", "search_size": "auto", "h": "auto", "template_size": 5}) == [
        "search_size",
        "h",
    ]
    assert auto_params({"method": "median", "size": 3}) == []
    assert auto_params({"method": "bicubic"}) == []


def test_grid_points_are_the_product_in_the_grids_order():
    enhancer = {
        "method": "nlmeans",
        "h": "auto",
        "template_size": 5,
        "search_size": "auto",
        "grid": {"search_size": [21, 7], "h": [10, 30, 20]},
    }
    points = grid_points(enhancer)
    assert [(p["search_size"], p["h"]) for p in points] == [
        (21, 10),
        (21, 30),
        (21, 20),
        (7, 10),
        (7, 30),
        (7, 20),
    ]
    for point in points:  # full parameter dicts, with method, without the grid
        assert point.keys() == {"method", "h", "template_size", "search_size"}
        assert point["method"] == "nlmeans" and point["template_size"] == 5
    assert grid_points(MEDIAN) == [{"method": "median", "size": s} for s in (3, 5, 7)]
    assert "grid" in MEDIAN and MEDIAN["size"] == "auto"  # the enhancer itself is untouched
    # Nothing auto: the single point is the enhancer.
    assert grid_points({"method": "median", "size": 5}) == [{"method": "median", "size": 5}]


@pytest.mark.parametrize(
    "enhancer",
    [
        {"method": "median", "size": "auto"},
        {"method": "median", "size": 3, "grid": {"size": [3, 5]}},
        {"method": "median", "size": "auto", "grid": {"size": []}},
    ],
)
def test_grid_points_reject_a_grid_that_disagrees(enhancer):
    with pytest.raises(ValueError, match="enhancer 'den'"):
        grid_points(enhancer, "den")


def test_resolve_replaces_the_autos():
    assert resolve(WIENER, {"nsr": 0.1}) == {
        "method": "wiener",
        "sigma": 0.05,
        "T": 1.0,
        "zero_centre": True,
        "nsr": 0.1,
    }
    assert resolve({"method": "median", "size": 5}, None) == {"method": "median", "size": 5}
    assert resolve({"method": "bicubic"}, {}) == {"method": "bicubic"}
    both = {"method": "wiener", "sigma": 0.05, "T": 1.0, "zero_centre": "auto", "nsr": "auto"}
    both["grid"] = {"zero_centre": [False, True], "nsr": [0.3, 1.0]}
    resolved = resolve(both, {"nsr": 1.0, "zero_centre": False})
    assert resolved == {"method": "wiener", "sigma": 0.05, "T": 1.0, "zero_centre": False, "nsr": 1.0}
    assert resolved["zero_centre"] is False


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        (None, "enhancer 'nl': parameter(s) h are auto but have no tuned value"),
        ({}, "enhancer 'nl': parameter(s) h are auto but have no tuned value"),
        ({"h": 15, "search_size": 7}, "enhancer 'nl': tuned values for search_size, which are not auto"),
        ({"h": 20}, "enhancer 'nl': tuned h = 20 is not in grid.h [10, 15, 25, 35]"),
    ],
)
def test_resolve_names_the_enhancer_when_the_choice_does_not_fit(chosen, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        resolve(NLMEANS, chosen, "nl")
    with pytest.raises(ValueError, match="enhancer with method 'nlmeans'"):
        resolve(NLMEANS, chosen)


def test_resolve_keeps_booleans_and_numbers_apart():
    enhancer = {**WIENER, "nsr": 0.3, "zero_centre": "auto", "grid": {"zero_centre": [True, False]}}
    assert resolve(enhancer, {"zero_centre": True})["zero_centre"] is True
    with pytest.raises(ValueError, match="not in grid.zero_centre"):
        resolve(enhancer, {"zero_centre": 1})


@pytest.mark.parametrize(
    ("scores", "best"),
    [
        ([0.5], 0),
        ([10.0, 30.0, 20.0], 1),
        ([30.0, 30.0, 20.0], 0),  # a tie goes to the earlier grid point
        ([10.0, 40.0, 40.0, 40.0], 1),
        ([0.0, 0.0], 0),
        ([5, 7.5, 7.5], 1),
    ],
)
def test_choose_takes_the_best_ties_to_the_first(scores, best):
    assert choose(scores) == best


@pytest.mark.parametrize("scores", [[], [1.0, float("nan")], [float("inf")]])
def test_choose_rejects_nothing_or_non_finite(scores):
    with pytest.raises(ValueError):
        choose(scores)


# ---------------------------------------------------------------------------------------
# config: schema and check_tuning
# ---------------------------------------------------------------------------------------


def config_with(**enhancers) -> dict:
    return {
        "queries": {"clean": [], "noisy": [{"name": "salt_pepper"}], "blurry": [{"name": "motion_blur"}]},
        "enhancers": copy.deepcopy(enhancers),
    }


def validated(config: dict) -> dict:
    config = validate_config(config)
    check_tuning(config)
    return config


def test_auto_parameters_with_grids_validate():
    config = validated(config_with(median=MEDIAN, nlmeans=NLMEANS, wiener=WIENER))
    assert config["enhancers"] == {"median": MEDIAN, "nlmeans": NLMEANS, "wiener": WIENER}  # nothing filled over auto
    # Every parameter of a method may be auto at once; a grid value may be any value the parameter takes.
    everything = {
        "method": "wiener",
        **dict.fromkeys(("sigma", "T", "zero_centre", "nsr"), "auto"),
        "grid": {"sigma": [0.01, 1], "T": [0.5, 2], "zero_centre": [False, True], "nsr": [10]},
    }
    assert len(grid_points(validated(config_with(wiener=everything))["enhancers"]["wiener"])) == 8


def test_fixed_parameters_keep_their_defaults():
    config = validated(
        config_with(median={"method": "median"}, nlmeans={"method": "nlmeans", "h": "auto", "grid": {"h": [5]}})
    )
    assert config["enhancers"]["median"] == {"method": "median", "size": 3}
    assert config["enhancers"]["nlmeans"] == {
        "method": "nlmeans",
        "h": "auto",
        "template_size": 5,
        "search_size": 11,
        "grid": {"h": [5]},
    }


@pytest.mark.parametrize(
    ("enhancer", "message"),
    [
        # schema
        (
            {"method": "median", "size": "auto", "grid": {"size": [3, 4]}},
            "'enhancers.median.grid.size.1': 4 is not one of [3, 5, 7]",
        ),
        (
            {"method": "median", "size": "auto", "grid": {"size": []}},
            "'enhancers.median.grid.size': [] should be non-empty",
        ),
        ({"method": "median", "size": "auto", "grid": {}}, "'enhancers.median.grid': {} should be non-empty"),
        (
            {"method": "median", "size": "auto", "grid": {"size": [3, 3]}},
            "'enhancers.median.grid.size': [3, 3] has non-unique elements",
        ),
        (
            {"method": "median", "size": "auto", "grid": {"size": 3}},
            "'enhancers.median.grid.size': 3 is not of type 'array'",
        ),
        (
            {"method": "median", "size": "auto", "grid": {"size": ["auto"]}},
            "'enhancers.median.grid.size.0': 'auto' is not one of [3, 5, 7]",
        ),
        (
            {"method": "median", "size": "auto", "grid": {"h": [10]}},
            "'enhancers.median.grid': 'h' does not match any of the regexes: '^size$'",
        ),
        ({"method": "median", "size": "automatic"}, "'enhancers.median.size': 'automatic' is not valid under any"),
        ({"method": "median", "size": 4}, "'enhancers.median.size': 4 is not one of [3, 5, 7]"),
        (
            {"method": "nlmeans", "h": "auto", "grid": {"h": [10, 0]}},
            "'enhancers.median.grid.h.1': 0 is less than or equal to the minimum of 0",
        ),
        (
            {"method": "nlmeans", "h": "auto", "grid": {"h": [101]}},
            "'enhancers.median.grid.h.0': 101 is greater than the maximum of 100",
        ),
        (
            {"method": "wiener", "zero_centre": "auto", "grid": {"zero_centre": [0, 1]}},
            "'enhancers.median.grid.zero_centre.0': 0 is not of type 'boolean'",
        ),
        ({"method": "bicubic", "grid": {}}, "'enhancers.median.grid': unknown key"),
        # check_tuning
        (
            {"method": "median", "size": "auto"},
            "config key 'enhancers.median.grid': parameter 'size' is auto but has no grid",
        ),
        (
            {"method": "median", "grid": {"size": [3, 5]}},
            "config key 'enhancers.median.grid': grid names 'size' but size is not auto",
        ),
        (
            {"method": "nlmeans", "h": "auto", "template_size": 5, "grid": {"h": [10], "template_size": [3, 5]}},
            "config key 'enhancers.median.grid': grid names 'template_size' but template_size is not auto",
        ),
        (
            {"method": "nlmeans", "h": "auto", "search_size": "auto", "grid": {"h": [10]}},
            "config key 'enhancers.median.grid': parameter 'search_size' is auto but has no grid",
        ),
    ],
)
def test_bad_tuning_is_named(enhancer, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validated(config_with(median=enhancer))


def test_check_tuning_passes_networks_and_fixed_methods():
    config = validate_config(
        {
            "queries": {"clean": [], "noisy": [{"name": "gaussian"}]},
            "enhancers": {
                "denoiser": {"network": "residual", "degradations": [{"name": "gaussian"}]},
                "median": {"method": "median", "size": 5},
                "lanczos": {"method": "lanczos"},
            },
        }
    )
    check_tuning(config)
    check_tuning({"enhancers": {}})
