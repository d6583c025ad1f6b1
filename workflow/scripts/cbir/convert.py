"""Convert one smallNORB split (dat, cat, info files) into an HDF5 image set.

Rows come out pair by pair in file order, with the kept cameras of each pair
consecutive (camera 0 then camera 1). Images are resized with area interpolation
when `image_size` differs from the stored size. The conversion streams over chunks
of pairs, so the peak memory is about the raw dat file plus one chunk.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import h5py
import numpy as np

from cbir.fsutil import atomic_path
from cbir.h5store import COLUMNS, write_attrs
from cbir.norb import read_split
from cbir.runlog import progress

log = logging.getLogger("cbir.convert")

DEFAULT_SUBSET = {"cameras": [0, 1], "lightings": [0, 1, 2, 3, 4, 5], "azimuth_step": 1, "elevation_step": 1}


def select_pairs(info: np.ndarray, subset: dict) -> np.ndarray:
    """Indices of the pairs whose factors fall in `subset` (lightings, azimuth/elevation steps)."""
    subset = {**DEFAULT_SUBSET, **subset}
    elevation, azimuth_index, lighting = info[:, 1], info[:, 2] // 2, info[:, 3]
    keep = (
        np.isin(lighting, subset["lightings"])
        & (azimuth_index % subset["azimuth_step"] == 0)
        & (elevation % subset["elevation_step"] == 0)
    )
    return np.flatnonzero(keep)


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Area-interpolated resize of uint8 [N, H, W] images to [N, size, size]."""
    if images.shape[1:] == (size, size):
        return images
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in images])


def convert_split(
    dat: str | os.PathLike,
    cat: str | os.PathLike,
    info: str | os.PathLike,
    output: str | os.PathLike,
    image_size: int | None = None,
    subset: dict | None = None,
    source: str = "smallnorb",
    chunk_pairs: int = 2048,
) -> int:
    """Write the image set of one split to `output`; return the number of images."""
    split = read_split(dat, cat, info)
    subset = {**DEFAULT_SUBSET, **(subset or {})}
    cameras = sorted(subset["cameras"])
    pairs = select_pairs(split.info, subset)
    size = image_size or split.images.shape[-1]
    n = len(pairs) * len(cameras)
    log.info(
        "%s: %d of %d pairs kept, cameras %s -> %d images of %d px",
        dat,
        len(pairs),
        len(split.labels),
        cameras,
        n,
        size,
    )
    if n == 0:
        raise ValueError(f"config key 'dataset.subset': keeps no image of {dat}")

    per_pair = len(cameras)
    columns = {
        "label": np.repeat(split.labels[pairs], per_pair),
        "instance": np.repeat(split.info[pairs, 0], per_pair),
        "elevation": np.repeat(split.info[pairs, 1], per_pair),
        "azimuth": np.repeat(split.info[pairs, 2], per_pair),
        "lighting": np.repeat(split.info[pairs, 3], per_pair),
        "camera": np.tile(np.asarray(cameras), len(pairs)),
    }
    attrs = {
        "source": source,
        "files": [str(Path(p)) for p in (dat, cat, info)],
        "image_size": int(size),
        "original_size": int(split.images.shape[-1]),
        "subset": subset,
        "row_order": "pair by pair in file order, kept cameras consecutive",
    }
    with atomic_path(output) as tmp, h5py.File(tmp, "w") as h5:
        images = h5.create_dataset(
            "images",
            shape=(n, size, size),
            dtype=np.uint8,
            chunks=(min(n, 256), size, size),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        for start in progress(range(0, len(pairs), chunk_pairs), desc=f"convert {Path(output).name}", unit="chunk"):
            chunk = split.images[pairs[start : start + chunk_pairs]][:, cameras]  # [B, C, H, W]
            flat = chunk.reshape(-1, *chunk.shape[2:])
            images[start * per_pair : start * per_pair + len(flat)] = resize_batch(flat, size)
        for name in COLUMNS:
            h5.create_dataset(name, data=columns[name].astype(np.int64))
        write_attrs(h5, attrs)
    return n
