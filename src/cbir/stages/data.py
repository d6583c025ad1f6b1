"""Stages of workflow/rules/data.smk: the raw smallNORB files (downloaded or rendered), their
conversion to HDF5 image sets, and the figure of the dataset (smallNORB's from the raw files,
`plot_dataset`; any other source's from its HDF5 splits, `plot_dataset_images`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np

from cbir.convert import pair_columns, resize_batch, select_pairs
from cbir.download import download_file
from cbir.fsutil import atomic_path
from cbir.h5store import COLUMNS, class_names, read_image_set, write_attrs
from cbir.norb import (
    CATEGORIES,
    KINDS,
    TEST_INSTANCES,
    TRAIN_INSTANCES,
    NorbFormatError,
    NorbSplit,
    official_name,
    read_split,
    write_split,
)
from cbir.plots import save_figure
from cbir.plots.dataset import EXAMPLES, dataset_figure, examples_figure
from cbir.runlog import progress
from cbir.synth import AZIMUTHS_DEG, ELEVATIONS_DEG, IMAGE_SIZE, LIGHTINGS, RenderParams, render_grid

log = logging.getLogger("cbir.stages.data")

PathLike = str | os.PathLike
INSTANCES = {"train": TRAIN_INSTANCES, "test": TEST_INSTANCES}
CHUNK_PAIRS = 2048  # pairs converted at a time: peak memory is the raw split plus one chunk


def download(*, output: PathLike, url: str, checksum: str | None, retries: int, timeout: float) -> Path:
    """Rule download_smallnorb: fetch the official file named like `output` from the folder
    `url` (see `cbir.download.download_file`)."""
    output = Path(output)
    return download_file(url, output.name, output, checksum=checksum, retries=retries, timeout=timeout)


def synthesize(
    *,
    folder: PathLike,
    synthetic: Mapping,
    threads: int,
    image_size: int = IMAGE_SIZE,
    elevations: Sequence[int] = range(len(ELEVATIONS_DEG)),
    azimuths: Sequence[int] = range(len(AZIMUTHS_DEG)),
    lightings: Sequence[int] = range(len(LIGHTINGS)),
) -> list[Path]:
    """Rule synthesize_smallnorb: render both splits and write the six official smallNORB files
    (plain, not gzipped) into `folder`; returns their paths, training first.

    `synthetic` is the config section `dataset.synthetic` (seed and `RenderParams`); `threads`
    worker processes render, with the same bytes as one. The defaults are smallNORB's full grid
    at 96 px (24300 pairs per split); smaller grids (factor indices) and sizes are for tests.
    """
    seed = synthetic["seed"]
    params = RenderParams(**{key: value for key, value in synthetic.items() if key != "seed"})
    log.info("rendering the smallNORB surrogate: seed %d, %d px, %s", seed, image_size, asdict(params))
    paths = []
    for split, instances in INSTANCES.items():
        images, labels, info = render_grid(
            instances,
            categories=range(len(CATEGORIES)),
            elevations=elevations,
            azimuths=azimuths,
            lightings=lightings,
            image_size=image_size,
            seed=seed,
            params=params,
            threads=threads,
            desc=f"render {split}",
        )
        paths += write_split(folder, split, NorbSplit(images, labels, info))
        log.info("%s: %d image pairs written to %s", split, len(labels), folder)
    return paths


def convert_split(
    *,
    dat: PathLike,
    cat: PathLike,
    info: PathLike,
    output: PathLike,
    image_size: int,
    subset: Mapping,
    source: str,
) -> int:
    """Rule convert_norb_to_hdf5: the image set of one split (its dat, cat and info files, plain
    or gzipped) -> `output`, keeping the pairs and cameras of `subset` (config `dataset.subset`)
    at `image_size` px; returns the number of images.

    Rows: pair by pair in file order, the kept cameras of each pair consecutive. Pairs are
    resized and written a chunk at a time, so the peak memory is about the raw dat file.
    """
    split = _read_pairs(dat, cat, info)
    subset = dict(subset)
    cameras = sorted(subset["cameras"])
    pairs = select_pairs(split.info, subset)
    n = len(pairs) * len(cameras)
    log.info(
        "%s: %d of %d pairs kept, cameras %s -> %d images of %d px",
        dat,
        len(pairs),
        len(split.labels),
        cameras,
        n,
        image_size,
    )
    if n == 0:
        raise ValueError(f"config key 'dataset.subset': keeps no image of {dat}")
    columns = pair_columns(split.labels, split.info, pairs, cameras)
    attrs = {
        "source": source,
        "files": [str(Path(p)) for p in (dat, cat, info)],
        "image_size": int(image_size),
        "original_size": int(split.images.shape[-1]),
        "subset": subset,
        "row_order": "pair by pair in file order, kept cameras consecutive",
    }
    size, per_pair = image_size, len(cameras)
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
        starts = range(0, len(pairs), CHUNK_PAIRS)
        for start in progress(starts, desc=f"convert {Path(output).name}", unit="chunk"):
            chunk = split.images[pairs[start : start + CHUNK_PAIRS]][:, cameras]  # [B, C, H, W]
            flat = chunk.reshape(-1, *chunk.shape[2:])
            images[start * per_pair : start * per_pair + len(flat)] = resize_batch(flat, size)
        for name in COLUMNS:
            h5.create_dataset(name, data=columns[name])
        write_attrs(h5, attrs)
    return n


def _read_pairs(dat: PathLike, cat: PathLike, info: PathLike) -> NorbSplit:
    """`read_split`, refusing a split of no pairs (valid in the format, useless here) by its file,
    before a subset could be blamed for keeping nothing."""
    split = read_split(dat, cat, info)
    if len(split.labels) == 0:
        raise NorbFormatError(f"{dat}: holds no image pairs (an empty smallNORB file); download or render it again")
    return split


def _split_files(raw_files: Sequence[PathLike], split: str) -> list[Path]:
    """The dat, cat and info files of `split` among `raw_files` (official names, plain or .gz)."""
    by_name = {Path(p).name.removesuffix(".gz"): Path(p) for p in raw_files}
    missing = [official_name(split, kind) for kind in KINDS if official_name(split, kind) not in by_name]
    if missing:
        raise FileNotFoundError(f"smallNORB file(s) {', '.join(missing)} not among {[str(p) for p in raw_files]}")
    return [by_name[official_name(split, kind)] for kind in KINDS]


def plot_dataset(*, raw_files: Sequence[PathLike], output: PathLike) -> None:
    """Rule plot_dataset: the dataset figure (`cbir.plots.dataset`) from the six raw files."""
    splits = {}
    for split in INSTANCES:
        data = _read_pairs(*_split_files(raw_files, split))
        splits[split] = (data.images, data.labels, data.info)
    save_figure(dataset_figure(splits, categories=CATEGORIES), output)
    log.info("wrote %s", output)


def plot_dataset_images(
    *, splits: Sequence[PathLike], output: PathLike, columns: int = EXAMPLES, seed: int = 0
) -> None:
    """The dataset figure of a source other than smallNORB (a folder of labelled images): a row
    of `columns` example images per class (`cbir.plots.dataset.examples_figure`, drawn with
    `seed`) from the HDF5 image sets `splits` (e.g. train, validation, test), each split named by
    its file name; the class names are the sets' (`cbir.h5store.class_names`), the same in all."""
    sets, names = {}, None
    for path in splits:
        data = read_image_set(path)
        these = class_names(data.attrs, data.labels, path)
        if names is not None and these != names:
            raise ValueError(f"{path} names the classes {these} but {splits[0]} names {names}")
        names = these
        key = Path(path).stem if Path(path).stem not in sets else str(path)
        sets[key] = (data.images, data.labels)
    if names is None:
        raise ValueError("plot_dataset_images: no image sets given")
    save_figure(examples_figure(sets, classes=names, columns=columns, seed=seed), output)
    log.info("wrote %s (%d classes, %d images)", output, len(names), sum(len(lab) for _, lab in sets.values()))


