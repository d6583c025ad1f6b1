"""Classical restorers: no training, the baseline a restoration network has to beat.

Each maps uint8 query images [N, H, W] (as the pipeline stores them: every degraded image
min-max rescaled to [0, 255]) to uint8 images of the same shape. Colour images [N, H, W, 3]
(RGB, channels last) are restored channel by channel with the same parameters: `median` and
`nlmeans` are exactly the grey restorer on each plane (`_per_channel`); `wiener` filters each
plane alike and `interpolate` resizes the three planes of an image together (one block factor
for the image), and both end with one min-max for all channels of an image, as the colour
degradations do (a min-max per channel would shift the hues).

- `median`: median filter, the textbook remedy for salt and pepper;
- `nlmeans`: non-local means (OpenCV's fastNlMeansDenoising), for the noises;
- `wiener`: Wiener deconvolution of the motion blur with its expected transfer function
  (the blur of each image is unknown at query time; see `wiener`);
- `interpolate`: the low-resolution sets hold block means upscaled by nearest neighbour;
  each image's block factor is detected and the small image resized back with bicubic or
  Lanczos interpolation.

`median` and `nlmeans` return the filter's output as it is: each pixel is a median or a
weighted mean of input pixels, so it stays in range. `wiener` and `interpolate` overshoot (and
with `zero_centre` the blur lost the mean), so they end with the degradations' per-image
min-max (`cbir.degrade.finish`; a constant image is kept), like every query set. The classifier
min-max normalises its input anyway: the choice only shows in PSNR against the clean image.
On the surrogate at 32 px a final min-max loses PSNR after the median (3 dB on speckle: the
filter removes the small specular highlights that set the clean image's maximum) and wins
0.2 to 1 dB after interpolation at levels 2 and 3 (measured on 500 surrogate test images).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import cv2
import numpy as np

from cbir.degrade import finish

INTERPOLATIONS = {"bicubic": cv2.INTER_CUBIC, "lanczos": cv2.INTER_LANCZOS4}
BLOCK_FACTORS = (8, 4, 2)  # the lowres levels 3, 2, 1; the largest that fits wins
_CHUNK = 256  # images per FFT batch: bounded temporaries at 96 px


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"images must be uint8 [N, H, W] or [N, H, W, 3], got {images.dtype} {images.shape}")
    return images


def _per_channel(grey: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """The restorer `grey` of uint8 [N, H, W] extended to colour [N, H, W, 3]: grey images go to
    it unchanged, each colour channel plane goes to it alone with the same parameters (one
    definition of how colour is restored, whatever the restorer)."""

    @functools.wraps(grey)
    def restorer(images: np.ndarray, **params) -> np.ndarray:
        images = _check_images(images)
        if images.ndim == 3:
            return grey(images, **params)
        planes = [grey(np.ascontiguousarray(images[..., c]), **params) for c in range(images.shape[-1])]
        return np.stack(planes, axis=-1)

    return restorer


def _check_odd(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or value % 2 == 0:
        raise ValueError(f"{name} {value!r}: expected an odd integer >= {minimum}")
    return int(value)


def _minmax(restored: np.ndarray) -> np.ndarray:
    """Per-image min-max of float images on the [0, 1] scale to uint8 (a constant image kept)."""
    return finish(restored, "minmax")


# ---------------------------------------------------------------------------------------
# noise
# ---------------------------------------------------------------------------------------


@_per_channel
def median(images: np.ndarray, *, size: int) -> np.ndarray:
    """Median filter of odd `size` (cv2.medianBlur, borders replicated)."""
    images = _check_images(images)
    size = _check_odd("median size", size, 3)
    if not len(images):
        return images.copy()
    return np.stack([cv2.medianBlur(np.ascontiguousarray(img), size) for img in images])


@_per_channel
def nlmeans(images: np.ndarray, *, h: float, template_size: int, search_size: int) -> np.ndarray:
    """Non-local means (cv2.fastNlMeansDenoising) with filter strength `h` (grey levels),
    odd patch size `template_size` and odd search window `search_size`."""
    images = _check_images(images)
    if not h > 0:
        raise ValueError(f"nlmeans h {h!r}: expected a positive number")
    template_size = _check_odd("nlmeans template_size", template_size, 1)
    search_size = _check_odd("nlmeans search_size", search_size, 1)
    if not len(images):
        return images.copy()
    return np.stack(
        [
            cv2.fastNlMeansDenoising(np.ascontiguousarray(img), None, float(h), template_size, search_size)
            for img in images
        ]
    )


# ---------------------------------------------------------------------------------------
# motion blur
# ---------------------------------------------------------------------------------------


def _frequencies(size: int) -> np.ndarray:
    """Integer frequency index of each FFT bin, centred on zero (as `cbir.degrade.motion`)."""
    return np.fft.fftfreq(size, 1.0 / size).round()


def centre_mask(shape: tuple[int, int]) -> np.ndarray:
    """The gain of the reference code's zeroed centre (motion_blur's `zero_centre`) on a real
    image: float64 [H, W] in np.fft.fft2's layout, 0 at DC, 1/2 at the other bins of
    Z = {0, -1}^2 and at their negatives (only one bin of each of those conjugate pairs is
    zeroed before the real part is taken, which halves the pair), 1 elsewhere."""
    rows, cols = shape
    zeroed = np.zeros(shape)
    for i in (0, -1):
        for j in (0, -1):
            zeroed[i % rows, j % cols] = 1
    return 1 - (zeroed + np.roll(zeroed[::-1, ::-1], (1, 1), axis=(0, 1))) / 2  # zeroed at k, at -k


def expected_transfer(shape: tuple[int, int], *, sigma: float, T: float) -> np.ndarray:
    """E[H] of eq. (9)'s blur over a, b ~ N(0, sigma): float64 [H, W] in np.fft.fft2's layout.

    At frequency (u, v), s = u a + v b ~ N(0, tau^2) with tau = sigma sqrt(u^2 + v^2). The
    imaginary part of H = T sin(pi s) / (pi s) exp(-j pi s) is odd in s, its real part
    T sin(2 pi s) / (2 pi s) even, so E[H] is real: T E[sinc(2 s)] =
    T sqrt(pi / 2) erf(sqrt(2) pi tau) / (2 pi tau) (T at tau = 0), positive everywhere.
    """
    u, v = _frequencies(shape[0]), _frequencies(shape[1])
    tau = sigma * np.hypot(u[:, None], v[None, :])
    erf = np.frompyfunc(math.erf, 1, 1)(np.sqrt(2) * np.pi * tau).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tau > 0, np.sqrt(np.pi / 2) * erf / (2 * np.pi * tau), 1.0) * T


def wiener_filter(transfer: np.ndarray, *, nsr: float) -> np.ndarray:
    """W = conj(H) / (|H|^2 + nsr): `nsr` is the noise-to-signal power ratio, the same at every
    frequency (> 0 keeps W finite where H vanishes; as nsr -> 0, W -> 1 / H)."""
    if not nsr > 0:
        raise ValueError(f"wiener nsr {nsr!r}: expected a positive number")
    transfer = np.asarray(transfer)
    return np.conj(transfer) / (np.abs(transfer) ** 2 + nsr)


def _filtered(images: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.fft.ifft2(np.fft.fft2(images) * w).real


def wiener_deconvolve(images: np.ndarray, transfer: np.ndarray, *, nsr: float) -> np.ndarray:
    """real(IFFT2(FFT2(x) W)) with W = `wiener_filter`(H, nsr), for float images x [N, H, W] and
    a transfer function H [H, W] or [N, H, W] in np.fft.fft2's layout: float64 [N, H, W]."""
    x = np.asarray(images, np.float64)
    transfer = np.asarray(transfer)
    if x.ndim != 3 or transfer.ndim not in (2, 3) or transfer.shape[-2:] != x.shape[1:]:
        raise ValueError(f"transfer {transfer.shape} does not match images [N, H, W] {x.shape}")
    return _filtered(x, wiener_filter(transfer, nsr=nsr))


