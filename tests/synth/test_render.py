"""cbir.synth.render: views and factor grids of the rendered objects, on small grids."""

import dataclasses
import itertools

import numpy as np
import pytest

from cbir.norb import TEST_INSTANCES, TRAIN_INSTANCES
from cbir.synth.params import LIGHTINGS
from cbir.synth.render import background_level, render_grid, render_views

GRID = {"elevations": [0, 8], "azimuths": [0, 9], "lightings": [0, 3]}
SIZE = 32
CATEGORIES = range(5)


@pytest.fixture(scope="module")
def test_split(params):
    """The test split's objects over the small grid at 32 px."""
    return render_grid(TEST_INSTANCES, categories=CATEGORIES, image_size=SIZE, seed=0, params=params, **GRID)


def test_rows_in_documented_order_and_types(test_split):
    images, labels, info = test_split
    n = 5 * 5 * 2 * 2 * 2
    assert images.shape == (n, 2, SIZE, SIZE) and images.dtype == np.uint8
    assert labels.shape == (n,) and info.shape == (n, 4) and labels.dtype == info.dtype == np.int64
    rows = [tuple(r) for r in np.column_stack([labels, info]).tolist()]
    expected = itertools.product(
        CATEGORIES, sorted(TEST_INSTANCES), GRID["elevations"], [2 * a for a in GRID["azimuths"]], GRID["lightings"]
    )
    assert rows == list(expected)  # every combination exactly once, category-major, lighting fastest


def test_full_grid_corner(params):
    _, labels, info = render_grid(
        [4], categories=[1], elevations=[8], azimuths=[17], lightings=[5], image_size=8, seed=0, params=params
    )
    assert info.tolist() == [[4, 8, 34, 5]] and labels.tolist() == [1]


def test_same_seed_same_bytes_other_seed_other_bytes(test_split, params):
    options = {"categories": [2], "image_size": SIZE, "params": params, **GRID}
    again = render_grid([1], seed=0, **options)[0]
    other = render_grid([1], seed=1, **options)[0]
    images, labels, info = test_split
    rows = (labels == 2) & (info[:, 0] == 1)
    assert again.tobytes() == images[rows].tobytes()
    assert not np.array_equal(other, images[rows])


def test_worker_processes_give_the_same_images(params):
    options = {"categories": [0, 3], "image_size": 16, "seed": 0, "params": params, **GRID}
    one = render_grid([4, 6], threads=1, **options)
    two = render_grid([4, 6], threads=2, **options)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_view_does_not_depend_on_the_rest_of_the_grid(params):
    options = {"image_size": SIZE, "seed": 0, "params": params}
    full, _ = render_views(3, 7, elevations=[0, 4], azimuths=[2, 5], lightings=[1, 4], **options)
    alone, _ = render_views(3, 7, elevations=[4], azimuths=[5], lightings=[4], **options)
    np.testing.assert_array_equal(full[1, 1, 1], alone[0, 0, 0])


def test_objects_visible_centred_and_inside_the_frame(test_split, params):
    images, labels, info = test_split
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    for category in CATEGORIES:
        for lighting in GRID["lightings"]:
            rows = (labels == category) & (info[:, 3] == lighting)
            views = images[rows].reshape(-1, SIZE, SIZE).astype(float)
            background = background_level(lighting, params)
            mask = np.abs(views - background) > 8
            area = mask.mean((1, 2))
            assert (area > 0.01).all() and (area < 0.6).all(), (category, area)
            cy = (mask * ys).sum((1, 2)) / mask.sum((1, 2))
            cx = (mask * xs).sum((1, 2)) / mask.sum((1, 2))
            assert np.abs(cy - SIZE / 2).max() < 0.2 * SIZE and np.abs(cx - SIZE / 2).max() < 0.2 * SIZE
            border = np.concatenate([views[:, 0], views[:, -1], views[:, :, 0], views[:, :, -1]], 1)
            assert (np.abs(border - background) > 8).mean() < 0.01  # the frame cuts (almost) nothing


def test_stereo_cameras_differ_slightly(plain):
    for category in CATEGORIES:
        images, masks = render_views(
            category, 6, elevations=[4], azimuths=[0, 1], lightings=[0], image_size=48, seed=0, params=plain
        )
        left, right, turned = masks[0, 0, 0], masks[0, 0, 1], masks[0, 1, 0]

        def iou(a, b):
            return (a & b).sum() / (a | b).sum()

        # The other camera sees nearly the same silhouette, a 20 degree turn a clearly different one.
        assert 0.5 < iou(left, right) < 1.0
        assert iou(left, turned) < iou(left, right) - 0.1
        assert not np.array_equal(images[0, 0, 0, 0], images[0, 0, 0, 1])


def test_lighting_changes_shading_not_silhouette(plain):
    images, masks = render_views(
        4, 2, elevations=[2], azimuths=[3], lightings=[0, 1, 3], image_size=48, seed=0, params=plain
    )
    mask = masks[0, 0]
    assert mask.shape == (2, 48, 48) and 0.02 < mask.mean() < 0.6
    for k, lighting in enumerate([0, 1, 3]):
        image = images[0, 0, k]
        background = round(background_level(lighting, plain))
        assert (image[~mask] == background).all()  # outside the silhouette: plain background
        assert (image[mask] != background).mean() > 0.9
    shading_change = images[0, 0, 0][mask].astype(int) - images[0, 0, 1][mask]
    assert (shading_change != 0).mean() > 0.5  # light from the left vs from the right
    assert np.corrcoef(images[0, 0, 0][mask], images[0, 0, 1][mask])[0, 1] < 0.9


def test_instances_differ_within_a_category_and_categories_differ(plain):
    options = {"elevations": [4], "azimuths": [3], "lightings": [0], "image_size": 40, "seed": 0, "params": plain}
    masks = {(c, i): render_views(c, i, **options)[1][0, 0, 0] for c in CATEGORIES for i in (4, 6)}
    for c in CATEGORIES:
        assert (masks[c, 4] != masks[c, 6]).mean() > 0.01
    # Human figures are thin, vehicles are bulky: the categories keep their structure.
    assert masks[1, 4].mean() < masks[3, 4].mean() and masks[1, 6].mean() < masks[4, 6].mean()


def test_sensor_noise_has_the_configured_spread_and_is_seeded(plain):
    options = {"elevations": [1], "azimuths": [2], "lightings": range(len(LIGHTINGS)), "image_size": 32, "seed": 0}
    clean, _ = render_views(0, TRAIN_INSTANCES[0], params=plain, **options)
    noisy = dataclasses.replace(plain, noise=3.0)
    first, _ = render_views(0, TRAIN_INSTANCES[0], params=noisy, **options)
    again, _ = render_views(0, TRAIN_INSTANCES[0], params=noisy, **options)
    assert 2.7 < (first.astype(float) - clean).std() < 3.3
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("factor", ["elevations", "azimuths", "lightings"])
def test_factor_indices_are_checked(params, factor):
    options = {"elevations": [0], "azimuths": [0], "lightings": [0], "image_size": 8, "seed": 0, "params": params}
    with pytest.raises(ValueError, match=factor[:-1]):
        render_views(0, 0, **{**options, factor: [18]})
    with pytest.raises(ValueError, match=factor[:-1]):
        render_views(0, 0, **{**options, factor: []})
