"""The paper's degradation models (section III.C, DESIGN section 5), batched and seeded.

Every degradation maps a batch of clean images ``f`` (float32 [N, H, W] in [0, 1]) to a
degraded float batch ``g``; `finish` then rescales each image to [0, 1] (per-image min-max,
the reference code's convention, or a clip) and quantises it to uint8.

- ``gaussian``: g = f + e, e ~ N(0, sigma), sigma = 0.1. e = sigma Q(u) with Q the standard
  normal quantile function at one of 65536 equiprobable levels, u = (k + 1/2) / 65536 for a
  16-bit random word k (inverse-CDF sampling through a table): the distribution is the normal
  one quantised to 65536 levels, symmetric, with the tails cut at |e| < 4.33 sigma (standard
  deviation 0.99999 sigma).
- ``salt_pepper``: a mask m ~ Bernoulli(amount = 0.1) picks pixels; each picked pixel becomes
  0 or 1 with probability 1/2: g = (1 - m) f + m s, s ~ Bernoulli(1/2).
- ``speckle``: g = f + f e, e ~ U(-amount, amount), amount = 0.1 (65536 levels).
- ``motion_blur``: g = real(IFFT{F(u, v) H(u, v)}), eq. (8)-(9), with
  H(u, v) = T / (pi s) sin(pi s) exp(-j pi s), s = u a + v b, where u (rows) and v (columns)
  are integer frequency indices centred on zero (H(0, 0) = T; H = T wherever s = 0), T = 1,
  and a, b drawn per image from N(0, sigma), sigma = 0.05.
- ``lowres``: the Haar approximation band at ``level`` 1 (x2) or 2 (x4) (PyWavelets,
  periodization mode), divided by 2**level so that it is the mean of each 2**level block
  in the [0, 1] range (the band itself is that mean times 2**level; the factor is removed so
  that ``clip`` is meaningful, and min-max is blind to it), then brought back to full size by
  nearest-neighbour upscaling.

The noises and the blur are computed on grey levels, 255 f (exact integers for 8-bit images),
and brought back to [0, 1] with a factor folded into their constants: the uint8 fast path then
needs no division, and `degrade` equals the definition followed by `finish` bit for bit.

Randomness is counter based: a 64-bit key is derived from (seed, stream) with BLAKE2b, each
image's random numbers are a splitmix64 hash of (key, image index, counter). An image's
degradation therefore depends only on (seed, stream, index) and not on the batch it is
processed in, and the whole batch is drawn with array code. Which spec an image gets
(one drawn uniformly per image) comes from the same source (`spec_choices`): query files
do not store it, since it is recomputed exactly from the seed and query name in their
attributes.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import os
import statistics
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pywt

log = logging.getLogger("cbir.degradations")


class DegradationError(ValueError):
    """A degradation spec names an unknown degradation or a bad parameter."""


# ---------------------------------------------------------------------------------------
# Counter-based random numbers
# ---------------------------------------------------------------------------------------

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (golden ratio)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S32 = (np.uint64(s) for s in (30, 27, 31, 32))

# Counter offsets of the independent draws of one image.
_CHOICE = 0  # which spec the image gets
_PARAMS = 1  # per-image parameters (motion blur a, b)
_PIXELS = 1 << 32  # per-pixel noise


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection of uint64 with good avalanche), in place."""
    tmp = np.empty_like(z)
    for shift, mult in ((_S30, _M1), (_S27, _M2)):
        np.right_shift(z, shift, out=tmp)
        np.bitwise_xor(z, tmp, out=z)
        np.multiply(z, mult, out=z)
    np.right_shift(z, _S31, out=tmp)
    np.bitwise_xor(z, tmp, out=z)
    return z


