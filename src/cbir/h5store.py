"""HDF5 files of the pipeline: image sets, embeddings and retrieval results.

Image set (splits and query sets): dataset ``images`` uint8 [N, H, W] (grey) or [N, H, W, 3]
(colour, RGB, channels last; `channels_of`) plus one int64 column per name in COLUMNS (and in OPTIONAL_COLUMNS where a set has them). Embeddings: ``features`` float32 [N, D] plus the same
columns. Retrieval: a group per distance with ``indices`` int32 [N, K] and ``scores``
float32 [N, K], and (files written since they exist) one float64 [N] dataset per measure
over the whole gallery ranking, RANKING_MEASURES (`cbir.search.ranking_measures`), which
the top K cannot give. Provenance lives in the file attributes: scalars as they are, and
the whole mapping JSON-encoded under ``meta`` so nested parameters survive. Embeddings made by
a model record it (PROVENANCE): ``keys``, the classifier's key set, and ``weights_sha256``, its
weights digest (`cbir.checkpoint.weights_sha256`); `check_same_model` refuses to compare query
embeddings with a gallery another model made. The classes: an image set of a labelled folder names
its labels 0..C-1 in the attribute ``classes``; smallNORB's sets (and the embeddings of either, under
``source_attrs``) without it are smallNORB's five categories (`class_names`). All writers are atomic. Every reader raises StoreError naming the file, whatever h5py
raises on a damaged or truncated file (OSError, KeyError, RuntimeError, ... by the byte hit).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from cbir.fsutil import atomic_path
from cbir.norb import CATEGORIES

COLUMNS = ("label", "instance", "elevation", "azimuth", "lighting", "camera")
# Columns only some sets hold, kept when present: a mixed query set's true degradation kind and a
# routed restorer's predicted one (indices into `cbir.degrade.KINDS`).
OPTIONAL_COLUMNS = ("kind", "routed_kind")
# Per-query measures over the whole gallery ranking stored beside the top k (cbir.measures defines
# them; tests keep the two lists equal: the format layer imports no computation).
RANKING_MEASURES = ("map_full", "r_precision", "map_at_r")
META_FIXED_MAX = 60_000  # bytes of JSON stored as a fixed-length string (HDF5: 64 KiB per header message)
PROVENANCE = ("keys", "weights_sha256")  # the attributes of embeddings that name the model that made them


class StoreError(ValueError):
    """An HDF5 file is unreadable (damaged, truncated, not HDF5), misses a dataset or has inconsistent shapes."""


def channels_of(images, where: str | os.PathLike = "image set") -> int:
    """The channel count of an image set's `images` (an array or an h5py dataset, which is not
    read): 1 for uint8 [N, H, W], 3 for uint8 [N, H, W, 3]; any other dtype or shape is a
    StoreError naming `where`."""
    if not hasattr(images, "dtype") or not hasattr(images, "shape"):  # a list, or bytes from a damaged file
        images = np.asarray(images)
    dtype, shape = np.dtype(images.dtype), tuple(images.shape)
    if dtype == np.uint8 and len(shape) == 3:
        return 1
    if dtype == np.uint8 and len(shape) == 4 and shape[3] == 3:
        return 3
    raise StoreError(f"{where}: images must be uint8 [N, H, W] (grey) or [N, H, W, 3] (colour), got {dtype} {shape}")


@dataclass
class ImageSet:
    images: np.ndarray  # uint8 [N, H, W] or [N, H, W, 3]
    columns: dict[str, np.ndarray]  # name -> int64 [N]
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        """1 (grey) or 3 (colour)."""
        return channels_of(self.images)

    @property
    def labels(self) -> np.ndarray:
        return self.columns["label"]

    def subset(self, index: np.ndarray | slice) -> ImageSet:
        """Rows `index` of the set (attributes shared)."""
        return ImageSet(self.images[index], {k: v[index] for k, v in self.columns.items()}, self.attrs)


@dataclass
class Embeddings:
    features: np.ndarray  # float32 [N, D]
    columns: dict[str, np.ndarray]
    attrs: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return self.columns["label"]


def _check_columns(columns: dict[str, np.ndarray], n: int, path: Path) -> None:
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise StoreError(f"{path}: missing columns {missing}")
    for name in (*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in columns)):
        shape = np.shape(columns[name])
        if len(shape) != 1:
            raise StoreError(f"{path}: column {name!r} has shape {shape}, expected ({n},)")
        if shape[0] != n:
            raise StoreError(f"{path}: column {name!r} has {shape[0]} rows, expected {n}")


def class_names(attrs: dict, labels: np.ndarray | None = None, where: str | os.PathLike = "image set") -> list[str]:
    """The names of the labels 0..C-1 of an image set or embeddings file with the attributes
    `attrs`: its ``classes`` (an embeddings file: its image set's, ``source_attrs``), else
    smallNORB's CATEGORIES. With `labels`, a label outside 0..C-1 is an error naming `where`."""
    names = attrs.get("classes")
    if names is None:
        names = (attrs.get("source_attrs") or {}).get("classes")
    if names is None:
        names = CATEGORIES
    if (
        isinstance(names, (str, bytes))
        or len(names) < 2
        or not all(isinstance(n, str) and n for n in names)
        or len(set(names)) != len(names)
    ):
        raise StoreError(f"{where}: attribute 'classes' must list two or more distinct class names, got {names!r}")
    names = list(names)
    if labels is not None and len(labels) and (int(np.min(labels)) < 0 or int(np.max(labels)) >= len(names)):
        raise StoreError(
            f"{where}: labels {int(np.min(labels))}..{int(np.max(labels))} outside 0..{len(names) - 1}, the "
            f"{len(names)} classes {names}"
            + ("" if "classes" in attrs else " (the file names no 'classes': smallNORB's categories assumed)")
        )
    return names


def write_attrs(h5: h5py.File, attrs: dict) -> None:
    for key, value in attrs.items():
        if isinstance(value, (str, int, float, bool, np.integer, np.floating)):
            h5.attrs[key] = value
    meta = json.dumps(attrs, default=_json_default, sort_keys=True)  # ASCII: non-ASCII is escaped
    # A fixed-length string lives in the object header; HDF5 2.0 can loop forever reading a
    # variable-length one (h5py's default for str) whose global heap entry is damaged. Header
    # messages hold at most 64 KiB: a larger meta (a few KiB in practice) stays variable-length.
    h5.attrs["meta"] = np.bytes_(meta.encode("ascii")) if len(meta) <= META_FIXED_MAX else meta


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "items"):  # snakemake Namedlist/Params and other mappings
        return dict(value.items())
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in HDF5 attributes")


