"""The smallNORB surrogate renderer (cbir.synth) on small factor grids."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from cbir import synth
from cbir.norb import TEST_INSTANCES, TRAIN_INSTANCES, official_name, read_split_from

REPO = Path(__file__).resolve().parents[1]
GRID = {"elevations": [0, 8], "azimuths": [0, 9], "lightings": [0, 3]}
SIZE = 32
PLAIN = {"noise": 0.0, "blur": 0.0}  # exact background values


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Both splits of a small grid at 32 px, written by `synthesize`."""
    folder = tmp_path_factory.mktemp("synthnorb")
    synth.synthesize(folder, seed=0, image_size=SIZE, **GRID)
    return folder


def read_independently(path: Path) -> np.ndarray:
    """A reader written from the published format, independent of cbir.norb."""
    raw = path.read_bytes()
    magic, ndim = struct.unpack("<ii", raw[:8])
    dims = struct.unpack(f"<{max(ndim, 3)}i", raw[8 : 8 + 4 * max(ndim, 3)])[:ndim]
    dtype = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.dtype("<i4")}[magic]
    return np.frombuffer(raw, dtype, offset=8 + 4 * max(ndim, 3)).reshape(dims)


def test_six_official_files_with_exact_shapes_and_types(small):
    n = 5 * 5 * 2 * 2 * 2
    for split in ("train", "test"):
        dat = read_independently(small / official_name(split, "dat"))
        cat = read_independently(small / official_name(split, "cat"))
        info = read_independently(small / official_name(split, "info"))
        assert dat.shape == (n, 2, SIZE, SIZE) and dat.dtype == np.uint8
        assert cat.shape == (n,) and cat.dtype == np.dtype("<i4")
        assert info.shape == (n, 4) and info.dtype == np.dtype("<i4")
        data = read_split_from(small, split)
        np.testing.assert_array_equal(data.images, dat)
        np.testing.assert_array_equal(data.labels, cat)
        np.testing.assert_array_equal(data.info, info)
    assert sorted(p.name for p in small.iterdir()) == sorted(
        official_name(s, k) for s in ("train", "test") for k in ("dat", "cat", "info")
    )


@pytest.mark.parametrize("split,instances", [("train", TRAIN_INSTANCES), ("test", TEST_INSTANCES)])
def test_factor_grid_complete_once_and_in_documented_order(small, split, instances):
    data = read_split_from(small, split)
    rows = [tuple(r) for r in np.column_stack([data.labels, data.info]).tolist()]
    expected = list(
        itertools.product(
            range(5), sorted(instances), GRID["elevations"], [2 * a for a in GRID["azimuths"]], GRID["lightings"]
        )
    )
    assert rows == expected  # every combination exactly once, category-major, lighting fastest
    assert set(data.info[:, 0].tolist()) == set(instances)


def test_full_grid_factor_values():
    assert synth.ELEVATIONS_DEG == tuple(range(30, 71, 5))
    assert synth.AZIMUTHS_DEG == tuple(range(0, 341, 20))
    assert len(synth.LIGHTINGS) == 6
    split = synth.render_grid([4], categories=[1], elevations=[8], azimuths=[17], lightings=[5], image_size=8)
    assert split.info.tolist() == [[4, 8, 34, 5]] and split.labels.tolist() == [1]


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    again = synth.synthesize(tmp_path / "again", seed=0, image_size=SIZE, **GRID)
    for path in again:
        assert path.read_bytes() == (small / path.name).read_bytes(), path.name
    other = synth.render_grid([4], categories=[2], image_size=SIZE, seed=1, **GRID)
    first = read_split_from(small, "train")
    rows = (first.labels == 2) & (first.info[:, 0] == 4)
    assert not np.array_equal(other.images, first.images[rows])


def test_worker_processes_give_the_same_images():
    one = synth.render_grid([4, 6], categories=[0, 3], image_size=16, threads=1, **GRID)
    two = synth.render_grid([4, 6], categories=[0, 3], image_size=16, threads=2, **GRID)
    np.testing.assert_array_equal(one.images, two.images)


def test_a_view_does_not_depend_on_the_rest_of_the_grid():
    full, _ = synth.render_views(3, 7, elevations=[0, 4], azimuths=[2, 5], lightings=[1, 4], image_size=SIZE)
    alone, _ = synth.render_views(3, 7, elevations=[4], azimuths=[5], lightings=[4], image_size=SIZE)
    np.testing.assert_array_equal(full[1, 1, 1], alone[0, 0, 0])


