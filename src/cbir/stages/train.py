"""Stage behind workflow/rules/train.smk: train the classifier and the enhancers, evaluate
the classifier, plot learning curves and the augmentation.

Every file read or written by these rules is handled here: the HDF5 splits, the final
checkpoint and history CSV, the classification JSON and the figures. The computation
lives in `cbir.train`, `cbir.inference` and `cbir.plots.training`. Modules that import
torch are imported inside the functions that need them, so the learning-curve rule starts
without torch.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cbir.fsutil import atomic_path
from cbir.h5store import ImageSet, class_names, read_image_set
from cbir.plots import save_figure
from cbir.plots.training import augmentation_figure, confusion_matrix_figure, learning_curve_figure

log = logging.getLogger("cbir.stages.train")

AUGMENTED_VERSIONS = 5  # columns of augmented images in the augmentation figure
MAX_EXAMPLE_CLASSES = 20  # rows (classes) of the augmentation figure; more classes: the first 20


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------


def write_history(path: str | os.PathLike, rows: list[dict], fields: list[str]) -> None:
    """The per-epoch rows of a training job as CSV (floats with 6 significant digits)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})


def read_history(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The per-epoch CSV of a training job as column -> float array."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"{path}: no epochs in the training history")
    return {key: np.array([float(r[key]) for r in rows]) for key in rows[0]}


def _train(
    task, train_set: ImageSet, heldout_set: ImageSet, model_path, history_path, runtime, stop_after, identity=None
) -> bool:
    """Run `task`, then write the model (its meta with `identity` added: what the network is)
    and history and drop the partial checkpoint."""
    from cbir.checkpoint import save_checkpoint
    from cbir.train.loop import digest, partial_path, train

    partial = partial_path(model_path)
    trained = train(
        task,
        digests={
            "train": digest(train_set.images, train_set.labels),
            "validation": digest(heldout_set.images, heldout_set.labels),
        },
        source=train_set.attrs.get("source"),
        runtime=runtime,
        partial=partial,
        stop_after=stop_after,
    )
    if trained is None:
        return False
    save_checkpoint(model_path, trained.state_dict, {**trained.meta, **(identity or {})})
    write_history(history_path, trained.history, trained.fields)
    partial.unlink(missing_ok=True)
    log.info("%s: wrote %s and %s", task.name, model_path, history_path)
    return True


def train_classifier(
    *,
    train: str | os.PathLike,
    validation: str | os.PathLike,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    recipe: dict,
    runtime: dict,
    seed: int,
    threads: int,
    name: str = "classifier",
    rescale: str | None = None,
    stop_after: int | None = None,
    keys: str | None = None,
) -> bool:
    """Train the classifier (config `classifier`) or the key set `name`'s (its recipe adds
    `degrade`, see `cbir.train.tasks`; `rescale` is config `degradation.rescale`); write
    `model_path` and `history_path`. The checkpoint records its key set `keys` (default: from
    `name`, `cbir.checkpoint.keys_of`: classifier -> standard, classifier_<k> -> <k>).

    The head has one output per class of the training split (`cbir.h5store.class_names`: its
    attribute ``classes``, else smallNORB's five); the checkpoint records them (``class_names``,
    ``class_counts``: training images per class) and the validation split must name the same.

    Returns False when `stop_after` (a simulated kill, for tests) ended the job after that
    many epochs in total, leaving only the in-progress checkpoint.
    """
    from cbir.checkpoint import keys_of
    from cbir.device import placement as resolve_placement
    from cbir.train.tasks import ClassifierTask

    placement = resolve_placement(runtime, threads)
    train_set, heldout_set = read_image_set(train), read_image_set(validation)
    names = class_names(train_set.attrs, train_set.labels, train)
    held_names = class_names(heldout_set.attrs, heldout_set.labels, validation)
    if held_names != names:
        raise ValueError(f"{validation} names the classes {held_names} but {train} names {names}")
    log.info("%s: %d classes %s", name, len(names), names)
    task = ClassifierTask(
        train_images=train_set.images,
        train_labels=train_set.labels,
        heldout_images=heldout_set.images,
        heldout_labels=heldout_set.labels,
        recipe=recipe,
        seed=int(seed),
        placement=placement,
        name=name,
        rescale=rescale,
        class_names=names,
    )
    identity = {"role": "classifier", "keys": keys or keys_of(name)}
    return _train(task, train_set, heldout_set, model_path, history_path, runtime, stop_after, identity)


def train_enhancer(
    *,
    name: str,
    train: str | os.PathLike,
    validation: str | os.PathLike,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    recipe: dict,
    runtime: dict,
    seed: int,
    threads: int,
    rescale: str,
    classifier: str | os.PathLike | None = None,
    stop_after: int | None = None,
    classifier_expect: Mapping | None = None,
) -> bool:
    """Train the enhancer `name` (config `enhancers.<name>`); write `model_path` and `history_path`.

    `rescale` (config `degradation.rescale`) maps degraded images back to uint8 as the query
    sets do. `classifier` is the trained classifier's checkpoint, needed (and read) only when
    the recipe's loss.feature > 0: its embedding is the frozen feature of the loss; it must be
    what `classifier_expect` says (`cbir.stages.common.load_network`). False when stopped early
    by `stop_after` (see `train_classifier`).
    """
    from cbir.device import placement as resolve_placement
    from cbir.stages.common import load_network
    from cbir.train.tasks import EnhancerTask, TrainingError

    feature = float(recipe["loss"]["feature"])
    if feature > 0 and classifier is None:
        raise TrainingError(
            f"enhancers.{name}.loss.feature is {feature}: the enhancer's training needs the trained classifier "
            "checkpoint, and none was given"
        )
    placement = resolve_placement(runtime, threads)
    train_set, heldout_set = read_image_set(train), read_image_set(validation)
    net = None
    if feature > 0:  # on the training device, eval mode; trained on this image size
        net, _ = load_network(
            classifier,
            kind="classifier",
            images=train_set,
            images_path=train,
            runtime=runtime,
            threads=threads,
            expect=classifier_expect,
        )
        log.info("%s: feature loss (weight %g) on the embeddings of %s", name, feature, classifier)
    task = EnhancerTask(
        name,
        train_images=train_set.images,
        heldout_images=heldout_set.images,
        recipe=recipe,
        seed=int(seed),
        placement=placement,
        rescale=rescale,
        classifier=net,
        classifier_path=None if net is None else os.fspath(classifier),
    )
    return _train(task, train_set, heldout_set, model_path, history_path, runtime, stop_after, {"role": "enhancer"})


def train_detector(
    *,
    train: str | os.PathLike,
    validation: str | os.PathLike,
    model_path: str | os.PathLike,
    history_path: str | os.PathLike,
    recipe: dict,
    pools: Mapping[str, list[dict]],
    runtime: dict,
    seed: int,
    threads: int,
    rescale: str,
    stop_after: int | None = None,
) -> bool:
    """Train the degradation detector (config `detector`) on the training split, each image clean
    or degraded by a kind drawn per image and a strength of that kind's `pools` entry
    (`cbir.train.detector`); write `model_path` and `history_path`."""
    from cbir.device import placement as resolve_placement
    from cbir.train.detector import DetectorTask

    placement = resolve_placement(runtime, threads)
    train_set, heldout_set = read_image_set(train), read_image_set(validation)
    task = DetectorTask(
        "detector",
        train_images=train_set.images,
        heldout_images=heldout_set.images,
        pools={kind: list(specs) for kind, specs in pools.items()},
        recipe=recipe,
        seed=int(seed),
        placement=placement,
        rescale=rescale,
    )
    return _train(task, train_set, heldout_set, model_path, history_path, runtime, stop_after, {"role": "detector"})


# ---------------------------------------------------------------------------------------
# Evaluation and figures
# ---------------------------------------------------------------------------------------


def evaluate_classifier(
    *,
    model: str | os.PathLike,
    test: str | os.PathLike,
    table: str | os.PathLike,
    figure: str | os.PathLike,
    batch_size: int,
    runtime: dict,
    threads: int,
    expect: Mapping | None = None,
) -> dict:
    """Test accuracy and confusion matrix on the whole split -> `table` (JSON) and `figure` (PNG).
    `expect`: what the checkpoint `model` must be (`cbir.stages.common.load_network`).

    The classes are the test split's (`cbir.h5store.class_names`); the classifier must have one
    output per class and, where its checkpoint records them, have been trained on the same names.
    The JSON has per class (by name) the test images, the accuracy and a row of the C x C
    confusion matrix, the balanced accuracy (mean over classes with test images), and the chance
    levels of guessing (`cbir.evaluation.classification_chance`, from the class frequencies)."""
    from cbir.checkpoint import CheckpointError, public_meta
    from cbir.evaluation import classification_chance
    from cbir.inference import classify, confusion_matrix
    from cbir.stages.common import load_network

    test_set = read_image_set(test)
    labels = np.asarray(test_set.labels, np.int64)
    names = class_names(test_set.attrs, labels, test)
    net, meta = load_network(
        model, kind="classifier", images=test_set, images_path=test, runtime=runtime, threads=threads, expect=expect
    )
    outputs = int(meta["arch_args"].get("num_classes", len(names)))
    trained_on = meta.get("class_names")
    if outputs != len(names) or (trained_on is not None and list(trained_on) != names):
        raise CheckpointError(
            f"{model}: a classifier of {outputs} classes{f' {list(trained_on)}' if trained_on else ''}, but {test} "
            f"names {len(names)}: {names}; evaluate it on a split of the dataset it was trained on"
        )
    predictions = classify(net, test_set.images, batch_size=batch_size)
    matrix = confusion_matrix(labels, predictions, len(names))
    totals = matrix.sum(1)
    per_class = {name: (float(matrix[i, i] / totals[i]) if totals[i] else None) for i, name in enumerate(names)}
    present = [value for value in per_class.values() if value is not None]
    result = {
        "accuracy": float((predictions == labels).mean()) if len(labels) else float("nan"),
        "balanced_accuracy": float(np.mean(present)) if present else float("nan"),
        "n_images": len(labels),
        "classes": names,
        "class_counts": dict(zip(names, totals.tolist(), strict=True)),
        "confusion_matrix": matrix.tolist(),
        "confusion_matrix_axes": "rows: true class, columns: predicted class",
        "per_class_accuracy": per_class,
        "chance": classification_chance(labels, len(names), meta.get("class_counts")),
        "model": str(model),
        "test": str(test),
        "model_meta": public_meta(meta),
    }
    with atomic_path(table) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2, sort_keys=False, default=str) + "\n")
    title = f"{meta['arch_args']['arch']}: test accuracy {result['accuracy']:.1%}"
    save_figure(confusion_matrix_figure(matrix, names, title), figure)
    log.info(
        "test accuracy %.4f on %d images; per class %s", result["accuracy"], len(labels), result["per_class_accuracy"]
    )
    return result


