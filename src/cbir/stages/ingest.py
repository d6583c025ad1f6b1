"""Stage of a folder of labelled images (config `dataset.source: folder`): the image sets
`train_all` and `test` and a JSON report, in the format of the smallNORB conversion.

Two passes over the files, both in a pool of `threads` processes, `CHUNK` files per task, at
most `WINDOW_PER_WORKER` tasks per worker in flight, results in order:

    1. headers  (`cbir.folder.probe`): unreadable files, decompression bombs, unsupported modes,
                with the structural checks (classes, groups, the seeded test split) before any
                pixel is decoded;
    2. pixels   (`cbir.folder.decode`): each chunk appended to the HDF5 datasets of temporary
                files (`cbir.fsutil.atomic_path`), so memory does not grow with the images; a
                file that fails only now is bad input like the others.

Splits stream in the order train, validation, test, so an image whose pixels equal an image of
an earlier split (train-test leakage) is the later split's copy. on_bad_image `error`: every
problem of both passes in one FolderError, nothing written. `skip`: bad files and the later
copies are left out and listed in the report; structural problems still stop the run.

Rows: train_all holds the train split, then the given validation split (its row indices in
attrs["given_validation"]); within a split, class by class in sorted order, files in path
order. Columns: label (index of the sorted class names), instance (the group's id; an image
without a group is its own: groups sorted by name first, then the other images by class and
path, ids unique across the dataset), elevation = azimuth = lighting = camera = 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np

from cbir.folder import (
    MAX_PIXELS,
    Entry,
    FolderError,
    assign_test,
    check_entries,
    decode_chunk,
    init_worker,
    probe_chunk,
    scan,
)
from cbir.fsutil import atomic_path
from cbir.h5store import COLUMNS, write_attrs
from cbir.runlog import progress

log = logging.getLogger("cbir.stages.ingest")

PathLike = str | os.PathLike
CHUNK = 64  # files per pool task
WINDOW_PER_WORKER = 4  # tasks in flight per worker: bounds the decoded chunks waiting in memory
DEFAULTS = {"manifest": None, "test_share": 0.2, "on_bad_image": "error", "max_pixels": MAX_PIXELS}


def _ordered(pool: ProcessPoolExecutor | None, workers: int, func: Callable, tasks: Iterable) -> Iterator:
    """func(task) for each task, in order; with a pool of `workers`, a bounded number in flight
    (Pool.imap would queue every result the parent has not taken yet, and a pool whose worker
    dies, killed for memory or by a crashing decoder, would wait forever: the executor raises
    BrokenProcessPool)."""
    if pool is None:
        yield from map(func, tasks)
        return
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.submit(func, task))
        if len(pending) >= WINDOW_PER_WORKER * workers:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Entries CHUNK at a time, in order, never mixing splits."""
    start = 0
    while start < len(entries):
        stop = min(start + CHUNK, len(entries))
        stop = next((k for k in range(start + 1, stop) if entries[k].split != entries[start].split), stop)
        yield entries[start:stop]
        start = stop


def instance_ids(entries: Iterable[Entry]) -> dict[str, int]:
    """Each file's instance id (see the module docstring)."""
    entries = list(entries)
    groups = sorted({e.group for e in entries if e.group is not None})
    ids = {group: k for k, group in enumerate(groups)}
    alone = sorted((e.label, e.path) for e in entries if e.group is None)
    out = {e.path: ids[e.group] for e in entries if e.group is not None}
    out.update({path: len(groups) + k for k, (_, path) in enumerate(alone)})
    return out


