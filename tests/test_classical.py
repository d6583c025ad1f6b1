"""The classical restorers against known answers."""

from __future__ import annotations

import numpy as np
import pytest

from cbir import classical
from cbir.degrade import blur_with, degrade, motion_transfer
from cbir.imagemath import psnr

DEGRADE = {"seed": 0, "stream": "t", "rescale": "minmax", "threads": 1}


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, size, size]: a Gaussian blob on a gentle ramp per image, spanning 0..255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1))
    r = rng.uniform(0.1, 0.2, (n, 1, 1))
    img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2)) + 0.3 * xx
    img = (img - img.min((1, 2), keepdims=True)) / np.ptp(img, (1, 2), keepdims=True)
    return np.round(img * 255).astype(np.uint8)


def nearest_up(small: np.ndarray, f: int) -> np.ndarray:
    return small.repeat(f, axis=-2).repeat(f, axis=-1)


# ---- median and non-local means -------------------------------------------------------


@pytest.mark.parametrize("value", [0, 255])
def test_median_removes_a_single_salt_or_pepper_pixel_exactly(value):
    images = np.full((2, 9, 11), 100, np.uint8)
    images[0, 4, 5] = value
    images[1, 0, 0] = value  # a corner: borders are replicated
    out = classical.median(images, size=3)
    assert out.dtype == np.uint8 and out.shape == images.shape
    np.testing.assert_array_equal(out, 100)


def test_median_keeps_an_edge_and_rejects_even_sizes():
    images = np.zeros((1, 8, 8), np.uint8)
    images[:, :, 4:] = 200
    np.testing.assert_array_equal(classical.median(images, size=5), images)
    with pytest.raises(ValueError, match="median size 4"):
        classical.median(images, size=4)


def test_nlmeans_lowers_the_error_of_a_noisy_smooth_image():
    clean = smooth_images(4, 32)
    rng = np.random.default_rng(1)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    out = classical.nlmeans(noisy, h=15, template_size=5, search_size=11)
    assert out.dtype == np.uint8 and out.shape == clean.shape
    rms = lambda x: np.sqrt(((x.astype(float) - clean) ** 2).mean((1, 2)))  # noqa: E731
    assert (rms(out) < 0.6 * rms(noisy)).all(), (rms(out), rms(noisy))
    with pytest.raises(ValueError, match="search_size"):
        classical.nlmeans(noisy, h=15, template_size=5, search_size=10)


# ---- Wiener deconvolution ----------------------------------------------------------------


def test_expected_transfer_is_the_monte_carlo_mean_of_eq9():
    shape, sigma = (12, 16), 0.08
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, sigma, (2, 4000))
    draws = motion_transfer(shape, a, b, T=2.0).astype(np.complex128)
    expected = classical.expected_transfer(shape, sigma=sigma, T=2.0)
    assert expected.shape == shape and expected[0, 0] == 2.0 and (expected > 0).all()
    for part, mean in ((draws.real, expected), (draws.imag, 0)):
        standard_error = part.std(0) / np.sqrt(len(draws))
        assert (np.abs(part.mean(0) - mean) <= 5 * standard_error + 1e-6).all()
    assert expected.min() < 1.0  # the high frequencies do lose contrast on average


def test_wiener_with_the_true_transfer_inverts_the_pipelines_blur():
    # Odd sizes, where eq. (9)'s H is Hermitian, so real(ifft2(F H)) = ifft2(F H) exactly;
    # |s| = |u a + v b| < 1 everywhere, so H has no zeros.
    shape = (31, 33)
    rng = np.random.default_rng(2)
    x = rng.random((3, *shape)).astype(np.float32)
    a, b = np.array([0.03, -0.01, 0.0]), np.array([-0.02, 0.025, 0.015])
    blurred = blur_with(x, a, b, T=1.0, zero_centre=False)
    assert np.abs(blurred - x).max() > 0.1
    transfer = motion_transfer(shape, a, b, T=1.0)
    restored = classical.wiener_deconvolve(blurred, transfer, nsr=1e-12)
    assert restored.shape == x.shape
    assert np.abs(restored - x).max() < 1e-3


