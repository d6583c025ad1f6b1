"""cbir.degrade.motion: eq. (8)-(9) against the reference code's centred model, the zeroed centre
against a transcription of the authors' notebook; the kernel's buffers."""

import numpy as np
import pytest

from cbir.degrade import CounterRandom, blur_with, degrade, degrade_float, finish, motion_transfer
from cbir.degrade.motion import blur_params
from cbir.degrade.reference import motion_blur


def _centred_reference(image, a, b, T=1.0, zero_centre=False):
    """Eq. (8)-(9) per image as the reference code writes it: fftshift and a centred grid; with
    `zero_centre`, the centre 2x2 of the shifted spectrum (frequencies 0 and -1) is zeroed."""
    rows, cols = image.shape
    u = np.arange(-(rows // 2), rows - rows // 2)[:, None]
    v = np.arange(-(cols // 2), cols - cols // 2)[None, :]
    s = np.pi * (u * a + v * b)
    safe = np.where(s == 0, 1.0, s)
    H = np.where(s == 0, T, T * np.sin(safe) / safe) * np.exp(-1j * s)
    spectrum = np.fft.fftshift(np.fft.fft2(image))
    if zero_centre:
        spectrum[max(rows // 2 - 1, 0) : rows // 2 + 1, max(cols // 2 - 1, 0) : cols // 2 + 1] = 0
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * H)))


@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (15, 17)])
def test_motion_blur_matches_the_centred_frequency_model(shape):
    x = np.random.default_rng(2).uniform(0, 1, (5, *shape)).astype(np.float32)
    a = np.array([0.0, 0.05, -0.08, 0.12, 0.0])
    b = np.array([0.0, -0.03, 0.02, 0.07, 0.2])
    g = blur_with(x, a, b, T=1.0, zero_centre=False)
    for j in range(5):
        np.testing.assert_allclose(g[j], _centred_reference(x[j].astype(np.float64), a[j], b[j]), atol=2e-5)
    np.testing.assert_allclose(g[0], x[0], atol=2e-6)  # a = b = 0: the identity
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)  # H(0, 0) = T
    H = motion_transfer(shape, a, b, T=1.0)
    assert np.allclose(H[:, 0, 0], 1) and np.allclose(
        np.fft.fftshift(H, axes=(1, 2))[:, shape[0] // 2, shape[1] // 2], 1
    )
    # T is the gain at zero frequency.
    np.testing.assert_allclose(blur_with(x, a, b, T=0.5, zero_centre=False), 0.5 * g, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(motion_transfer(shape, a, b, T=2.0)[:, 0, 0], 2)


def test_motion_blur_draws_a_and_b_per_image_and_preserves_the_mean():
    x = np.random.default_rng(3).uniform(0, 1, (200, 16, 16)).astype(np.float32)
    g = motion_blur(x, CounterRandom(1, np.arange(200)), sigma=0.05, T=1.0, zero_centre=False)
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)
    ab = 0.05 * CounterRandom(1, np.arange(2000)).normal(1, 2, np.float64)
    assert ab.std() == pytest.approx(0.05, rel=0.05) and abs(ab.mean()) < 0.005
    assert not np.allclose(g, x, atol=1e-3)


@pytest.mark.parametrize("variant", ["motion_blur", "motion_blur_zc"])
def test_motion_blur_scratch_arrays_survive_changing_block_shapes(variant, smooth_images, specs):
    # Blocks of 28 and 2 images at 96 x 96, then 32 x 32, then 96 x 96 again: the kernel's
    # per-thread scratch arrays are resized or sliced, the values stay the definition's.
    spec = [specs[variant]]
    for n, size in ((30, 96), (5, 32), (30, 96)):
        images = smooth_images(n, size, seed=size)
        g, _ = degrade_float(images.astype(np.float32) / 255, spec, seed=2, stream="b")
        for threads in (1, 2):
            out = degrade(images, spec, seed=2, stream="b", rescale="minmax", threads=threads)
            np.testing.assert_array_equal(out, finish(g, "minmax"))


# ---- the authors' reference blur (zero_centre) ----------------------------------------------


def notebook_motion_model(w, h, a=0.1, b=0.1, T=1):
    """Motion_model of degrade_model.ipynb (Ka0Ri/Image_retrieval_Net), transcribed as written."""
    u, v = np.meshgrid(np.arange(-h // 2, h // 2), np.arange(-w // 2, w // 2))
    phi = np.pi * (u * a + v * b) + 10e-6
    ft = (T / phi) * np.sin(phi) * np.exp(-phi * 1j)
    return ft


def notebook_motion_blurring(img, a, b):
    """Motion_blurring of the notebook with its random (a, b) passed in."""
    w, h = img.shape[:]
    H = notebook_motion_model(w, h, a, b)
    f = np.fft.fft2(img)
    fshift = np.fft.fftshift(f)
    fshift[h // 2 - 1 : h // 2 + 1, w // 2 - 1 : w // 2 + 1] = 0
    gshift = fshift * H
    g = np.fft.ifftshift(gshift)
    out = np.fft.ifft2(g).real
    return out


def minmax(g):
    """The notebook's per-image rescale to [0, 1]."""
    g = np.asarray(g, np.float64)
    lo = g.min(axis=(-2, -1), keepdims=True)
    return (g - lo) / (g.max(axis=(-2, -1), keepdims=True) - lo)


@pytest.mark.parametrize("size", [32, 96])
@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_zero_centre_is_the_notebooks_motion_blur(size, sigma):
    n, seed, stream = 6, 11, "blurry"
    images = np.random.default_rng(size).integers(0, 256, (n, size, size), dtype=np.uint8)
    spec = [{"name": "motion_blur", "sigma": sigma, "T": 1.0, "zero_centre": True}]
    # The (a, b) each image draws, as `motion_blur` draws them (the only spec: every row).
    a, b = blur_params(CounterRandom.for_stream(seed, stream, np.arange(n)), sigma)
    assert np.all(np.abs(a) > 1e-3) and np.all(np.abs(b) > 1e-3) and not np.allclose(a, b)
    # The notebook's a multiplies the column frequency, our a the row one: its (a, b) = our (b, a).
    f = images / 255.0
    expected = minmax([notebook_motion_blurring(f[j], b[j], a[j]) for j in range(n)])
    swapped = minmax([notebook_motion_blurring(f[j], a[j], b[j]) for j in range(n)])
    assert np.abs(swapped - expected).max() > 0.02  # the mapping matters, so the test can tell

    g, choice = degrade_float(images.astype(np.float32) / 255, spec, seed=seed, stream=stream)
    assert np.all(choice == 0)
    assert np.abs(minmax(g) - expected).max() < 1e-4
    out = degrade(images, spec, seed=seed, stream=stream, rescale="minmax", threads=2)
    assert np.abs(out / 255.0 - expected).max() < 1 / 255 + 1e-4
    # Explicit (a, b), not the seeded draws: the lower-level function, on float images.
    ab = np.random.default_rng(size + 1).normal(0, sigma, (2, n))
    blurred = blur_with(f.astype(np.float32), ab[0], ab[1], T=1.0, zero_centre=True)
    notebook = minmax([notebook_motion_blurring(f[j], ab[1, j], ab[0, j]) for j in range(n)])
    assert np.abs(minmax(blurred) - notebook).max() < 1e-4


@pytest.mark.parametrize("shape", [(32, 32), (16, 24), (15, 17), (3, 4)])
def test_zero_centre_removes_dc_and_halves_the_lowest_bins(shape):
    # Against eq. (9) alone on the same images and (a, b): the spectra agree except DC (removed)
    # and the bins (+-1, 0), (0, +-1), (1, 1), (-1, -1) (halved); (1, -1), (-1, 1) are not zeroed.
    x = np.random.default_rng(4).uniform(0, 1, (4, *shape)).astype(np.float32)
    a, b = np.random.default_rng(5).normal(0, 0.2, (2, 4))
    eq9 = np.fft.fft2(blur_with(x, a, b, T=1.0, zero_centre=False).astype(np.float64))
    ours = np.fft.fft2(blur_with(x, a, b, T=1.0, zero_centre=True).astype(np.float64))
    factor = np.ones(shape)
    for r, c in ((1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, -1)):
        factor[r, c] = 0.5
    factor[0, 0] = 0
    np.testing.assert_allclose(ours, eq9 * factor, atol=1e-4 * np.sqrt(x[0].size))
    assert np.abs(eq9[:, 0, 1]).min() > 0.01  # the halved bins are not empty to begin with


@pytest.mark.parametrize("shape", [(2, 6), (6, 2), (3, 1), (1, 4), (2, 2), (5, 5), (4, 7)])
def test_zero_centre_on_small_sizes_matches_the_full_spectrum(shape):
    # Where the zeroed bins meet the Nyquist ones or each other, the half-grid transfer is still
    # real(IFFT2(FFT2(f) M H)).
    x = np.random.default_rng(6).uniform(0, 1, (3, *shape)).astype(np.float32)
    a, b = np.random.default_rng(7).normal(0, 0.3, (2, 3))
    g = blur_with(x, a, b, T=1.5, zero_centre=True)
    for j in range(3):
        expected = _centred_reference(x[j].astype(np.float64), a[j], b[j], T=1.5, zero_centre=True)
        np.testing.assert_allclose(g[j], expected, atol=2e-6)


def test_zero_centre_differs_measurably_from_eq9(smooth_images, specs):
    images = smooth_images(12, 96)
    kw = {"seed": 0, "stream": "blurry"}
    x = images.astype(np.float32) / 255
    g_eq9, _ = degrade_float(x, [specs["motion_blur"]], **kw)
    g_zc, _ = degrade_float(x, [specs["motion_blur_zc"]], **kw)
    # Eq. (9) keeps each image's mean (H(0, 0) = T = 1); the zeroed centre removes it.
    np.testing.assert_allclose(g_eq9.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=1e-5)
    assert np.abs(g_zc.mean(axis=(1, 2))).max() < 1e-5 and x.mean() > 0.2
    # What the query sets store (min-max, uint8) differs too: the lowest frequencies are halved.
    out_eq9 = degrade(images, [specs["motion_blur"]], rescale="minmax", threads=1, **kw).astype(float)
    out_zc = degrade(images, [specs["motion_blur_zc"]], rescale="minmax", threads=1, **kw).astype(float)
    assert np.abs(out_zc - out_eq9).mean(axis=(1, 2)).min() > 5
