"""The dataset figure built from arrays: the grid of panels, which image each shows, absent views."""

from __future__ import annotations

import numpy as np
from matplotlib.image import imread

from cbir.norb import CATEGORIES, TEST_INSTANCES, TRAIN_INSTANCES
from cbir.plots import plt, save_figure
from cbir.plots.dataset import N_COLUMNS, SWEEP_OBJECT, VIEW, dataset_figure

SIZE = 8


def _splits(drop: tuple[int, int] | None = None) -> dict:
    """Both splits holding exactly the views the figure shows, each image a distinct texture
    whose mean encodes its row (so a panel can be traced back to its factors)."""
    elevation, azimuth, lighting = VIEW
    cat, inst = SWEEP_OBJECT
    keys = {(c, i, elevation, azimuth, lighting) for c in range(len(CATEGORIES)) for i in range(N_COLUMNS)}
    keys |= {(cat, inst, elevation, a, lighting) for a in range(18)}
    keys |= {(cat, inst, e, azimuth, lighting) for e in range(9)}
    keys |= {(cat, inst, elevation, azimuth, k) for k in range(6)}
    if drop is not None:
        keys.discard((*drop, elevation, azimuth, lighting))
    rng = np.random.default_rng(0)
    splits = {}
    for name, instances in (("train", TRAIN_INSTANCES), ("test", TEST_INSTANCES)):
        rows = sorted(k for k in keys if k[1] in instances)
        labels = np.array([k[0] for k in rows], np.int64)
        info = np.array([(k[1], k[2], 2 * k[3], k[4]) for k in rows], np.int64)
        images = rng.integers(0, 256, (len(rows), 2, SIZE, SIZE), dtype=np.uint8)
        splits[name] = (images, labels, info)
    return splits


def _image_of(splits, category, instance, elevation, azimuth, lighting, camera=0):
    for images, labels, info in splits.values():
        hit = (labels == category) & (info == (instance, elevation, 2 * azimuth, lighting)).all(1)
        if hit.any():
            return images[np.flatnonzero(hit)[0], camera]
    return None


def test_panels_show_every_instance_and_the_sweep():
    splits = _splits()
    fig = dataset_figure(splits, categories=CATEGORIES)
    axes = np.array(fig.get_axes()).reshape(len(CATEGORIES) + 3, N_COLUMNS)
    shown = [ax for ax in axes.flat if ax.get_images()]
    assert len(shown) == 50 + 9 + 9 + 8  # instances, azimuths, elevations, lightings and cameras
    assert [ax.axison for ax in axes[5:].flat].count(True) == 9 + 9 + 8  # unused cells blank
    elevation, azimuth, lighting = VIEW
    cat, inst = SWEEP_OBJECT
    for c, name in enumerate(CATEGORIES):
        assert axes[c, 0].get_ylabel() == f"{c}: {name}"
        for i in range(N_COLUMNS):
            split = "train" if i in TRAIN_INSTANCES else "test"
            assert axes[c, i].get_title() == f"{i} ({split})"
            expected = _image_of(splits, c, i, elevation, azimuth, lighting)
            np.testing.assert_array_equal(axes[c, i].get_images()[0].get_array(), expected)
    for k in range(9):
        np.testing.assert_array_equal(
            axes[5, k].get_images()[0].get_array(), _image_of(splits, cat, inst, elevation, 2 * k, lighting)
        )
        np.testing.assert_array_equal(
            axes[6, k].get_images()[0].get_array(), _image_of(splits, cat, inst, k, azimuth, lighting)
        )
    for k in range(6):
        np.testing.assert_array_equal(
            axes[7, k].get_images()[0].get_array(), _image_of(splits, cat, inst, elevation, azimuth, k)
        )
    for camera in (0, 1):
        np.testing.assert_array_equal(
            axes[7, 6 + camera].get_images()[0].get_array(),
            _image_of(splits, cat, inst, elevation, azimuth, lighting, camera),
        )
    plt.close(fig)


