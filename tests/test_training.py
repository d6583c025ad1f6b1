"""Training jobs: the loss goes down, checkpoints are self-describing, resume is exact."""

from __future__ import annotations

import csv
import logging

import numpy as np
import pytest
import torch

from cbir.checkpoint import CheckpointError, load_model, read_checkpoint, save_checkpoint
from cbir.h5store import COLUMNS, write_image_set
from cbir.training import TrainingError, heldout_indices, partial_path, stream_seed, train_classifier, train_enhancer

DENOISE = [{"name": "gaussian", "sigma": 0.1}, {"name": "speckle", "amount": 0.1}]


def toy_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Five classes of stripes with class-dependent frequency, random phase and noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 5
    grid = np.arange(size) / size
    phase = rng.uniform(0, 1, (n, 1, 1))
    stripes = np.sin(2 * np.pi * (labels[:, None, None] + 1) * (grid[None, None, :] + phase))
    images = 0.5 + 0.4 * stripes * np.ones((1, size, 1)) + rng.normal(0, 0.05, (n, size, size))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    for split, seed in (("train", 0), ("test", 1)):
        images, labels = toy_images(40, 32, seed)
        columns = {c: np.zeros(len(images), np.int64) for c in COLUMNS}
        columns["label"] = labels
        write_image_set(folder / f"{split}.h5", images, columns, {"source": "toy"})
    return folder


CLASSIFIER = {"arch": "resnet18", "epochs": 3, "batch_size": 8, "lr": 1e-3, "lr_step": 2, "eval_images": 20}
UPSCALER = {
    "arch": "srcnn",
    "degradations": [{"name": "lowres", "level": 1}],
    "epochs": 3,
    "batch_size": 8,
    "lr": 1e-3,
    "lr_step": 40,
    "steps_per_epoch": 4,
    "eval_images": 10,
}


def history(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def classify(folder, out, recipe=CLASSIFIER, **kwargs):
    return train_classifier(
        folder / "train.h5",
        folder / "test.h5",
        out / "classifier.pt",
        out / "classifier.csv",
        recipe,
        {"device": "cpu"},
        0,
        1,
        **kwargs,
    )


def enhance(folder, out, name="upscaler", recipe=UPSCALER, **kwargs):
    return train_enhancer(
        name,
        folder / "train.h5",
        folder / "test.h5",
        out / f"{name}.pt",
        out / f"{name}.csv",
        recipe,
        {"device": "cpu"},
        0,
        1,
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
    assert meta["kind"] == "classifier" and meta["arch_args"] == {"arch": "resnet18", "num_classes": 5}
    assert meta["input_size"] == [32, 32] and meta["embedding_size"] == 512
    assert meta["epochs_done"] == 3 and meta["complete"] and meta["seed"] == 0
    assert meta["recipe"]["batch_size"] == 8 and meta["recipe"]["augment"] == {}
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


def _weights(path):
    return read_checkpoint(path)["state_dict"]


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return all(torch.equal(wa[k], wb[k]) for k in wa)


def _history_without_timing(path):
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in history(path)]


def test_resume_after_a_kill_matches_an_uninterrupted_run(data, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert classify(data, whole)
    assert classify(data, killed, stop_after=1) is False
    assert not (killed / "classifier.pt").exists() and not (killed / "classifier.csv").exists()
    assert read_checkpoint(partial_path(killed / "classifier.pt"))["meta"]["epochs_done"] == 1
    assert classify(data, killed)
    assert _same_weights(whole / "classifier.pt", killed / "classifier.pt")
    assert _history_without_timing(whole / "classifier.csv") == _history_without_timing(killed / "classifier.csv")


def test_enhancer_resume_is_exact(data, tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    recipe = {**UPSCALER, "arch": "autoencoder", "degradations": DENOISE, "epochs": 3}
    assert enhance(data, whole, "denoiser", recipe)
    assert enhance(data, killed, "denoiser", recipe, stop_after=2) is False
    assert enhance(data, killed, "denoiser", recipe)
    assert _same_weights(whole / "denoiser.pt", killed / "denoiser.pt")


def test_resume_with_another_recipe_starts_over(data, tmp_path, caplog):
    assert enhance(data, tmp_path, stop_after=1) is False
    changed = {**UPSCALER, "lr": 5e-4}
    with caplog.at_level(logging.INFO, logger="cbir"):
        assert enhance(data, tmp_path, recipe=changed)
    assert "different recipe" in caplog.text and "resuming" not in caplog.text
    assert len(history(tmp_path / "upscaler.csv")) == 3
    assert float(history(tmp_path / "upscaler.csv")[0]["lr"]) == 5e-4


def test_corrupt_partial_checkpoint_is_a_clear_error(data, tmp_path):
    partial = partial_path(tmp_path / "upscaler.pt")
    partial.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=str(partial)):
        enhance(data, tmp_path)


def test_corrupt_or_mismatched_model_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match=f"{bad}: not a readable"):
        load_model(bad)
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a cbir checkpoint"):
        load_model(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.pt")

    from cbir.networks import SRCNN, architecture

    model = SRCNN()
    path = tmp_path / "srcnn.pt"
    save_checkpoint(path, model.state_dict(), {"name": "upscaler", **architecture(model)})
    with pytest.raises(CheckpointError, match=f"{path}: holds a srcnn.*expected classifier"):
        load_model(path, kind="classifier")
    meta = {
        "name": "upscaler",
        "kind": "srcnn",
        "arch_args": {"channels": [16, 64, 128, 32, 1], "kernels": [5, 5, 5, 3, 3]},
    }
    save_checkpoint(path, model.state_dict(), meta)
    with pytest.raises(CheckpointError, match=f"{path}: weights do not match"):
        load_model(path)


def test_autoencoder_needs_a_multiple_of_32(tmp_path):
    images, labels = toy_images(10, 48, 0)
    columns = {c: np.zeros(10, np.int64) for c in COLUMNS}
    columns["label"] = labels
    for split in ("train", "test"):
        write_image_set(tmp_path / f"{split}.h5", images, columns)
    recipe = {**UPSCALER, "arch": "autoencoder", "degradations": DENOISE}
    with pytest.raises(TrainingError, match="multiple of 32"):
        enhance(tmp_path, tmp_path, "denoiser", recipe)


def test_seeds_and_heldout_subset():
    assert stream_seed(0, "classifier", "epoch1") == stream_seed(0, "classifier", "epoch1")
    assert stream_seed(0, "classifier", "epoch1") != stream_seed(0, "classifier", "epoch2")
    assert stream_seed(0, "a") != stream_seed(1, "a")
    subset = heldout_indices(100, 10, 0)
    assert len(subset) == 10 and np.all(np.diff(subset) > 0)
    assert np.array_equal(subset, heldout_indices(100, 10, 0))
    assert np.array_equal(heldout_indices(100, 0, 0), np.arange(100))
