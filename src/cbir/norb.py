"""The smallNORB binary matrix format: read, validate, write.

Layout (little-endian): int32 magic, int32 ndim, max(ndim, 3) int32 dimensions
(unused ones are 1), then the data in row-major order. The magic number gives the
element type. Files may be gzipped; a reader recognises them by the gzip signature,
not the file name. Every error names the offending file.

Reading is bounded by the header: a file is decompressed a chunk at a time into a buffer of
the declared size (computed with Python integers, so no dimensions overflow), a declared
size over MAX_MATRIX_BYTES is refused before anything is allocated, and a stream holding
more than declared is refused at the first extra byte, so a gzip bomb costs no memory.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from cbir.fsutil import atomic_path

MAGIC_TO_DTYPE = {
    0x1E3D4C51: np.dtype("<f4"),  # single precision float
    0x1E3D4C53: np.dtype("<f8"),  # double precision float
    0x1E3D4C54: np.dtype("<i4"),  # integer
    0x1E3D4C55: np.dtype("u1"),  # byte
    0x1E3D4C56: np.dtype("<i2"),  # short
}
DTYPE_TO_MAGIC = {dtype: magic for magic, dtype in MAGIC_TO_DTYPE.items()}
MAX_NDIM = 16
# The largest official file, the training images (24300 x 2 x 96 x 96 bytes and a 24-byte
# header, 447,897,624 bytes), with 20 % to spare: a bigger declared size is not smallNORB.
MAX_MATRIX_BYTES = 512 * 2**20
READ_CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"

SPLITS = {"train": "5x46789x9x18x6x2x96x96-training", "test": "5x01235x9x18x6x2x96x96-testing"}
KINDS = ("dat", "cat", "info")
CATEGORIES = ("animal", "human", "airplane", "truck", "car")
TRAIN_INSTANCES = (4, 6, 7, 8, 9)
TEST_INSTANCES = (0, 1, 2, 3, 5)
# The info columns and the values smallNORB's factor grid allows (azimuth: 0, 2, ..., 34).
INFO_COLUMNS = ("instance", "elevation", "azimuth", "lighting")
INFO_VALUES = {"instance": range(10), "elevation": range(9), "azimuth": range(0, 35, 2), "lighting": range(6)}


class NorbFormatError(ValueError):
    """A file does not follow the smallNORB binary matrix format."""


def official_name(split: str, kind: str) -> str:
    """The official (uncompressed) file name, e.g. ``smallnorb-5x...-training-dat.mat``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLITS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown file kind {kind!r}; expected one of {KINDS}")
    return f"smallnorb-{SPLITS[split]}-{kind}.mat"


def official_names(gz: bool = False) -> list[str]:
    """All six official file names, training first, each with `.gz` if asked."""
    suffix = ".gz" if gz else ""
    return [official_name(s, k) + suffix for s in SPLITS for k in KINDS]


