"""cbir.h5store: the HDF5 files of the pipeline, and errors naming the file when one is damaged."""

import re

import h5py
import numpy as np
import pytest

from cbir.h5store import (
    COLUMNS,
    StoreError,
    channels_of,
    check_same_model,
    embeddings_model,
    read_embeddings,
    read_image_set,
    read_ranking_measures,
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


def test_attributes_of_any_size_round_trip(tmp_path):
    for size in (10, 70_000):  # HDF5 refuses fixed-length attributes over 64 KiB
        attrs = {"note": "é" * size, "n": size}
        write_embeddings(tmp_path / "e.h5", np.zeros((2, 2)), _columns(2), attrs)
        assert read_embeddings(tmp_path / "e.h5").attrs == attrs


def test_embeddings_and_retrieval_round_trip(tmp_path):
    feats = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    write_embeddings(tmp_path / "e.h5", feats, _columns(6), {"model": "m.pt"})
    emb = read_embeddings(tmp_path / "e.h5")
    np.testing.assert_array_equal(emb.features, feats)
    results = {"l2": (np.arange(12).reshape(6, 2), np.ones((6, 2)))}
    write_retrieval(tmp_path / "r.h5", results, {"k": 2})
    back, attrs = read_retrieval(tmp_path / "r.h5")
    assert back["l2"][0].dtype == np.int32 and attrs == {"k": 2}


def _measures(n, offset=0.0):
    return {name: np.linspace(0, 1, n) + offset + i for i, name in enumerate(("map_full", "r_precision", "map_at_r"))}


def test_ranking_measures_round_trip_beside_the_top_k(tmp_path):
    rng = np.random.default_rng(1)
    results = {d: (rng.integers(0, 9, (5, 3)), rng.random((5, 3))) for d in ("l2", "cosine")}
    measures = {"l2": _measures(5), "cosine": _measures(5, 0.5)}
    write_retrieval(tmp_path / "r.h5", results, {"k": 3}, measures)
    back, attrs = read_retrieval(tmp_path / "r.h5")  # unchanged for its callers
    assert attrs == {"k": 3} and set(back) == {"l2", "cosine"}
    for distance, (indices, scores) in results.items():
        assert len(back[distance]) == 2
        np.testing.assert_array_equal(back[distance][0], indices)
        np.testing.assert_array_equal(back[distance][1], scores.astype(np.float32))
    stored = read_ranking_measures(tmp_path / "r.h5")
    assert set(stored) == {"l2", "cosine"}
    for distance, values in measures.items():
        assert set(stored[distance]) == {"map_full", "r_precision", "map_at_r"}
        for name, array in values.items():
            assert stored[distance][name].dtype == np.float64
            np.testing.assert_array_equal(stored[distance][name], array)  # float64: bit for bit


def test_ranking_measures_missing_or_inconsistent_are_errors_naming_the_file(tmp_path):
    results = {"l2": (np.zeros((4, 2)), np.zeros((4, 2))), "cosine": (np.zeros((4, 2)), np.zeros((4, 2)))}
    path = tmp_path / "r.h5"
    write_retrieval(path, results, {"k": 2})  # an older file: no measures
    assert set(read_retrieval(path)[0]) == {"l2", "cosine"}
    with pytest.raises(StoreError, match=f"^{path}: 'cosine' lacks the ranking measures"):
        read_ranking_measures(path)
    write_retrieval(path, results, {}, {"l2": _measures(4), "cosine": _measures(4)})
    with h5py.File(path, "a") as h5:  # a damaged writer: one measure shorter than the indices
        del h5["l2/r_precision"]
        h5["l2/r_precision"] = np.zeros(3)
    with pytest.raises(StoreError, match=rf"^{path}: 'l2' r_precision has shape \(3,\), expected \(4,\)"):
        read_ranking_measures(path)
    # The writer refuses what the reader would refuse, and leaves no file.
    bad = tmp_path / "bad.h5"
    for measures, message in [
        ({"l2": _measures(4)}, "ranking measures for \\['l2'\\], results for \\['cosine', 'l2'\\]"),
        ({"l2": _measures(4), "cosine": {"map_full": np.zeros(4)}}, "'cosine' ranking measures \\['map_full'\\]"),
        ({"l2": _measures(4), "cosine": _measures(5)}, "'cosine' map_full has shape \\(5,\\), expected \\(4,\\)"),
    ]:
        with pytest.raises(StoreError, match=message):
            write_retrieval(bad, results, {}, measures)
        assert not bad.exists()


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


def test_colour_image_set_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (300, 6, 5, 3), dtype=np.uint8)  # more rows than a chunk holds
    write_image_set(tmp_path / "c.h5", images, _columns(300), {"channels": 3})
    back = read_image_set(tmp_path / "c.h5")
    assert back.images.shape == (300, 6, 5, 3) and back.images.dtype == np.uint8
    assert back.images.tobytes() == images.tobytes()  # RGB order and channels last kept
    assert back.channels == 3 and back.attrs["image_size"] == 6 and back.subset(np.array([4])).channels == 3
    with h5py.File(tmp_path / "c.h5") as h5:
        assert h5["images"].chunks == (256, 6, 5, 3)  # whole images, their three planes together
    write_image_set(tmp_path / "g.h5", images[..., 0], _columns(300))
    assert read_image_set(tmp_path / "g.h5").channels == 1
    assert channels_of(images) == 3 and channels_of(images[..., 1]) == 1
    with h5py.File(tmp_path / "c.h5") as h5:
        assert channels_of(h5["images"]) == 3  # a dataset, without reading it


