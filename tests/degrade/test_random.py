"""cbir.degrade.random: counter-based draws, a pure function of (key, image index, counter)."""

import numpy as np
import pytest

from cbir.degrade.random import PIXELS, CounterRandom
from cbir.seeding import stream_key


def test_a_row_depends_only_on_its_index_not_on_the_batch():
    idx = np.array([7, 3, 1000, 0, 42])
    rand = CounterRandom(123, idx)
    np.testing.assert_array_equal(rand.subset([1, 3]).bits(5, 4), CounterRandom(123, idx[[1, 3]]).bits(5, 4))
    np.testing.assert_array_equal(
        rand.subset(slice(2, 5)).uint16(PIXELS, 9), CounterRandom(123, idx[2:]).uint16(PIXELS, 9)
    )
    assert len(rand.subset([0, 4])) == 2
    # Other keys, indices and counters give other words.
    assert not np.array_equal(rand.bits(0, 8), CounterRandom(124, idx).bits(0, 8))
    assert not np.array_equal(rand.bits(0, 8), rand.bits(8, 8))
    assert len(np.unique(rand.bits(0, 64))) == 5 * 64


def test_for_stream_keys_on_the_seeding_stream_key():
    idx = np.arange(10)
    a = CounterRandom.for_stream(3, "denoiser/epoch3/step7", idx)
    np.testing.assert_array_equal(a.base, CounterRandom(stream_key(3, "denoiser/epoch3/step7"), idx).base)
    assert stream_key(0, "noisy") == stream_key(0, "noisy") != stream_key(0, "noisy2")


def test_words_are_the_hashes_cut_in_little_endian_pieces():
    rand = CounterRandom(9, np.arange(3))
    h = rand.bits(PIXELS, 2)
    np.testing.assert_array_equal(rand.uint32(PIXELS, 3), h.astype("<u8").view("<u4")[:, :3])
    np.testing.assert_array_equal(rand.uint16(PIXELS, 7), h.astype("<u8").view("<u2")[:, :7])


def test_uniform_words_and_normal_draws_have_the_right_statistics():
    rand = CounterRandom(1, np.arange(2000))
    words = rand.uint16(PIXELS, 64).astype(np.float64) / 65536
    assert words.mean() == pytest.approx(0.5, abs=0.002) and words.std() == pytest.approx(12**-0.5, rel=0.01)
    z = rand.normal(1, 3, np.float64)  # an odd count: the halves of the Box-Muller pairs
    assert z.shape == (2000, 3)
    assert abs(z.mean()) < 0.05 and z.std() == pytest.approx(1, rel=0.03)
    assert np.mean(np.abs(z) < 1) == pytest.approx(0.683, abs=0.02)
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.06


def test_choice_is_uniform_and_exact_for_each_k():
    rand = CounterRandom(2, np.arange(30000))
    for k in (1, 2, 3, 5):
        c = rand.choice(k)
        assert c.dtype == np.int64 and c.min() == 0 and c.max() == k - 1
        assert np.allclose(np.bincount(c) / 30000, 1 / k, atol=0.015)