def _read_header(buf: bytes, path: str | os.PathLike) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, data offset, data bytes) from the first bytes of a matrix; `buf` may be
    short (that is an error naming `path`) or hold more than the header."""
    if len(buf) < 8:
        raise NorbFormatError(f"{path}: file too short for a header ({len(buf)} bytes)")
    magic, ndim = np.frombuffer(buf, "<i4", count=2).tolist()
    if magic not in MAGIC_TO_DTYPE:
        raise NorbFormatError(
            f"{path}: unknown magic number 0x{magic & 0xFFFFFFFF:08X}; "
            f"expected one of {', '.join(f'0x{m:08X}' for m in MAGIC_TO_DTYPE)}"
        )
    if not 0 < ndim <= MAX_NDIM:
        raise NorbFormatError(f"{path}: invalid ndim {ndim} (expected 1..{MAX_NDIM})")
    ndims_stored = max(ndim, 3)
    offset = 8 + 4 * ndims_stored
    if len(buf) < offset:
        raise NorbFormatError(
            f"{path}: header truncated: {ndims_stored} dimensions announced, file is {len(buf)} bytes"
        )
    dims = np.frombuffer(buf, "<i4", count=ndims_stored, offset=8).tolist()
    if any(d < 0 for d in dims):
        raise NorbFormatError(f"{path}: negative dimension in {dims}")
    shape = tuple(dims[:ndim])
    dtype = MAGIC_TO_DTYPE[magic]
    return dtype, shape, offset, math.prod(shape) * dtype.itemsize  # Python ints: exact


def _check_declared(path, shape: tuple[int, ...], dtype: np.dtype, nbytes: int, max_bytes: int) -> None:
    if nbytes > max_bytes:
        raise NorbFormatError(
            f"{path}: header declares {nbytes} bytes ({shape} of {dtype.name}), more than a smallNORB "
            f"file holds (at most {max_bytes}): wrong dimensions or not a smallNORB file"
        )


def _size_mismatch(path, shape, dtype: np.dtype, expected: int, actual: int | None) -> NorbFormatError:
    """`actual` None: more than `expected` (not read further: it could be a gzip bomb)."""
    holds = (
        f"{actual} (truncated or wrong dimensions)" if actual is not None else "more (wrong dimensions or extra data)"
    )
    return NorbFormatError(
        f"{path}: data size mismatch: header {shape} of {dtype.name} needs {expected} bytes, file holds {holds}"
    )


def parse_header(
    buf: bytes, path: str | os.PathLike = "<bytes>", max_bytes: int = MAX_MATRIX_BYTES
) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (dtype, shape, data offset) of a matrix held in `buf`, validating the header and size."""
    dtype, shape, offset, expected = _read_header(buf, path)
    _check_declared(path, shape, dtype, expected, max_bytes)
    if len(buf) - offset != expected:
        raise _size_mismatch(path, shape, dtype, expected, len(buf) - offset)
    return dtype, shape, offset


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    parts = []
    while n > 0 and (part := stream.read(min(n, READ_CHUNK))):
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _read_stream(stream: BinaryIO, path: Path, max_bytes: int) -> np.ndarray:
    head = _read_up_to(stream, 8)
    if len(head) == 8:
        ndim = int(np.frombuffer(head, "<i4", count=1, offset=4)[0])
        head += _read_up_to(stream, 4 * max(ndim, 3) if 0 < ndim <= MAX_NDIM else 0)
    dtype, shape, _, expected = _read_header(head, path)
    _check_declared(path, shape, dtype, expected, max_bytes)
    data = np.empty(expected, np.uint8)  # pages are touched only as the data arrives
    view, got = memoryview(data), 0
    while got < expected and (n := stream.readinto(view[got : got + READ_CHUNK])):
        got += n
    if got < expected:
        raise _size_mismatch(path, shape, dtype, expected, got)
    if stream.read(1):
        raise _size_mismatch(path, shape, dtype, expected, None)
    return data.view(dtype).reshape(shape)


def read_matrix(path: str | os.PathLike, max_bytes: int = MAX_MATRIX_BYTES) -> np.ndarray:
    """Read a smallNORB matrix file (plain or gzipped) into a numpy array, streamed: at most
    the declared size (and no more than `max_bytes`) is ever held."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            if raw.read(2) != GZIP_MAGIC:
                raw.seek(0)
                return _read_stream(raw, path, max_bytes)
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _read_stream(stream, path, max_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # truncated stream, bad data or CRC
        raise NorbFormatError(f"{path}: corrupt gzip data: {exc}") from exc
    except OSError as exc:  # missing, unreadable (a BadGzipFile is an OSError too: caught above)
        raise NorbFormatError(f"{path}: cannot read file: {exc.strerror or exc}") from exc


def encode_matrix(array: np.ndarray) -> bytes:
    """Serialise an array to the binary matrix format (header plus data)."""
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in DTYPE_TO_MAGIC:
        raise ValueError(f"dtype {array.dtype} has no smallNORB magic number; use one of {list(DTYPE_TO_MAGIC)}")
    if not 0 < array.ndim <= MAX_NDIM:
        raise ValueError(f"array of ndim {array.ndim} cannot be stored (1..{MAX_NDIM})")
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    header = np.array([DTYPE_TO_MAGIC[dtype], array.ndim, *dims], "<i4").tobytes()
    return header + np.ascontiguousarray(array, dtype).tobytes()


def write_matrix(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` atomically; gzip when `compress` is true or, if None, when the name ends in .gz."""
    path = Path(path)
    data = encode_matrix(array)
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@dataclass
class NorbSplit:
    """One split: images [N, 2, H, W] uint8, labels [N] and info [N, 4] (instance, elevation, azimuth, lighting)."""

    images: np.ndarray
    labels: np.ndarray
    info: np.ndarray


