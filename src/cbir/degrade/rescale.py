"""From degraded float images back to uint8: the per-image rescale, and the grey-level scale.

The noises and the blur are computed on grey levels, 255 f (exact integers for 8-bit
images), and brought back to [0, 1] with a factor folded into their constants: the uint8
fast path then needs no division, and `cbir.degrade.degrade` equals the float definition
followed by `finish` bit for bit.
"""

from __future__ import annotations

import numpy as np

from cbir.degrade.registry import DegradationError

RESCALES = ("minmax", "clip")

GREY = np.float32(255)
INV_GREY = np.float32(1 / 255)


def grey(x: np.ndarray) -> np.ndarray:
    """float32 [n, H * W] grey levels 255 f: exactly p for f = float32(p) / 255, p in 0..255."""
    return np.multiply(x.reshape(len(x), -1), GREY, dtype=np.float32)


def grey_from_uint8(p: np.ndarray) -> np.ndarray:
    """float32 [n, H * W] grey levels of uint8 images (equal to `grey` of p / 255)."""
    return p.reshape(len(p), -1).astype(np.float32)


def check_rescale(rescale: str) -> None:
    if rescale not in RESCALES:
        raise DegradationError(f"rescale {rescale!r}: expected 'minmax' or 'clip'")


def _finish_params(g: np.ndarray, rescale: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (scale, offset) with uint8 = floor(clip(g * scale + offset, 0, 255))."""
    n = len(g)
    scale = np.full(n, 255, np.float32)
    if rescale == "minmax":
        lo = g.min(axis=1)
        span = g.max(axis=1) - lo
        flat = span <= 0  # a constant image stays as it is
        np.divide(np.float32(255), span, out=scale, where=~flat)
        offset = np.where(flat, np.float32(0.5), np.float32(0.5) - lo * scale)
    else:
        offset = np.full(n, 0.5, np.float32)
    return scale, offset.astype(np.float32)


def finish_into(g: np.ndarray, rescale: str, out: np.ndarray) -> None:
    """`finish` of float32 g [n, ...] into uint8 out [n, ...], overwriting g."""
    g = g.reshape(len(g), -1)
    scale, offset = _finish_params(g, rescale)
    g *= scale[:, None]
    g += offset[:, None]
    if rescale == "clip":  # min-max already lands in [0.5, 255.5] (up to rounding)
        np.clip(g, 0, 255, out=g)
    np.copyto(out.reshape(g.shape), g, casting="unsafe")  # truncation: floor, as g >= 0


def finish(g: np.ndarray, rescale: str) -> np.ndarray:
    """Float images -> uint8: each image min-max rescaled to [0, 1] (``minmax``, the reference
    code's convention; a constant image is kept as it is) or clipped to [0, 1] (``clip``),
    then rounded (half up) to 0..255."""
    check_rescale(rescale)
    g = np.array(g, dtype=np.float32)
    out = np.empty(g.shape, np.uint8)
    finish_into(g, rescale, out)
    return out
