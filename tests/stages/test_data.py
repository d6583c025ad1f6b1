"""Stages of data.smk: the raw smallNORB files (downloaded or rendered), their conversion to
HDF5 image sets and the dataset figure; the data rules run by Snakemake against a real HTTP
server on 127.0.0.1."""

from __future__ import annotations

import gzip
import itertools
import struct
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, norb_bytes, run_snakemake, tiny_split, write_config
from flaky_server import serving
from matplotlib.image import imread

from cbir.download import DownloadError
from cbir.h5store import read_image_set
from cbir.norb import KINDS, TEST_INSTANCES, TRAIN_INSTANCES, NorbFormatError, official_name, read_split_from
from cbir.stages.data import convert_split, download, plot_dataset, synthesize
from cbir.synth import RenderParams, render_grid

GRID = {"elevations": [0, 8], "azimuths": [0, 9], "lightings": [0, 3]}
SIZE = 32
EVERYTHING = {"cameras": [0, 1], "lightings": [0, 1, 2, 3, 4, 5], "azimuth_step": 1, "elevation_step": 1}


def default_synthetic() -> dict:
    """Config `dataset.synthetic` of the default run (every key; the schema's defaults)."""
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["dataset"]["synthetic"]


def render_params(synthetic: dict) -> RenderParams:
    return RenderParams(**{k: v for k, v in synthetic.items() if k != "seed"})


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    """Both splits of a small grid at 32 px, written by `synthesize`."""
    folder = tmp_path_factory.mktemp("synthnorb")
    synthesize(folder=folder, synthetic=default_synthetic(), threads=1, image_size=SIZE, **GRID)
    return folder


def read_independently(path: Path) -> np.ndarray:
    """A reader written from the published format, independent of cbir.norb."""
    raw = path.read_bytes()
    magic, ndim = struct.unpack("<ii", raw[:8])
    dims = struct.unpack(f"<{max(ndim, 3)}i", raw[8 : 8 + 4 * max(ndim, 3)])[:ndim]
    dtype = {0x1E3D4C55: np.uint8, 0x1E3D4C54: np.dtype("<i4")}[magic]
    return np.frombuffer(raw, dtype, offset=8 + 4 * max(ndim, 3)).reshape(dims)


# --------------------------------------------------------------------------------------
# synthesize
# --------------------------------------------------------------------------------------


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
        official_name(s, k) for s in ("train", "test") for k in KINDS
    )


@pytest.mark.parametrize("split,instances", [("train", TRAIN_INSTANCES), ("test", TEST_INSTANCES)])
def test_factor_grid_complete_once_and_in_documented_order(small, split, instances):
    data = read_split_from(small, split)
    rows = [tuple(r) for r in np.column_stack([data.labels, data.info]).tolist()]
    expected = itertools.product(
        range(5), sorted(instances), GRID["elevations"], [2 * a for a in GRID["azimuths"]], GRID["lightings"]
    )
    assert rows == list(expected)  # every combination exactly once, category-major, lighting fastest


def test_files_hold_the_rendered_arrays_of_the_configured_seed_and_parameters(small, tmp_path):
    synthetic = default_synthetic()
    images, labels, info = render_grid(
        TEST_INSTANCES, categories=range(5), image_size=SIZE, seed=0, params=render_params(synthetic), **GRID
    )
    data = read_split_from(small, "test")
    assert data.images.tobytes() == images.tobytes()
    np.testing.assert_array_equal(data.labels, labels)
    np.testing.assert_array_equal(data.info, info)
    again = synthesize(folder=tmp_path / "again", synthetic=synthetic, threads=2, image_size=SIZE, **GRID)
    assert [p.name for p in again] == [official_name(s, k) for s in ("train", "test") for k in KINDS]
    for path in again:
        assert path.read_bytes() == (small / path.name).read_bytes(), path.name
    other = synthesize(folder=tmp_path / "other", synthetic={**synthetic, "seed": 1}, threads=1, image_size=8, **GRID)
    smaller = synthesize(folder=tmp_path / "small", synthetic=synthetic, threads=1, image_size=8, **GRID)
    assert other[0].read_bytes() != smaller[0].read_bytes()  # the seed comes from the section
    with pytest.raises(TypeError, match="colour"):
        synthesize(folder=tmp_path / "bad", synthetic={**synthetic, "colour": 1}, threads=1, image_size=8, **GRID)


