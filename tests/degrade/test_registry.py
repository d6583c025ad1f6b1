"""cbir.degrade.registry: structural spec checks (ranges live in the config schema) and the spec choice."""

import numpy as np
import pytest

from cbir.degrade import DegradationError, check_spec, check_specs, degrade, spec_choices
from cbir.degrade.registry import PARAMETERS, check_indices, check_shape


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([{"name": "blur"}], "'blur': unknown"),
        ([{"name": "gaussian", "sigma": 0.1, "amount": 0.1}], "unknown parameter.*'amount'"),
        ([{"name": "gaussian"}], "missing parameter.*'sigma'"),
        ([{"name": "motion_blur", "sigma": 0.05, "zero_centre": True}], "missing parameter.*'T'"),
        ([{"name": "motion_blur", "sigma": 0.05, "T": 1.0}], "missing parameter.*'zero_centre'"),
        ([{"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": 1}], "'zero_centre'.*not a boolean"),
        ([{"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": "true"}], "'zero_centre'.*not a boolean"),
        ([{"name": "motion_blur", "sigma": True, "T": 1.0, "zero_centre": True}], "'sigma'.*not a number"),
        ([{"name": "speckle", "amount": "x"}], "'amount'.*not a number"),
        ([{"name": "salt_pepper", "amount": True}], "'amount'.*not a number"),
        ([{"name": "lowres", "level": 1.5}], "'level'.*not an integer"),
        ([{"name": "lowres", "level": 3}], "divisible by 8"),
        ([{"sigma": 0.1}], "'name'"),
        ({"name": "gaussian", "sigma": 0.1}, "list of specs"),
    ],
)
def test_bad_names_and_parameters_are_rejected_by_name(specs, message, smooth_images):
    with pytest.raises(DegradationError, match=message):
        degrade(smooth_images(2, 20), specs, seed=0, stream="t", rescale="minmax", threads=1)


def test_checked_specs_list_the_parameters_in_order_with_their_types():
    blur = {"zero_centre": np.bool_(True), "T": 1, "sigma": 0.05, "name": "motion_blur"}
    assert check_spec(blur) == {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True}
    assert list(check_spec(blur)) == ["name", "sigma", "T", "zero_centre"]
    assert type(check_spec(blur)["zero_centre"]) is bool and type(check_spec(blur)["T"]) is float
    assert check_spec({**blur, "zero_centre": False})["zero_centre"] is False
    level = check_spec({"name": "lowres", "level": np.int64(2)})["level"]
    assert level == 2 and type(level) is int
    assert type(check_spec({"name": "gaussian", "sigma": 1})["sigma"]) is float
    # Mappings that are not dicts (Snakemake's params) are read as dicts; the input is not changed.
    spec = {"name": "gaussian", "sigma": 0.2}
    assert check_specs([spec, {"name": "lowres", "level": 1}]) == [spec, {"name": "lowres", "level": 1}]
    assert check_specs([]) == []
    # The registry knows names, not values: every parameter has a type only.
    assert set(PARAMETERS) == {"gaussian", "salt_pepper", "speckle", "motion_blur", "lowres"}
    assert all(kind in (int, float, bool) for params in PARAMETERS.values() for kind in params.values())
    assert PARAMETERS["motion_blur"] == {"sigma": float, "T": float, "zero_centre": bool}


def test_shapes_and_indices_are_checked():
    with pytest.raises(DegradationError, match=r"\[N, H, W\]"):
        check_shape(np.zeros((2, 3, 4, 4)), [])
    check_shape(np.zeros((1, 8, 16)), [{"name": "lowres", "level": 3}])
    with pytest.raises(DegradationError, match="divisible by 4"):
        check_shape(np.zeros((1, 8, 18)), [{"name": "lowres", "level": 2}])
    np.testing.assert_array_equal(check_indices(3, None), [0, 1, 2])
    with pytest.raises(DegradationError, match="indices"):
        check_indices(3, [0, 1])
    with pytest.raises(DegradationError, match="indices"):
        check_indices(2, [0, -1])


def test_choice_is_uniform_and_seeded_per_stream_and_index():
    choice = spec_choices(3, seed=0, stream="noisy", indices=np.arange(30000))
    assert np.allclose(np.bincount(choice) / 30000, 1 / 3, atol=0.015)
    np.testing.assert_array_equal(choice[100:200], spec_choices(3, seed=0, stream="noisy", indices=np.arange(100, 200)))
    assert np.mean(choice != spec_choices(3, seed=1, stream="noisy", indices=np.arange(30000))) > 0.5
    assert np.mean(choice != spec_choices(3, seed=0, stream="blurry", indices=np.arange(30000))) > 0.5