def _read_attrs(h5: h5py.File) -> dict:
    return json.loads(h5.attrs["meta"]) if "meta" in h5.attrs else {}


@contextlib.contextmanager
def _reading(path: Path, *required: str) -> Iterator[h5py.File]:
    """`path` open for reading, with the `required` datasets. Any failure while the file is read
    becomes a StoreError naming it: which exception h5py raises depends on the damaged byte."""
    try:
        with h5py.File(path, "r") as h5:
            missing = [name for name in required if name not in h5]
            if missing:
                raise StoreError(f"{path}: missing datasets {missing}")
            yield h5
    except StoreError:
        raise
    except Exception as exc:
        raise StoreError(
            f"{path}: cannot read as HDF5 (damaged, truncated or not an HDF5 file): {type(exc).__name__}: {exc}"
        ) from exc


def _write_table(h5: h5py.File, name: str, data: np.ndarray, columns: dict, attrs: dict) -> None:
    # Whole rows per chunk (a colour image with its three planes), 256 rows like ingest's writer.
    chunk = (min(len(data), 256), *data.shape[1:]) if len(data) else None
    h5.create_dataset(name, data=data, chunks=chunk, compression="gzip", compression_opts=4, shuffle=True)
    for col in (*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in columns)):
        h5.create_dataset(col, data=np.asarray(columns[col], np.int64))
    write_attrs(h5, attrs)


def write_image_set(path: str | os.PathLike, images: np.ndarray, columns: dict, attrs: dict | None = None) -> None:
    """Write an image set atomically: uint8 [N, H, W] or [N, H, W, 3] images and the COLUMNS."""
    path = Path(path)
    images = np.asarray(images)
    channels_of(images, path)
    _check_columns(columns, len(images), path)
    attrs = dict(attrs or {})
    attrs.setdefault("image_size", int(images.shape[1]))
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        _write_table(h5, "images", images, columns, attrs)


def read_columns(h5: h5py.File, path: Path) -> dict[str, np.ndarray]:
    missing = [c for c in COLUMNS if c not in h5]
    if missing:
        raise StoreError(f"{path}: missing columns {missing}")
    return {c: h5[c][()] for c in (*COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in h5))}


def read_image_set(path: str | os.PathLike) -> ImageSet:
    """Read a whole image set into memory."""
    path = Path(path)
    with _reading(path, "images") as h5:
        images = h5["images"][()]
        columns = read_columns(h5, path)
        attrs = _read_attrs(h5)
    channels_of(images, path)
    _check_columns(columns, len(images), path)
    return ImageSet(images, columns, attrs)


