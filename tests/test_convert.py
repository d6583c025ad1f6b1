"""cbir.convert: which pairs a subset keeps, their image-set columns, area resizing."""

import numpy as np
from conftest import tiny_split

from cbir.convert import pair_columns, resize_batch, select_pairs
from cbir.h5store import COLUMNS

EVERYTHING = {"cameras": [0, 1], "lightings": [0, 1, 2, 3, 4, 5], "azimuth_step": 1, "elevation_step": 1}


def test_subset_selects_lightings_and_factor_steps():
    info = tiny_split(n_pairs=36)["info"]
    np.testing.assert_array_equal(select_pairs(info, EVERYTHING), np.arange(36))
    subset = {**EVERYTHING, "lightings": [0, 2], "azimuth_step": 2, "elevation_step": 3}
    keep = np.isin(info[:, 3], [0, 2]) & ((info[:, 2] // 2) % 2 == 0) & (info[:, 1] % 3 == 0)
    assert keep.sum() > 0
    np.testing.assert_array_equal(select_pairs(info, subset), np.flatnonzero(keep))
    assert len(select_pairs(info, {**subset, "lightings": [5], "elevation_step": 9, "azimuth_step": 18})) == 0


def test_columns_repeat_each_pair_once_per_camera():
    arrays = tiny_split(n_pairs=6)
    pairs = np.array([1, 4])
    columns = pair_columns(arrays["cat"].astype(np.int64), arrays["info"].astype(np.int64), pairs, [0, 1])
    assert set(columns) == set(COLUMNS)
    assert all(c.dtype == np.int64 and len(c) == 4 for c in columns.values())
    np.testing.assert_array_equal(columns["camera"], [0, 1, 0, 1])
    np.testing.assert_array_equal(columns["label"], np.repeat(arrays["cat"][pairs], 2))
    for j, name in enumerate(["instance", "elevation", "azimuth", "lighting"]):
        np.testing.assert_array_equal(columns[name], np.repeat(arrays["info"][pairs, j], 2))
    one = pair_columns(arrays["cat"], arrays["info"], pairs, [1])
    np.testing.assert_array_equal(one["camera"], [1, 1])


def test_area_resize_by_an_integer_factor_is_the_block_mean():
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 8), dtype=np.uint8)
    small = resize_batch(images, 4)
    assert small.shape == (5, 4, 4) and small.dtype == np.uint8
    blocks = images.reshape(5, 4, 2, 4, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_allclose(small, blocks, atol=1)
    assert resize_batch(images, 8) is images  # already the size: untouched