@functools.lru_cache(maxsize=16)
def _blind_filter(shape: tuple[int, int], sigma: float, T: float, zero_centre: bool, nsr: float) -> np.ndarray:
    w = wiener_filter(expected_transfer(shape, sigma=sigma, T=T), nsr=nsr)
    if zero_centre:
        gain = centre_mask(shape)
        w = np.divide(w, gain, out=np.zeros_like(w), where=gain > 0)
    w.setflags(write=False)
    return w


def wiener(images: np.ndarray, *, sigma: float, T: float, zero_centre: bool, nsr: float) -> np.ndarray:
    """Deconvolution of motion-blurred query images without knowing each image's blur, then min-max.

    Assumption: every image had the set's average blur, E[H] over a, b ~ N(0, sigma)
    (`expected_transfer`), which is real and isotropic: the Wiener filter of E[H] undoes the
    average loss of detail, neither each blur's direction nor its random shift (half the blur
    length). With `zero_centre`, the centre gain (`centre_mask`, deterministic on known bins)
    is inverted exactly besides: the halved bins are doubled back, the lost DC stays 0 (the final
    min-max sets the level). The degraded image's min-max is an affine map, which the linear
    filter carries through and the final min-max undoes. On the surrogate at 32 px this is about
    neutral in PSNR on eq. (9)'s blur and gains on the authors' (the zeroed centre comes back);
    Wiener with each image's true H gains 15 dB (benchmarks/classical.py): the loss is the
    unknown blur, mostly its shift. Colour: the same filter for every channel (the blur of an
    image moves its three planes alike, and its expectation depends on the shape alone).
    """
    images = _check_images(images)
    planes = np.moveaxis(images, 3, 1) if images.ndim == 4 else images  # colour: [N, 3, H, W]
    w = _blind_filter(tuple(planes.shape[-2:]), float(sigma), float(T), bool(zero_centre), float(nsr))
    out = np.empty(planes.shape, np.float32)
    for start in range(0, len(images), _CHUNK):
        out[start : start + _CHUNK] = _filtered(planes[start : start + _CHUNK].astype(np.float64) / 255, w)
    return _minmax(np.moveaxis(out, 1, 3) if images.ndim == 4 else out)