def stream_key(seed: int, stream: str) -> int:
    """A stable 64-bit key for (seed, stream) (BLAKE2b, independent of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(f"{int(seed)}\x00{stream}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class CounterRandom:
    """Random numbers for a batch of images, a pure function of (key, image index, counter).

    Image j's counter c yields splitmix64(base_j + c * gamma), where base_j is a hash of
    (key, index_j): disjoint counter ranges give independent draws, and a row never
    depends on the other rows of the batch.
    """

    def __init__(self, key: int, indices: np.ndarray):
        indices = np.asarray(indices, dtype=np.uint64)
        with np.errstate(over="ignore"):
            base = _mix64(indices * _GAMMA + np.uint64(key))
            self.base = _mix64(base ^ np.uint64(key))

    def __len__(self) -> int:
        return len(self.base)

    def subset(self, rows: np.ndarray | slice) -> CounterRandom:
        """The random source of rows `rows` of the batch."""
        sub = object.__new__(CounterRandom)
        sub.base = self.base[rows]
        return sub

    def bits(self, offset: int, n: int) -> np.ndarray:
        """uint64 [N, n]: the hashes of counters offset .. offset + n - 1 of each image."""
        counters = (np.uint64(offset) + np.arange(n, dtype=np.uint64)) * _GAMMA
        return _mix64(np.add(self.base[:, None], counters[None, :]))

    def _words(self, offset: int, n: int, dtype: str) -> np.ndarray:
        per = 8 // np.dtype(dtype).itemsize
        h = self.bits(offset, -(-n // per)).astype("<u8", copy=False)  # a no-op on little endian
        return h.view(dtype).reshape(len(self), -1)[:, :n]

    def uint32(self, offset: int, n: int) -> np.ndarray:
        """uint32 [N, n] (two per hash)."""
        return self._words(offset, n, "<u4")

    def uint16(self, offset: int, n: int) -> np.ndarray:
        """uint16 [N, n] (four per hash)."""
        return self._words(offset, n, "<u2")

    def normal(self, offset: int, n: int, dtype=np.float32) -> np.ndarray:
        """Standard normal [N, n]: Box-Muller on pairs of 32-bit uniforms (|z| < 6.7).

        Pair i (words i and half + i) gives draw i (r cos) and draw half + i (r sin):
        contiguous halves keep numpy's vectorised loops.
        """
        half = -(-n // 2)
        words = self.uint32(offset, 2 * half)
        r = words[:, :half].astype(dtype)
        r += 1  # (0, 2**32]: the log is finite
        r *= dtype(2.0**-32)
        np.log(r, out=r)
        r *= -2
        np.sqrt(r, out=r)
        theta = words[:, half:].astype(dtype)
        theta *= dtype(2 * math.pi / 2**32)
        out = np.empty((len(self), 2 * half), dtype=dtype)
        np.cos(theta, out=out[:, :half])
        np.sin(theta, out=out[:, half:])
        out[:, :half] *= r
        out[:, half:] *= r
        return out[:, :n]

    def choice(self, k: int) -> np.ndarray:
        """int64 [N] uniform on 0 .. k-1 (exact: the high 32 bits times k, over 2**32)."""
        h = self.bits(_CHOICE, 1)[:, 0]
        return ((h >> _S32) * np.uint64(k) >> _S32).astype(np.int64)


# ---------------------------------------------------------------------------------------
# The degradations: float32 [n, H, W] in [0, 1] -> float32 [n, H, W] (before the finish)
# ---------------------------------------------------------------------------------------

_GREY = np.float32(255)
_INV_GREY = np.float32(1 / 255)


def _grey(x: np.ndarray) -> np.ndarray:
    """float32 [n, H * W] grey levels 255 f: exactly p for f = float32(p) / 255, p in 0..255."""
    return np.multiply(x.reshape(len(x), -1), _GREY, dtype=np.float32)


def _grey_from_uint8(p: np.ndarray) -> np.ndarray:
    """float32 [n, H * W] grey levels of uint8 images (equal to `_grey` of p / 255)."""
    return p.reshape(len(p), -1).astype(np.float32)


@functools.cache
def normal_quantiles() -> np.ndarray:
    """float64 [65536]: the standard normal quantiles at (k + 1/2) / 65536, k = 0 .. 65535.

    A 16-bit uniform word k indexes it (inverse-CDF sampling): 65536 equiprobable levels,
    exactly antisymmetric (mean 0), |z| < 4.33, standard deviation 0.99999.
    """
    quantile = statistics.NormalDist().inv_cdf
    upper = np.array([quantile((k + 0.5) / 65536) for k in range(32768, 65536)])
    return np.concatenate([-upper[::-1], upper])


@functools.lru_cache(maxsize=16)
def _gaussian_table(sigma: float) -> np.ndarray:
    """float32 [65536]: the noise 255 sigma Q in grey levels, indexed by a 16-bit word."""
    table = (255 * sigma * normal_quantiles()).astype(np.float32)
    table.flags.writeable = False
    return table


def _gaussian_noise(rand: CounterRandom, pixels: int, sigma: float) -> np.ndarray:
    """float32 [n, pixels]: 255 e, e ~ N(0, sigma) through the quantile table."""
    words = rand.uint16(_PIXELS, pixels).astype(np.intp)
    return np.take(_gaussian_table(sigma), words)


def gaussian(x: np.ndarray, rand: CounterRandom, *, sigma: float = 0.1) -> np.ndarray:
    """g = f + e, e ~ N(0, sigma) (quantised to 65536 levels, see `normal_quantiles`)."""
    g = _gaussian_noise(rand, x.shape[1] * x.shape[2], sigma)
    g += _grey(x)
    g *= _INV_GREY
    return g.reshape(x.shape)


def _salt_pepper_threshold(amount: float) -> int:
    # An even threshold on 16-bit words: the mask has probability threshold / 2**16 (amount
    # to within 2**-16) and, given a hit, the lowest bit is exactly fair (salt or pepper).
    return 2 * round(amount * 2**15)


def salt_pepper(x: np.ndarray, rand: CounterRandom, *, amount: float = 0.1) -> np.ndarray:
    """g = (1 - m) f + m s: mask m ~ Bernoulli(amount), s ~ Bernoulli(1/2) (0 or 1)."""
    n, h, w = x.shape
    words = rand.uint16(_PIXELS, h * w).reshape(n, h, w)
    hit = words < _salt_pepper_threshold(amount)
    g = np.array(x, dtype=np.float32)
    np.copyto(g, (words & 1).astype(np.float32), where=hit)
    return g


def _speckle_factor(rand: CounterRandom, pixels: int, amount: float) -> np.ndarray:
    """float32 [n, pixels]: (1 + e) / 255, e ~ U(-amount, amount) at the midpoints of 65536 levels."""
    factor = rand.uint16(_PIXELS, pixels).astype(np.float32)
    factor *= np.float32(2 * amount / 2**16 / 255)
    factor += np.float32((1 - amount + amount / 2**16) / 255)
    return factor


def speckle(x: np.ndarray, rand: CounterRandom, *, amount: float = 0.1) -> np.ndarray:
    """g = f + f e = f (1 + e), e ~ U(-amount, amount) (65536 levels, |e| < amount)."""
    g = _speckle_factor(rand, x.shape[1] * x.shape[2], amount)
    g *= _grey(x)
    return g.reshape(x.shape)


def _centred(size: int) -> np.ndarray:
    """Integer frequency index of each FFT bin, centred on zero (the fftshift convention)."""
    return np.fft.fftfreq(size, 1.0 / size).round().astype(np.float32)


def _transfer_of(y: np.ndarray, T: float) -> np.ndarray:
    """Eq. (9) from y = -pi s (float32, any shape): H = T sin(y) / y (cos y + j sin y), and
    H = T where y = 0 (complex64)."""
    sin = np.sin(y)
    cos = np.cos(y)
    zero = np.flatnonzero(y == 0)  # u = v = 0, and exact cancellations
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.divide(sin, y)  # sin(y) / y, nan where y = 0
    k.reshape(-1)[zero] = 1
    if T != 1:
        k *= np.float32(T)
    out = np.empty(k.shape, np.complex64)
    np.multiply(k, cos, out=out.real)
    np.multiply(k, sin, out=out.imag)
    return out


def _minus_pi(a: np.ndarray) -> np.ndarray:
    return (-np.pi * np.asarray(a, np.float64)).astype(np.float32)


def _transfer(u: np.ndarray, v: np.ndarray, a: np.ndarray, b: np.ndarray, T: float) -> np.ndarray:
    """Eq. (9) at rows u x columns v for each image's (a, b): complex64 [n, len(u), len(v)]."""
    y = np.add((_minus_pi(a)[:, None] * u)[:, :, None], (_minus_pi(b)[:, None] * v)[:, None, :])
    return _transfer_of(y, T)


