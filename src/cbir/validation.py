"""The validation split: whole training objects held out of every network's training.

Every choice the pipeline makes (held-out curves during training, classical restorers'
`auto` parameters, recipe decisions recorded in the docs) is made on it, so the test split
stays untouched until the final tables. Objects, not images, are held out: the views of one
object are near-duplicates, and a validation image whose object was trained on would score
like a training image.

    by object  `instances_per_class` of each class's instances, drawn with the stream
               "validation" of the master seed (the rest stay in training; each class keeps
               at least one);
    by image   a dataset without object ids (every image its own object): a seeded `share`
               of each class's images;
    by group   a folder source (`instances_per_class` None): a seeded `share` of each class's
               groups (the images' `group`, or each image alone), at least one and not all.
               A folder that gives its own validation split is used as it is (`given_mask`).
"""

from __future__ import annotations

import numpy as np

from cbir.seeding import stream_key


class ValidationError(ValueError):
    """A validation setting that leaves a class without training or validation images."""


def given_mask(n: int, rows: list[int], labels: np.ndarray) -> np.ndarray:
    """bool [N]: a validation split the source gave (its row indices), which must leave every
    class images on both sides."""
    mask = np.zeros(n, bool)
    mask[np.asarray(rows, dtype=np.int64)] = True
    for label in np.unique(labels):
        in_class = labels == label
        if mask[in_class].all():
            raise ValidationError(f"the given validation split holds every training image of class {label}")
    return mask


def validation_mask(
    labels: np.ndarray, groups: np.ndarray | None, *, instances_per_class: int | None, share: float, seed: int
) -> np.ndarray:
    """bool [N]: the images of the validation split (see the module docstring). `groups` are
    the object ids (None: by image); `instances_per_class` None holds out a share of groups."""
    labels = np.asarray(labels)
    mask = np.zeros(len(labels), bool)
    rng = np.random.Generator(np.random.PCG64(stream_key(seed, "validation")))
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        if groups is None:
            count = int(round(share * len(rows)))
            if not 0 < count < len(rows):
                raise ValidationError(
                    f"config key 'validation.share': {share} of class {label}'s {len(rows)} images leaves "
                    "no image for validation or for training"
                )
            mask[rng.permutation(rows)[:count]] = True
            continue
        objects = np.unique(np.asarray(groups)[rows])
        if instances_per_class is None:
            count = int(round(share * len(objects)))
            if not 0 < count < len(objects):
                raise ValidationError(
                    f"config key 'validation.share': {share} of class {label}'s {len(objects)} groups leaves "
                    "no group for validation or for training"
                )
            held = rng.permutation(objects)[:count]
            mask[rows[np.isin(np.asarray(groups)[rows], held)]] = True
            continue
        if instances_per_class >= len(objects):
            raise ValidationError(
                f"config key 'validation.instances_per_class': {instances_per_class} of class {label}'s "
                f"{len(objects)} training objects leaves none for training"
            )
        held = rng.permutation(objects)[:instances_per_class]
        mask[rows[np.isin(np.asarray(groups)[rows], held)]] = True
    return mask