def find_file(folder: str | os.PathLike, split: str, kind: str) -> Path:
    """The split's file in `folder`, plain or with `.gz`; an error names what is missing."""
    name = official_name(split, kind)
    for candidate in (Path(folder) / name, Path(folder) / (name + ".gz")):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{Path(folder) / name}: smallNORB file not found (neither plain nor .gz)")


def read_split(dat: str | os.PathLike, cat: str | os.PathLike, info: str | os.PathLike) -> NorbSplit:
    """Read and cross-validate the dat, cat and info files of one split."""
    images, labels, factors = read_matrix(dat), read_matrix(cat), read_matrix(info)
    if images.ndim != 4 or images.shape[1] != 2 or images.dtype != np.uint8:
        raise NorbFormatError(
            f"{dat}: expected a uint8 [N, 2, H, W] image matrix, got {images.dtype.name} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind != "i":
        raise NorbFormatError(f"{cat}: expected an int32 [N] label matrix, got {labels.dtype.name} {labels.shape}")
    if factors.ndim != 2 or factors.shape[1] != 4 or factors.dtype.kind != "i":
        raise NorbFormatError(f"{info}: expected an int32 [N, 4] info matrix, got {factors.dtype.name} {factors.shape}")
    n = images.shape[0]
    for path, arr in ((cat, labels), (info, factors)):
        if arr.shape[0] != n:
            raise NorbFormatError(f"{path}: holds {arr.shape[0]} rows but {dat} holds {n} images")
    if n and (labels.min() < 0 or labels.max() >= len(CATEGORIES)):
        raise NorbFormatError(f"{cat}: labels outside 0..{len(CATEGORIES) - 1}")
    for j, column in enumerate(INFO_COLUMNS):
        allowed = INFO_VALUES[column]
        bad = np.flatnonzero(~np.isin(factors[:, j], allowed))
        if len(bad):
            raise NorbFormatError(
                f"{info}: column {column!r} holds {factors[bad[0], j]} at row {bad[0]} ({len(bad)} rows out of "
                f"range); expected {allowed.start}..{allowed[-1]}{' in steps of 2' if allowed.step == 2 else ''}"
            )
    return NorbSplit(images, labels.astype(np.int64), factors.astype(np.int64))


def read_split_from(folder: str | os.PathLike, split: str) -> NorbSplit:
    """Read the official files of `split` ('train' or 'test') from `folder`."""
    return read_split(*(find_file(folder, split, kind) for kind in KINDS))


def write_split(folder: str | os.PathLike, split: str, data: NorbSplit, compress: bool = False) -> list[Path]:
    """Write a split under its official names (with `.gz` when compressing)."""
    paths = []
    arrays = {
        "dat": np.asarray(data.images, np.uint8),
        "cat": np.asarray(data.labels, "<i4"),
        "info": np.asarray(data.info, "<i4"),
    }
    for kind in KINDS:
        path = Path(folder) / (official_name(split, kind) + (".gz" if compress else ""))
        write_matrix(path, arrays[kind], compress=compress)
        paths.append(path)
    return paths