def split_validation(
    *, source: PathLike, train: PathLike, validation: PathLike, instances_per_class: int, share: float, seed: int
) -> tuple[int, int]:
    """Rule split_validation: the converted training split `source` -> the images the networks
    train on (`train`, also the gallery) and the held-out objects (`validation`), rows in
    their order; returns both sizes. See `cbir.validation`."""
    from cbir.h5store import write_image_set
    from cbir.validation import given_mask, validation_mask

    data = read_image_set(source)
    if "given_validation" in data.attrs:  # a folder with its own validation split
        mask = given_mask(len(data), data.attrs["given_validation"], data.labels)
    else:  # a folder source holds out a share of its groups; smallNORB whole instances
        per_class = None if data.attrs.get("source") == "folder" else instances_per_class
        mask = validation_mask(
            data.labels, data.columns["instance"], instances_per_class=per_class, share=share, seed=seed
        )
    # (class, object) pairs: object ids repeat across classes in smallNORB
    held = sorted(set(zip(data.labels[mask].tolist(), data.columns["instance"][mask].tolist(), strict=True)))
    for path, rows, role in ((train, ~mask, "train"), (validation, mask, "validation")):
        part = data.subset(rows)
        write_image_set(
            path,
            part.images,
            part.columns,
            {
                **{k: v for k, v in data.attrs.items() if k != "given_validation"},
                "split": role,
                "validation_objects": [list(pair) for pair in held],
            },
        )
    log.info("%s: %d training and %d validation images (objects %s)", source, (~mask).sum(), mask.sum(), held)
    return int((~mask).sum()), int(mask.sum())
