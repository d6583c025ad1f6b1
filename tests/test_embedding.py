"""Inference: normalisation, embeddings, enhancement, classifier evaluation and their figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cbir.checkpoint import CheckpointError, save_checkpoint
from cbir.embedding import (
    confusion_matrix,
    embed,
    embed_image_set,
    enhance_image_set,
    evaluate_classifier,
)
from cbir.h5store import COLUMNS, read_embeddings, read_image_set, write_image_set
from cbir.networks import SRCNN, Classifier, architecture
from cbir.plots.training import enhancement_figure, learning_curve_figure, psnr
from cbir.tensors import normalize, psnr_pm1, to_uint8, unit_range

PNG = b"\x89PNG\r\n\x1a\n"


def columns(n: int) -> dict:
    cols = {c: np.arange(n, dtype=np.int64) % 3 for c in COLUMNS}
    cols["label"] = np.arange(n, dtype=np.int64) % 5
    return cols


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (23, 32, 32), dtype=np.uint8)
    write_image_set(tmp_path / "images.h5", images, columns(23), {"query": "noisy"})
    torch.manual_seed(0)
    classifier = Classifier("resnet18")
    meta = {"name": "classifier", **architecture(classifier), "input_size": [32, 32], "epochs_done": 1}
    save_checkpoint(tmp_path / "classifier.pt", classifier.state_dict(), meta)
    upscaler = SRCNN()
    save_checkpoint(
        tmp_path / "upscaler.pt",
        upscaler.state_dict(),
        {"name": "upscaler", **architecture(upscaler), "input_size": [32, 32]},
    )
    return tmp_path, images, classifier.eval(), upscaler.eval()


def test_normalize_known_values():
    x = torch.tensor([[[10, 20], [30, 50]], [[7, 7], [7, 7]]], dtype=torch.uint8)
    y = normalize(x)
    assert y.shape == (2, 1, 2, 2) and y.dtype == torch.float32
    torch.testing.assert_close(y[0, 0], torch.tensor([[-1.0, -0.5], [0.0, 1.0]]))
    assert torch.equal(y[1], -torch.ones(1, 2, 2))  # a constant image maps to -1
    torch.testing.assert_close(unit_range(x)[0, 0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))


def test_to_uint8_and_psnr_known_values():
    assert to_uint8(torch.tensor([[[-1.0, 0.0, 1.0, 2.0]]])).tolist() == [[[0, 128, 255, 255]]]
    target = torch.zeros(1, 1, 4, 4)
    # an error of 0.2 on [-1, 1] is 0.1 on [0, 1]: MSE 0.01 -> 20 dB
    assert psnr_pm1(target + 0.2, target).item() == pytest.approx(20.0, abs=1e-4)
    clean = np.tile(np.linspace(10, 200, 8), (1, 8, 1)).astype(np.uint8)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean * 0.8 + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
    # as stored: the same number as training's held-out PSNR of a network output
    output = torch.from_numpy(noisy).float()[:, None] / 127.5 - 1
    expected = psnr_pm1(output, normalize(torch.from_numpy(clean))).item()
    assert psnr(clean, noisy)[0] == pytest.approx(expected, abs=1e-3)
    renormalized = psnr_pm1(normalize(torch.from_numpy(noisy)), normalize(torch.from_numpy(clean))).item()
    assert psnr(clean, noisy, renormalize=True)[0] == pytest.approx(renormalized, abs=1e-3)
    assert renormalized != pytest.approx(expected, abs=0.1)


def test_embeddings_shape_columns_and_determinism(files):
    folder, images, classifier, _ = files
    embed_image_set(folder / "classifier.pt", folder / "images.h5", folder / "a.h5", batch_size=8, threads=1)
    embed_image_set(folder / "classifier.pt", folder / "images.h5", folder / "b.h5", batch_size=8, threads=1)
    embed_image_set(folder / "classifier.pt", folder / "images.h5", folder / "c.h5", batch_size=23, threads=1)
    a, b, c = (read_embeddings(folder / f"{k}.h5") for k in "abc")
    assert a.features.shape == (23, 512) and a.features.dtype == np.float32
    assert np.array_equal(a.features, b.features)
    np.testing.assert_allclose(a.features, c.features, rtol=1e-4, atol=1e-5)  # batch size does not matter
    for name in COLUMNS:
        assert np.array_equal(a.columns[name], columns(23)[name])
    assert a.attrs["model"].endswith("classifier.pt") and a.attrs["source"].endswith("images.h5")
    assert a.attrs["model_meta"]["arch_args"]["arch"] == "resnet18"
    with torch.no_grad():
        direct = classifier.embed(normalize(torch.from_numpy(images[:5]))).numpy()
    np.testing.assert_allclose(a.features[:5], direct, rtol=1e-4, atol=1e-5)
    assert np.array_equal(embed(classifier, images[:0]), np.zeros((0, 512), np.float32))


def test_enhance_image_set(files):
    folder, images, _, upscaler = files
    enhance_image_set(folder / "upscaler.pt", folder / "images.h5", folder / "out.h5", batch_size=10, threads=1)
    out = read_image_set(folder / "out.h5")
    assert out.images.shape == images.shape and out.images.dtype == np.uint8
    assert np.array_equal(out.labels, columns(23)["label"])
    assert out.attrs["enhancer"] == "upscaler" and out.attrs["query"] == "noisy"
    with torch.no_grad():
        direct = to_uint8(upscaler(normalize(torch.from_numpy(images))))
    assert np.array_equal(out.images, direct)


def test_wrong_model_kind_or_size(files, tmp_path):
    folder, images, _, _ = files
    with pytest.raises(CheckpointError, match="holds a classifier"):
        enhance_image_set(folder / "classifier.pt", folder / "images.h5", folder / "x.h5")
    write_image_set(tmp_path / "big.h5", np.zeros((2, 64, 64), np.uint8), columns(2))
    with pytest.raises(CheckpointError, match="trained on 32x32"):
        embed_image_set(folder / "classifier.pt", tmp_path / "big.h5", folder / "x.h5")


def test_evaluate_classifier(files):
    folder, _, _, _ = files
    result = evaluate_classifier(
        folder / "classifier.pt", folder / "images.h5", folder / "c.json", folder / "c.png", 8, 1
    )
    stored = json.loads((folder / "c.json").read_text())
    matrix = np.array(stored["confusion_matrix"])
    assert matrix.shape == (5, 5) and matrix.sum() == 23
    assert stored["accuracy"] == pytest.approx(np.trace(matrix) / 23) == pytest.approx(result["accuracy"])
    assert stored["classes"] == ["animal", "human", "airplane", "truck", "car"]
    assert list(matrix.sum(1)) == [5, 5, 5, 4, 4]
    assert (folder / "c.png").read_bytes()[:8] == PNG


def test_confusion_matrix_known_answer():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_figures(files, tmp_path):
    folder, images, _, _ = files
    (tmp_path / "m.csv").write_text(
        "epoch,train_loss,train_psnr,heldout_loss,heldout_psnr,lr,seconds,images_per_s\n"
        "1,0.2,15,0.1,17,0.001,2,100\n2,0.1,18,0.08,19,0.0005,2,110\n"
    )
    learning_curve_figure(tmp_path / "m.csv", tmp_path / "lc.png")
    assert (tmp_path / "lc.png").read_bytes()[:8] == PNG
    noisy = np.clip(images.astype(int) + 20, 0, 255).astype(np.uint8)
    write_image_set(tmp_path / "noisy.h5", noisy, columns(23))
    write_image_set(tmp_path / "enh.h5", images, columns(23), {"enhancer": "denoiser"})
    enhancement_figure(folder / "images.h5", tmp_path / "noisy.h5", tmp_path / "enh.h5", tmp_path / "e.png", seed=0)
    assert (tmp_path / "e.png").read_bytes()[:8] == PNG
