"""cbir.degrade.motion: eq. (8)-(9) against the reference code's centred model; the kernel's buffers."""

import numpy as np
import pytest

from cbir.degrade import CounterRandom, blur_with, degrade, degrade_float, finish, motion_transfer
from cbir.degrade.reference import motion_blur


def _centred_reference(image, a, b, T=1.0):
    """Eq. (8)-(9) per image as the reference code writes it: fftshift and a centred grid."""
    rows, cols = image.shape
    u = np.arange(-(rows // 2), rows - rows // 2)[:, None]
    v = np.arange(-(cols // 2), cols - cols // 2)[None, :]
    s = np.pi * (u * a + v * b)
    safe = np.where(s == 0, 1.0, s)
    H = np.where(s == 0, T, T * np.sin(safe) / safe) * np.exp(-1j * s)
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * H)))


@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (15, 17)])
def test_motion_blur_matches_the_centred_frequency_model(shape):
    x = np.random.default_rng(2).uniform(0, 1, (5, *shape)).astype(np.float32)
    a = np.array([0.0, 0.05, -0.08, 0.12, 0.0])
    b = np.array([0.0, -0.03, 0.02, 0.07, 0.2])
    g = blur_with(x, a, b, T=1.0)
    for j in range(5):
        np.testing.assert_allclose(g[j], _centred_reference(x[j].astype(np.float64), a[j], b[j]), atol=2e-5)
    np.testing.assert_allclose(g[0], x[0], atol=2e-6)  # a = b = 0: the identity
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)  # H(0, 0) = T
    H = motion_transfer(shape, a, b, T=1.0)
    assert np.allclose(H[:, 0, 0], 1) and np.allclose(
        np.fft.fftshift(H, axes=(1, 2))[:, shape[0] // 2, shape[1] // 2], 1
    )
    # T is the gain at zero frequency.
    np.testing.assert_allclose(blur_with(x, a, b, T=0.5), 0.5 * g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(motion_transfer(shape, a, b, T=2.0)[:, 0, 0], 2)


def test_motion_blur_draws_a_and_b_per_image_and_preserves_the_mean():
    x = np.random.default_rng(3).uniform(0, 1, (200, 16, 16)).astype(np.float32)
    g = motion_blur(x, CounterRandom(1, np.arange(200)), sigma=0.05, T=1.0)
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)
    ab = 0.05 * CounterRandom(1, np.arange(2000)).normal(1, 2, np.float64)
    assert ab.std() == pytest.approx(0.05, rel=0.05) and abs(ab.mean()) < 0.005
    assert not np.allclose(g, x, atol=1e-3)


def test_motion_blur_scratch_arrays_survive_changing_block_shapes(smooth_images, specs):
    # Blocks of 28 and 2 images at 96 x 96, then 32 x 32, then 96 x 96 again: the kernel's
    # per-thread scratch arrays are resized or sliced, the values stay the definition's.
    spec = [specs["motion_blur"]]
    for n, size in ((30, 96), (5, 32), (30, 96)):
        images = smooth_images(n, size, seed=size)
        g, _ = degrade_float(images.astype(np.float32) / 255, spec, seed=2, stream="b")
        for threads in (1, 2):
            out = degrade(images, spec, seed=2, stream="b", rescale="minmax", threads=threads)
            np.testing.assert_array_equal(out, finish(g, "minmax"))
