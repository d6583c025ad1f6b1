"""Any number of classes, by name, from training to the figures: image sets of a labelled folder
name their labels in the attribute `classes` (3 and 7 classes, unbalanced, here); smallNORB's sets,
which do not, keep its five categories."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from train.toydata import AUGMENT, CLASSIFIER, CPU, DENOISE

from cbir.checkpoint import CheckpointError, load_model, read_checkpoint
from cbir.h5store import COLUMNS, StoreError, write_image_set
from cbir.norb import CATEGORIES
from cbir.stages import data as data_stage
from cbir.stages import report as report_stage
from cbir.stages import train as train_stage
from cbir.stages.data import plot_dataset_images
from cbir.stages.report import plot_retrieval
from cbir.stages.train import evaluate_classifier, plot_augmentation, train_classifier

SIZE = 32
# Images per class of each split: unbalanced, and the test split's frequencies are not the training's.
DATASETS = {
    3: {
        "names": ["cat", "dog", "a rather long class name"],
        "train": [20, 8, 4],
        "validation": [4, 2, 2],
        "test": [3, 9, 6],
    },
    7: {
        "names": ["c0", "c1", "c2", "c3", "c4", "c5", "c6"],
        "train": [12, 3, 8, 2, 6, 4, 5],
        "validation": [2, 1, 2, 1, 1, 1, 1],
        "test": [1, 5, 2, 3, 2, 6, 1],
    },
}
RECIPE = {**CLASSIFIER, "epochs": 1, "eval_images": 0}


def class_images(counts: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stripes whose frequency is the class (label + 1), random phase and noise; rows shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    grid = np.arange(SIZE) / SIZE
    phase = rng.uniform(0, 1, (len(labels), 1, 1))
    stripes = np.sin(2 * np.pi * (labels[:, None, None] + 1) * (grid[None, None, :] + phase))
    images = 0.5 + 0.4 * stripes * np.ones((1, SIZE, 1)) + rng.normal(0, 0.05, (len(labels), SIZE, SIZE))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.int64)


def columns(labels: np.ndarray) -> dict:
    cols = {c: np.zeros(len(labels), np.int64) for c in COLUMNS}
    return {**cols, "label": labels, "instance": np.arange(len(labels))}


def write_dataset(folder, n_classes: int) -> dict:
    """train.h5, validation.h5 and test.h5 of DATASETS[n_classes], as a folder source writes them."""
    spec = DATASETS[n_classes]
    folder.mkdir(parents=True, exist_ok=True)
    for seed, split in enumerate(("train", "validation", "test")):
        images, labels = class_images(spec[split], seed)
        attrs = {"source": "folder", "classes": spec["names"], "split": split}
        write_image_set(folder / f"{split}.h5", images, columns(labels), attrs)
    return spec


@pytest.fixture(scope="module", params=[3, 7], ids=["3-classes", "7-classes"])
def trained(request, tmp_path_factory):
    """A dataset of 3 or 7 unbalanced classes and the classifier trained on it (one epoch)."""
    folder = tmp_path_factory.mktemp(f"classes{request.param}")
    spec = write_dataset(folder, request.param)
    assert train_classifier(
        train=folder / "train.h5",
        validation=folder / "validation.h5",
        model_path=folder / "classifier.pt",
        history_path=folder / "classifier.csv",
        recipe=RECIPE,
        runtime=CPU,
        seed=0,
        threads=1,
    )
    return folder, spec, request.param


def test_the_classifier_has_one_output_per_class_and_rebuilds(trained):
    folder, spec, n = trained
    meta = read_checkpoint(folder / "classifier.pt")["meta"]
    assert meta["arch_args"] == {"arch": "resnet18", "num_classes": n, "head": "fc"}
    assert meta["classes"] == n and meta["class_names"] == spec["names"]
    assert meta["class_counts"] == spec["train"]
    assert meta["embedding_size"] == 512  # the retrieval key does not depend on the classes
    model, _ = load_model(folder / "classifier.pt", kind="classifier")
    assert model.fc.weight.shape == (n, 512)
    assert model(torch.zeros(2, 1, SIZE, SIZE)).shape == (2, n)
    assert model.embed(torch.zeros(1, 1, SIZE, SIZE)).shape == (1, 512)


def test_classification_json_and_confusion_matrix_by_class_name(trained, monkeypatch):
    folder, spec, n = trained
    figures = []
    monkeypatch.setattr(train_stage, "save_figure", lambda fig, path: figures.append(fig))
    result = evaluate_classifier(
        model=folder / "classifier.pt",
        test=folder / "test.h5",
        table=folder / "classification.json",
        figure=folder / "confusion.png",
        batch_size=8,
        runtime=CPU,
        threads=1,
    )
    stored = json.loads((folder / "classification.json").read_text())
    assert stored["classes"] == spec["names"]
    assert list(stored["per_class_accuracy"]) == spec["names"]
    assert stored["class_counts"] == dict(zip(spec["names"], spec["test"], strict=True))
    matrix = np.array(stored["confusion_matrix"])
    assert matrix.shape == (n, n) and list(matrix.sum(1)) == spec["test"]
    assert (
        stored["accuracy"] == pytest.approx(np.trace(matrix) / sum(spec["test"])) == pytest.approx(result["accuracy"])
    )
    for i, name in enumerate(spec["names"]):
        assert stored["per_class_accuracy"][name] == pytest.approx(matrix[i, i] / spec["test"][i])
    assert stored["balanced_accuracy"] == pytest.approx(np.mean(np.diag(matrix) / spec["test"]))
    # Chance by hand from the frequencies: the test split's p_test, the training split's p_train.
    p_test = np.array(spec["test"]) / sum(spec["test"])
    p_train = np.array(spec["train"]) / sum(spec["train"])
    chance = stored["chance"]
    assert chance["uniform"] == pytest.approx(1 / n)
    assert chance["prior"] == pytest.approx(sum(p_test[c] * p_train[c] for c in range(n)))
    assert chance["majority"] == pytest.approx(spec["test"][0] / sum(spec["test"]))  # class 0: most trained
    assert chance["frequencies"] == "training"
    (fig,) = figures
    ax = fig.axes[0]
    assert ax.images[0].get_array().shape == (n, n) and len(ax.texts) == n * n
    assert [t.get_text() for t in ax.get_xticklabels()] == spec["names"]
    assert [t.get_text() for t in ax.get_yticklabels()] == spec["names"]


def test_evaluating_on_other_classes_is_refused(trained, tmp_path):
    folder, spec, n = trained
    images, labels = class_images([3] * n, 5)
    others = [f"other{c}" for c in range(n)]
    write_image_set(tmp_path / "other.h5", images, columns(labels), {"classes": others})
    with pytest.raises(CheckpointError, match=rf"classifier of {n} classes .*other\.h5 names {n}"):
        evaluate_classifier(
            model=folder / "classifier.pt",
            test=tmp_path / "other.h5",
            table=tmp_path / "x.json",
            figure=tmp_path / "x.png",
            batch_size=8,
            runtime=CPU,
            threads=1,
        )
    images, labels = class_images([3, 3, 3, 3, 3], 5)  # a smallNORB set: five categories
    write_image_set(tmp_path / "norb.h5", images, columns(labels))
    with pytest.raises(CheckpointError, match=f"classifier of {n} classes"):
        evaluate_classifier(
            model=folder / "classifier.pt",
            test=tmp_path / "norb.h5",
            table=tmp_path / "x.json",
            figure=tmp_path / "x.png",
            batch_size=8,
            runtime=CPU,
            threads=1,
        )


def test_augmentation_examples_are_named_by_class(trained, monkeypatch):
    folder, spec, n = trained
    figures = []
    monkeypatch.setattr(train_stage, "save_figure", lambda fig, path: figures.append(fig))
    plot_augmentation(train=folder / "train.h5", figure=folder / "aug.png", augment=AUGMENT, seed=0)
    (fig,) = figures
    columns_per_row = train_stage.AUGMENTED_VERSIONS + 1
    assert len(fig.axes) == n * columns_per_row
    assert [fig.axes[columns_per_row * i].get_ylabel() for i in range(n)] == spec["names"]


def test_robust_keys_have_the_classes_of_their_split(tmp_path):
    spec = write_dataset(tmp_path, 7)
    recipe = {**RECIPE, "degrade": {"share": 0.5, "degradations": DENOISE}}
    assert train_classifier(
        train=tmp_path / "train.h5",
        validation=tmp_path / "validation.h5",
        model_path=tmp_path / "classifier_robust.pt",
        history_path=tmp_path / "classifier_robust.csv",
        recipe=recipe,
        runtime=CPU,
        seed=0,
        threads=1,
        name="classifier_robust",
        rescale="minmax",
    )
    meta = read_checkpoint(tmp_path / "classifier_robust.pt")["meta"]
    assert meta["keys"] == "robust" and meta["degrade"]["share"] == 0.5
    assert meta["arch_args"]["num_classes"] == 7 and meta["class_names"] == spec["names"]


def test_training_refuses_labels_beyond_the_classes_and_splits_that_disagree(tmp_path):
    write_dataset(tmp_path, 3)
    kwargs = dict(
        model_path=tmp_path / "m.pt", history_path=tmp_path / "m.csv", recipe=RECIPE, runtime=CPU, seed=0, threads=1
    )
    images, labels = class_images([4, 4, 4, 4], 1)  # four classes, three names
    write_image_set(tmp_path / "bad.h5", images, columns(labels), {"classes": ["a", "b", "c"]})
    with pytest.raises(StoreError, match=r"bad\.h5: labels 0\.\.3 outside 0\.\.2"):
        train_classifier(train=tmp_path / "bad.h5", validation=tmp_path / "validation.h5", **kwargs)
    images, labels = class_images([4, 4, 4], 1)
    write_image_set(tmp_path / "renamed.h5", images, columns(labels), {"classes": ["x", "y", "z"]})
    with pytest.raises(ValueError, match=r"renamed\.h5 names the classes \['x', 'y', 'z'\]"):
        train_classifier(train=tmp_path / "train.h5", validation=tmp_path / "renamed.h5", **kwargs)
    images, labels = class_images([4, 4, 4, 4, 4, 4], 1)  # six labels in a smallNORB-like set
    write_image_set(tmp_path / "six.h5", images, columns(labels))
    with pytest.raises(StoreError, match="smallNORB's categories assumed"):
        train_classifier(train=tmp_path / "six.h5", validation=tmp_path / "six.h5", **kwargs)
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("n", [3, 7])
def test_retrieval_figure_names_every_query_and_neighbour(tmp_path, monkeypatch, n):
    from cbir.h5store import write_retrieval

    spec = write_dataset(tmp_path, n)
    gallery_labels = class_images(spec["train"], 0)[1]
    query_images, query_labels = class_images(spec["test"], 2)
    write_image_set(tmp_path / "noisy.h5", query_images, columns(query_labels), {"query": "noisy"})
    rng = np.random.default_rng(0)
    indices = np.stack([rng.permutation(len(gallery_labels))[:10] for _ in query_labels])
    write_retrieval(tmp_path / "r.h5", {"l2": (indices, np.zeros(indices.shape))})
    figures = []
    monkeypatch.setattr(report_stage, "save_figure", lambda fig, path: figures.append(fig))
    kwargs = dict(output=tmp_path / "fig.png", name="noisy", n_queries=n, seed=0)
    plot_retrieval(results=tmp_path / "r.h5", queries=tmp_path / "noisy.h5", gallery=tmp_path / "train.h5", **kwargs)
    (fig,) = figures
    axes = np.array(fig.axes).reshape(n, 11)  # one query of each class, one distance
    cut = [name if len(name) <= 16 else name[:15] + "…" for name in spec["names"]]
    assert sorted(ax.get_title().split("\n")[1] for ax in axes[:, 0]) == sorted(cut)
    for row in axes:
        query = int(row[0].get_title().split("\n")[0].removeprefix("query "))
        assert row[0].get_title().split("\n")[1] == cut[query_labels[query]]
        for rank, ax in enumerate(row[1:]):
            assert ax.get_title().split("\n")[1] == cut[gallery_labels[indices[query, rank]]]
    # A query set naming other classes than its gallery is refused.
    write_image_set(tmp_path / "odd.h5", query_images, columns(query_labels), {"classes": [f"x{c}" for c in range(n)]})
    with pytest.raises(ValueError, match=r"odd\.h5 names the classes"):
        plot_retrieval(results=tmp_path / "r.h5", queries=tmp_path / "odd.h5", gallery=tmp_path / "train.h5", **kwargs)


def test_retrieval_figure_of_smallnorb_sets_names_the_categories(tmp_path, monkeypatch):
    from cbir.h5store import write_retrieval

    images, labels = class_images([4] * 5, 0)
    write_image_set(tmp_path / "g.h5", images, columns(labels))
    first = [int(np.flatnonzero(labels == c)[0]) for c in range(5)]  # one query per category
    write_image_set(tmp_path / "q.h5", images[first], columns(labels[first]))
    indices = np.tile(np.arange(10), (5, 1))
    write_retrieval(tmp_path / "r.h5", {"cosine": (indices, np.zeros(indices.shape))})
    figures = []
    monkeypatch.setattr(report_stage, "save_figure", lambda fig, path: figures.append(fig))
    plot_retrieval(
        results=tmp_path / "r.h5",
        queries=tmp_path / "q.h5",
        gallery=tmp_path / "g.h5",
        output=tmp_path / "f.png",
        name="clean",
        n_queries=5,
        seed=0,
    )
    titles = [ax.get_title() for ax in figures[0].axes]
    assert {t.split("\n")[1] for t in titles} <= set(CATEGORIES)
    assert {titles[11 * i].split("\n")[1] for i in range(5)} == set(CATEGORIES)


@pytest.mark.parametrize("n", [3, 7])
def test_dataset_figure_of_a_folder_source(tmp_path, monkeypatch, n):
    spec = write_dataset(tmp_path, n)
    splits = [tmp_path / f"{split}.h5" for split in ("train", "validation", "test")]
    figures = []
    real_save = data_stage.save_figure
    monkeypatch.setattr(data_stage, "save_figure", lambda fig, path: (figures.append(fig), real_save(fig, path)))
    plot_dataset_images(splits=splits, output=tmp_path / "dataset.png", columns=4)
    (fig,) = figures
    axes = np.array(fig.axes).reshape(-1, 4)
    assert len(axes) == n  # a row per class
    for c, name in enumerate(spec["names"]):
        total = spec["train"][c] + spec["validation"][c] + spec["test"][c]
        label = axes[c, 0].get_ylabel()
        assert label.startswith(f"{c}: {name}\n{total} images\n")
        assert f"train {spec['train'][c]}" in label and f"test {spec['test'][c]}" in label
        shown = [ax for ax in axes[c] if ax.get_images()]
        assert len(shown) == min(4, total)
        for ax in shown:  # each example is an image of its row's class, titled with its split and row
            split, row = ax.get_title().split()
            images, labels = class_images(spec[split], ("train", "validation", "test").index(split))
            assert labels[int(row)] == c
            np.testing.assert_array_equal(ax.get_images()[0].get_array(), images[int(row)])
    png = imread(tmp_path / "dataset.png")[..., :3].mean(-1)
    top = int(0.05 * png.shape[0])  # below the title
    bands = np.array_split(png[top:, int(0.35 * png.shape[1]) :], n)  # the image columns, row by row
    assert min(band.std() for band in bands) > 0.1  # every row holds drawn images, none blank
    images, labels = class_images([2] * n, 0)
    write_image_set(tmp_path / "other.h5", images, columns(labels), {"classes": [f"x{c}" for c in range(n)]})
    with pytest.raises(ValueError, match=r"other\.h5 names the classes"):
        plot_dataset_images(splits=[splits[0], tmp_path / "other.h5"], output=tmp_path / "x.png")