# ---------------------------------------------------------------------------------------
# resolution
# ---------------------------------------------------------------------------------------


def block_factors(images: np.ndarray) -> np.ndarray:
    """Each image's block factor: the largest f in `BLOCK_FACTORS` dividing H and W such that
    the image (colour: every channel) is constant on every f x f block, else 1 (int64 [N])."""
    images = _check_images(images)
    n, rows, cols = images.shape[:3]
    factors = np.ones(n, np.int64)
    for f in sorted(BLOCK_FACTORS):  # increasing: a larger factor that fits overrides
        if rows % f or cols % f:
            continue
        blocks = images.reshape(n, rows // f, f, cols // f, f, *images.shape[3:])
        constant = (blocks == blocks[:, :, :1, :, :1]).reshape(n, -1).all(axis=1)
        factors[constant] = f
    return factors


def interpolate(images: np.ndarray, *, method: str) -> np.ndarray:
    """Upscale each nearest-neighbour-upscaled image from its block values (its small image)
    with `method` ("bicubic" or "lanczos", cv2.resize, pixel centres aligned), then min-max.
    Images with no block structure (factor 1) are returned as they are."""
    images = _check_images(images)
    if method not in INTERPOLATIONS:
        raise ValueError(f"interpolate method {method!r}: expected one of {sorted(INTERPOLATIONS)}")
    flag = INTERPOLATIONS[method]
    rows, cols = images.shape[1:3]
    out = images.copy()
    factors = block_factors(images)
    for f in np.unique(factors[factors > 1]):
        which = np.flatnonzero(factors == f)
        small = images[which, f // 2 :: f, f // 2 :: f].astype(np.float32) / 255
        big = np.stack([cv2.resize(img, (cols, rows), interpolation=flag) for img in small])
        out[which] = _minmax(big)
    return out


def restore(images: np.ndarray, *, method: str, **params) -> np.ndarray:
    """The classical restorer `method` (config `enhancers.<name>`) with its parameters."""
    if method in INTERPOLATIONS:
        return interpolate(images, method=method, **params)
    restorers = {"median": median, "nlmeans": nlmeans, "wiener": wiener}
    if method not in restorers:
        raise ValueError(f"method {method!r}: expected one of {sorted([*restorers, *INTERPOLATIONS])}")
    return restorers[method](images, **params)
