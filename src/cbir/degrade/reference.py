"""The float definitions of the degradations: the reference for the tests and benchmarks.

Each maps a batch of clean images f (float32 [n, H, W] in [0, 1]) and its random source
to the degraded float batch g, before the finish. The fast uint8 kernels equal these
followed by `finish` bit for bit (lowres: to a grey level, at ties). PyWavelets is imported
here only, when `lowres` runs: the production path (`degrade`) never loads it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from cbir.degrade.motion import blur_params, blur_with
from cbir.degrade.noise import gaussian_noise, salt_pepper_threshold, speckle_factor
from cbir.degrade.random import PIXELS, CounterRandom
from cbir.degrade.registry import DegradationError, check_indices, check_shape, check_specs, params_of
from cbir.degrade.rescale import INV_GREY, grey


def gaussian(x: np.ndarray, rand: CounterRandom, *, sigma: float) -> np.ndarray:
    """g = f + e, e ~ N(0, sigma) (quantised to 65536 levels, see `normal_quantiles`)."""
    g = gaussian_noise(rand, x.shape[1] * x.shape[2], sigma)
    g += grey(x)
    g *= INV_GREY
    return g.reshape(x.shape)


def salt_pepper(x: np.ndarray, rand: CounterRandom, *, amount: float) -> np.ndarray:
    """g = (1 - m) f + m s: mask m ~ Bernoulli(amount), s ~ Bernoulli(1/2) (0 or 1)."""
    n, h, w = x.shape
    words = rand.uint16(PIXELS, h * w).reshape(n, h, w)
    hit = words < salt_pepper_threshold(amount)
    g = np.array(x, dtype=np.float32)
    np.copyto(g, (words & 1).astype(np.float32), where=hit)
    return g


def speckle(x: np.ndarray, rand: CounterRandom, *, amount: float) -> np.ndarray:
    """g = f + f e = f (1 + e), e ~ U(-amount, amount) (65536 levels, |e| < amount)."""
    g = speckle_factor(rand, x.shape[1] * x.shape[2], amount)
    g *= grey(x)
    return g.reshape(x.shape)


def motion_blur(x: np.ndarray, rand: CounterRandom, *, sigma: float, T: float, zero_centre: bool) -> np.ndarray:
    """Eq. (8)-(9) on grey levels with a and b drawn per image from N(0, sigma); the 1/255
    back to [0, 1] is folded into T. `zero_centre`: the reference code's zeroed centre 2x2 of
    the shifted spectrum too (see `cbir.degrade.motion`)."""
    a, b = blur_params(rand, sigma)
    return blur_with(grey(x).reshape(x.shape), a, b, T=T / 255, zero_centre=zero_centre)


def lowres(x: np.ndarray, rand: CounterRandom, *, level: int) -> np.ndarray:
    """Haar approximation band at `level` / 2**level (the block means), upscaled back by
    repeating each value over its 2**level x 2**level block. `rand` is unused."""
    import pywt

    approx = pywt.wavedec2(x, "haar", mode="periodization", level=level, axes=(-2, -1))[0]
    factor = 2**level
    small = (approx / factor).astype(np.float32)
    return small.repeat(factor, axis=1).repeat(factor, axis=2)


DEFINITIONS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": gaussian,
    "salt_pepper": salt_pepper,
    "speckle": speckle,
    "motion_blur": motion_blur,
    "lowres": lowres,
}


def degrade_float(
    x: np.ndarray, specs: Sequence[dict], *, seed: int, stream: str, indices: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The definitions before the finish: float images in [0, 1] -> (float32 [N, H, W],
    the spec index drawn per image [N]). An empty `specs` returns a copy and -1.

    `degrade` equals ``finish(degrade_float(images / 255, ...)[0], rescale)``, except that
    its lowres path works on exact integer block sums (a grey level apart at most, at ties).
    Grey only: a colour image's channels are grey planes with their own noise streams, and
    `finish` would rescale the three channels together (see `cbir.degrade.batch`).
    """
    specs = check_specs(specs)
    x = np.array(x, dtype=np.float32)
    check_shape(x, specs)
    if x.ndim != 3:
        raise DegradationError(
            f"degrade_float is the grey definition: images must be [N, H, W], got shape {x.shape}; "
            "degrade a colour image's channels as grey planes (cbir.degrade.batch)"
        )
    idx = check_indices(len(x), indices)
    if not specs:
        return x, np.full(len(x), -1, dtype=np.int64)
    rand = CounterRandom.for_stream(seed, stream, idx)
    choice = rand.choice(len(specs))
    for k, spec in enumerate(specs):
        rows = np.flatnonzero(choice == k)
        if len(rows):
            x[rows] = DEFINITIONS[spec["name"]](x[rows], rand.subset(rows), **params_of(spec))
    return x, choice