# --------------------------------------------------------------------------------------
# convert_split
# --------------------------------------------------------------------------------------


def _write(folder: Path, arrays: dict, gz: bool = False) -> dict:
    paths = {}
    for kind, array in arrays.items():
        data = norb_bytes(array)
        paths[kind] = folder / f"{kind}.mat{'.gz' if gz else ''}"
        paths[kind].write_bytes(gzip.compress(data) if gz else data)
    return paths


def _convert(paths: dict, output: Path, image_size: int = 8, subset: dict = EVERYTHING) -> int:
    return convert_split(**paths, output=output, image_size=image_size, subset=subset, source="smallnorb")


@pytest.mark.parametrize("gz", [False, True])
def test_conversion_keeps_every_image_in_documented_order(tmp_path, gz):
    arrays = tiny_split(n_pairs=6, size=8)
    paths = _write(tmp_path, arrays, gz)
    assert _convert(paths, tmp_path / "out.h5") == 12
    out = read_image_set(tmp_path / "out.h5")
    # pair by pair, camera 0 then camera 1
    np.testing.assert_array_equal(out.images, arrays["dat"].reshape(12, 8, 8))
    np.testing.assert_array_equal(out.columns["camera"], np.tile([0, 1], 6))
    np.testing.assert_array_equal(out.labels, np.repeat(arrays["cat"], 2))
    for j, name in enumerate(["instance", "elevation", "azimuth", "lighting"]):
        np.testing.assert_array_equal(out.columns[name], np.repeat(arrays["info"][:, j], 2))
    assert out.attrs["image_size"] == 8 and out.attrs["original_size"] == 8
    assert out.attrs["subset"] == EVERYTHING and out.attrs["source"] == "smallnorb"
    assert out.attrs["files"] == [str(paths[k]) for k in KINDS]
    with h5py.File(tmp_path / "out.h5") as h5:
        assert h5["images"].dtype == np.uint8 and h5["images"].compression == "gzip"