class _ImageWriter:
    """An image set appended chunk by chunk to an open HDF5 file."""

    def __init__(self, h5: h5py.File, shape: tuple[int, ...]):
        self.h5 = h5
        self.images = h5.create_dataset(
            "images",
            shape=(0, *shape),
            maxshape=(None, *shape),
            dtype=np.uint8,
            chunks=(256, *shape),
            compression="gzip",
            compression_opts=4,
            shuffle=True,
        )
        self.labels: list[int] = []
        self.instances: list[int] = []

    def append(self, images: list[np.ndarray], labels: list[int], instances: list[int]) -> None:
        if images:
            n = len(self.labels)
            self.images.resize(n + len(images), axis=0)
            self.images[n:] = np.stack(images)
            self.labels += labels
            self.instances += instances

    def finish(self, attrs: dict) -> None:
        n = len(self.labels)
        columns = {name: np.zeros(n, np.int64) for name in COLUMNS}
        columns["label"], columns["instance"] = np.array(self.labels, np.int64), np.array(self.instances, np.int64)
        for name in COLUMNS:
            self.h5.create_dataset(name, data=columns[name])
        write_attrs(self.h5, attrs)


def _image_shape(image_size: int, channels: int) -> tuple[int, ...]:
    """One stored image: grey [H, W], colour [H, W, 3] (channels last, as the files hold them)."""
    return (image_size, image_size) if channels == 1 else (image_size, image_size, 3)


def _bad_line(entry: Entry, reason: str) -> str:
    return f"{entry.path}: {reason}"