def motion_transfer(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, T: float = 1.0) -> np.ndarray:
    """H(u, v) of eq. (9) on the full grid in np.fft.fft2's layout: complex64 [n, H, W].

    u (rows) and v (columns) are the integer indices centred on zero, so H[:, 0, 0] = T;
    np.fft.fftshift(H) is the centred picture of the reference code.
    """
    return _transfer(_centred(shape[0]), _centred(shape[1]), a, b, T)


def _half_transfer(shape: tuple[int, int], a: np.ndarray, b: np.ndarray, T: float) -> np.ndarray:
    """The Hermitian part (H(k) + conj H(-k)) / 2 of eq. (9) on the rfft2 half grid.

    real(ifft2(F H)) = irfft2(F H_herm) for a real image (F(-k) = conj F(k)). H itself is
    Hermitian except on the Nyquist row and column of even sizes (index -size/2 is its own
    negative), so only those are averaged with their partner.
    """
    rows, cols = shape
    u = _centred(rows)
    v = _centred(cols)[: cols // 2 + 1]
    if cols % 2 == 0:
        v[-1] = -(cols // 2)  # the Nyquist column, -cols/2 in the centred convention
    half = _transfer(u, v, a, b, T)
    # The partners (u', v') of the Nyquist points, as (row index, column index, u', v').
    fixes = []
    if rows % 2 == 0:  # Nyquist row u = -rows/2 pairs column v with column -v (mod cols)
        v_neg = _centred(cols)[(-np.arange(cols)) % cols][: cols // 2 + 1]
        if cols % 2 == 0:
            v_neg[-1] = -(cols // 2)
        fixes.append((np.full(len(v), rows // 2), np.arange(len(v)), np.full(len(v), u[rows // 2]), v_neg))
    if cols % 2 == 0:  # Nyquist column v = -cols/2 pairs row u with row -u (mod rows)
        fixes.append((np.arange(rows), np.full(rows, len(v) - 1), u[(-np.arange(rows)) % rows], np.full(rows, v[-1])))
    if fixes:
        i, j, u_pair, v_pair = (np.concatenate(parts) for parts in zip(*fixes, strict=True))
        y = np.add(_minus_pi(a)[:, None] * u_pair.astype(np.float32), _minus_pi(b)[:, None] * v_pair.astype(np.float32))
        value = half[:, i, j]  # a copy: every fix reads the unaveraged H (the corner is in both)
        value += _transfer_of(y, T).conj()
        value /= 2
        half[:, i, j] = value
    return half


def blur_with(x: np.ndarray, a: np.ndarray, b: np.ndarray, T: float = 1.0) -> np.ndarray:
    """real(IFFT2(FFT2(f) H)) for each image's (a, b): one batched real FFT pair."""
    # norm="ortho" both ways: the same round trip as the default, and much faster in
    # numpy 2.x's pocketfft wrapper (its unscaled direction takes a slow path).
    spectrum = np.fft.rfft2(x, norm="ortho")
    spectrum *= _half_transfer(x.shape[1:], a, b, T)
    return np.fft.irfft2(spectrum, s=x.shape[1:], norm="ortho").astype(np.float32, copy=False)


_scratch = threading.local()


def _scratch_array(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """A per-thread array of `shape` kept between calls (a leading slice of the kept one).

    Fresh megabyte-sized temporaries for every block cost more than the FFTs themselves
    (the allocator hands the memory back to the system, and each new page faults in).
    """
    kept = getattr(_scratch, name, None)
    if kept is None or kept.dtype != dtype or kept.shape[1:] != shape[1:] or len(kept) < shape[0]:
        kept = np.empty(shape, dtype)
        setattr(_scratch, name, kept)
    return kept[: shape[0]]


def _blur_scratch(x: np.ndarray, a: np.ndarray, b: np.ndarray, T: float) -> np.ndarray:
    """`blur_with` of float32 x into this thread's scratch arrays (valid until the next call)."""
    n, rows, cols = x.shape
    spectrum = _scratch_array("spectrum", (n, rows, cols // 2 + 1), np.complex64)
    np.fft.rfft2(x, norm="ortho", out=spectrum)
    spectrum *= _half_transfer(x.shape[1:], a, b, T)
    return np.fft.irfft2(spectrum, s=x.shape[1:], norm="ortho", out=_scratch_array("blurred", x.shape, np.float32))


def _blur_params(rand: CounterRandom, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    ab = sigma * rand.normal(_PARAMS, 2, np.float64)
    return ab[:, 0], ab[:, 1]


def _motion_blur_grey(grey: np.ndarray, rand: CounterRandom, sigma: float, T: float) -> np.ndarray:
    """Blur of grey levels [n, H, W], back on the [0, 1] scale (1/255 folded into H)."""
    a, b = _blur_params(rand, sigma)
    return blur_with(grey, a, b, T / 255)


def motion_blur(x: np.ndarray, rand: CounterRandom, *, sigma: float = 0.05, T: float = 1.0) -> np.ndarray:
    """Eq. (8)-(9) with a and b drawn per image from N(0, sigma)."""
    return _motion_blur_grey(_grey(x).reshape(x.shape), rand, sigma, T)


def lowres(x: np.ndarray, rand: CounterRandom | None = None, *, level: int = 1) -> np.ndarray:
    """Haar approximation band at `level` / 2**level (the block means), upscaled back by
    repeating each value over its 2**level x 2**level block."""
    approx = pywt.wavedec2(x, "haar", mode="periodization", level=level, axes=(-2, -1))[0]
    factor = 2**level
    small = (approx / factor).astype(np.float32)
    return small.repeat(factor, axis=1).repeat(factor, axis=2)


DEGRADATIONS: dict[str, Callable[..., np.ndarray]] = {
    "gaussian": gaussian,
    "salt_pepper": salt_pepper,
    "speckle": speckle,
    "motion_blur": motion_blur,
    "lowres": lowres,
}

# name -> parameter -> (default, check, description of the valid range)
PARAMETERS: dict[str, dict[str, tuple[float, Callable[[float], bool], str]]] = {
    "gaussian": {"sigma": (0.1, lambda p: 0 < p <= 1, "in (0, 1]")},
    "salt_pepper": {"amount": (0.1, lambda p: 0 < p <= 1, "in (0, 1]")},
    "speckle": {"amount": (0.1, lambda p: 0 < p <= 1, "in (0, 1]")},
    "motion_blur": {
        "sigma": (0.05, lambda p: 0 <= p <= 1, "in [0, 1]"),
        "T": (1.0, lambda p: p > 0, "> 0"),
    },
    "lowres": {"level": (1, lambda p: p in (1, 2, 3), "1, 2 or 3")},
}


def check_spec(spec: dict) -> dict:
    """A spec with its name checked and every parameter present (defaults filled in)."""
    if not isinstance(spec, dict) or "name" not in spec:
        raise DegradationError(f"degradation spec {spec!r}: expected a mapping with a 'name'")
    name = spec["name"]
    if name not in DEGRADATIONS:
        raise DegradationError(f"degradation {name!r}: unknown; expected one of {sorted(DEGRADATIONS)}")
    params = PARAMETERS[name]
    unknown = sorted(set(spec) - {"name"} - set(params))
    if unknown:
        raise DegradationError(f"degradation {name!r}: unknown parameter(s) {unknown}; expected {sorted(params)}")
    full = {"name": name}
    for key, (default, ok, valid) in params.items():
        value = spec.get(key, default)
        integer = isinstance(default, int)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} is not a number")
        if integer and value != int(value):
            raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} is not an integer")
        value = int(value) if integer else float(value)
        if not (math.isfinite(value) and ok(value)):
            raise DegradationError(f"degradation {name!r}: parameter {key!r} = {value!r} must be {valid}")
        full[key] = value
    return full


def check_specs(specs: Sequence[dict]) -> list[dict]:
    if isinstance(specs, dict) or isinstance(specs, str):
        raise DegradationError(f"degradations {specs!r}: expected a list of specs")
    return [check_spec(dict(s) if hasattr(s, "items") else s) for s in specs]


def _check_shape(images: np.ndarray, specs: list[dict]) -> None:
    if images.ndim != 3:
        raise DegradationError(f"images must be [N, H, W], got shape {images.shape}")
    for spec in specs:
        if spec["name"] == "lowres":
            f = 2 ** spec["level"]
            if images.shape[1] % f or images.shape[2] % f:
                raise DegradationError(
                    f"degradation 'lowres': level {spec['level']} needs an image size divisible by {f}, "
                    f"got {images.shape[1]}x{images.shape[2]}"
                )


# ---------------------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------------------


def _indices(n: int, indices: np.ndarray | None) -> np.ndarray:
    if indices is None:
        return np.arange(n, dtype=np.int64)
    indices = np.asarray(indices)
    if indices.shape != (n,) or (n and indices.min() < 0):
        raise DegradationError(f"indices must be {n} non-negative integers, got shape {indices.shape}")
    return indices.astype(np.int64)


def spec_choices(n_specs: int, *, seed: int, stream: str, indices: np.ndarray) -> np.ndarray:
    """Which of `n_specs` specs each image index gets (int64, uniform, per (seed, stream, index))."""
    return CounterRandom(stream_key(seed, stream), _indices(len(indices), indices)).choice(n_specs)


def degrade_float(
    x: np.ndarray, specs: Sequence[dict], *, seed: int, stream: str, indices: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The definitions before the finish: float images in [0, 1] -> (float32 [N, H, W],
    the spec index drawn per image [N]). An empty `specs` returns a copy and -1.

    `degrade` equals ``finish(degrade_float(images / 255, ...)[0], rescale)``, except that
    its lowres path works on exact integer block sums (a grey level apart at most, at ties).
    """
    specs = check_specs(specs)
    x = np.array(x, dtype=np.float32)
    _check_shape(x, specs)
    idx = _indices(len(x), indices)
    if not specs:
        return x, np.full(len(x), -1, dtype=np.int64)
    rand = CounterRandom(stream_key(seed, stream), idx)
    choice = rand.choice(len(specs))
    for k, spec in enumerate(specs):
        rows = np.flatnonzero(choice == k)
        if len(rows):
            x[rows] = DEGRADATIONS[spec["name"]](x[rows], rand.subset(rows), **_params(spec))
    return x, choice


def _params(spec: dict) -> dict:
    return {key: value for key, value in spec.items() if key != "name"}


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


def _finish_into(g: np.ndarray, rescale: str, out: np.ndarray) -> None:
    """`finish` of float32 g [n, ...] into uint8 out [n, ...], overwriting g."""
    g = g.reshape(len(g), -1)
    scale, offset = _finish_params(g, rescale)
    g *= scale[:, None]
    g += offset[:, None]
    if rescale == "clip":  # min-max already lands in [0.5, 255.5] (up to rounding)
        np.clip(g, 0, 255, out=g)
    np.copyto(out.reshape(g.shape), g, casting="unsafe")  # truncation: floor, as g >= 0


def finish(g: np.ndarray, rescale: str = "minmax") -> np.ndarray:
    """Float images -> uint8: each image min-max rescaled to [0, 1] (``minmax``; a constant
    image is kept as it is) or clipped to [0, 1] (``clip``), then rounded (half up) to 0..255."""
    _check_rescale(rescale)
    g = np.array(g, dtype=np.float32)
    out = np.empty(g.shape, np.uint8)
    _finish_into(g, rescale, out)
    return out


def _check_rescale(rescale: str) -> None:
    if rescale not in ("minmax", "clip"):
        raise DegradationError(f"rescale {rescale!r}: expected 'minmax' or 'clip'")


# Fast uint8 -> uint8 kernels over one block, writing into `out` (uint8 [n, H, W]); each
# equals finish(definition(p / 255)) bit for bit (lowres: to a grey level, see `degrade_float`).


def _gaussian_kernel(p, rand, params, rescale, out):
    g = _gaussian_noise(rand, p.shape[1] * p.shape[2], params["sigma"])
    g += _grey_from_uint8(p)
    g *= _INV_GREY
    _finish_into(g, rescale, out)


def _speckle_kernel(p, rand, params, rescale, out):
    g = _speckle_factor(rand, p.shape[1] * p.shape[2], params["amount"])
    g *= _grey_from_uint8(p)
    _finish_into(g, rescale, out)


def _motion_blur_kernel(p, rand, params, rescale, out):
    # `_motion_blur_grey` on scratch arrays (the same operations, so the same values).
    grey = _scratch_array("grey", p.shape, np.float32)
    np.copyto(grey, p)
    a, b = _blur_params(rand, params["sigma"])
    _finish_into(_blur_scratch(grey, a, b, params["T"] / 255), rescale, out)


def _salt_pepper_kernel(p, rand, params, rescale, out):
    # The result takes only the values of f, 0 and 1: in grey levels it is exact, and the
    # min-max rescale is the identity whenever both 0 and 255 occur (nearly always).
    n, h, w = p.shape
    words = rand.uint16(_PIXELS, h * w)
    hit = (words < _salt_pepper_threshold(params["amount"])).view(np.uint8)
    g = out.reshape(n, h * w)
    np.bitwise_and(words, 1, out=g, casting="unsafe")
    np.negative(g, out=g)  # 0 or 255
    # g = p + hit * (salt - p) in wrapping uint8 arithmetic: salt where hit, else p.
    flat = p.reshape(n, h * w)
    g -= flat
    g *= hit
    g += flat
    if rescale == "minmax":
        other = np.flatnonzero((g.min(axis=1) != 0) | (g.max(axis=1) != 255))
        if len(other):
            g[other] = finish(g[other].astype(np.float32) / _GREY, rescale).reshape(len(other), -1)


def _block_sums(p: np.ndarray, level: int) -> np.ndarray:
    """uint16 [n, H / 2**level, W / 2**level]: exact sums of each 2**level x 2**level block."""
    n, h, w = p.shape
    # Column pairs first, on the uint8 bytes read as little-endian uint16 pairs.
    pairs = p.view("<u2")
    sums = np.bitwise_and(pairs, np.uint16(0xFF))
    sums += pairs >> np.uint16(8)
    sums = np.add(sums[:, 0::2], sums[:, 1::2])  # row pairs
    for _ in range(level - 1):
        sums = np.add(sums[:, :, 0::2], sums[:, :, 1::2])
        sums = np.add(sums[:, 0::2], sums[:, 1::2])
    return sums


def _upscale_into(small: np.ndarray, factor: int, out: np.ndarray) -> None:
    """Nearest-neighbour upscaling of uint8 [n, h, w] into out uint8 [n, h * f, w * f]."""
    n, h, w = small.shape
    # Each value repeated f times along a row is the value times 0x01..01 in f bytes.
    word = {2: "<u2", 4: "<u4", 8: "<u8"}[factor]
    wide = small.astype(word)
    wide *= np.array(int.from_bytes(b"\x01" * factor, "little"), dtype=word)
    np.copyto(out.reshape(n, h, factor, w * factor), wide.view(np.uint8).reshape(n, h, 1, w * factor))


def _lowres_kernel(p, rand, params, rescale, out):
    # The Haar approximation band is 2**level times the block means (checked against
    # PyWavelets in the tests); exact integer block sums replace it here, and the finish
    # runs on the small image (nearest-neighbour upscaling keeps min, max and values).
    level = params["level"]
    factor = 2**level
    sums = _block_sums(np.ascontiguousarray(p), level)
    means = sums.astype(np.float32).reshape(len(p), -1)
    means *= np.float32(1 / (255 * factor * factor))
    small = np.empty(sums.shape, np.uint8)
    _finish_into(means, rescale, small)
    _upscale_into(small, factor, out)


_KERNELS = {
    "gaussian": _gaussian_kernel,
    "salt_pepper": _salt_pepper_kernel,
    "speckle": _speckle_kernel,
    "motion_blur": _motion_blur_kernel,
    "lowres": _lowres_kernel,
}

_BLOCK_PIXELS = 1 << 18  # pixels per block: the temporaries stay in the CPU caches


def _check_threads(threads: int) -> int:
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
        raise DegradationError(f"threads {threads!r}: expected a positive integer")
    return int(threads)


def degrade(
    images: np.ndarray,
    specs: Sequence[dict],
    *,
    seed: int,
    stream: str,
    indices: np.ndarray | None = None,
    rescale: str = "minmax",
    threads: int = 1,
) -> np.ndarray:
    """Degrade uint8 [N, H, W] images, one of `specs` drawn per image: uint8 [N, H, W].

    Image j's result depends only on (seed, stream, indices[j]) (indices default to
    0 .. N-1), never on the batch it comes in nor on `threads` (the number of threads the
    blocks of images are shared out to; numpy releases the GIL in its array loops).
    An empty `specs` returns a copy (clean). Missing parameters take the paper's defaults
    (`PARAMETERS`).
    """
    specs = check_specs(specs)
    _check_rescale(rescale)
    threads = _check_threads(threads)
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise DegradationError(f"images must be uint8, got {images.dtype}")
    _check_shape(images, specs)
    idx = _indices(len(images), indices)
    if not specs:
        return images.copy()
    images = np.ascontiguousarray(images)
    rand = CounterRandom(stream_key(seed, stream), idx)
    choice = rand.choice(len(specs))
    out = np.empty_like(images)
    block = max(1, _BLOCK_PIXELS // (images.shape[1] * images.shape[2]))
    tasks = []
    for k, spec in enumerate(specs):
        rows = np.flatnonzero(choice == k) if len(specs) > 1 else np.arange(len(images))
        for start in range(0, len(rows), block):
            part = rows[start : start + block]
            if part[-1] - part[0] == len(part) - 1:  # contiguous rows: slices, no gathering copies
                part = slice(part[0], part[-1] + 1)
            tasks.append((_KERNELS[spec["name"]], _params(spec), part))

    def run(task):
        kernel, params, part = task
        if isinstance(part, slice):
            kernel(images[part], rand.subset(part), params, rescale, out[part])
        else:
            result = np.empty((len(part), *images.shape[1:]), np.uint8)
            kernel(images[part], rand.subset(part), params, rescale, result)
            out[part] = result

    if threads == 1 or len(tasks) == 1:
        for task in tasks:
            run(task)
    else:
        with ThreadPoolExecutor(min(threads, len(tasks))) as pool:
            for _ in pool.map(run, tasks):  # re-raises a block's error
                pass
    return out


# ---------------------------------------------------------------------------------------
# Query sets
# ---------------------------------------------------------------------------------------


def degrade_image_set(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    specs: Sequence[dict],
    *,
    seed: int,
    query: str,
    rescale: str = "minmax",
    chunk_size: int = 512,
    threads: int = 1,
) -> None:
    """Write the query set `query`: the test split at `input_path`, each image degraded by
    one of `specs` (stream = the query name), same columns, provenance in the attributes.

    The spec drawn for image i is ``spec_choices(len(specs), seed=seed, stream=query,
    indices=[i])`` (not stored: recomputed exactly from the attributes). `chunk_size` and
    `threads` (see `degrade`) change the speed, never the file.
    """
    from cbir.h5store import read_image_set, write_image_set
    from cbir.runlog import progress

    specs = check_specs(specs)
    if rescale not in ("minmax", "clip"):
        raise DegradationError(f"degradation.rescale {rescale!r}: expected 'minmax' or 'clip'")
    if int(chunk_size) < 1:
        raise DegradationError(f"degradation.chunk_size {chunk_size!r}: expected a positive integer")
    threads = _check_threads(threads)
    source = read_image_set(input_path)
    _check_shape(source.images, specs)
    n = len(source)
    out = np.empty_like(source.images)
    starts = range(0, n, int(chunk_size))
    for start in progress(starts, total=len(starts), desc=f"degrade {query}"):
        stop = min(start + int(chunk_size), n)
        out[start:stop] = degrade(
            source.images[start:stop],
            specs,
            seed=seed,
            stream=query,
            indices=np.arange(start, stop),
            rescale=rescale,
            threads=threads,
        )
    counts = {}
    if specs:
        choice = spec_choices(len(specs), seed=seed, stream=query, indices=np.arange(n))
        counts = {str(k): int(c) for k, c in enumerate(np.bincount(choice, minlength=len(specs)))}
        log.info("%s: %d images, spec counts %s", query, n, counts)
    attrs = {
        "query": query,
        "specs": specs,
        "seed": int(seed),
        "stream": query,
        "rescale": rescale,
        "source": str(Path(input_path)),
        "spec_counts": counts,
        "choice": "spec_choices(len(specs), seed=seed, stream=stream, indices=row)",
    }
    write_image_set(output_path, out, source.columns, attrs)
