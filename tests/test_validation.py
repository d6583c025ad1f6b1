"""The validation split: whole objects held out per class, or a share of images without object ids."""

from __future__ import annotations

import numpy as np
import pytest

from cbir.h5store import COLUMNS, read_image_set, write_image_set
from cbir.stages.data import split_validation
from cbir.validation import ValidationError, given_mask, validation_mask

# 5 classes x 5 objects x 6 views, rows interleaved as a real split's are.
LABELS = np.repeat(np.arange(5), 30)
OBJECTS = np.tile(np.repeat([4, 6, 7, 8, 9], 6), 5)


def test_one_object_per_class_with_all_its_views():
    mask = validation_mask(LABELS, OBJECTS, instances_per_class=1, share=0.2, seed=0)
    for label in range(5):
        held = np.unique(OBJECTS[mask & (LABELS == label)])
        assert len(held) == 1
        # every view of the held object, and nothing of the others
        assert mask[(LABELS == label) & (OBJECTS == held[0])].all()
        assert not mask[(LABELS == label) & (OBJECTS != held[0])].any()
    assert mask.sum() == 5 * 6


def test_seeded_and_each_class_drawn_separately():
    first = validation_mask(LABELS, OBJECTS, instances_per_class=2, share=0.2, seed=3)
    assert np.array_equal(first, validation_mask(LABELS, OBJECTS, instances_per_class=2, share=0.2, seed=3))
    seeds = {validation_mask(LABELS, OBJECTS, instances_per_class=1, share=0.2, seed=s).tobytes() for s in range(8)}
    assert len(seeds) > 1  # the draw follows the seed
    per_class = [tuple(np.unique(OBJECTS[first & (LABELS == c)])) for c in range(5)]
    assert all(len(objects) == 2 for objects in per_class)


def test_refuses_to_leave_a_class_without_training_objects():
    with pytest.raises(ValidationError, match="validation.instances_per_class': 5 of class 0's 5"):
        validation_mask(LABELS, OBJECTS, instances_per_class=5, share=0.2, seed=0)


def test_share_of_images_without_object_ids():
    mask = validation_mask(LABELS, None, instances_per_class=1, share=0.2, seed=0)
    assert [int(mask[LABELS == c].sum()) for c in range(5)] == [6] * 5
    with pytest.raises(ValidationError, match="validation.share"):
        validation_mask(LABELS[:6], None, instances_per_class=1, share=0.01, seed=0)


def test_stage_writes_disjoint_objects_in_row_order(tmp_path):
    n = len(LABELS)
    images = (np.arange(n)[:, None, None] % 251).astype(np.uint8) * np.ones((1, 4, 4), np.uint8)
    columns = {
        "label": LABELS,
        "instance": OBJECTS,
        "elevation": np.zeros(n, np.int64),
        "azimuth": np.arange(n) % 6,
        "lighting": np.zeros(n, np.int64),
        "camera": np.zeros(n, np.int64),
    }
    write_image_set(tmp_path / "all.h5", images, columns)
    n_train, n_val = split_validation(
        source=tmp_path / "all.h5",
        train=tmp_path / "train.h5",
        validation=tmp_path / "validation.h5",
        instances_per_class=1,
        share=0.2,
        seed=0,
    )
    train, val = read_image_set(tmp_path / "train.h5"), read_image_set(tmp_path / "validation.h5")
    assert (n_train, n_val) == (120, 30)
    pairs = lambda s: set(zip(s.labels.tolist(), s.columns["instance"].tolist(), strict=True))  # noqa: E731
    assert not pairs(train) & pairs(val)
    mask = validation_mask(LABELS, OBJECTS, instances_per_class=1, share=0.2, seed=0)
    assert np.array_equal(val.images, images[mask]) and np.array_equal(train.images, images[~mask])
    assert val.attrs["split"] == "validation"
    assert sorted(map(tuple, val.attrs["validation_objects"])) == sorted(pairs(val))


def test_share_of_groups_for_a_folder_source():
    """Own images: a share of each class's groups, every image of a held group, none of the others."""
    mask = validation_mask(LABELS, OBJECTS, instances_per_class=None, share=0.4, seed=0)
    for label in range(5):
        held = np.unique(OBJECTS[mask & (LABELS == label)])
        assert len(held) == 2  # round(0.4 x 5 groups)
        assert mask[(LABELS == label) & np.isin(OBJECTS, held)].all()
        assert not mask[(LABELS == label) & ~np.isin(OBJECTS, held)].any()
    with pytest.raises(ValidationError, match="validation.share': 0.05 of class 0's 5 groups leaves no group"):
        validation_mask(LABELS, OBJECTS, instances_per_class=None, share=0.05, seed=0)


def _folder_split(tmp_path, attrs):
    n = len(LABELS)
    images = (np.arange(n)[:, None, None] % 251).astype(np.uint8) * np.ones((1, 4, 4), np.uint8)
    columns = {"label": LABELS, "instance": np.arange(n), **{c: np.zeros(n, np.int64) for c in COLUMNS[2:]}}
    write_image_set(tmp_path / "all.h5", images, columns, attrs)
    kwargs = {"train": tmp_path / "train.h5", "validation": tmp_path / "validation.h5", "share": 0.2, "seed": 0}
    return split_validation(source=tmp_path / "all.h5", instances_per_class=1, **kwargs)


def test_a_given_validation_split_is_used_as_it_is(tmp_path):
    given = [3, 40, 41, 149]
    assert _folder_split(tmp_path, {"source": "folder", "given_validation": given}) == (146, 4)
    validation = read_image_set(tmp_path / "validation.h5")
    assert validation.images[:, 0, 0].tolist() == given and "given_validation" not in validation.attrs
    # without one, a folder source holds out a share of groups (here every image its own group)
    assert _folder_split(tmp_path, {"source": "folder"}) == (120, 30)
    with pytest.raises(ValidationError, match="every training image of class 1"):
        given_mask(len(LABELS), list(range(30, 60)), LABELS)


def test_constants_kept_equal_across_layers():
    """The base and format layers import no computation: their copies of shared names must agree."""
    from cbir import config_checks, h5store, measures, norb

    assert config_checks.NORB_TRAINING_OBJECTS == len(norb.TRAIN_INSTANCES)
    assert h5store.RANKING_MEASURES == measures.RANKING_MEASURES
