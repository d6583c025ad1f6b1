"""From smallNORB stereo pairs to image-set rows: which pairs to keep, their columns, resizing.

Rows come out pair by pair in file order, with the kept cameras of each pair consecutive
(camera 0 then camera 1). `cbir.stages.data.convert_split` streams a split through these.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def select_pairs(info: np.ndarray, subset: dict) -> np.ndarray:
    """Indices of the pairs whose factors fall in `subset` (config `dataset.subset`: lightings,
    azimuth and elevation steps; `info` columns: instance, elevation, 2 * azimuth, lighting)."""
    elevation, azimuth_index, lighting = info[:, 1], info[:, 2] // 2, info[:, 3]
    keep = (
        np.isin(lighting, subset["lightings"])
        & (azimuth_index % subset["azimuth_step"] == 0)
        & (elevation % subset["elevation_step"] == 0)
    )
    return np.flatnonzero(keep)


def pair_columns(labels: np.ndarray, info: np.ndarray, pairs: np.ndarray, cameras: Sequence[int]) -> dict:
    """The int64 columns (`cbir.h5store.COLUMNS`) of the rows of the kept `pairs`, each pair
    giving one row per camera in `cameras`."""
    per_pair = len(cameras)
    columns = {
        "label": np.repeat(labels[pairs], per_pair),
        "instance": np.repeat(info[pairs, 0], per_pair),
        "elevation": np.repeat(info[pairs, 1], per_pair),
        "azimuth": np.repeat(info[pairs, 2], per_pair),
        "lighting": np.repeat(info[pairs, 3], per_pair),
        "camera": np.tile(np.asarray(cameras), len(pairs)),
    }
    return {name: column.astype(np.int64) for name, column in columns.items()}


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """Area-interpolated resize of uint8 [N, H, W] images to [N, size, size]."""
    if images.shape[1:] == (size, size):
        return images
    return np.stack([cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) for img in images])
