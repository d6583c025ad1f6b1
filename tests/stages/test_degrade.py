"""Stages of degrade.smk: query-set files from the test split, and Figure 6 as a PNG."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from matplotlib.image import imread

from cbir.degrade import DegradationError, degrade, spec_choices
from cbir.h5store import COLUMNS, read_image_set, write_image_set
from cbir.imagemath import BlankedImagesError
from cbir.stages.degrade import degrade_query_set, plot_degradations

NOISY = [
    {"name": "gaussian", "sigma": 0.1},
    {"name": "salt_pepper", "amount": 0.1},
    {"name": "motion_blur", "sigma": 0.05, "T": 1.0, "zero_centre": True},
]


@pytest.fixture
def test_split(tmp_path):
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, (50, 16, 16), dtype=np.uint8)
    columns = {name: np.arange(50) * (i + 1) for i, name in enumerate(COLUMNS)}
    write_image_set(tmp_path / "test.h5", images, columns, {"split": "test"})
    return tmp_path / "test.h5", images, columns


def run(test, output, specs, *, query="noisy", chunk_size=512, threads=1, rescale="minmax"):
    degrade_query_set(
        test=test,
        output=output,
        specs=specs,
        query=query,
        seed=3,
        rescale=rescale,
        chunk_size=chunk_size,
        threads=threads,
    )


def test_query_set_is_identical_whatever_the_chunk_size(test_split, tmp_path):
    path, images, columns = test_split
    for chunk, threads in ((7, 1), (1000, 1), (9, 2)):
        run(path, tmp_path / f"q{chunk}.h5", NOISY, chunk_size=chunk, threads=threads)
    with h5py.File(tmp_path / "q7.h5") as a, h5py.File(tmp_path / "q1000.h5") as b, h5py.File(tmp_path / "q9.h5") as c:
        assert a["images"][()].tobytes() == b["images"][()].tobytes() == c["images"][()].tobytes()
    q = read_image_set(tmp_path / "q7.h5")
    for name in COLUMNS:
        np.testing.assert_array_equal(q.columns[name], columns[name])
    assert q.attrs["query"] == "noisy" == q.attrs["stream"] and q.attrs["seed"] == 3 and q.attrs["rescale"] == "minmax"
    assert q.attrs["specs"] == NOISY and q.attrs["specs"][2]["zero_centre"] is True
    assert q.attrs["source"].endswith("test.h5")
    # The spec of each image is not stored: the attributes recompute it.
    choice = spec_choices(3, seed=3, stream="noisy", indices=np.arange(50))
    assert q.attrs["spec_counts"] == {str(k): int(np.sum(choice == k)) for k in range(3)}
    np.testing.assert_array_equal(q.images, degrade(images, NOISY, seed=3, stream="noisy", rescale="minmax", threads=1))
    assert not np.array_equal(q.images, images)


def test_clean_set_and_clip(test_split, tmp_path):
    path, images, _ = test_split
    run(path, tmp_path / "clean.h5", [], query="clean")
    clean = read_image_set(tmp_path / "clean.h5")
    np.testing.assert_array_equal(clean.images, images)
    assert clean.attrs["specs"] == [] and clean.attrs["spec_counts"] == {}
    run(path, tmp_path / "clip.h5", NOISY[:1], rescale="clip")
    clipped = read_image_set(tmp_path / "clip.h5")
    assert clipped.attrs["rescale"] == "clip"
    np.testing.assert_array_equal(
        clipped.images, degrade(images, NOISY[:1], seed=3, stream="noisy", rescale="clip", threads=1)
    )


def test_bad_specs_write_nothing(test_split, tmp_path):
    path, _, _ = test_split
    with pytest.raises(DegradationError, match="divisible by 32"):
        run(path, tmp_path / "q.h5", [{"name": "lowres", "level": 5}])
    with pytest.raises(DegradationError, match="'sigma'"):
        run(path, tmp_path / "q.h5", [{"name": "gaussian"}])
    assert not (tmp_path / "q.h5").exists()


@pytest.mark.parametrize("T", [1e39, 1e200])
def test_overflowing_blur_is_refused_not_written_black(test_split, tmp_path, T):
    """The trial's blackout: float32 overflow turned every image into one grey level with exit 0."""
    path, _, _ = test_split
    blur = {"name": "motion_blur", "sigma": 0.05, "T": T, "zero_centre": True}
    specs = [{"name": "gaussian", "sigma": 0.1}, blur]
    with pytest.raises(
        BlankedImagesError, match=r"q.h5: \d+ of 50 images of query set 'noisy' come out constant"
    ) as err:
        run(path, tmp_path / "q.h5", specs)
    assert f'"T": {T}' in str(err.value) and "gaussian" not in str(err.value)  # the culprit only
    assert not (tmp_path / "q.h5").exists()


def test_figure_png_shows_every_column(test_split, tmp_path):
    path, _, _ = test_split
    queries = {
        "clean": [],
        "noisy": NOISY,
        "gaussian": NOISY[:1],
        "blurry_eq9": [{**NOISY[2], "zero_centre": False}],
        "lowres_x2": [{"name": "lowres", "level": 1}],
    }
    plot_degradations(test=path, output=tmp_path / "fig.png", queries=queries, seed=0, rescale="minmax")
    png = imread(tmp_path / "fig.png")
    height, width = png.shape[:2]
    assert width > height > 200  # 6 columns (original + 5 distinct specs, both blurs) of 4 rows
    grey = png[..., :3].mean(axis=2)
    # Each sixth of the width, across the middle rows, holds image pixels (not blank).
    for k in range(6):
        band = grey[height // 4 : 3 * height // 4, k * width // 6 : (k + 1) * width // 6]
        assert band.std() > 0.1, f"column {k} is blank"
