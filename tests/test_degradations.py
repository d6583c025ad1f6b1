"""cbir.degradations: the noise statistics, the blur and resolution models, determinism."""

import h5py
import numpy as np
import pytest
import pywt

from cbir.degradations import (
    DEGRADATIONS,
    CounterRandom,
    DegradationError,
    blur_with,
    degrade,
    degrade_float,
    degrade_image_set,
    finish,
    gaussian,
    lowres,
    motion_transfer,
    normal_quantiles,
    salt_pepper,
    spec_choices,
    speckle,
    stream_key,
)
from cbir.h5store import COLUMNS, read_image_set, write_image_set


def smooth_images(n=12, size=32, seed=0):
    """uint8 blobs on a gradient, every image with its own contrast."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx = rng.uniform(0.3, 0.7, (2, n, 1, 1))
    img = 0.2 + 0.6 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.05) + 0.1 * xx
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def rand_for(n, key=1):
    return CounterRandom(key, np.arange(n))


def test_gaussian_residual_has_mean_zero_and_std_sigma_before_the_rescale():
    x = np.full((32, 64, 64), 0.5, np.float32)
    residual = gaussian(x, rand_for(32), sigma=0.1) - x  # 131072 draws: the std to 0.2%
    n = residual.size
    assert abs(residual.mean()) < 4 * 0.1 / np.sqrt(n)
    assert residual.std() == pytest.approx(0.1, rel=0.01)
    # Gaussian shape: about 68.3% within one sigma, 95.4% within two.
    assert np.mean(np.abs(residual) < 0.1) == pytest.approx(0.683, abs=0.01)
    assert np.mean(np.abs(residual) < 0.2) == pytest.approx(0.954, abs=0.005)
    # Independent across images and pixels.
    flat = residual.reshape(32, -1)
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.05
    assert abs(np.corrcoef(flat[0, :-1], flat[0, 1:])[0, 1]) < 0.05


def test_gaussian_quantile_table_is_the_normal_quantised_to_16_bits():
    q = normal_quantiles()
    assert q.shape == (65536,) and np.all(np.diff(q) > 0)
    np.testing.assert_array_equal(q, -q[::-1])  # exactly symmetric: mean 0
    assert q.std() == pytest.approx(1, abs=2e-5) and 4.3 < q[-1] < 4.35
    # Level k sits at the normal quantile of (k + 1/2) / 65536.
    from statistics import NormalDist

    for k in (0, 1000, 32767, 40000, 65535):
        assert q[k] == pytest.approx(NormalDist().inv_cdf((k + 0.5) / 65536), abs=1e-12)
    # The draws hit the levels with equal chances: tails as the normal's, beyond 3 sigma too.
    x = np.zeros((16, 128, 128), np.float32)
    e = gaussian(x, rand_for(16), sigma=0.1).ravel()  # 262144 draws
    assert np.abs(e).max() <= 0.1 * q[-1] * (1 + 1e-6)
    assert np.mean(np.abs(e) > 0.3) == pytest.approx(0.0027, abs=0.0006)
    assert np.mean(e > 0.2) == pytest.approx(0.02275, abs=0.0015)


def test_salt_pepper_hits_the_fraction_amount_with_exact_zeros_and_ones():
    x = np.full((8, 64, 64), 0.5, np.float32)
    g = salt_pepper(x, rand_for(8), amount=0.1)
    hit = g != 0.5
    n = hit.size
    assert hit.mean() == pytest.approx(0.1, abs=4 * np.sqrt(0.09 / n))
    assert set(np.unique(g[hit])) == {0.0, 1.0}
    assert (g[hit] == 1).mean() == pytest.approx(0.5, abs=4 * np.sqrt(0.25 / hit.sum()))
    # Other pixels keep their value, also for varied images.
    x = np.random.default_rng(0).uniform(0.1, 0.9, (4, 32, 32)).astype(np.float32)
    g = salt_pepper(x, rand_for(4), amount=0.3)
    kept = (g != 0) & (g != 1)
    np.testing.assert_array_equal(g[kept], x[kept])
    assert 1 - kept.mean() == pytest.approx(0.3, abs=0.02)


def test_speckle_stays_within_amount_times_f_and_fills_the_band():
    x = np.random.default_rng(1).uniform(0.05, 1, (8, 64, 64)).astype(np.float32)
    g = speckle(x, rand_for(8), amount=0.1)
    err = g - x
    assert np.all(np.abs(err) <= 0.1 * x * (1 + 1e-6))
    e = err / x
    assert e.max() > 0.099 and e.min() < -0.099
    assert abs(e.mean()) < 4 * (0.2 / np.sqrt(12)) / np.sqrt(e.size)
    assert e.std() == pytest.approx(0.2 / np.sqrt(12), rel=0.01)  # U(-a, a): std a / sqrt(3)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_lowres_is_constant_on_blocks_and_equals_the_rescaled_block_means(level):
    images = smooth_images(6, 32)
    f = 2**level
    out = degrade(images, [{"name": "lowres", "level": level}], seed=0, stream="t")
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
    ref = finish(lowres(x, level=level))
    assert np.abs(ref.astype(int) - out).max() <= 1 and np.mean(ref != out) < 0.01


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
    g = blur_with(x, a, b)
    for j in range(5):
        np.testing.assert_allclose(g[j], _centred_reference(x[j].astype(np.float64), a[j], b[j]), atol=2e-5)
    np.testing.assert_allclose(g[0], x[0], atol=2e-6)  # a = b = 0: the identity
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)  # H(0, 0) = T
    H = motion_transfer(shape, a, b)
    assert np.allclose(H[:, 0, 0], 1) and np.allclose(
        np.fft.fftshift(H, axes=(1, 2))[:, shape[0] // 2, shape[1] // 2], 1
    )


def test_motion_blur_draws_a_and_b_per_image_and_preserves_the_mean():
    x = np.random.default_rng(3).uniform(0, 1, (200, 16, 16)).astype(np.float32)
    g = DEGRADATIONS["motion_blur"](x, rand_for(200), sigma=0.05, T=1.0)
    np.testing.assert_allclose(g.mean(axis=(1, 2)), x.mean(axis=(1, 2)), atol=2e-6)
    ab = 0.05 * rand_for(2000).normal(1, 2, np.float64)
    assert ab.std() == pytest.approx(0.05, rel=0.05) and abs(ab.mean()) < 0.005
    assert not np.allclose(g, x, atol=1e-3)


@pytest.mark.parametrize(
    "spec",
    [
        {"name": "gaussian", "sigma": 0.1},
        {"name": "salt_pepper", "amount": 0.1},
        {"name": "speckle", "amount": 0.1},
        {"name": "motion_blur", "sigma": 0.05, "T": 1.0},
    ],
)
@pytest.mark.parametrize("rescale", ["minmax", "clip"])
def test_degrade_is_the_definition_followed_by_the_finish(spec, rescale):
    images = smooth_images(10, 32)
    out = degrade(images, [spec], seed=4, stream="s", rescale=rescale)
    g, choice = degrade_float(images.astype(np.float32) / 255, [spec], seed=4, stream="s")
    np.testing.assert_array_equal(out, finish(g, rescale))
    assert np.all(choice == 0)
    if rescale == "minmax":
        assert np.all(out.min(axis=(1, 2)) == 0) and np.all(out.max(axis=(1, 2)) == 255)
    else:
        np.testing.assert_array_equal(out, np.floor(np.clip(g, 0, 1) * 255 + 0.5).astype(np.uint8))


def test_motion_blur_scratch_arrays_survive_changing_block_shapes():
    # Blocks of 28 and 2 images at 96 x 96, then 32 x 32, then 96 x 96 again: the kernel's
    # per-thread scratch arrays are resized or sliced, the values stay the definition's.
    spec = [{"name": "motion_blur"}]
    for n, size in ((30, 96), (5, 32), (30, 96)):
        images = smooth_images(n, size, seed=size)
        g, _ = degrade_float(images.astype(np.float32) / 255, spec, seed=2, stream="b")
        for threads in (1, 2):
            out = degrade(images, spec, seed=2, stream="b", threads=threads)
            np.testing.assert_array_equal(out, finish(g))


def test_finish_keeps_a_constant_image_and_rounds():
    g = np.stack([np.full((4, 4), 0.4), np.linspace(-1, 2, 16).reshape(4, 4)]).astype(np.float32)
    out = finish(g, "minmax")
    assert np.all(out[0] == 102)  # 0.4 * 255 = 102
    assert out[1].min() == 0 and out[1].max() == 255
    assert np.all(finish(g, "clip")[1].ravel()[:6] == 0)


def test_choice_is_uniform_and_seeded_per_stream_and_index():
    choice = spec_choices(3, seed=0, stream="noisy", indices=np.arange(30000))
    assert np.allclose(np.bincount(choice) / 30000, 1 / 3, atol=0.015)
    np.testing.assert_array_equal(choice[100:200], spec_choices(3, seed=0, stream="noisy", indices=np.arange(100, 200)))
    assert np.mean(choice != spec_choices(3, seed=1, stream="noisy", indices=np.arange(30000))) > 0.5
    assert np.mean(choice != spec_choices(3, seed=0, stream="blurry", indices=np.arange(30000))) > 0.5
    assert stream_key(0, "noisy") == stream_key(0, "noisy") != stream_key(0, "noisy2")


def test_mixed_specs_index_subsets_and_clean():
    images = smooth_images(40, 16)
    specs = [{"name": "gaussian"}, {"name": "salt_pepper"}, {"name": "speckle"}, {"name": "lowres", "level": 2}]
    full = degrade(images, specs, seed=5, stream="mix")
    part = degrade(images[5:9], specs, seed=5, stream="mix", indices=np.arange(5, 9))
    np.testing.assert_array_equal(part, full[5:9])
    shuffled = np.random.default_rng(0).permutation(40)
    np.testing.assert_array_equal(
        degrade(images[shuffled], specs, seed=5, stream="mix", indices=shuffled), full[shuffled]
    )
    assert not np.array_equal(full, degrade(images, specs, seed=5, stream="other"))
    np.testing.assert_array_equal(degrade(images, [], seed=5, stream="clean"), images)


@pytest.mark.parametrize("size", [16, 96])
def test_threads_change_nothing(size):
    images = smooth_images(70, size)
    specs = [
        {"name": "gaussian"},
        {"name": "salt_pepper"},
        {"name": "speckle"},
        {"name": "motion_blur"},
        {"name": "lowres", "level": 2},
    ]
    one = degrade(images, specs, seed=6, stream="t")
    np.testing.assert_array_equal(degrade(images, specs, seed=6, stream="t", threads=3), one)
    single = degrade(images, [{"name": "speckle"}], seed=6, stream="t")
    np.testing.assert_array_equal(degrade(images, [{"name": "speckle"}], seed=6, stream="t", threads=2), single)


def _write_test_split(path, n=50, size=16):
    images = smooth_images(n, size, seed=7)
    columns = {name: np.arange(n) * (i + 1) for i, name in enumerate(COLUMNS)}
    write_image_set(path, images, columns, {"split": "test"})
    return images, columns


def test_query_set_is_identical_whatever_the_chunk_size(tmp_path):
    images, columns = _write_test_split(tmp_path / "test.h5")
    specs = [{"name": "gaussian", "sigma": 0.1}, {"name": "salt_pepper"}, {"name": "motion_blur"}]
    for chunk, threads in ((7, 1), (1000, 1), (9, 2)):
        degrade_image_set(
            tmp_path / "test.h5",
            tmp_path / f"q{chunk}.h5",
            specs,
            seed=3,
            query="noisy",
            chunk_size=chunk,
            threads=threads,
        )
    with h5py.File(tmp_path / "q7.h5") as a, h5py.File(tmp_path / "q1000.h5") as b, h5py.File(tmp_path / "q9.h5") as c:
        assert a["images"][()].tobytes() == b["images"][()].tobytes() == c["images"][()].tobytes()
    q = read_image_set(tmp_path / "q7.h5")
    for name in COLUMNS:
        np.testing.assert_array_equal(q.columns[name], columns[name])
    assert q.attrs["query"] == "noisy" and q.attrs["seed"] == 3 and q.attrs["rescale"] == "minmax"
    assert q.attrs["specs"][1] == {"name": "salt_pepper", "amount": 0.1}  # defaults filled in
    assert q.attrs["source"].endswith("test.h5")
    np.testing.assert_array_equal(q.images, degrade(images, specs, seed=3, stream="noisy"))
    assert not np.array_equal(q.images, images)
    degrade_image_set(tmp_path / "test.h5", tmp_path / "clean.h5", [], seed=3, query="clean")
    np.testing.assert_array_equal(read_image_set(tmp_path / "clean.h5").images, images)


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        ([{"name": "blur"}], "'blur': unknown"),
        ([{"name": "gaussian", "sigma": -0.1}], "'sigma'"),
        ([{"name": "gaussian", "amount": 0.1}], "'amount'"),
        ([{"name": "speckle", "amount": "x"}], "'amount'"),
        ([{"name": "salt_pepper", "amount": 1.5}], "'amount'"),
        ([{"name": "motion_blur", "T": 0}], "'T'"),
        ([{"name": "lowres", "level": 4}], "'level'"),
        ([{"name": "lowres", "level": 1.5}], "'level'"),
        ([{"name": "lowres", "level": 3}], "divisible by 8"),
        ([{"sigma": 0.1}], "'name'"),
    ],
)
def test_bad_names_and_parameters_are_rejected_by_name(specs, message):
    images = smooth_images(2, 20)
    with pytest.raises(DegradationError, match=message):
        degrade(images, specs, seed=0, stream="t")


def test_bad_options_are_rejected(tmp_path):
    images = smooth_images(2, 16)
    with pytest.raises(DegradationError, match="rescale"):
        degrade(images, [{"name": "gaussian"}], seed=0, stream="t", rescale="stretch")
    with pytest.raises(DegradationError, match="uint8"):
        degrade(images.astype(float), [{"name": "gaussian"}], seed=0, stream="t")
    for threads in (0, 1.5, True):
        with pytest.raises(DegradationError, match="threads"):
            degrade(images, [{"name": "gaussian"}], seed=0, stream="t", threads=threads)
    _write_test_split(tmp_path / "test.h5")
    with pytest.raises(DegradationError, match="chunk_size"):
        degrade_image_set(tmp_path / "test.h5", tmp_path / "q.h5", [], seed=0, query="q", chunk_size=0)
    assert not (tmp_path / "q.h5").exists()
