"""The factor grid, the lighting conditions and the renderer parameters.

The grid is smallNORB's: elevation index 0..8 = 30..70 degrees by 5, azimuth index 0..17 =
0..340 degrees by 20, lighting 0..5, camera 0 (left) and 1 (right).
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE_SIZE = 96  # smallNORB's image side, pixels
ELEVATIONS_DEG = tuple(30 + 5 * i for i in range(9))
AZIMUTHS_DEG = tuple(20 * i for i in range(18))

# Lighting conditions: (ambient, background gain, lights). A light is (azimuth offset from
# the camera direction in degrees, positive to the camera's right; elevation in degrees;
# intensity). They mimic smallNORB's six: different directions and overall brightness.
LIGHTINGS = (
    (0.30, 1.00, ((-45.0, 40.0, 0.85),)),
    (0.30, 1.00, ((45.0, 40.0, 0.85),)),
    (0.32, 0.94, ((0.0, 80.0, 0.80),)),
    (0.22, 0.86, ((-85.0, 15.0, 0.95),)),
    (0.45, 1.08, ((0.0, 25.0, 0.55),)),
    (0.25, 0.95, ((-60.0, 45.0, 0.50), (60.0, 45.0, 0.50))),
)


@dataclass(frozen=True)
class RenderParams:
    """Renderer parameters: the config section `dataset.synthetic` without `seed`.

    Defaults, ranges and descriptions live in the config schema. Lengths are in the
    object's units: its bounding box's longest side is at most about 1.7.
    """

    camera_distance: float  # from the object's centre to each camera
    field_of_view_deg: float  # full horizontal (= vertical) angle of view
    stereo_baseline: float  # distance between the two cameras' centres
    shape_variation: float  # scales every per-instance random range of the builders (0: category means)
    size_variation: float  # instance scale factor drawn in 1 +- size_variation
    background: float  # background grey level, fraction of white (times the lighting's gain)
    specular: float  # strength of the specular highlights
    blur: float  # neighbour weight b of the separable blur kernel [b, 1 - 2b, b]
    noise: float  # standard deviation of Gaussian sensor noise, grey levels
