"""cbir.convert: smallNORB split -> HDF5 image set."""

import gzip

import h5py
import numpy as np
import pytest
from conftest import norb_bytes, tiny_split

from cbir.convert import convert_split
from cbir.h5store import read_image_set
from cbir.norb import NorbFormatError


def _write(folder, arrays, gz=False):
    paths = {}
    for kind, array in arrays.items():
        data = norb_bytes(array)
        paths[kind] = folder / f"{kind}.mat{'.gz' if gz else ''}"
        paths[kind].write_bytes(gzip.compress(data) if gz else data)
    return paths


@pytest.mark.parametrize("gz", [False, True])
def test_conversion_keeps_every_image_in_documented_order(tmp_path, gz):
    arrays = tiny_split(n_pairs=6, size=8)
    paths = _write(tmp_path, arrays, gz)
    n = convert_split(**paths, output=tmp_path / "out.h5")
    assert n == 12
    out = read_image_set(tmp_path / "out.h5")
    # pair by pair, camera 0 then camera 1
    np.testing.assert_array_equal(out.images, arrays["dat"].reshape(12, 8, 8))
    np.testing.assert_array_equal(out.columns["camera"], np.tile([0, 1], 6))
    np.testing.assert_array_equal(out.labels, np.repeat(arrays["cat"], 2))
    for j, name in enumerate(["instance", "elevation", "azimuth", "lighting"]):
        np.testing.assert_array_equal(out.columns[name], np.repeat(arrays["info"][:, j], 2))
    assert out.attrs["image_size"] == 8 and out.attrs["original_size"] == 8
    with h5py.File(tmp_path / "out.h5") as h5:
        assert h5["images"].dtype == np.uint8 and h5["images"].compression == "gzip"


def test_subset_and_area_resize(tmp_path):
    arrays = tiny_split(n_pairs=36, size=8)
    paths = _write(tmp_path, arrays)
    subset = {"cameras": [1], "lightings": [0, 2], "azimuth_step": 2, "elevation_step": 1}
    convert_split(**paths, output=tmp_path / "out.h5", image_size=4, subset=subset)
    out = read_image_set(tmp_path / "out.h5")
    info = arrays["info"]
    keep = np.isin(info[:, 3], [0, 2]) & ((info[:, 2] // 2) % 2 == 0)
    assert len(out) == keep.sum() > 0
    assert set(out.columns["camera"]) == {1}
    # area interpolation by an integer factor is the 2x2 block mean
    blocks = arrays["dat"][keep, 1].reshape(-1, 4, 2, 4, 2).astype(float).mean(axis=(2, 4))
    np.testing.assert_allclose(out.images, blocks, atol=1)


def test_empty_subset_and_corrupt_input_leave_no_output(tmp_path):
    arrays = tiny_split(n_pairs=6)
    paths = _write(tmp_path, arrays)
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match="dataset.subset"):
        convert_split(**paths, output=out, subset={"lightings": [5], "elevation_step": 9, "azimuth_step": 18})
    assert not out.exists()
    paths["dat"].write_bytes(paths["dat"].read_bytes()[:-10])
    with pytest.raises(NorbFormatError, match=str(paths["dat"])):
        convert_split(**paths, output=out)
    assert not out.exists() and list(tmp_path.glob("*.part")) == []
