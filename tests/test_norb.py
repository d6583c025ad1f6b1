"""cbir.norb: the smallNORB binary matrix format."""

import gzip
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from conftest import norb_bytes, tiny_split

from cbir import norb


@pytest.mark.parametrize("dtype", ["u1", "<i4", "<f4", "<f8", "<i2"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), (2, 2, 3, 3)])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip_every_matrix_type(tmp_path, dtype, shape, compress):
    array = (np.arange(np.prod(shape)) * 3 - 5).astype(dtype).reshape(shape)
    if dtype == "u1":
        array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    path = tmp_path / ("m.mat.gz" if compress else "m.mat")
    norb.write_matrix(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = norb.read_matrix(path)
    assert back.dtype == np.dtype(dtype) and back.shape == shape
    np.testing.assert_array_equal(back, array)


def test_writer_bytes_match_published_header(tmp_path):
    labels = np.array([0, 4, 2], "<i4")
    norb.write_matrix(tmp_path / "cat.mat", labels)
    raw = (tmp_path / "cat.mat").read_bytes()
    # magic 0x1E3D4C54 (int32), ndim 1, three dims (3, 1, 1), then the data
    assert raw[:20] == bytes.fromhex("544c3d1e 01000000 03000000 01000000 01000000")
    assert raw == norb_bytes(labels)


def test_reads_independently_written_files_plain_and_gzipped(tmp_path):
    arrays = tiny_split()
    for kind, array in arrays.items():
        (tmp_path / f"{kind}.mat").write_bytes(norb_bytes(array))
        (tmp_path / f"{kind}.mat.gz").write_bytes(gzip.compress(norb_bytes(array)))
    for suffix in (".mat", ".mat.gz"):
        split = norb.read_split(*(tmp_path / f"{k}{suffix}" for k in ("dat", "cat", "info")))
        np.testing.assert_array_equal(split.images, arrays["dat"])
        np.testing.assert_array_equal(split.labels, arrays["cat"])
        np.testing.assert_array_equal(split.info, arrays["info"])


def _expect_error(path, match):
    with pytest.raises(norb.NorbFormatError, match=match) as info:
        norb.read_matrix(path)
    assert str(path) in str(info.value)


def test_header_errors_name_the_file(tmp_path):
    good = norb_bytes(np.zeros((4, 2, 3, 3), np.uint8))
    cases = {
        "short.mat": (good[:6], "too short"),
        "magic.mat": (b"\x00\x00\x00\x00" + good[4:], "unknown magic"),
        "ndim.mat": (good[:4] + (0).to_bytes(4, "little") + good[8:], "invalid ndim"),
        "hugendim.mat": (good[:4] + (99).to_bytes(4, "little") + good[8:], "invalid ndim"),
        "truncated.mat": (good[:-5], "data size mismatch"),
        "extra.mat": (good + b"\x00", "data size mismatch"),
        "dims.mat": (good[:8] + (5).to_bytes(4, "little") + good[12:], "data size mismatch"),
        "negative.mat": (good[:8] + (-4).to_bytes(4, "little", signed=True) + good[12:], "negative dimension"),
        "header.mat": (good[:4] + (6).to_bytes(4, "little") + good[8:20], "header truncated"),
        "badgzip.mat.gz": (gzip.compress(good)[:-12], "corrupt gzip"),
        "garbage.mat.gz": (b"\x1f\x8b" + b"not gzip at all", "corrupt gzip"),
    }
    for name, (data, match) in cases.items():
        (tmp_path / name).write_bytes(data)
        _expect_error(tmp_path / name, match)


def test_missing_file_is_named(tmp_path):
    _expect_error(tmp_path / "absent.mat", "cannot read")


def test_split_consistency_errors_name_the_file(tmp_path):
    arrays = tiny_split(n_pairs=6)
    variants = {
        "cat": arrays["cat"][:5],  # N differs
        "info": arrays["info"][:, :3],  # wrong width
        "dat": arrays["dat"][:, :1],  # one camera
    }
    for kind, bad in variants.items():
        paths = {}
        for k, array in arrays.items():
            paths[k] = tmp_path / f"{kind}-{k}.mat"
            paths[k].write_bytes(norb_bytes(bad if k == kind else array))
        with pytest.raises(norb.NorbFormatError) as info:
            norb.read_split(paths["dat"], paths["cat"], paths["info"])
        assert str(paths[kind]) in str(info.value)


def test_labels_out_of_range_rejected(tmp_path):
    arrays = tiny_split()
    arrays["cat"][0] = 7
    paths = [tmp_path / f"{k}.mat" for k in arrays]
    for path, array in zip(paths, arrays.values(), strict=True):
        path.write_bytes(norb_bytes(array))
    with pytest.raises(norb.NorbFormatError, match="labels outside"):
        norb.read_split(*paths)


def test_official_names_and_lookup(tmp_path):
    assert norb.official_name("train", "dat") == "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat"
    assert norb.official_name("test", "info") == "smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat"
    assert len(set(norb.official_names(gz=True))) == 6
    (tmp_path / (norb.official_name("test", "cat") + ".gz")).write_bytes(b"")
    assert norb.find_file(tmp_path, "test", "cat").name.endswith(".mat.gz")
    with pytest.raises(FileNotFoundError, match="training-cat.mat"):
        norb.find_file(tmp_path, "train", "cat")


def _header(magic: int, dims: list[int]) -> bytes:
    return struct.pack(f"<ii{max(len(dims), 3)}i", magic, len(dims), *dims, *[1] * (3 - len(dims)))


def _gzip_of(header: bytes, zeros: int) -> bytes:
    """gzip of `header` and `zeros` zero bytes, compressed a MiB at a time (a bomb costs little)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [packer.compress(header)]
    block = bytes(1 << 20)
    for start in range(0, zeros, len(block)):
        parts.append(packer.compress(block[: zeros - start]))
    return b"".join([*parts, packer.flush()])


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    """A small gzip holding far more than its header declares: decompression stops at the declared size."""
    bomb = tmp_path / "bomb-cat.mat.gz"
    bomb.write_bytes(_gzip_of(_header(0x1E3D4C55, [16]), 256 << 20))
    assert bomb.stat().st_size < 300_000
    tracemalloc.start()
    try:
        with pytest.raises(norb.NorbFormatError, match="data size mismatch.*holds more") as info:
            norb.read_matrix(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(bomb) in str(info.value)
    assert peak < 16 << 20


@pytest.mark.parametrize("gz", [False, True])
def test_declared_size_beyond_any_smallnorb_file_is_refused(tmp_path, gz):
    """A header declaring 4 GB (plain or gzipped, holding nothing) is refused before any allocation."""
    path = tmp_path / ("huge.mat.gz" if gz else "huge.mat")
    header = _header(0x1E3D4C55, [1000, 2, 1000, 2000])
    path.write_bytes(gzip.compress(header) if gz else header)
    with pytest.raises(norb.NorbFormatError, match=r"declares 4000000000 bytes .*at most 536870912") as info:
        norb.read_matrix(path)
    assert str(path) in str(info.value)
    assert norb.MAX_MATRIX_BYTES > 24300 * 2 * 96 * 96 + 24  # the official training images fit
    small = tmp_path / "small.mat.gz"
    norb.write_matrix(small, np.zeros((4, 2, 8, 8), np.uint8))
    assert norb.read_matrix(small, max_bytes=8 * 4 * 2 * 8 * 8).shape == (4, 2, 8, 8)
    with pytest.raises(norb.NorbFormatError, match=f"{small}: .*declares 512 bytes .*at most 511"):
        norb.read_matrix(small, max_bytes=511)


def test_dimensions_whose_product_overflows_int64(tmp_path):
    """2^16 ^ 4 = 2^64 wraps to 0 in int64: sizes are computed exactly."""
    path = tmp_path / "overflow.mat"
    header = _header(0x1E3D4C55, [65536] * 4)
    path.write_bytes(header)
    with pytest.raises(norb.NorbFormatError, match=f"{path}: header declares {2**64} bytes"):
        norb.read_matrix(path)
    with pytest.raises(norb.NorbFormatError, match="declares"):
        norb.parse_header(header, path)


@pytest.mark.parametrize(
    "column,value",
    [("instance", 10), ("instance", -1), ("elevation", 9), ("azimuth", 35), ("azimuth", 36), ("lighting", 6)],
)
def test_info_values_out_of_range_are_rejected(tmp_path, column, value):
    arrays = tiny_split(n_pairs=6)
    arrays["info"][3, ["instance", "elevation", "azimuth", "lighting"].index(column)] = value
    paths = [tmp_path / f"{k}.mat" for k in arrays]
    for path, array in zip(paths, arrays.values(), strict=True):
        path.write_bytes(norb_bytes(array))
    with pytest.raises(norb.NorbFormatError, match=f"{paths[2]}: column {column!r} holds {value} at row 3") as info:
        norb.read_split(*paths)
    assert "row" in str(info.value)
