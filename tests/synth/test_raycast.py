"""cbir.synth.raycast: camera rig and ray-primitive intersection against closed forms."""

import dataclasses
import math

import numpy as np
import pytest

from cbir.synth.primitives import Model, extents
from cbir.synth.raycast import camera_frames, cast, pixel_coords


def _prims(model: Model) -> dict:
    prims = model.arrays()
    prims["A"] = np.linalg.inv(prims["linear"])
    prims["radius"] = extents(prims["kind"], prims["linear"])[1]
    return prims


def test_camera_rig(params):
    cams = camera_frames([30, 70], [0, 120, 340], params)
    assert cams["origin"].shape == (12, 3)  # elevation, azimuth, camera fastest
    for a, b in (("forward", "right"), ("forward", "up"), ("right", "up")):
        np.testing.assert_allclose((cams[a] * cams[b]).sum(1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(cams["forward"], axis=1), 1)
    assert (cams["up"][:, 2] > 0).all()  # upright
    left, right = cams["origin"][0::2], cams["origin"][1::2]
    np.testing.assert_allclose(np.linalg.norm(left - right, axis=1), params.stereo_baseline)
    np.testing.assert_allclose(np.linalg.norm((left + right) / 2, axis=1), params.camera_distance)
    np.testing.assert_allclose(np.degrees(np.arcsin(cams["origin"][:, 2] / params.camera_distance))[::6], [30, 70], 0.1)


@pytest.mark.parametrize("kind", ["ellipsoid", "box", "cylinder"])
def test_a_primitive_seen_head_on(params, kind):
    """One camera on the x axis (elevation 0) looking at a primitive of half size r at the
    origin: the nearest surface lies r in front of the centre, the silhouette has the
    projected size, every normal faces the camera."""
    params = dataclasses.replace(params, stereo_baseline=0.0)
    r, size = 0.5, 64
    model = Model()
    if kind == "ellipsoid":
        model.ellipsoid((0, 0, 0), (r, r, r))
    elif kind == "box":
        model.box((0, 0, 0), (r, r, r))
    else:
        model.cylinder((0, 0, 0), r, r, (1, 0, 0))  # a cap faces the camera
    cams = {k: v[:1] for k, v in camera_frames([0], [0], params).items()}
    geom = cast(_prims(model), cams, size, params)
    depth = geom["depth"][0]
    assert np.isfinite(depth).any()
    assert depth.min() == pytest.approx(params.camera_distance - r, abs=2e-3)  # pixel centres miss the axis
    half_px = size / 2 / math.tan(math.radians(params.field_of_view_deg) / 2)
    if kind == "box":
        side = 2 * r / (params.camera_distance - r) * half_px  # the front face, seen square
        assert (geom["prim"][0] >= 0).sum() == pytest.approx(side**2, rel=0.1)
    else:
        radius = r / (params.camera_distance - r) * half_px  # about, for a disc or a sphere's outline
        assert (geom["prim"][0] >= 0).sum() == pytest.approx(math.pi * radius**2, rel=0.15)
    assert geom["normal"].shape == (len(geom["index"]), 3)
    np.testing.assert_allclose(np.linalg.norm(geom["normal"], axis=1), 1)
    assert (geom["normal"] @ cams["forward"][0] < 0).all()  # facing the camera


def test_pixel_coords_span_the_field_of_view(params):
    u = pixel_coords(8, params)
    tan_half = math.tan(math.radians(params.field_of_view_deg) / 2)
    np.testing.assert_allclose(u, -u[::-1])
    assert -tan_half < u[0] < u[-1] < tan_half