def test_centre_mask_is_the_gain_of_the_zeroed_centre():
    # The authors' blur zeroes the centre 2x2 before the real part: with the true H times the
    # centre gain, everything but the mean comes back (W = 0 at DC).
    shape = (31, 33)
    rng = np.random.default_rng(3)
    x = rng.random((2, *shape)).astype(np.float32)
    a, b = np.array([0.02, -0.03]), np.array([0.01, 0.02])
    blurred = blur_with(x, a, b, T=1.0, zero_centre=True)
    mask = classical.centre_mask(shape)
    assert mask[0, 0] == 0 and mask[1, 1] == mask[-1, -1] == mask[0, 1] == 0.5 and mask[1, -1] == 1
    assert np.count_nonzero(mask != 1) == 7
    restored = classical.wiener_deconvolve(blurred, motion_transfer(shape, a, b, T=1.0) * mask, nsr=1e-12)
    centred = x - x.mean((1, 2), keepdims=True)
    assert np.abs(restored - centred).max() < 1e-3


def test_blind_wiener_improves_the_authors_blur_of_smooth_images():
    clean = smooth_images(64, 32)
    spec = {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True}
    blurred = degrade(clean, [spec], **DEGRADE)
    out = classical.wiener(blurred, sigma=0.05, T=1.0, zero_centre=True, nsr=0.3)
    assert out.dtype == np.uint8 and out.shape == clean.shape
    assert psnr(clean, out).mean() > psnr(clean, blurred).mean() + 1.0
    assert out.min() == 0 and out.max() == 255  # min-max, as the query sets


def test_wiener_checks_its_arguments():
    with pytest.raises(ValueError, match="nsr"):
        classical.wiener(np.zeros((1, 8, 8), np.uint8), sigma=0.05, T=1.0, zero_centre=False, nsr=0)
    with pytest.raises(ValueError, match="does not match"):
        classical.wiener_deconvolve(np.zeros((1, 8, 8)), np.ones((8, 9)), nsr=1e-3)
    with pytest.raises(ValueError, match="uint8"):
        classical.wiener(np.zeros((1, 8, 8)), sigma=0.05, T=1.0, zero_centre=False, nsr=0.1)


# ---- interpolation -----------------------------------------------------------------------


def test_block_factors_are_detected_per_image():
    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    images = np.stack(
        [nearest_up(small[0], 2)[:8, :8], nearest_up(small[1], 4)[:8, :8], nearest_up(small[2], 8)[:8, :8]]
    )
    full = rng.integers(0, 256, (1, 8, 8), dtype=np.uint8)
    np.testing.assert_array_equal(classical.block_factors(np.concatenate([images, full])), [2, 4, 8, 1])
    # A lowres query set mixing levels 1 and 2, as the pipeline makes it.
    clean = smooth_images(40, 32)
    lowres = degrade(clean, [{"name": "lowres", "level": 1}, {"name": "lowres", "level": 2}], **DEGRADE)
    assert set(classical.block_factors(lowres)) == {2, 4}


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
def test_interpolate_leaves_full_resolution_images_unchanged(method):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 200, (2, 16, 16), dtype=np.uint8)  # not min-max rescaled either
    np.testing.assert_array_equal(classical.interpolate(images, method=method), images)


