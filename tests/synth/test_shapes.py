"""cbir.synth.shapes: the category builders and the placed, scaled objects."""

import numpy as np
import pytest

from cbir.norb import CATEGORIES
from cbir.synth.shapes import BUILDERS, build_instance


def test_one_builder_per_category():
    assert len(BUILDERS) == len(CATEGORIES)


def test_primitives_are_well_formed(params):
    for category in range(5):
        prims = build_instance(category, 9, seed=3, params=params)
        n = len(prims["kind"])
        assert 6 <= n <= 40
        np.testing.assert_allclose(
            np.einsum("pij,pjk->pik", prims["A"], prims["linear"]), np.tile(np.eye(3), (n, 1, 1)), atol=1e-9
        )
        assert (np.linalg.norm(prims["center"], axis=1) + prims["radius"] < 1.6).all()


def test_an_instance_depends_on_seed_and_instance_only(params):
    first, again = (build_instance(2, 5, seed=1, params=params) for _ in range(2))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    other_seed = build_instance(2, 5, seed=2, params=params)
    other_instance = build_instance(2, 6, seed=1, params=params)
    for other in (other_seed, other_instance):
        assert len(other["kind"]) != len(first["kind"]) or not np.allclose(other["center"], first["center"])


def test_factor_indices_are_checked(params):
    with pytest.raises(ValueError, match="category 5"):
        build_instance(5, 0, seed=0, params=params)
    with pytest.raises(ValueError, match="instance 10"):
        build_instance(0, 10, seed=0, params=params)
