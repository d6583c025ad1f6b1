"""The paper's degradation models (section III.C), batched and seeded.

Every degradation maps a batch of clean images to degraded ones, one spec of a list drawn
per image; `finish` rescales each image to [0, 1] (per-image min-max, the reference code's
convention, or a clip) and quantises it to uint8. Grey batches are uint8 [N, H, W]; colour
batches, uint8 [N, H, W, 3] (RGB), are degraded per channel plane with one spec per image, the
image's blur direction for all channels, independent noise per channel and the rescale per
channel (``minmax`` can shift the colour balance, ``clip`` cannot): see `batch`.
Modules, bottom up:

- `random`: counter-based random numbers keyed by `cbir.seeding.stream_key(seed, stream)`,
  so an image's result depends only on (seed, stream, image index);
- `registry`: names, parameter names, spec checks and the per-image spec choice;
- `rescale`: the finish and the grey-level scale;
- `noise`, `motion`, `lowres`: the models and their fast uint8 kernels;
- `batch`: `degrade`, the production path (blocks of images on a thread pool), grey and colour;
- `reference`: the float definitions (`degrade_float`, grey), the reference of tests and benchmarks.
"""

from cbir.degrade.batch import degrade
from cbir.degrade.motion import blur_with, motion_transfer
from cbir.degrade.noise import normal_quantiles
from cbir.degrade.random import CounterRandom
from cbir.degrade.reference import DEFINITIONS, degrade_float
from cbir.degrade.registry import (
    KIND_OF,
    KINDS,
    NAMES,
    PARAMETERS,
    DegradationError,
    channel_stream,
    check_spec,
    check_specs,
    kind_of,
    spec_choices,
)
from cbir.degrade.rescale import RESCALES, finish

__all__ = [
    "DEFINITIONS",
    "KINDS",
    "KIND_OF",
    "NAMES",
    "PARAMETERS",
    "RESCALES",
    "CounterRandom",
    "DegradationError",
    "blur_with",
    "channel_stream",
    "check_spec",
    "check_specs",
    "degrade",
    "degrade_float",
    "finish",
    "kind_of",
    "motion_transfer",
    "normal_quantiles",
    "spec_choices",
]