def write_embeddings(path: str | os.PathLike, features: np.ndarray, columns: dict, attrs: dict | None = None) -> None:
    """Write float32 [N, D] features and the COLUMNS atomically."""
    path = Path(path)
    features = np.asarray(features, np.float32)
    if features.ndim != 2:
        raise StoreError(f"{path}: features must be [N, D], got {features.shape}")
    _check_columns(columns, len(features), path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        _write_table(h5, "features", features, columns, dict(attrs or {}))


def read_embeddings(path: str | os.PathLike) -> Embeddings:
    path = Path(path)
    with _reading(path, "features") as h5:
        features = h5["features"][()]
        columns = read_columns(h5, path)
        attrs = _read_attrs(h5)
    if features.ndim != 2:
        raise StoreError(f"{path}: features must be [N, D], got {features.shape}")
    _check_columns(columns, len(features), path)
    return Embeddings(features, columns, attrs)


def embeddings_model(path: str | os.PathLike, attrs: dict) -> tuple[str, str]:
    """(key set, weights sha256) of the model that made the embeddings at `path` (attributes
    `attrs`); a file that does not record them is an error naming it."""
    missing = [key for key in PROVENANCE if not attrs.get(key)]
    if missing:
        raise StoreError(
            f"{path}: the embeddings do not record the model that made them (no {' or '.join(missing)}; written "
            "before embeddings recorded it, or not by the embedding stage): rerun the rule that wrote them"
        )
    return str(attrs["keys"]), str(attrs["weights_sha256"])


def check_same_model(queries: str | os.PathLike, query_attrs: dict, gallery: str | os.PathLike, gallery_attrs: dict):
    """Query embeddings (`queries`, attributes `query_attrs`) can be searched in a gallery only
    if one model made both: same key set and weights digest. The error names the query file
    first (a search job writes it; the gallery is shared by many) and says what each holds."""
    query_model, gallery_model = embeddings_model(queries, query_attrs), embeddings_model(gallery, gallery_attrs)
    if query_model != gallery_model:
        (qk, qd), (gk, gd) = query_model, gallery_model
        raise StoreError(
            f"{queries}: query embeddings of key set {qk!r} (weights sha256 {qd[:12]}..., model "
            f"{query_attrs.get('model', '?')}), but the gallery {gallery} was made by key set {gk!r} (weights sha256 "
            f"{gd[:12]}..., model {gallery_attrs.get('model', '?')}): embeddings of different models cannot be "
            f"searched against each other; rerun the search that writes {queries}"
        )


def write_retrieval(
    path: str | os.PathLike,
    results: dict[str, tuple[np.ndarray, np.ndarray]],
    attrs: dict | None = None,
    measures: dict[str, dict[str, np.ndarray]] | None = None,
) -> None:
    """Write per-distance (indices int32 [N, K], scores float32 [N, K]) atomically, and with
    `measures` (distance -> name -> float [N], every distance and every RANKING_MEASURES name)
    the per-query measures over the whole ranking. Checked before writing, so that every file
    written can be read back by `read_ranking_measures`."""
    path = Path(path)
    if measures is not None:
        if set(measures) != set(results):
            raise StoreError(f"{path}: ranking measures for {sorted(measures)}, results for {sorted(results)}")
        for distance, values in measures.items():
            if set(values) != set(RANKING_MEASURES):
                raise StoreError(f"{path}: {distance!r} ranking measures {sorted(values)}, expected {RANKING_MEASURES}")
            n = len(results[distance][0])
            for name, array in values.items():
                if np.shape(array) != (n,):
                    raise StoreError(f"{path}: {distance!r} {name} has shape {np.shape(array)}, expected ({n},)")
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as h5:
        for distance, (indices, scores) in results.items():
            group = h5.create_group(distance)
            group.create_dataset("indices", data=np.asarray(indices, np.int32), compression="gzip")
            group.create_dataset("scores", data=np.asarray(scores, np.float32), compression="gzip")
            for name, array in (measures or {}).get(distance, {}).items():
                group.create_dataset(name, data=np.asarray(array, np.float64), compression="gzip")
        write_attrs(h5, dict(attrs or {}))


def read_retrieval(path: str | os.PathLike) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Per-distance (indices, scores) and the attributes."""
    path = Path(path)
    with _reading(path) as h5:
        results = {}
        for distance, group in h5.items():
            if not isinstance(group, h5py.Group) or "indices" not in group or "scores" not in group:
                raise StoreError(f"{path}: {distance!r} is not a group with indices and scores")
            results[distance] = (group["indices"][()], group["scores"][()])
        return results, _read_attrs(h5)


def read_ranking_measures(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """Per distance, per name in RANKING_MEASURES, the float64 [N] per-query values of a
    retrieval file; a file without them (written before they existed) is an error, not an
    empty result, so that no table silently lacks them."""
    path = Path(path)
    with _reading(path) as h5:
        measures = {}
        for distance, group in h5.items():
            if not isinstance(group, h5py.Group) or "indices" not in group:
                raise StoreError(f"{path}: {distance!r} is not a group with indices")
            missing = [name for name in RANKING_MEASURES if name not in group]
            if missing:
                raise StoreError(f"{path}: {distance!r} lacks the ranking measures {missing} (rerun its retrieval)")
            n = group["indices"].shape[0]
            measures[distance] = {}
            for name in RANKING_MEASURES:
                values = group[name][()]
                if values.shape != (n,):
                    raise StoreError(f"{path}: {distance!r} {name} has shape {values.shape}, expected ({n},)")
                measures[distance][name] = values.astype(np.float64, copy=False)
        return measures