def test_subset_and_area_resize(tmp_path, monkeypatch):
    monkeypatch.setattr("cbir.stages.data.CHUNK_PAIRS", 4)  # several chunks
    arrays = tiny_split(n_pairs=36, size=8)
    paths = _write(tmp_path, arrays)
    subset = {"cameras": [1], "lightings": [0, 2], "azimuth_step": 2, "elevation_step": 1}
    _convert(paths, tmp_path / "out.h5", image_size=4, subset=subset)
    out = read_image_set(tmp_path / "out.h5")
    info = arrays["info"]
    keep = np.isin(info[:, 3], [0, 2]) & ((info[:, 2] // 2) % 2 == 0)
    assert len(out) == keep.sum() > 4
    assert set(out.columns["camera"]) == {1}
    # area interpolation by an integer factor is the 2x2 block mean
    blocks = arrays["dat"][keep, 1].reshape(-1, 4, 2, 4, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_allclose(out.images, blocks, atol=1)
    assert out.attrs["image_size"] == 4 and out.attrs["original_size"] == 8


def test_empty_subset_and_corrupt_input_leave_no_output(tmp_path):
    arrays = tiny_split(n_pairs=6)
    paths = _write(tmp_path, arrays)
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="dataset.subset"):
        _convert(paths, out, subset={**EVERYTHING, "lightings": [5], "elevation_step": 9, "azimuth_step": 18})
    assert not out.exists()
    paths["dat"].write_bytes(paths["dat"].read_bytes()[:-10])
    with pytest.raises(NorbFormatError, match=str(paths["dat"])):
        _convert(paths, out)
    assert not out.exists() and list(tmp_path.glob("*.part")) == []


@pytest.mark.parametrize("gz", [False, True])
def test_empty_split_file_is_blamed_not_the_subset(tmp_path, gz):
    """Valid files of zero pairs: the files are at fault, whatever the subset keeps."""
    paths = _write(tmp_path, tiny_split(n_pairs=0), gz)
    out = tmp_path / "out.h5"
    with pytest.raises(NorbFormatError, match=f"{paths['dat']}: holds no image pairs") as info:
        _convert(paths, out)
    assert "subset" not in str(info.value)
    assert not out.exists() and list(tmp_path.glob(".*.part")) == []


# --------------------------------------------------------------------------------------
# plot_dataset
# --------------------------------------------------------------------------------------


def test_dataset_figure_from_the_raw_files(tmp_path):
    """The default view (elevation 4, azimuth 3, lighting 0) of every object, from plain and gzipped files."""
    folder = tmp_path / "raw"
    grid = {"elevations": [4], "azimuths": [3], "lightings": range(6)}
    files = synthesize(folder=folder, synthetic=default_synthetic(), threads=1, image_size=SIZE, **grid)
    for path in files[3:]:  # the test split gzipped, as downloads are
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    raw_files = sorted(folder.iterdir())
    out = tmp_path / "figures" / "dataset.png"
    plot_dataset(raw_files=raw_files, output=out)
    png = imread(out)[..., :3].mean(-1)
    assert png.shape[1] > 1300 and png.shape[0] > 1200
    rows = np.array_split(png[int(0.06 * png.shape[0]) :], 8)
    assert min(row.std() for row in rows[:5]) > 0.05  # every object rendered in rows 1-5
    with pytest.raises(FileNotFoundError, match=official_name("train", "info")):
        plot_dataset(raw_files=[p for p in raw_files if "training-info" not in p.name], output=out)


# --------------------------------------------------------------------------------------
# download, and the data rules under Snakemake
# --------------------------------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    with serving(tmp_path / "served") as srv:
        yield srv


def _serve_split(server, split, n_pairs=5, seed=0):
    arrays = tiny_split(n_pairs=n_pairs, size=32, seed=seed)
    for kind, array in arrays.items():
        (server.root / (official_name(split, kind) + ".gz")).write_bytes(gzip.compress(norb_bytes(array)))
    return arrays


def test_download_names_the_file_after_its_output(server, tmp_path):
    _serve_split(server, "train")
    name = official_name("train", "cat") + ".gz"
    output = tmp_path / "resources" / "smallnorb" / name
    server.faults[name] = ["500"]
    assert download(output=output, url=server.url, checksum=None, retries=2, timeout=10) == output
    assert output.read_bytes() == (server.root / name).read_bytes()
    with pytest.raises(DownloadError, match="404"):
        download(output=tmp_path / "absent.mat.gz", url=server.url, checksum=None, retries=2, timeout=10)


def test_workflow_downloads_converts_and_plots(server, workdir):
    train = _serve_split(server, "train", seed=1)
    test = _serve_split(server, "test", seed=2)
    first = official_name("test", "info") + ".gz"
    server.faults[first] = ["cut"]  # one transient failure inside the real rule
    write_config(
        workdir,
        run="dl",
        dataset={
            "source": "smallnorb",
            "image_size": 32,
            "smallnorb": {"url": server.url, "checksums": {}, "retries": 3, "timeout_s": 10},
            "subset": EVERYTHING,
        },
    )
    # train_all.h5: the whole official training split, before the validation objects are carved out
    targets = ["results/dl/data/train_all.h5", "results/dl/data/test.h5", "results/dl/figures/dataset.png"]
    run_snakemake(workdir, "--cores", "2", *targets)
    for split, arrays in (("train_all", train), ("test", test)):
        out = read_image_set(workdir / f"results/dl/data/{split}.h5")
        np.testing.assert_array_equal(out.images, arrays["dat"].reshape(-1, 32, 32))
    assert server.requests.count(first) == 2
    assert imread(workdir / targets[2]).shape[0] > 1000
    # Files the user placed (plain) are used as they are: nothing is fetched again.
    server.requests.clear()
    for gz in (workdir / "resources/smallnorb").glob("*.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    run_snakemake(workdir, "--cores", "2", "results/dl/data/train_all.h5", "--forceall")
    assert server.requests == []


@pytest.mark.slow
def test_workflow_renders_the_full_surrogate(workdir):
    """The synthesize_smallnorb rule: smallNORB's full grid at 96 px, the bytes of `render_grid`."""
    run_snakemake(workdir, "--cores", "2", *(f"resources/synthnorb/{official_name('train', k)}" for k in KINDS))
    data = read_split_from(workdir / "resources" / "synthnorb", "train")
    assert data.images.shape == (24300, 2, 96, 96)
    synthetic = default_synthetic()
    full = {"elevations": range(9), "azimuths": range(18), "lightings": range(6)}
    images, _, _ = render_grid([7], categories=[3], image_size=96, seed=0, params=render_params(synthetic), **full)
    rows = (data.labels == 3) & (data.info[:, 0] == 7)
    assert data.images[rows].tobytes() == images.tobytes()