def plot_learning_curve(*, history: str | os.PathLike, figure: str | os.PathLike, title: str) -> None:
    """Loss and accuracy/PSNR per epoch of one trained network, from its history CSV."""
    save_figure(learning_curve_figure(read_history(history), title), figure)


def plot_augmentation(*, train: str | os.PathLike, figure: str | os.PathLike, augment: dict, seed: int) -> None:
    """Figure like the paper's Figure 2: one training image per class and augmented versions of it.

    `augment` is the config `classifier.augment`; the augmentation is drawn from `seed`. The figure
    gets [0, 1] images in the stored layout: grey [n, H, W] and [n, versions, H, W], colour
    [n, H, W, 3] and [n, versions, H, W, 3].
    """
    import torch

    from cbir.augment import augment as augment_batch
    from cbir.augment import seeded_generator
    from cbir.imagemath import from_stored, to_stored, unit_range

    images = read_image_set(train)
    labels = images.labels
    names = class_names(images.attrs, labels, train)
    rows = [int(np.flatnonzero(labels == c)[0]) for c in range(len(names)) if (labels == c).any()]
    if len(rows) > MAX_EXAMPLE_CLASSES:
        log.info("augmentation figure: the first %d of %d classes", MAX_EXAMPLE_CLASSES, len(rows))
        rows = rows[:MAX_EXAMPLE_CLASSES]
    originals = unit_range(from_stored(torch.from_numpy(images.images[rows])))
    generator = seeded_generator(seed)
    augmented = torch.stack([augment_batch(originals, augment, generator) for _ in range(AUGMENTED_VERSIONS)], 1)
    log.info("augmentation figure: %d images x %d versions, settings %s", len(rows), AUGMENTED_VERSIONS, augment)
    shown = [names[int(labels[r])] for r in rows]
    versions = to_stored(augmented.flatten(0, 1))  # [n * versions, C, H, W] -> stored layout
    versions = versions.reshape(len(rows), AUGMENTED_VERSIONS, *versions.shape[1:])
    save_figure(augmentation_figure(to_stored(originals).numpy(), versions.numpy(), shown), figure)
