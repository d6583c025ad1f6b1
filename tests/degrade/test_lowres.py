"""cbir.degrade.lowres: exact block sums and the upscale, against the Haar band (PyWavelets)."""

import numpy as np
import pytest
import pywt

from cbir.degrade import degrade, finish
from cbir.degrade.lowres import block_sums, upscale_into
from cbir.degrade.reference import lowres


@pytest.mark.parametrize("level", [1, 2, 3])
def test_lowres_is_constant_on_blocks_and_equals_the_rescaled_block_means(level, smooth_images):
    images = smooth_images(6, 32)
    f = 2**level
    out = degrade(images, [{"name": "lowres", "level": level}], seed=0, stream="t", rescale="minmax", threads=1)
    blocks = out.reshape(6, 32 // f, f, 32 // f, f).astype(int)
    assert np.all(blocks == blocks[:, :, :1, :, :1])
    means = (images.astype(np.float64) / 255).reshape(6, 32 // f, f, 32 // f, f).mean(axis=(2, 4))
    lo, hi = means.min(axis=(1, 2), keepdims=True), means.max(axis=(1, 2), keepdims=True)
    expected = np.round((means - lo) / (hi - lo) * 255)
    assert np.abs(blocks[:, :, 0, :, 0] - expected).max() <= 1
    # What the Haar approximation band is: 2**level times the block means (PyWavelets).
    band = pywt.wavedec2(images / 255.0, "haar", mode="periodization", level=level, axes=(-2, -1))[0]
    np.testing.assert_allclose(band, means * f, atol=1e-9)
    # The float definition (PyWavelets) and the fast integer path agree to a grey level.
    x = images.astype(np.float32) / 255
    ref = finish(lowres(x, None, level=level), "minmax")
    assert np.abs(ref.astype(int) - out).max() <= 1 and np.mean(ref != out) < 0.01


@pytest.mark.parametrize("level", [1, 2, 3])
def test_block_sums_are_exact_and_the_upscale_repeats_each_value(level):
    p = np.random.default_rng(level).integers(0, 256, (3, 24, 40), dtype=np.uint8)
    f = 2**level
    sums = block_sums(p, level)
    assert sums.dtype == np.uint16
    np.testing.assert_array_equal(sums, p.astype(np.int64).reshape(3, 24 // f, f, 40 // f, f).sum(axis=(2, 4)))
    small = (sums // (f * f)).astype(np.uint8)
    out = np.empty_like(p)
    upscale_into(small, f, out)
    np.testing.assert_array_equal(out, small.repeat(f, axis=1).repeat(f, axis=2))


def test_lowres_clip_keeps_the_block_means(smooth_images):
    images = smooth_images(4, 16)
    out = degrade(images, [{"name": "lowres", "level": 1}], seed=0, stream="t", rescale="clip", threads=1)
    means = images.astype(np.float64).reshape(4, 8, 2, 8, 2).mean(axis=(2, 4))
    assert np.abs(out[:, ::2, ::2] - means).max() <= 0.5 + 1e-9