def test_image_sets_of_other_shapes_are_refused_naming_the_file(tmp_path):
    bad = {
        "two channels": np.zeros((2, 4, 4, 2), np.uint8),
        "channels first": np.zeros((2, 3, 4, 4), np.uint8),
        "one image": np.zeros((4, 4), np.uint8),
        "float colour": np.zeros((2, 4, 4, 3), np.float32),
    }
    for what, images in bad.items():
        path = tmp_path / f"{what}.h5"
        with pytest.raises(
            StoreError, match=rf"^{re.escape(str(path))}: images must be uint8 \[N, H, W\] \(grey\) or \[N, H, W, 3\]"
        ):
            write_image_set(path, images, _columns(len(images)))
        assert not path.exists(), what
    with pytest.raises(StoreError, match="image set: images must be uint8"):
        channels_of(bad["two channels"])
    # a file written by another tool is checked on reading too
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as h5:
        h5["images"] = bad["two channels"]
        for name, column in _columns(2).items():
            h5[name] = column
    with pytest.raises(StoreError, match=rf"^{re.escape(str(path))}: images must be uint8 .* got uint8 \(2, 4, 4, 2\)"):
        read_image_set(path)


def _damaged_copies(path, stride):
    """Copies of `path`, each with one byte flipped (every `stride`-th byte) or cut short."""
    data = path.read_bytes()
    for offset in range(0, len(data), stride):
        damaged = bytearray(data)
        damaged[offset] ^= 0xFF
        yield f"byte {offset} flipped", bytes(damaged)
    for size in (0, 100, len(data) // 2, len(data) - 1):
        yield f"cut to {size} bytes", data[:size]


@pytest.mark.parametrize("kind", ["image set", "embeddings", "retrieval", "ranking measures"])
def test_damaged_files_raise_store_errors_naming_the_file(tmp_path, kind):
    """Bit rot anywhere in a real file: every read either succeeds or raises a StoreError naming
    the file (h5py raises OSError, KeyError, RuntimeError, TypeError... depending on the byte)."""
    rng = np.random.default_rng(0)
    good = tmp_path / "good.h5"
    attrs = {"seed": 1, "query": "noisy"}  # a str attribute: h5py keeps it in a global heap
    if kind == "image set":
        write_image_set(good, rng.integers(0, 256, (40, 8, 8), dtype=np.uint8), _columns(40), attrs)
        read = read_image_set
    elif kind == "embeddings":
        write_embeddings(good, rng.normal(size=(40, 4)), _columns(40), attrs)
        read = read_embeddings
    else:
        results = {"l2": (rng.integers(0, 40, (40, 3)), rng.random((40, 3)))}
        write_retrieval(good, results, attrs, {"l2": _measures(40)})
        read = read_retrieval if kind == "retrieval" else read_ranking_measures
    with h5py.File(good) as h5:  # the attribute readers read is fixed-length: a damaged global heap
        assert h5py.check_string_dtype(h5.attrs.get_id("meta").dtype).length is not None  # can hang HDF5
    bad = tmp_path / "bad.h5"
    errors = 0
    for what, data in _damaged_copies(good, stride=11):
        bad.write_bytes(data)
        try:
            read(bad)
        except StoreError as exc:
            assert str(exc).startswith(f"{bad}: "), what
            errors += 1
        except Exception as exc:
            pytest.fail(f"{what}: {type(exc).__name__} instead of a StoreError: {exc}")
    assert errors >= 10


def test_embeddings_are_compared_by_the_model_that_made_them(tmp_path):
    """Key set and weights digest, read back from the files; the error names the query file first."""
    standard = {"keys": "standard", "weights_sha256": "a" * 64, "model": "models/classifier.pt"}
    robust = {"keys": "robust", "weights_sha256": "b" * 64, "model": "models/classifier_robust.pt"}
    paths = {}
    for name, attrs in (("gallery", standard), ("standard", standard), ("robust", robust), ("bare", {})):
        paths[name] = tmp_path / f"{name}.h5"
        write_embeddings(paths[name], np.zeros((2, 2)), _columns(2), attrs)
    attrs = {name: read_embeddings(path).attrs for name, path in paths.items()}
    assert embeddings_model(paths["robust"], attrs["robust"]) == ("robust", "b" * 64)
    check_same_model(paths["standard"], attrs["standard"], paths["gallery"], attrs["gallery"])
    with pytest.raises(StoreError) as error:
        check_same_model(paths["robust"], attrs["robust"], paths["gallery"], attrs["gallery"])
    assert str(error.value).startswith(
        f"{paths['robust']}: query embeddings of key set 'robust' (weights sha256 bbbbbbbbbbbb..., model "
        f"models/classifier_robust.pt), but the gallery {paths['gallery']} was made by key set 'standard' (weights sha256 aaaa"
    )
    other = {**standard, "weights_sha256": "c" * 64}  # same key set, other weights (another replicate)
    with pytest.raises(StoreError, match="query embeddings of key set 'standard' \\(weights sha256 cccc"):
        check_same_model(paths["standard"], other, paths["gallery"], attrs["gallery"])
    with pytest.raises(StoreError, match=f"{paths['bare']}: the embeddings do not record the model .*no keys or"):
        check_same_model(paths["bare"], attrs["bare"], paths["gallery"], attrs["gallery"])


def test_class_names_from_the_attributes_else_smallnorbs_categories(tmp_path):
    from cbir.h5store import class_names
    from cbir.norb import CATEGORIES

    names = ["zebra", "apple", "car", "dog", "ant", "bee", "cow"]
    labels = np.array([0, 6, 6, 2, 1])
    columns = {**_columns(5), "label": labels}
    write_image_set(tmp_path / "f.h5", np.zeros((5, 4, 4), np.uint8), columns, {"source": "folder", "classes": names})
    folder = read_image_set(tmp_path / "f.h5")
    assert class_names(folder.attrs, folder.labels, tmp_path / "f.h5") == names  # label order, not sorted
    # embeddings name their image set's classes under source_attrs
    write_embeddings(tmp_path / "e.h5", np.zeros((5, 2)), columns, {"source_attrs": folder.attrs})
    assert class_names(read_embeddings(tmp_path / "e.h5").attrs) == names
    # smallNORB's sets name no classes: its five categories, and nothing is added to the file
    write_image_set(tmp_path / "n.h5", np.zeros((5, 4, 4), np.uint8), _columns(5) | {"label": labels % 5})
    norb = read_image_set(tmp_path / "n.h5")
    assert class_names(norb.attrs, norb.labels) == list(CATEGORIES) and "classes" not in norb.attrs
    with pytest.raises(StoreError, match=r"n\.h5: labels 0\.\.6 outside 0\.\.4.*smallNORB's categories assumed"):
        class_names(norb.attrs, labels, tmp_path / "n.h5")
    with pytest.raises(StoreError, match=r"f\.h5: labels 0\.\.6 outside 0\.\.2"):
        class_names({"classes": names[:3]}, labels, tmp_path / "f.h5")
    for bad in (["one"], ["a", "a"], "ab", ["a", ""], ["a", 3]):
        with pytest.raises(StoreError, match="two or more distinct class names"):
            class_names({"classes": bad})
