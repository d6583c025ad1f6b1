"""cbir.synth.primitives: rotations, the primitive model, bounding extents, per-instance draws."""

import numpy as np
import pytest

from cbir.synth.primitives import BOX, CYLINDER, ELLIPSOID, Model, Sampler, extents, frame, rotation, turn


@pytest.mark.parametrize("axis", [(0, 0, 1), (1, 2, 3), (1, 0, 0.01)])
def test_rotations_and_frames_are_proper_rotations(axis):
    for m in (rotation(axis, 37.0), frame(axis)):
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(m) == pytest.approx(1.0)
    np.testing.assert_allclose(frame(axis)[:, 2], np.asarray(axis) / np.linalg.norm(axis))
    np.testing.assert_allclose(turn((1, 0, 0), (0, 0, 1), 90), (0, 1, 0), atol=1e-12)  # right-hand rule


def test_extents_of_unit_primitives():
    model = Model()
    model.ellipsoid((0, 0, 0), (1, 2, 3))
    model.box((0, 0, 0), (1, 2, 3))
    model.cylinder((0, 0, 0), 1.0, 2.0, (0, 0, 1))
    prims = model.arrays()
    assert prims["kind"].tolist() == [ELLIPSOID, BOX, CYLINDER]
    ext, radius = extents(prims["kind"], prims["linear"])
    np.testing.assert_allclose(ext, [[1, 2, 3], [1, 2, 3], [1, 1, 2]])
    np.testing.assert_allclose(radius, [3, np.sqrt(14), 3])  # longest axis, corner, rim


def test_limb_spans_its_end_points():
    model = Model()
    model.limb((0, 0, 0), (0, 0, 2), 0.1, overhang=0.5)
    prims = model.arrays()
    np.testing.assert_allclose(prims["center"][0], (0, 0, 1))
    ext, _ = extents(prims["kind"], prims["linear"])
    np.testing.assert_allclose(ext[0], (0.1, 0.1, 1.05))


def test_sampler_variation_scales_the_ranges():
    mean = Sampler(np.random.default_rng(0), 0.0)
    assert mean.uniform(2.0, 4.0) == 3.0
    wide = Sampler(np.random.default_rng(0), 1.0)
    draws = [wide.uniform(2.0, 4.0) for _ in range(200)]
    assert 2.0 <= min(draws) < 2.2 and 3.8 < max(draws) <= 4.0