def ingest_folder(
    *,
    folder: Mapping,
    image_size: int,
    channels: int,
    seed: int,
    train_all: PathLike,
    test: PathLike,
    report: PathLike,
    threads: int,
) -> None:
    """Rule ingest_folder: the image folder of config `dataset.folder` -> the image sets
    `train_all` and `test` (`image_size` px; `channels` 1: uint8 [N, H, W], 3: [N, H, W, 3]) and the JSON `report`; `seed` draws
    the test split when the folder gives none. See the module docstring."""
    folder_config = {**DEFAULTS, **dict(folder)}
    if folder_config["on_bad_image"] not in ("error", "skip"):
        raise ValueError(
            f"config key 'dataset.folder.on_bad_image': {folder_config['on_bad_image']!r}, not error or skip"
        )
    if channels not in (1, 3):
        raise ValueError(f"config key 'dataset.channels': {channels}, not 1 (grey) or 3 (colour)")
    root, skip = Path(folder_config["path"]), folder_config["on_bad_image"] == "skip"
    max_pixels = int(folder_config["max_pixels"])
    found = scan(root, folder_config["manifest"])
    classes = found.classes
    given_splits = found.layout == "splits" or any(e.split for e in found.entries) or any(e.split for e, _ in found.bad)
    given_validation = any(e.split == "validation" for e in found.entries)
    log.info("%s: %d files, %d classes (%s layout)", root, len(found.entries), len(classes), found.layout)

    bad = list(found.bad)  # (entry, reason) of the files left out
    duplicates: list[dict] = []
    ctx = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        pool = None
        if threads > 1:
            pool = stack.enter_context(ProcessPoolExecutor(threads, mp_context=ctx, initializer=init_worker))
        tasks = (([e.path for e in chunk], max_pixels) for chunk in _chunks(found.entries))
        bar = progress(total=len(found.entries), desc="check headers", unit="file")
        reasons = []
        for chunk in _ordered(pool, threads, probe_chunk, tasks):
            reasons += chunk
            bar.update(len(chunk))
        bar.close()
        bad += [(e, r) for e, r in zip(found.entries, reasons, strict=True) if r is not None]
        # error mode: bad files stop the run anyway, so the splits are checked as if they were fixed
        kept = [e for e, r in zip(found.entries, reasons, strict=True) if r is None or not skip]
        problems = list(found.problems)
        if not given_splits:
            kept, more = assign_test(kept, test_share=float(folder_config["test_share"]), seed=seed)
            problems += more
        problems += check_entries(kept, classes, str(root))
        if problems:
            raise FolderError(root, problems + ([] if skip else [_bad_line(e, r) for e, r in bad]))
        if not skip:
            kept = [e for e, r in zip(kept, _reasons_by_path(bad, kept), strict=True) if r is None]

        ids = instance_ids([*found.entries, *(e for e, _ in found.bad)])
        label_of = {name: k for k, name in enumerate(classes)}
        writers = {}
        for name, path in (("train_all", train_all), ("test", test)):
            tmp = stack.enter_context(atomic_path(path))
            writers[name] = _ImageWriter(stack.enter_context(h5py.File(tmp, "w")), _image_shape(image_size, channels))
        seen: dict[bytes, int] = {}  # pixel digest -> index in `kept` of its first image
        repeats: list[dict] = []  # equal images within one split: kept
        counts = {split: dict.fromkeys(classes, 0) for split in ("train", "validation", "test")}
        bar = progress(total=len(kept), desc=f"ingest {root.name}", unit="image")
        tasks = (([e.path for e in chunk], image_size, channels, max_pixels) for chunk in _chunks(kept))
        start = 0
        for chunk in _ordered(pool, threads, decode_chunk, tasks):
            images, labels, instances = [], [], []
            for k, (image, digest, reason) in enumerate(chunk, start):
                entry = kept[k]
                if reason is not None:
                    bad.append((entry, reason))
                    continue
                first = seen.setdefault(digest, k)
                if first != k:
                    twin = kept[first]
                    record = {"file": entry.path, "split": entry.split, "same_as": twin.path}
                    if twin.split == entry.split:
                        repeats.append(record)
                    else:
                        duplicates.append({**record, "same_as_split": twin.split})
                        continue
                images.append(image)
                labels.append(label_of[entry.label])
                instances.append(ids[entry.path])
                counts[entry.split][entry.label] += 1
            writers["test" if kept[start].split == "test" else "train_all"].append(images, labels, instances)
            start += len(chunk)
            bar.update(len(chunk))
        bar.close()

        if not skip and (bad or duplicates):
            raise FolderError(root, [_bad_line(e, r) for e, r in bad] + [_duplicate_line(d) for d in duplicates])
        late = [f"{root}: class {c!r} has no training images left" for c in classes if not counts["train"][c]]
        empty = [split for split in ("validation", "test") if not sum(counts[split].values())]
        late += [f"{root}: no {split} images left" for split in empty if split == "test" or given_validation]
        if late:
            raise FolderError(root, late)
        common = {
            "source": "folder",
            "classes": classes,
            "folder": str(root),
            "manifest": None if folder_config["manifest"] is None else str(folder_config["manifest"]),
            "layout": found.layout,
            "channels": int(channels),
            "image_size": int(image_size),
            "row_order": "train, then validation rows; class by class in sorted order, files in path order",
        }
        n_train = sum(counts["train"].values())
        extra = {"given_validation": list(range(n_train, len(writers["train_all"].labels)))} if given_validation else {}
        writers["train_all"].finish({**common, "split": "train_all", **extra})
        writers["test"].finish({**common, "split": "test"})
        summary = {
            "source": "folder",
            "settings": {
                **{k: folder_config[k] for k in ("path", "manifest", "test_share", "on_bad_image", "max_pixels")},
                "image_size": int(image_size),
                "channels": int(channels),
                "seed": int(seed),
                "split": f"given ({found.layout})" if given_splits else "seeded test_share per class",
            },
            "classes": classes,
            "counts": {split: per for split, per in counts.items() if split != "validation" or given_validation},
            "totals": {split: sum(per.values()) for split, per in counts.items()},
            "skipped": [{"file": e.path, "reason": r} for e, r in bad],
            "duplicates": [{**d, "action": "dropped"} for d in duplicates],
            "repeated_within_split": repeats,
            "ignored": [str(p) for p in found.ignored],
        }
        with atomic_path(report) as tmp:
            tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log.info("%s: images written per split %s", root, summary["totals"])
    if bad or duplicates:
        log.warning(
            "%s: %d bad files and %d copies of images of other splits left out (listed in %s)",
            root,
            len(bad),
            len(duplicates),
            report,
        )


def _reasons_by_path(bad: list[tuple[Entry, str]], entries: Sequence[Entry]) -> list[str | None]:
    by_path = {e.path: r for e, r in bad}
    return [by_path.get(e.path) for e in entries]


def _duplicate_line(d: dict) -> str:
    return (
        f"{d['file']}: the same pixels as {d['same_as']} ({d['split']} copy of a {d['same_as_split']} image: "
        "leakage between splits)"
    )
