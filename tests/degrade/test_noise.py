"""cbir.degrade.noise: the noise statistics (through the float definitions) and the uint8 kernels."""

from statistics import NormalDist

import numpy as np
import pytest

from cbir.degrade import CounterRandom, finish, normal_quantiles
from cbir.degrade.noise import gaussian_kernel, salt_pepper_kernel, salt_pepper_threshold, speckle_kernel
from cbir.degrade.reference import gaussian, salt_pepper, speckle


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
    assert salt_pepper_threshold(0.1) % 2 == 0 and abs(salt_pepper_threshold(0.1) / 2**16 - 0.1) < 2**-16


def test_speckle_stays_within_amount_times_f_and_fills_the_band():
    x = np.random.default_rng(1).uniform(0.05, 1, (8, 64, 64)).astype(np.float32)
    g = speckle(x, rand_for(8), amount=0.1)
    err = g - x
    assert np.all(np.abs(err) <= 0.1 * x * (1 + 1e-6))
    e = err / x
    assert e.max() > 0.099 and e.min() < -0.099
    assert abs(e.mean()) < 4 * (0.2 / np.sqrt(12)) / np.sqrt(e.size)
    assert e.std() == pytest.approx(0.2 / np.sqrt(12), rel=0.01)  # U(-a, a): std a / sqrt(3)


@pytest.mark.parametrize(
    ("kernel", "definition", "params"),
    [
        (gaussian_kernel, gaussian, {"sigma": 0.1}),
        (salt_pepper_kernel, salt_pepper, {"amount": 0.1}),
        (salt_pepper_kernel, salt_pepper, {"amount": 0.001}),  # images missing 0 or 255: the full min-max
        (speckle_kernel, speckle, {"amount": 0.3}),
    ],
)
@pytest.mark.parametrize("rescale", ["minmax", "clip"])
def test_kernels_equal_the_definitions_followed_by_the_finish(kernel, definition, params, rescale, smooth_images):
    p = smooth_images(9, 16)
    out = np.empty_like(p)
    kernel(p, rand_for(9), params, rescale, out)
    np.testing.assert_array_equal(out, finish(definition(p.astype(np.float32) / 255, rand_for(9), **params), rescale))