def test_a_view_missing_from_the_data_is_marked_absent():
    fig = dataset_figure(_splits(drop=(3, 7)), categories=CATEGORIES)
    axes = np.array(fig.get_axes()).reshape(len(CATEGORIES) + 3, N_COLUMNS)
    assert not axes[3, 7].get_images()
    assert [t.get_text() for t in axes[3, 7].texts] == ["absent"]
    assert sum(bool(ax.get_images()) for ax in axes.flat) == 75
    plt.close(fig)


def _row_spread(fig, tmp_path) -> tuple[tuple[int, int], list[float]]:
    """Pixel size of the saved PNG and the grey-level spread of each panel row below the title."""
    save_figure(fig, tmp_path / "dataset.png")
    png = imread(tmp_path / "dataset.png")[..., :3].mean(-1)
    bands = np.array_split(png[int(0.06 * png.shape[0]) :], len(CATEGORIES) + 3)
    return png.shape, [float(band.std()) for band in bands]


def test_saved_png_has_its_size_and_no_blank_row(tmp_path):
    (height, width), spread = _row_spread(dataset_figure(_splits(), categories=CATEGORIES), tmp_path)
    assert 1300 < width < 1700 and 1200 < height < 1500  # 12.5 x 11.4 in at 120 dpi, trimmed
    assert min(spread) > 0.25, spread  # every row shows textured images


def test_a_view_the_data_lacks_leaves_the_rows_blank(tmp_path):
    fig = dataset_figure(_splits(), categories=CATEGORIES, view=(0, 9, 3))
    assert not any(ax.get_images() for ax in fig.get_axes())
    _, spread = _row_spread(fig, tmp_path)
    assert max(spread) < 0.12, spread  # titles and "absent" only


def test_examples_figure_of_labelled_images_has_a_row_per_class(tmp_path):
    """A folder source: one row per class with its name and counts, examples of that class only,
    a class without images marked, more classes than MAX_CLASSES cut to the first ones."""
    from cbir.plots.dataset import examples_figure

    rng = np.random.default_rng(1)
    counts = {"train": [9, 2, 0, 5], "test": [1, 1, 0, 3]}
    names = ["alpha", "beta", "gamma", "delta"]
    splits = {}
    for split, per_class in counts.items():
        labels = rng.permutation(np.repeat(np.arange(4), per_class))
        images = (labels[:, None, None] * 60 + rng.integers(0, 40, (len(labels), SIZE, SIZE))).astype(np.uint8)
        splits[split] = (images, labels)
    fig = examples_figure(splits, classes=names, columns=5, seed=0)
    axes = np.array(fig.get_axes()).reshape(4, 5)
    for c, name in enumerate(names):
        total = counts["train"][c] + counts["test"][c]
        noun = "image" if total == 1 else "images"
        assert (
            axes[c, 0].get_ylabel()
            == f"{c}: {name}\n{total} {noun}\ntrain {counts['train'][c]}\ntest {counts['test'][c]}"
        )
        shown = [ax for ax in axes[c] if ax.get_images()]
        assert len(shown) == min(5, total)
        for ax in shown:
            split, row = ax.get_title().split()
            assert splits[split][1][int(row)] == c
            np.testing.assert_array_equal(ax.get_images()[0].get_array(), splits[split][0][int(row)])
    assert [t.get_text() for t in axes[2, 0].texts] == ["no images"]
    assert fig._suptitle.get_text().startswith("4 classes, 21 images (train 16, test 5); 5 random examples")
    save_figure(fig, tmp_path / "examples.png")
    png = imread(tmp_path / "examples.png")[..., :3].mean(-1)
    bands = np.array_split(png[int(0.08 * png.shape[0]) :, int(0.3 * png.shape[1]) :], 4)
    spread = [float(band.std()) for band in bands]
    assert min(spread[0], spread[1], spread[3]) > 0.1 and spread[2] < 0.05, spread  # gamma's row blank

    many = {"train": (np.zeros((30, SIZE, SIZE), np.uint8), np.arange(30) % 25)}
    fig = examples_figure(many, classes=[f"c{c}" for c in range(25)], columns=2, max_classes=20)
    assert len(fig.get_axes()) == 20 * 2
    assert "25 classes (the first 20 shown)" in fig._suptitle.get_text()
    assert fig.get_axes()[0].get_ylabel() == "0: c0\n2 images"  # one split: no per-split counts
    plt.close(fig)
