"""Stage of train.smk: training jobs write self-describing checkpoints and histories, a
killed job resumes exactly, the classifier evaluation and the training figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from train.toydata import (
    AUGMENT,
    AUTHORS_CLASSIFIER,
    CLASSIFIER,
    CPU,
    FEATURE_DENOISER,
    REFERENCE_DENOISER,
    RESIDUAL_DENOISER,
    UPSCALER,
    write_toy_splits,
)

from cbir.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint, weights_sha256
from cbir.fsutil import DiskFullError
from cbir.h5store import COLUMNS, write_image_set
from cbir.networks import Classifier, architecture
from cbir.stages.train import (
    evaluate_classifier,
    plot_augmentation,
    plot_learning_curve,
    read_history,
    train_classifier,
    train_enhancer,
    write_history,
)
from cbir.train.loop import partial_path
from cbir.train.tasks import TrainingError


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_toy_splits(folder)
    return folder


def history(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def classify(folder, out, recipe=CLASSIFIER, **kwargs):
    return train_classifier(
        train=folder / "train.h5",
        validation=folder / "test.h5",
        model_path=out / "classifier.pt",
        history_path=out / "classifier.csv",
        recipe=recipe,
        runtime=CPU,
        seed=0,
        threads=1,
        **kwargs,
    )


def enhance(folder, out, name="upscaler", recipe=UPSCALER, **kwargs):
    return train_enhancer(
        name=name,
        train=folder / "train.h5",
        validation=folder / "test.h5",
        model_path=out / f"{name}.pt",
        history_path=out / f"{name}.csv",
        recipe=recipe,
        runtime=CPU,
        seed=0,
        threads=1,
        rescale="minmax",
        **kwargs,
    )


def test_classifier_trains_and_checkpoint_describes_itself(data, tmp_path):
    assert classify(data, tmp_path)
    rows = history(tmp_path / "classifier.csv")
    assert list(rows[0]) == [
        "epoch", "train_loss", "train_acc", "heldout_loss", "heldout_acc", "lr", "seconds", "images_per_s"
    ]  # fmt: skip
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert [float(r["lr"]) for r in rows] == [1e-3, 1e-3, 5e-4]  # halved after lr_step = 2 epochs
    assert not partial_path(tmp_path / "classifier.pt").exists()

    meta = read_checkpoint(tmp_path / "classifier.pt")["meta"]
    assert meta["kind"] == "classifier" and meta["arch_args"] == {"arch": "resnet18", "num_classes": 5, "head": "fc"}
    assert meta["input_size"] == [32, 32] and meta["embedding_size"] == 512
    assert meta["epochs_done"] == 3 and meta["complete"] and meta["seed"] == 0
    assert meta["recipe"]["batch_size"] == 8 and meta["recipe"]["augment"] == AUGMENT
    assert meta["runtime"] == CPU and meta["data"]["train_source"] == "toy"
    assert "min-max" in meta["normalization"]
    assert {"optimizer", "scheduler", "scaler", "history"} <= set(meta)
    model, _ = load_model(tmp_path / "classifier.pt", kind="classifier")
    assert not model.training
    assert model.embed(torch.zeros(1, 1, 32, 32)).shape == (1, 512)


def test_enhancer_loss_goes_down(data, tmp_path):
    recipe = {**UPSCALER, "epochs": 4, "steps_per_epoch": 5}
    assert enhance(data, tmp_path, recipe=recipe)
    rows = history(tmp_path / "upscaler.csv")
    assert "train_psnr" in rows[0] and "heldout_psnr" in rows[0]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert float(rows[-1]["heldout_psnr"]) > float(rows[0]["heldout_psnr"])
    meta = read_checkpoint(tmp_path / "upscaler.pt")["meta"]
    assert meta["kind"] == "srcnn" and meta["name"] == "upscaler"
    assert meta["degradations"] == [{"name": "lowres", "level": 1}]
    assert not partial_path(tmp_path / "upscaler.pt").exists()


def test_authors_recipe_checkpoints_rebuild_their_networks(data, tmp_path):
    assert classify(data, tmp_path, recipe={**AUTHORS_CLASSIFIER, "epochs": 1})
    meta = read_checkpoint(tmp_path / "classifier.pt")["meta"]
    assert meta["arch_args"]["head"] == "mlp" and meta["recipe"]["label_smoothing"] == 0.1
    model, _ = load_model(tmp_path / "classifier.pt", kind="classifier")
    assert isinstance(model.fc, torch.nn.Sequential)
    assert model.embed(torch.zeros(1, 1, 32, 32)).shape == (1, 512)
    assert enhance(data, tmp_path, name="denoiser", recipe={**REFERENCE_DENOISER, "epochs": 1})
    assert read_checkpoint(tmp_path / "denoiser.pt")["meta"]["kind"] == "reference_autoencoder"
    denoiser, _ = load_model(tmp_path / "denoiser.pt", kind="reference_autoencoder")
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in denoiser.modules()) == 6


@pytest.fixture(scope="module")
def classifier_checkpoint(tmp_path_factory):
    """An untrained resnet18 classifier checkpoint for 32 px images: enough to give embeddings."""
    path = tmp_path_factory.mktemp("models") / "classifier.pt"
    torch.manual_seed(0)
    classifier = Classifier("resnet18")
    save_checkpoint(
        path, classifier.state_dict(), {"name": "classifier", **architecture(classifier), "input_size": [32, 32]}
    )
    return path


def test_retrieval_aware_enhancer_records_its_loss_and_classifier(data, tmp_path, classifier_checkpoint):
    recipe = {**FEATURE_DENOISER, "epochs": 2}
    assert enhance(data, tmp_path, name="denoiser", recipe=recipe, classifier=classifier_checkpoint)
    meta = read_checkpoint(tmp_path / "denoiser.pt")["meta"]
    assert meta["kind"] == "residual" and meta["arch_args"] == {"width": 8, "depth": 4}
    assert meta["loss"] == {"pixel": 1.0, "feature": 0.5} and meta["recipe"]["loss"] == recipe["loss"]
    classifier, _ = load_model(classifier_checkpoint, kind="classifier")
    identity = {"path": str(classifier_checkpoint), "digest": weights_sha256(classifier.state_dict())}
    assert meta["feature_classifier"] == identity
    assert meta["fingerprint"]["feature_classifier"] == identity["digest"]
    rows = history(tmp_path / "denoiser.csv")
    assert float(rows[-1]["train_feature_mse"]) > 0 and float(rows[-1]["train_pixel_mse"]) > 0
    model, _ = load_model(tmp_path / "denoiser.pt", kind="residual")
    assert model(torch.zeros(1, 1, 40, 40)).shape == (1, 1, 40, 40)


def test_feature_loss_without_a_classifier_is_an_error(data, tmp_path):
    with pytest.raises(TrainingError, match=r"enhancers.denoiser.loss.feature is 0.5: .* classifier checkpoint"):
        enhance(data, tmp_path, name="denoiser", recipe=FEATURE_DENOISER)
    assert not list(tmp_path.iterdir())


def test_pixel_loss_never_reads_the_classifier(data, tmp_path):
    recipe = {**RESIDUAL_DENOISER, "epochs": 1}
    assert enhance(data, tmp_path, name="denoiser", recipe=recipe, classifier=tmp_path / "missing.pt")
    meta = read_checkpoint(tmp_path / "denoiser.pt")["meta"]
    assert "feature_classifier" not in meta and meta["loss"] == {"pixel": 1.0, "feature": 0.0}
    assert "train_feature_mse" not in history(tmp_path / "denoiser.csv")[0]
    with pytest.raises(CheckpointError, match="missing.pt: checkpoint file not found"):
        enhance(data, tmp_path, name="denoiser", recipe=FEATURE_DENOISER, classifier=tmp_path / "missing.pt")


def _same_weights(a, b):
    wa, wb = read_checkpoint(a)["state_dict"], read_checkpoint(b)["state_dict"]
    assert wa.keys() == wb.keys()
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def _history_without_timing(path):
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in history(path)]


def test_resume_after_a_kill_matches_an_uninterrupted_run(data, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    whole.mkdir()
    killed.mkdir()
    assert classify(data, whole)
    assert classify(data, killed, stop_after=1) is False
    assert not (killed / "classifier.pt").exists() and not (killed / "classifier.csv").exists()
    assert read_checkpoint(partial_path(killed / "classifier.pt"))["meta"]["epochs_done"] == 1
    assert classify(data, killed)
    assert _same_weights(whole / "classifier.pt", killed / "classifier.pt")
    assert _history_without_timing(whole / "classifier.csv") == _history_without_timing(killed / "classifier.csv")
    assert not partial_path(killed / "classifier.pt").exists()


def test_corrupt_partial_checkpoint_is_discarded_and_training_finishes(data, tmp_path, caplog):
    partial = partial_path(tmp_path / "upscaler.pt")
    partial.write_bytes(b"not a checkpoint")
    with caplog.at_level("WARNING", logger="cbir"):
        assert enhance(data, tmp_path)
    assert str(partial) in caplog.text and "discarded" in caplog.text
    assert load_model(tmp_path / "upscaler.pt")[1]["epochs_done"] == UPSCALER["epochs"]
    assert not partial.exists()


def test_history_round_trip(tmp_path):
    rows = [{"epoch": 1, "train_loss": 0.123456789, "lr": 1e-3}, {"epoch": 2, "train_loss": 0.1, "lr": 5e-4}]
    write_history(tmp_path / "h.csv", rows, ["epoch", "train_loss", "lr"])
    assert (tmp_path / "h.csv").read_text().splitlines()[1] == "1,0.123457,0.001"
    back = read_history(tmp_path / "h.csv")
    assert list(back) == ["epoch", "train_loss", "lr"]
    np.testing.assert_allclose(back["train_loss"], [0.123457, 0.1])
    write_history(tmp_path / "empty.csv", [], ["epoch"])
    with pytest.raises(ValueError, match="empty.csv: no epochs"):
        read_history(tmp_path / "empty.csv")


def _columns(n: int) -> dict:
    cols = {c: np.arange(n, dtype=np.int64) % 3 for c in COLUMNS}
    cols["label"] = np.arange(n, dtype=np.int64) % 5
    return cols


def _png_panels_textured(path, columns: int, rows: int = 1) -> list[float]:
    """Pixel standard deviation of each cell of a rows x columns grid over the PNG."""
    image = imread(path)[..., :3].mean(-1)
    h, w = image.shape
    return [
        float(image[r * h // rows : (r + 1) * h // rows, c * w // columns : (c + 1) * w // columns].std())
        for r in range(rows)
        for c in range(columns)
    ]


def test_evaluate_classifier(tmp_path):
    rng = np.random.default_rng(0)
    write_image_set(tmp_path / "test.h5", rng.integers(0, 256, (23, 32, 32), dtype=np.uint8), _columns(23))
    torch.manual_seed(0)
    classifier = Classifier("resnet18")
    meta = {"name": "classifier", **architecture(classifier), "input_size": [32, 32], "epochs_done": 1}
    save_checkpoint(tmp_path / "classifier.pt", classifier.state_dict(), meta)
    result = evaluate_classifier(
        model=tmp_path / "classifier.pt",
        test=tmp_path / "test.h5",
        table=tmp_path / "c.json",
        figure=tmp_path / "c.png",
        batch_size=8,
        runtime=CPU,
        threads=1,
    )
    stored = json.loads((tmp_path / "c.json").read_text())
    matrix = np.array(stored["confusion_matrix"])
    assert matrix.shape == (5, 5) and matrix.sum() == 23
    assert stored["accuracy"] == pytest.approx(np.trace(matrix) / 23) == pytest.approx(result["accuracy"])
    assert stored["classes"] == ["animal", "human", "airplane", "truck", "car"]
    assert list(matrix.sum(1)) == [5, 5, 5, 4, 4]
    assert stored["model_meta"]["arch_args"]["arch"] == "resnet18"
    image = imread(tmp_path / "c.png")
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert min(_png_panels_textured(tmp_path / "c.png", 2, 2)) > 0.02  # cells, labels and colour bar everywhere
    write_image_set(tmp_path / "big.h5", np.zeros((2, 64, 64), np.uint8), _columns(2))
    with pytest.raises(CheckpointError, match="trained on 32x32"):
        evaluate_classifier(
            model=tmp_path / "classifier.pt",
            test=tmp_path / "big.h5",
            table=tmp_path / "x.json",
            figure=tmp_path / "x.png",
            batch_size=8,
            runtime=CPU,
            threads=1,
        )


def test_plot_learning_curve(tmp_path):
    (tmp_path / "m.csv").write_text(
        "epoch,train_loss,train_psnr,heldout_loss,heldout_psnr,lr,seconds,images_per_s\n"
        "1,0.2,15,0.1,17,0.001,2,100\n2,0.1,18,0.08,19,0.0005,2,110\n"
    )
    plot_learning_curve(history=tmp_path / "m.csv", figure=tmp_path / "lc.png", title="upscaler")
    image = imread(tmp_path / "lc.png")
    assert image.shape[1] > 2 * image.shape[0]  # two panels side by side
    assert min(_png_panels_textured(tmp_path / "lc.png", 2)) > 0.05


def test_plot_augmentation(tmp_path):
    rng = np.random.default_rng(0)
    n = 10
    write_image_set(tmp_path / "train.h5", rng.integers(0, 256, (n, 32, 32), dtype=np.uint8), _columns(n))
    plot_augmentation(train=tmp_path / "train.h5", figure=tmp_path / "aug.png", augment=AUGMENT, seed=0)
    image = imread(tmp_path / "aug.png")
    assert 1.0 < image.shape[1] / image.shape[0] < 1.4  # five rows (one per class) of six images
    assert min(_png_panels_textured(tmp_path / "aug.png", 6, 5)) > 0.05


def test_a_full_disk_at_the_final_save_names_the_model_and_keeps_the_progress(data, tmp_path, monkeypatch):
    """The per-epoch progress is saved, then the final checkpoint meets a full disk: the error names
    the model file and says so, nothing half-written is left, and the progress lets the rerun finish."""
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        name = Path(f).name
        if name.startswith(".upscaler.pt.") and not name.startswith(".upscaler.pt.partial."):
            Path(f).write_bytes(b"PK\x03\x04")  # torch had written a little when the disk filled
            raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 94656 vs 94552")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(DiskFullError) as raised:
        enhance(data, tmp_path)
    assert str(raised.value).startswith(f"{tmp_path / 'upscaler.pt'}: the disk is full")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upscaler.pt.partial"]  # no model, no history
    monkeypatch.undo()
    assert enhance(data, tmp_path)
    assert load_model(tmp_path / "upscaler.pt")[1]["epochs_done"] == UPSCALER["epochs"]


# ---------------------------------------------------------------------------------------
# Colour image sets ([N, H, W, 3]) through the training stage
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("colour")
    write_toy_splits(folder, colour=True)
    return folder


def test_colour_classifier_and_enhancer_train_and_evaluate(colour_data, data, tmp_path):
    assert classify(colour_data, tmp_path, recipe={**CLASSIFIER, "epochs": 1})
    meta = read_checkpoint(tmp_path / "classifier.pt")["meta"]
    assert meta["arch_args"]["image_channels"] == 3 and meta["input_size"] == [32, 32, 3]
    result = evaluate_classifier(
        model=tmp_path / "classifier.pt",
        test=colour_data / "test.h5",
        table=tmp_path / "c.json",
        figure=tmp_path / "c.png",
        batch_size=16,
        runtime=CPU,
        threads=1,
    )
    assert result["n_images"] == 40 and sum(map(sum, result["confusion_matrix"])) == 40
    with pytest.raises(CheckpointError, match="colour"):  # a colour classifier on a grey split
        evaluate_classifier(
            model=tmp_path / "classifier.pt",
            test=data / "test.h5",
            table=tmp_path / "x.json",
            figure=tmp_path / "x.png",
            batch_size=16,
            runtime=CPU,
            threads=1,
        )
    # the retrieval-aware loss embeds the colour restorer's output with the colour classifier
    recipe = {**FEATURE_DENOISER, "epochs": 1, "steps_per_epoch": 2}
    assert enhance(colour_data, tmp_path, name="denoiser", recipe=recipe, classifier=tmp_path / "classifier.pt")
    meta = read_checkpoint(tmp_path / "denoiser.pt")["meta"]
    assert meta["arch_args"] == {"width": 8, "depth": 4, "image_channels": 3} and meta["input_size"] == [32, 32, 3]
    assert float(history(tmp_path / "denoiser.csv")[0]["train_feature_mse"]) > 0


def test_plot_augmentation_passes_colour_images_channels_last(tmp_path, monkeypatch):
    import cbir.stages.train as stage

    seen = {}
    real = stage.augmentation_figure

    def capture(originals, augmented, names):
        seen.update(originals=originals, augmented=augmented)
        return real(originals, augmented, names)

    monkeypatch.setattr(stage, "augmentation_figure", capture)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    images[..., 0] //= 4  # a dark red channel: the figure must get it as it is, not stretched
    write_image_set(tmp_path / "train.h5", images, _columns(10))
    plot_augmentation(train=tmp_path / "train.h5", figure=tmp_path / "aug.png", augment=AUGMENT, seed=0)
    originals, augmented = seen["originals"], seen["augmented"]
    assert originals.shape == (5, 32, 32, 3) and augmented.shape == (5, 5, 32, 32, 3)
    first = images[:5].astype(np.float64)  # one image per class: rows 0..4
    expected = (first - first.min((1, 2, 3), keepdims=True)) / np.ptp(first, axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(originals, expected, atol=1e-6)
    assert (augmented[..., 0].max((2, 3)) < 0.35).all()  # still dark red after augmentation
    assert imread(tmp_path / "aug.png").shape[1] > 0
    # grey stays [n, H, W] and [n, versions, H, W]
    write_image_set(tmp_path / "grey.h5", images[..., 1], _columns(10))
    plot_augmentation(train=tmp_path / "grey.h5", figure=tmp_path / "grey.png", augment=AUGMENT, seed=0)
    assert seen["originals"].shape == (5, 32, 32) and seen["augmented"].shape == (5, 5, 32, 32)