@pytest.mark.parametrize("method", ["bicubic", "lanczos"])
@pytest.mark.parametrize("f", [2, 4])
def test_interpolate_brings_a_nearest_upscaled_ramp_closer(method, f):
    size = 32
    ramp = np.add.outer(np.arange(size), np.arange(size)) * (255 / (2 * size - 2))
    small = ramp.reshape(size // f, f, size // f, f).mean((1, 3))
    lowres = nearest_up(np.round(small).astype(np.uint8), f)[None]
    out = classical.interpolate(lowres, method=method)
    assert out.dtype == np.uint8 and out.shape == lowres.shape
    error = lambda x: np.abs(x.astype(float) - ramp)[f:-f, f:-f].mean()  # noqa: E731 (borders replicate)
    assert error(out[0]) < 0.5 * error(lowres[0]), (error(out[0]), error(lowres[0]))
    with pytest.raises(ValueError, match="method"):
        classical.interpolate(lowres, method="nearest")


def test_restore_dispatches_by_method():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    assert np.array_equal(classical.restore(images, method="median", size=3), classical.median(images, size=3))
    big = np.repeat(np.repeat(images[:, :8, :8], 2, axis=1), 2, axis=2)
    assert np.array_equal(classical.restore(big, method="lanczos"), classical.interpolate(big, method="lanczos"))
    with pytest.raises(ValueError, match="sharpen"):
        classical.restore(images, method="sharpen")


# ---- colour: each channel plane restored alike; one min-max per image ----------------------


def colour_images(n: int, size: int) -> np.ndarray:
    """uint8 [n, size, size, 3] whose three planes differ (three seeds of `smooth_images`, noised)."""
    rng = np.random.default_rng(7)
    planes = [smooth_images(n, size, seed) + rng.integers(0, 30, (n, size, size)) for seed in (1, 2, 3)]
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def colour_lowres(size: int = 32) -> np.ndarray:
    """Nearest-neighbour upscaled colour images at factors 2, 4 and 8, one at full resolution, and one
    whose green plane is flat (factor 8 there, 2 in the other planes)."""
    rng = np.random.default_rng(8)
    images = [
        rng.integers(0, 256, (size // f, size // f, 3), dtype=np.uint8).repeat(f, 0).repeat(f, 1) for f in (2, 4, 8)
    ]
    images.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    mixed = images[0].copy()
    mixed[..., 1] = 90
    return np.stack([*images, mixed])


COLOUR_RESTORERS = {
    "median": ({"size": 3}, colour_images),
    "nlmeans": ({"h": 15, "template_size": 3, "search_size": 7}, colour_images),
    "wiener": ({"sigma": 0.05, "T": 1.0, "zero_centre": True, "nsr": 0.3}, colour_images),
    "wiener eq9": ({"sigma": 0.1, "T": 1.0, "zero_centre": False, "nsr": 0.1}, colour_images),
    "bicubic": ({}, lambda n, size: colour_lowres(size)),
    "lanczos": ({}, lambda n, size: colour_lowres(size)),
}


PLANE_BY_PLANE = ("median", "nlmeans")  # no final min-max: exactly the grey restorer per plane


@pytest.mark.parametrize("name", COLOUR_RESTORERS)
def test_colour_is_restored_channel_by_channel(name):
    params, make = COLOUR_RESTORERS[name]
    method = name.split()[0]
    images = make(5, 32)
    out = classical.restore(images, method=method, **params)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert not np.array_equal(out, images)  # the restorer did something: the comparison is not vacuous
    direct = classical.interpolate if method in classical.INTERPOLATIONS else getattr(classical, method)
    kwargs = {"method": method} if method in classical.INTERPOLATIONS else params
    np.testing.assert_array_equal(direct(images, **kwargs), out)
    if method in PLANE_BY_PLANE:
        for c in range(3):
            grey = classical.restore(np.ascontiguousarray(images[..., c]), method=method, **params)
            np.testing.assert_array_equal(out[..., c], grey, err_msg=f"channel {c}")
    else:  # three equal planes: the joint min-max is each plane's, so the grey result, replicated
        grey_images = np.repeat(images[..., :1], 3, axis=-1)
        grey = classical.restore(np.ascontiguousarray(images[..., 0]), method=method, **params)
        replicated = classical.restore(grey_images, method=method, **params)
        for c in range(3):
            np.testing.assert_array_equal(replicated[..., c], grey, err_msg=f"channel {c}")


@pytest.mark.parametrize("method", ["wiener", "lanczos"])
def test_colour_min_max_is_one_for_all_channels(method):
    # a red image with little green and blue keeps its hue: a min-max per channel would stretch
    # green and blue to the full range like red
    rng = np.random.default_rng(3)
    small = np.stack(
        [rng.integers(120, 220, (4, 8, 8)), rng.integers(30, 50, (4, 8, 8)), rng.integers(10, 30, (4, 8, 8))], axis=-1
    ).astype(np.uint8)
    images = small.repeat(4, 1).repeat(4, 2)  # block factor 4 for the interpolation
    params = {"sigma": 0.05, "T": 1.0, "zero_centre": False, "nsr": 0.1} if method == "wiener" else {}
    out = classical.restore(images, method=method, **params)
    means = out.reshape(-1, 3).mean(axis=0)
    assert means[0] > 2 * means[1] and means[1] > means[2]
    assert out[..., 1].max() < 200 and out[..., 0].max() == 255


def test_colour_block_factors_need_every_channel_and_bad_shapes_are_refused():
    # the image with a flat green plane is block-constant at 2 only, as a whole
    np.testing.assert_array_equal(classical.block_factors(colour_lowres()), [2, 4, 8, 1, 2])
    assert classical.block_factors(colour_lowres()[4, ..., 1][None])[0] == 8  # its green plane alone
    empty = classical.median(np.zeros((0, 8, 8, 3), np.uint8), size=3)
    assert empty.shape == (0, 8, 8, 3) and empty.dtype == np.uint8
    for bad in (np.zeros((2, 8, 8, 2), np.uint8), np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8), np.uint8)):
        with pytest.raises(ValueError, match=r"uint8 \[N, H, W\] or \[N, H, W, 3\]"):
            classical.median(bad, size=3)
    with pytest.raises(ValueError, match="median size 4"):  # parameters checked as for grey
        classical.median(colour_images(1, 8), size=4)
