"""cbir.h5store and cbir.fsutil: HDF5 files and atomic writes."""

import h5py
import numpy as np
import pytest

from cbir.fsutil import _umask, atomic_path
from cbir.h5store import (
    COLUMNS,
    StoreError,
    read_embeddings,
    read_image_set,
    read_retrieval,
    write_embeddings,
    write_image_set,
    write_retrieval,
)


def _columns(n):
    return {name: np.arange(n) + i for i, name in enumerate(COLUMNS)}


def test_image_set_round_trip_with_nested_attrs(tmp_path):
    images = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    attrs = {"query": "noisy", "seed": 3, "specs": [{"name": "gaussian", "sigma": 0.1}]}
    write_image_set(tmp_path / "q.h5", images, _columns(5), attrs)
    back = read_image_set(tmp_path / "q.h5")
    np.testing.assert_array_equal(back.images, images)
    for name in COLUMNS:
        np.testing.assert_array_equal(back.columns[name], _columns(5)[name])
    assert back.attrs["specs"] == attrs["specs"] and back.attrs["image_size"] == 4
    with h5py.File(tmp_path / "q.h5") as h5:
        assert h5.attrs["query"] == "noisy" and h5["images"].compression == "gzip"
    np.testing.assert_array_equal(back.subset(np.array([1, 3])).labels, [1, 3])


def test_embeddings_and_retrieval_round_trip(tmp_path):
    feats = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    write_embeddings(tmp_path / "e.h5", feats, _columns(6), {"model": "m.pt"})
    emb = read_embeddings(tmp_path / "e.h5")
    np.testing.assert_array_equal(emb.features, feats)
    results = {"l2": (np.arange(12).reshape(6, 2), np.ones((6, 2)))}
    write_retrieval(tmp_path / "r.h5", results, {"k": 2})
    back, attrs = read_retrieval(tmp_path / "r.h5")
    assert back["l2"][0].dtype == np.int32 and attrs == {"k": 2}


def test_bad_inputs_are_rejected_with_the_file_named(tmp_path):
    with pytest.raises(StoreError, match="uint8"):
        write_image_set(tmp_path / "a.h5", np.zeros((2, 3, 3), np.float32), _columns(2))
    cols = _columns(2)
    cols["camera"] = cols["camera"][:1]
    with pytest.raises(StoreError, match="'camera' has 1 rows"):
        write_image_set(tmp_path / "b.h5", np.zeros((2, 3, 3), np.uint8), cols)
    assert not (tmp_path / "b.h5").exists()
    (tmp_path / "c.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreError, match=str(tmp_path / "c.h5")):
        read_image_set(tmp_path / "c.h5")
    write_embeddings(tmp_path / "d.h5", np.zeros((2, 2)), _columns(2))
    with pytest.raises(StoreError, match="missing datasets \\['images'\\]"):
        read_image_set(tmp_path / "d.h5")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert not target.exists() and list(target.parent.iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