def test_objects_visible_centred_and_inside_the_frame(small):
    data = read_split_from(small, "test")
    ys, xs = np.mgrid[0:SIZE, 0:SIZE]
    for category in range(5):
        for lighting in GRID["lightings"]:
            rows = (data.labels == category) & (data.info[:, 3] == lighting)
            images = data.images[rows].reshape(-1, SIZE, SIZE).astype(float)
            background = synth.background_level(lighting, synth.RenderParams())
            mask = np.abs(images - background) > 8
            area = mask.mean((1, 2))
            assert (area > 0.01).all() and (area < 0.6).all(), (category, area)
            cy = (mask * ys).sum((1, 2)) / mask.sum((1, 2))
            cx = (mask * xs).sum((1, 2)) / mask.sum((1, 2))
            assert np.abs(cy - SIZE / 2).max() < 0.2 * SIZE and np.abs(cx - SIZE / 2).max() < 0.2 * SIZE
            border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], 1)
            assert (np.abs(border - background) > 8).mean() < 0.01  # the frame cuts (almost) nothing


def test_stereo_cameras_differ_slightly():
    params = synth.RenderParams(**PLAIN)
    for category in range(5):
        images, masks = synth.render_views(category, 6, [4], [0, 1], [0], image_size=48, params=params)
        left, right, turned = masks[0, 0, 0], masks[0, 0, 1], masks[0, 1, 0]

        def iou(a, b):
            return (a & b).sum() / (a | b).sum()

        # The other camera sees nearly the same silhouette, a 20 degree turn a clearly different one.
        assert 0.5 < iou(left, right) < 1.0
        assert iou(left, turned) < iou(left, right) - 0.1
        assert not np.array_equal(images[0, 0, 0, 0], images[0, 0, 0, 1])


def test_lighting_changes_shading_not_silhouette():
    params = synth.RenderParams(**PLAIN)
    images, masks = synth.render_views(4, 2, [2], [3], [0, 1, 3], image_size=48, params=params)
    mask = masks[0, 0]
    assert mask.shape == (2, 48, 48) and 0.02 < mask.mean() < 0.6
    for k, lighting in enumerate([0, 1, 3]):
        image = images[0, 0, k]
        background = round(synth.background_level(lighting, params))
        assert (image[~mask] == background).all()  # outside the silhouette: plain background
        assert (image[mask] != background).mean() > 0.9
    shading_change = images[0, 0, 0][mask].astype(int) - images[0, 0, 1][mask]
    assert (shading_change != 0).mean() > 0.5  # light from the left vs from the right
    assert np.corrcoef(images[0, 0, 0][mask], images[0, 0, 1][mask])[0, 1] < 0.9


def test_instances_differ_within_a_category_and_categories_differ():
    params = synth.RenderParams(**PLAIN)
    masks = {
        (c, i): synth.render_views(c, i, [4], [3], [0], 40, params=params)[1][0, 0, 0] for c in range(5) for i in (4, 6)
    }
    for c in range(5):
        assert (masks[c, 4] != masks[c, 6]).mean() > 0.01
    # Human figures are thin, vehicles are bulky: the categories keep their structure.
    assert masks[1, 4].mean() < masks[3, 4].mean() and masks[1, 6].mean() < masks[4, 6].mean()


def test_primitives_are_well_formed():
    for category in range(5):
        prims = synth.build_instance(category, 9, seed=3)
        n = len(prims["kind"])
        assert 6 <= n <= 40
        np.testing.assert_allclose(
            np.einsum("pij,pjk->pik", prims["A"], prims["linear"]), np.tile(np.eye(3), (n, 1, 1)), atol=1e-9
        )
        assert (np.linalg.norm(prims["center"], axis=1) + prims["radius"] < 1.6).all()


def test_renderer_parameters_are_validated():
    with pytest.raises(synth.SynthConfigError, match="dataset.synthetic.colour"):
        synth.RenderParams.from_dict({"colour": 1})
    with pytest.raises(synth.SynthConfigError, match="dataset.synthetic.blur"):
        synth.RenderParams.from_dict({"blur": 0.5})
    with pytest.raises(ValueError, match="azimuth"):
        synth.render_views(0, 0, azimuths=[18])


def test_config_and_schema_match_the_renderer_defaults():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["dataset"]["synthetic"]
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    properties = schema["properties"]["dataset"]["properties"]["synthetic"]["properties"]
    defaults = synth.RenderParams()
    assert set(properties) == {"seed"} | set(vars(defaults))
    for name, value in vars(defaults).items():
        assert properties[name]["default"] == pytest.approx(value), name
        assert properties[name]["description"]
        assert config[name] == pytest.approx(value), name
    synth.RenderParams.from_dict({k: v for k, v in config.items() if k != "seed"})


def test_dataset_figure(small, tmp_path):
    from cbir.plots.dataset import plot_dataset

    out = tmp_path / "figures" / "dataset.png"
    plot_dataset(small, out, view=(0, 9, 3), sweep_object=(3, 4))  # factors this small grid holds
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000
