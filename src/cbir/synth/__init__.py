"""The embedded smallNORB surrogate: toy-like objects rendered procedurally, as arrays.

Fifty objects, five categories times ten instances (`shapes`), each a union of solid
primitives (`primitives`), seen over smallNORB's factor grid (`params`: 9 elevations,
18 azimuths, 6 lightings, a verged stereo pair of cameras): rays are cast once per view
(`raycast`), then shaded under every lighting, blurred and given sensor noise (`render`).
Azimuth turns the object (a turntable): lights stay fixed relative to the cameras. The same
seed and parameters give the same bytes, whatever the worker count. Nothing here touches
files: `cbir.stages.data.synthesize` writes the six official files.

Difficulty: with the default parameters, nearest neighbour on raw pixels (training split as
gallery, test images as queries) scores about 73% top-1 at 96 px and 76% at 32 px
(benchmarks/pixel_nn.py), close to the 80% reported for the real smallNORB. Trucks and cars
are the most confused pair, as in the real data. Speed: benchmarks/synth.py.
"""

from cbir.synth.params import AZIMUTHS_DEG, ELEVATIONS_DEG, IMAGE_SIZE, LIGHTINGS, RenderParams
from cbir.synth.render import background_level, render_grid, render_views
from cbir.synth.shapes import build_instance

__all__ = [
    "AZIMUTHS_DEG",
    "ELEVATIONS_DEG",
    "IMAGE_SIZE",
    "LIGHTINGS",
    "RenderParams",
    "background_level",
    "build_instance",
    "render_grid",
    "render_views",
]
